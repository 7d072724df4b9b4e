"""Imported by Celery workers only (`include` of the Celery app): build the dashboard app once.

Building it registers the Dash background callbacks (the Jobs page's) as
tasks of `celery_app`, under the same names the web app sends. The web app
never imports this module.
"""

from dashboard.factory import create_app

dash_app = create_app()
