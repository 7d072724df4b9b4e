"""Access control: accounts, roles, sessions, CSRF, login back-off, API tokens and the audit log.

`install(app, ...)` wires it into a Dash app (called by `create_app`): one
`before_request` guard decides every request from the tables in `roles.py`
(login required everywhere except the open list; the role a page, route or
callback needs), an `after_request` hook sets cookie and security headers, and
page layouts are wrapped so in-app navigation obeys the same page roles.
`build_auth(settings)` gives the CLI the same objects without a web app.
"""

from __future__ import annotations

from dashboard.auth.audit_log import AuditLog
from dashboard.auth.context import (
    EXTENSION_KEY,
    Auth,
    audit,
    client_ip,
    current_auth,
    current_user,
    require,
)
from dashboard.auth.lockout import Throttle
from dashboard.auth.roles import ADMIN, CLINICIAN, ROLES, VIEWER, allows
from dashboard.auth.store import AccountError, AuthStore, User
from dashboard.settings import AuthConfig

__all__ = ["ADMIN", "CLINICIAN", "EXTENSION_KEY", "ROLES", "VIEWER", "AccountError", "Auth", "User", "allows",
           "audit", "build_auth", "client_ip", "current_auth", "current_user", "install", "require"]


def build_auth(settings, sessions=None, engine=None, config: AuthConfig | None = None) -> Auth:
    """The access objects on the settings' database.

    Given no engine (the CLI), it opens the database and brings the schema to
    the migrations' head like the store does; in the app the store has done
    that already. Either way the audit log's append-only triggers are ensured.
    """
    from dashboard.auth.tables import ensure_schema
    from dashboard.store.db import init_schema, make_engine, make_sessionmaker

    config = config or settings.auth
    if engine is None:
        engine = make_engine(settings.database_url)
        init_schema(engine, getattr(settings, "schema_mode", "upgrade"))
    if sessions is None:
        sessions = make_sessionmaker(engine)
    ensure_schema(engine)
    return Auth(config=config, secret=settings.secret_key, store=AuthStore(sessions, config),
                throttle=Throttle(sessions, config, settings.secret_key), audit=AuditLog(sessions))


def install(app, settings, engine, sessions, config: AuthConfig | None = None) -> Auth:
    from dashboard.auth import guards

    auth = build_auth(settings, sessions=sessions, engine=engine, config=config)
    auth.dash_app = app
    app.server.extensions[EXTENSION_KEY] = auth
    guards.install(app, auth)
    return auth
