"""Login (`/login`) and logout (`/logout`): small server-rendered forms, not a Dash page.

The login form is plain HTML posted to Flask, so nothing of the Dash app
(layout, callbacks, page list) is reachable before signing in, and the page
works without JavaScript. Both forms carry a CSRF token (see auth/csrf.py).
Failed and refused logins are answered with the same words, the same status,
the same echoed username and the same scrypt work whether or not the username
exists (no enumeration); back-off is per username and per address, decided
and recorded atomically before the password is checked (auth/lockout.py).
HEAD is answered like GET (Flask adds it to GET routes; it must never reach
the POST branch).
"""

from __future__ import annotations

import math

from flask import Blueprint, Response, redirect, request
from markupsafe import escape

from dashboard.auth import client_ip, csrf, current_auth, current_user
from dashboard.auth.guards import (
    SESSION_COOKIE,
    clear_session_cookies,
    safe_next,
    set_csrf_cookie,
    set_session_cookies,
)
from dashboard.auth.roles import landing_path

bp = Blueprint("login", __name__)
FOOTER = "Research use only — not a medical device. Model output must be confirmed by a qualified clinician."


def _page(title: str, body: str, status: int = 200) -> Response:
    html = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} · Lesion Lens</title>
<link rel="stylesheet" href="/assets/00-bootstrap.min.css"><link rel="stylesheet" href="/assets/10-lesionlens.css">
</head><body><div class="ll-app">
<nav class="navbar navbar-dark bg-dark mb-4"><div class="container-fluid">
<span class="navbar-brand"><span class="ll-logo">◉ </span>Lesion Lens</span></div></nav>
<main class="container ll-main" style="max-width: 26rem">{body}</main>
<footer class="ll-footer"><div class="container-fluid"><small>{escape(FOOTER)}</small></div></footer>
</div></body></html>"""
    response = Response(html, status=status, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


def _login_form(token: str, next_path: str, message: str = "", username: str = "", status: int = 200) -> Response:
    alert = f'<div class="alert alert-danger py-2" role="alert" id="login-error">{escape(message)}</div>' if message else ""
    body = f"""<div class="card"><div class="card-header">Sign in</div><div class="card-body">
{alert}
<form method="post" action="/login" id="login-form" autocomplete="on">
<input type="hidden" name="{csrf.FORM_FIELD}" value="{escape(token)}">
<input type="hidden" name="next" value="{escape(next_path)}">
<div class="mb-3"><label class="form-label" for="username">Username</label>
<input class="form-control" id="username" name="username" value="{escape(username)}" autocomplete="username"
 autocapitalize="none" spellcheck="false" required autofocus maxlength="256"></div>
<div class="mb-3"><label class="form-label" for="password">Password</label>
<input class="form-control" id="password" name="password" type="password" autocomplete="current-password"
 required maxlength="256"></div>
<button class="btn btn-primary w-100" type="submit" id="login-submit">Sign in</button>
</form></div></div>
<p class="text-muted small mt-3">Accounts are managed by your administrator
(<code>python -m dashboard users …</code>).</p>"""
    response = _page("Sign in", body, status)
    set_csrf_cookie(response, token, current_auth())
    return response


def _form_token() -> str:
    """Keep the visitor's current double-submit token (several tabs) or make one."""
    existing = request.cookies.get(csrf.COOKIE, "")
    return existing if 20 <= len(existing) <= 128 else csrf.new_anonymous()


@bp.route("/login", methods=["GET", "POST"])
def login():
    auth = current_auth()
    user = auth.store.session_user(request.cookies.get(SESSION_COOKIE))
    next_raw = request.values.get("next", "")
    if request.method != "POST":  # GET and HEAD
        if user is not None:
            return redirect(safe_next(next_raw, landing_path(user.role)))
        return _login_form(_form_token(), safe_next(next_raw, ""))

    username = request.form.get("username", "")[:256]
    password = request.form.get("password", "")
    next_path = safe_next(next_raw, "")
    cookie_token = request.cookies.get(csrf.COOKIE, "")
    if not csrf.valid(cookie_token):
        return _login_form(csrf.new_anonymous(), next_path, "The form expired. Please sign in again.", status=400)

    ip = client_ip()
    known = auth.store.get(username)
    target = known.username if known else None
    ticket = auth.throttle.reserve(username, ip)
    if ticket.wait > 0:
        auth.audit.record("login.locked", target=target, ip=ip, detail={"wait_s": math.ceil(ticket.wait)})
        minutes = max(1, math.ceil(ticket.wait / 60))
        response = _login_form(cookie_token, next_path, f"Too many failed sign-ins. Try again in {minutes} "
                               f"minute{'s' if minutes > 1 else ''}.", username=username, status=429)
        response.headers["Retry-After"] = str(math.ceil(ticket.wait))
        return response

    user = auth.store.authenticate(username, password)
    auth.throttle.settle(ticket, ok=user is not None)
    if user is None:
        reason = "unknown user" if known is None else ("account removed" if not known.active else "wrong password")
        auth.audit.record("login.failed", target=target, ip=ip, detail={"reason": reason})
        return _login_form(cookie_token, next_path, "Wrong username or password.", username=username, status=401)

    token = auth.store.create_session(user, ip)
    auth.audit.record("login.ok", actor=user.username, role=user.role, target=user.username, ip=ip)
    response = redirect(next_path or landing_path(user.role), code=303)
    set_session_cookies(response, token, auth)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/logout", methods=["GET", "POST"])
def logout():
    """GET shows a confirm button (a link must not end a session); POST (CSRF-checked by the guard) ends it."""
    auth = current_auth()
    user = current_user()
    if request.method != "POST":  # GET and HEAD never end a session
        token = csrf.for_session(auth.secret, request.cookies.get(SESSION_COOKIE, ""))
        body = f"""<div class="card"><div class="card-body"><p>Signed in as <b>{escape(user.username)}</b>.</p>
<form method="post" action="/logout"><input type="hidden" name="{csrf.FORM_FIELD}" value="{escape(token)}">
<button class="btn btn-primary" type="submit" id="logout-submit">Sign out</button>
<a class="btn btn-link" href="{landing_path(user.role)}">Cancel</a></form></div></div>"""
        return _page("Sign out", body)
    auth.store.end_session(request.cookies.get(SESSION_COOKIE))
    auth.audit.record("logout", actor=user.username, role=user.role, target=user.username, ip=client_ip())
    response = redirect("/login", code=303)
    clear_session_cookies(response, auth)
    return response
