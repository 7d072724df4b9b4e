"""The access objects of the running app and of the current request: who is signed in, what they may do.

Kept apart from `dashboard/auth/__init__.py` (which builds and installs the
access layer) so that the request guard and the services can ask "who is
this?" without importing the module that installs the guard: no import circle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import flask

from dashboard.auth.audit_log import AuditLog
from dashboard.auth.lockout import Throttle
from dashboard.auth.roles import allows
from dashboard.auth.store import AuthStore, User
from dashboard.settings import AuthConfig

EXTENSION_KEY = "lesionlens_auth"


@dataclass
class Auth:
    config: AuthConfig
    secret: str
    store: AuthStore
    throttle: Throttle
    audit: AuditLog
    dash_app: Any = None
    csp: str = ""  # Content-Security-Policy, computed on the first response (see auth/csp.py)


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
    current_auth().audit.record(
        action,
        actor=user.username if user else None,
        role=user.role if user else None,
        target=target,
        ip=client_ip() or None,
        detail=detail,
    )


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
