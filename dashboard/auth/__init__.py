"""Access control: accounts, roles, sessions, CSRF, login back-off, API tokens and the audit log.

`install(app, ...)` wires it into a Dash app (called by `create_app`): one
`before_request` guard decides every request from the tables in `roles.py`
(login required everywhere except the open list; the role a page, route or
callback needs), an `after_request` hook sets cookie and security headers, and
page layouts are wrapped so in-app navigation obeys the same page roles.
`build_auth(settings)` gives the CLI the same objects without a web app.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import flask

from dashboard.auth.audit_log import AuditLog
from dashboard.settings import AuthConfig
from dashboard.auth.lockout import Throttle
from dashboard.auth.roles import ADMIN, CLINICIAN, ROLES, VIEWER, allows
from dashboard.auth.store import AccountError, AuthStore, User

EXTENSION_KEY = "lesionlens_auth"
__all__ = ["ADMIN", "CLINICIAN", "ROLES", "VIEWER", "AccountError", "Auth", "User", "allows", "audit",
           "build_auth", "client_ip", "current_auth", "current_user", "install", "require"]


@dataclass
class Auth:
    config: AuthConfig
    secret: str
    store: AuthStore
    throttle: Throttle
    audit: AuditLog
    dash_app: Any = None
    csp: str = ""  # Content-Security-Policy, computed on the first response (see auth/csp.py)


def build_auth(settings, sessions=None, engine=None, config: AuthConfig | None = None) -> Auth:
    """The access objects on the settings' database.

    Given no engine (the CLI), it opens the database and brings the schema to
    the migrations' head like the store does; in the app the store has done
    that already. Either way the audit log's append-only triggers are ensured.
    """
    from dashboard.auth.models import ensure_schema
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


def current_auth() -> Auth:
    return flask.current_app.extensions[EXTENSION_KEY]


def current_user() -> User | None:
    """The authenticated user of this request (None outside a request or when anonymous)."""
    if not flask.has_request_context():
        return None
    return flask.g.get("ll_user")


def client_ip() -> str:
    """The client address: the socket peer, or the proxy's X-Forwarded-For hop when
    LESIONLENS_TRUST_PROXY is set (werkzeug ProxyFix rewrites remote_addr then)."""
    if not flask.has_request_context():
        return ""
    return (flask.request.remote_addr or "")[:64]


def audit(action: str, target: str | None = None, **detail: Any) -> None:
    """Record an audit event for the current request's user and address."""
    user = current_user()
    via = flask.g.get("ll_via") if flask.has_request_context() else None
    if via and "via" not in detail:
        detail["via"] = via
    current_auth().audit.record(action, actor=user.username if user else None, role=user.role if user else None,
                                target=target, ip=client_ip() or None, detail=detail)


def require(role: str) -> User:
    """Inside a callback: the current user if their role includes `role`, else stop the callback.

    The request guard already refuses such callbacks with 403; this is the
    second lock on the same door, next to the code that changes state.
    """
    import dash

    user = current_user()
    if user is None or not allows(user.role, role):
        raise dash.exceptions.PreventUpdate
    return user
