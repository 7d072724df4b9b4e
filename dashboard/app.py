"""WSGI entry point: `gunicorn dashboard.app:server` (see Procfile).

`server = create_app().server` runs at import in the gunicorn master and is
cheap: no TensorFlow import, no model load (TensorFlow is not fork-safe; each
worker loads the active model lazily on its first prediction). Never run
gunicorn with --preload for the same reason.
"""

from __future__ import annotations

from dashboard.factory import create_app
from dashboard.settings import Settings

__all__ = ["Settings", "app", "create_app", "server"]

app = create_app()
server = app.server
