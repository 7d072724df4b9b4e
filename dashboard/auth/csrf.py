"""CSRF protection for cookie-authenticated, state-changing requests.

Session cookies are SameSite=Lax (a cross-site POST carries no session), and on
top of that every POST/PUT/PATCH/DELETE made with a session must present a
token that a cross-site page cannot read:

* Logged in: the token is HMAC(secret key, session token). It is handed to the
  page in the `ll_csrf` cookie (readable by JS, not HttpOnly); Dash's renderer
  copies that cookie into the `X-CSRFToken` header of every request it makes
  (`dash.Dash(csrf_token_name="ll_csrf")`), and the logout form carries it as a
  hidden field. The server recomputes it from the session, so a planted cookie
  does not help an attacker.
* Logged out (the login form): classic double-submit — a random `ll_csrf`
  cookie set with the form must equal the form's hidden field.

In both cases a present `Origin` header must name this host. The JSON API takes
no cookies (Bearer tokens only), so it needs no CSRF token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from flask import request

COOKIE = "ll_csrf"
HEADER = "X-CSRFToken"
FORM_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def for_session(secret: str, session_token: str) -> str:
    return hmac.new(secret.encode(), f"csrf:{session_token}".encode(), hashlib.sha256).hexdigest()


def new_anonymous() -> str:
    return secrets.token_urlsafe(32)


def submitted() -> str:
    value = request.headers.get(HEADER, "")
    if not value and request.mimetype == "application/x-www-form-urlencoded":
        value = request.form.get(FORM_FIELD, "")
    return value or ""


def same_origin() -> bool:
    """False only when the browser says the request comes from another site."""
    origin = request.headers.get("Origin")
    if origin and origin != "null":
        return urlsplit(origin).netloc.lower() == request.host.lower()
    if origin == "null":
        return False
    fetch_site = request.headers.get("Sec-Fetch-Site")
    return fetch_site not in ("cross-site",)


def valid(expected: str | None) -> bool:
    given = submitted()
    return bool(expected) and bool(given) and hmac.compare_digest(given.encode(), expected.encode()) and same_origin()
