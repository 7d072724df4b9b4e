"""`python -m dashboard ensure-admin`: make the store ready before the first worker starts.

Creates the tables and records the active model (the configured default, or
the newest valid bundle) so every worker agrees from the first request.
This build has no user accounts: reviews carry the reviewer's initials and
the API is guarded by LESIONLENS_API_TOKEN when that is set.
"""

from __future__ import annotations


def add_arguments(parser) -> None:
    parser.set_defaults(run=run)


def run(_args) -> int:
    from dashboard.factory import create_app
    from dashboard.services.models import ACTIVE_MODEL_KEY

    services = create_app().server.extensions["lesionlens"]
    name = services.models.active_name()
    if name and services.store.get_setting(ACTIVE_MODEL_KEY) is None:
        services.models.activate(name)
    print(f"store ready at {services.settings.database_url.split('@')[-1]} "
          f"({services.store.count()} cases); active model: {name or 'none available'}")
    print("user accounts: none in this build (reviews record initials; set LESIONLENS_API_TOKEN to guard the API)")
    return 0
