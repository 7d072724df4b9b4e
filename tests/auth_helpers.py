"""Signing in from tests: accounts, logged-in Flask test clients, API tokens.

Every route of the dashboard needs a signed-in user (see dashboard/auth), so
tests that drive pages, callbacks, file routes or the API use these helpers:

    client = logged_in_client(app, "clinician")      # session cookie + X-CSRFToken + a Bearer token
    headers = {"Authorization": f"Bearer {api_token(app, 'viewer')}"}
    with as_user(app, "admin"): models_page.layout()  # a request context with that user
"""

from __future__ import annotations

import contextlib
import itertools

import flask

PASSWORD = "test-password-1234"  # tests only: accounts live in a tmp database
_names = itertools.count(1)


def auth_of(app):
    server = getattr(app, "server", app)
    return server.extensions["lesionlens_auth"]


def add_user(app, role: str, username: str | None = None, password: str = PASSWORD):
    username = username or f"{role}{next(_names)}"
    return auth_of(app).store.add(username, role, password)


def login(client, username: str, password: str = PASSWORD, next_path: str = ""):
    """Sign in through the real login form (CSRF cookie + field); returns the response."""
    client.get("/login")
    token = client.get_cookie("ll_csrf").value
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token,
                                       "next": next_path})


def logged_in_client(app, role: str = "admin", username: str | None = None, api: bool = True):
    """A test client signed in as a new user of `role`; sends X-CSRFToken (and a Bearer token) on every request."""
    server = getattr(app, "server", app)
    user = add_user(server, role, username)
    client = server.test_client()
    response = login(client, user.username)
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    client.environ_base["HTTP_X_CSRFTOKEN"] = client.get_cookie("ll_csrf").value
    if api:
        _id, token = auth_of(server).store.create_token(user.username, "tests")
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    client.user = user
    return client


def api_token(app, role: str = "clinician", username: str | None = None) -> str:
    user = add_user(app, role, username)
    return auth_of(app).store.create_token(user.username, "tests")[1]


@contextlib.contextmanager
def as_user(app, role: str = "admin", username: str | None = None):
    """A request context whose signed-in user has `role` (for calling layouts and callbacks directly)."""
    from dashboard.auth.store import User

    server = getattr(app, "server", app)
    with server.test_request_context():
        flask.g.ll_user = User(id=0, username=username or f"test-{role}", role=role)
        flask.g.ll_via = "web"
        yield flask.g.ll_user
