"""The request guard: every request is decided here, before any view, from the tables in roles.py.

Order of checks for one request:

1. Open endpoints (assets, component bundles, favicon, /login, /healthz): pass.
2. `/api/…`: `Authorization: Bearer <token>` of an active user, else 401 JSON.
3. Everything else: a live session cookie, else a redirect to /login (page GETs)
   or 401 JSON (Dash endpoints, /files, anything not a page GET).
4. State-changing methods with a session: the CSRF token (csrf.py), else 403.
5. The role the endpoint needs — for Dash pages by path, for
   /_dash-update-component by the callback's outputs — else 403 (a viewer asking
   for "/" is sent to the cohort instead). Unknown endpoints need admin.
"""

from __future__ import annotations

import functools
import logging
from urllib.parse import quote, urlsplit

import dash
import flask
from flask import g, jsonify, redirect, request
from markupsafe import escape

from dashboard.auth import bodies, csrf
from dashboard.auth import inputs as callback_inputs
from dashboard.auth.context import audit as audit_event
from dashboard.auth.context import current_auth, current_user
from dashboard.auth.roles import (
    BROWSER_ENDPOINTS,
    CALLBACK,
    ENDPOINT_ROLES,
    FAIL_CLOSED,
    OPEN_ENDPOINTS,
    PAGE,
    VIEWER,
    allows,
    callback_role,
    landing_path,
    normalize_page_path,
    page_role,
)

log = logging.getLogger(__name__)
SESSION_COOKIE = "ll_session"


class BadCallback(Exception):
    pass


def json_error(status: int, message: str, **extra):
    response = jsonify({"error": message, "status": status, **extra})
    response.status_code = status
    return response


def safe_next(target: str | None, default: str = "/") -> str:
    """A local path to go to after login (never another site, never the login page itself)."""
    target = (target or "").strip()
    parts = urlsplit(target)
    if (not target.startswith("/") or target.startswith("//") or "\\" in target or parts.scheme or parts.netloc
            or parts.path.rstrip("/") in ("/login", "/logout")):
        return default
    return target


def login_redirect():
    next_path = request.full_path if request.query_string else request.path
    return redirect("/login?next=" + quote(next_path, safe="/"), code=302)


def bearer_token() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def identify():
    """The user behind this request's API token or session cookie, or None; never refuses (open routes)."""
    if not flask.has_request_context():
        return None
    store = current_auth().store
    token = bearer_token()
    return store.token_user(token) if token else store.session_user(request.cookies.get(SESSION_COOKIE))


def _callback_role() -> str:
    body = request.get_json(silent=True)
    output = body.get("output") if isinstance(body, dict) else None
    if not isinstance(output, str) or output not in current_auth().dash_app.callback_map:
        raise BadCallback
    return callback_role(output)


def required_role(endpoint: str | None) -> str:
    if endpoint is None:  # no route matched: let Flask answer 404/405 to a logged-in user
        return VIEWER
    role = ENDPOINT_ROLES.get(endpoint)
    if role is None:
        log.warning("no access rule for endpoint %r (%s): admins only until roles.py names it", endpoint,
                    request.path)
        return FAIL_CLOSED
    if role == PAGE:
        return page_role(request.path)
    if role == CALLBACK:
        return _callback_role()
    return role


def forbidden_page(user, needed: str):
    body = (f"<!doctype html><title>Not permitted · Lesion Lens</title>"
            f"<link rel='stylesheet' href='/assets/00-bootstrap.min.css'>"
            f"<div class='container py-5'><h1 class='h3'>Not permitted</h1>"
            f"<p>You are signed in as <b>{escape(user.username)}</b> ({escape(user.role)}); "
            f"this page needs the {escape(needed)} role.</p>"
            f"<p><a href='{landing_path(user.role)}'>Back to Lesion Lens</a></p></div>")
    return flask.Response(body, status=403, mimetype="text/html")


def deny(user, needed: str, endpoint: str | None):
    if request.method in ("GET", "HEAD") and endpoint in BROWSER_ENDPOINTS and \
            normalize_page_path(request.path) in ("/", "/new"):
        return redirect(landing_path(user.role), code=302)  # a viewer's home is the cohort (not an incident)
    audit_event("access.denied", target=request.path[:120], needed=needed, method=request.method)
    if request.method in ("GET", "HEAD") and endpoint in BROWSER_ENDPOINTS:
        return forbidden_page(user, needed)
    return json_error(403, f"this needs the {needed} role; you are {user.role}")


def before_request():
    g.ll_user = None
    g.ll_session_token = None
    g.ll_via = None
    endpoint = request.endpoint
    upload_limit = flask.current_app.config.get("MAX_CONTENT_LENGTH") or bodies.ANONYMOUS_BYTES
    bodies.apply(endpoint, None, upload_limit)  # until we know who is asking: the anonymous limit
    if endpoint in OPEN_ENDPOINTS:
        return None
    auth = current_auth()
    if request.path.startswith("/api/"):
        user = auth.store.token_user(bearer_token())
        if user is None:
            response = json_error(401, "missing, wrong or revoked API token (Authorization: Bearer <token>; "
                                       "create one with `python -m dashboard users token create USER`)")
            response.headers["WWW-Authenticate"] = 'Bearer realm="lesionlens"'
            return response
        g.ll_user, g.ll_via = user, "api"
        bodies.apply(endpoint, user.role, upload_limit)
    else:
        token = request.cookies.get(SESSION_COOKIE)
        user = auth.store.session_user(token)
        if user is None:
            if (request.method in ("GET", "HEAD") and endpoint in BROWSER_ENDPOINTS) or (
                    endpoint == "login.logout" and request.method == "POST"):  # signing out an expired session
                return login_redirect()
            return json_error(401, "login required", login="/login")
        g.ll_user, g.ll_session_token, g.ll_via = user, token, "web"
        bodies.apply(endpoint, user.role, upload_limit)  # before the CSRF check may read a form body
        if request.method not in csrf.SAFE_METHODS and not csrf.valid(csrf.for_session(auth.secret, token)):
            return json_error(403, "CSRF check failed: reload the page and try again")
    try:
        needed = required_role(endpoint)
    except BadCallback:
        return json_error(400, "unknown or malformed callback request")
    if not allows(user.role, needed):
        return deny(user, needed, endpoint)
    if ENDPOINT_ROLES.get(endpoint) == CALLBACK:
        issue = callback_input_problem()
        if issue:
            return json_error(400, f"malformed callback request: {issue}")
    return None


def callback_input_problem() -> str | None:
    """Shape and types of a callback request (auth/inputs.py), and that a case it names exists."""
    body = request.get_json(silent=True)
    issue = callback_inputs.problem(body, current_auth().dash_app.callback_map[body["output"]])
    if issue:
        return issue
    for item in (body.get("inputs") or []) + (body.get("state") or []):
        if item.get("id") == "case-id":
            from dashboard.services import current_services

            if current_services().store.get(item["value"]) is None:
                return "no such case"
    return None


def after_request(response):
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    if "Content-Security-Policy" not in headers and not request.path.startswith(("/files/", "/api/")):
        headers["Content-Security-Policy"] = content_security_policy()  # those two get stricter ones later
    user = g.get("ll_user")
    if user is not None:
        # authenticated content (case images, callback JSON) may be kept by the browser, never by a shared cache
        if response.cache_control.public:
            response.cache_control.public = False
            response.cache_control.private = True
        token = g.get("ll_session_token")
        if token:
            auth = current_auth()
            expected = csrf.for_session(auth.secret, token)
            if request.cookies.get(csrf.COOKIE) != expected:
                set_csrf_cookie(response, expected, auth)
    return response


def content_security_policy() -> str:
    """The app's CSP (auth/csp.py), computed once: Dash's first-request setup has run by the first response."""
    auth = current_auth()
    if not auth.csp:
        from dashboard.auth import csp

        auth.csp = csp.for_app(auth.dash_app)
    return auth.csp


def set_csrf_cookie(response, value: str, auth) -> None:
    response.set_cookie(csrf.COOKIE, value, max_age=int(auth.config.session_hours * 3600), httponly=False,
                        samesite="Lax", secure=auth.config.secure_cookies, path="/")


def set_session_cookies(response, token: str, auth) -> None:
    response.set_cookie(SESSION_COOKIE, token, max_age=int(auth.config.session_hours * 3600), httponly=True,
                        samesite="Lax", secure=auth.config.secure_cookies, path="/")
    set_csrf_cookie(response, csrf.for_session(auth.secret, token), auth)


def clear_session_cookies(response, auth) -> None:
    for name, http_only in ((SESSION_COOKIE, True), (csrf.COOKIE, False)):
        response.delete_cookie(name, path="/", httponly=http_only, samesite="Lax", secure=auth.config.secure_cookies)


# ------------------------------------------------------------------ pages
def not_permitted_layout(needed: str, user):
    import dash_bootstrap_components as dbc
    from dash import dcc, html

    who = f"You are signed in as {user.username} ({user.role}); " if user else ""
    return dbc.Alert([html.H4("Not permitted"), html.P(f"{who}this page needs the {needed} role."),
                      dcc.Link("Back", href=landing_path(user.role) if user else "/login")],
                     color="warning", className="ll-not-permitted")


def guard_layout(layout, path: str, needed: str):
    """Wrap a page layout so the pages router renders it only for users whose role allows the page."""
    if getattr(layout, "_ll_guarded", False):
        return layout

    @functools.wraps(layout) if callable(layout) else (lambda f: f)
    def guarded(*args, **kwargs):
        user = current_user()
        if user is None or not allows(user.role, needed):
            if user is not None:
                audit_event("access.denied", target=path, needed=needed)
            return not_permitted_layout(needed, user)
        return layout(*args, **kwargs) if callable(layout) else layout

    guarded._ll_guarded = True
    return guarded


def guard_pages() -> None:
    """Wrap every registered page's layout with its role (PAGE_ROLES by path; viewer otherwise)."""
    for page in dash.page_registry.values():
        path = page.get("path") or "/"
        page["layout"] = guard_layout(page.get("layout"), path, page_role(path))


def install(app, auth) -> None:
    server = app.server
    if auth.config.trust_proxy:
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = auth.config.trust_proxy
        server.wsgi_app = ProxyFix(server.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    server.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                         SESSION_COOKIE_SECURE=auth.config.secure_cookies)
    server.before_request(before_request)
    server.after_request(after_request)
    guard_pages()
