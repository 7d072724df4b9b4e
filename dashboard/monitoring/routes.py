"""`/prometheus` and the request timing hooks.

Why `/prometheus` and not the usual `/metrics`: `/metrics` is the app's
Metrics page (cohort ROC, calibration...), which reviewers have bookmarked.

Access: the route is outside the sign-in guard (a scraper has no session)
and checks for itself. It answers
* a request carrying `Authorization: Bearer <LESIONLENS_METRICS_TOKEN>`
  (compared in constant time), from anywhere, e.g. Prometheus through nginx;
* without a token, only a direct connection from this machine: the socket
  peer is 127.0.0.1 or ::1 and no proxy header is present. Through nginx
  (which always sets X-Forwarded-For) or on gunicorn's unix socket the peer
  is never loopback, so behind the proxy the token is required.
Everyone else gets 403. The output has no patient data either way (see
`metrics.py`): route templates, methods, statuses, outcomes, job states.
"""

from __future__ import annotations

import hmac
import time

import flask

from dashboard.monitoring import metrics

bp = flask.Blueprint("monitoring", __name__)
LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}
PROXY_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")
TOKEN_CONFIG = "LESIONLENS_METRICS_TOKEN"
_START = "lesionlens.request_started"


def allowed(request: flask.Request, token: str | None) -> bool:
    """The access rule above: the scrape token, or a direct loopback connection without proxy headers."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if token and scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
        return True
    environ = request.environ
    original = environ.get("werkzeug.proxy_fix.orig") or {}  # ProxyFix keeps the socket peer here
    peer = original.get("REMOTE_ADDR", environ.get("REMOTE_ADDR", ""))
    return peer in LOOPBACK and not any(environ.get(h) for h in PROXY_HEADERS)


@bp.get("/prometheus")
def prometheus():
    if not allowed(flask.request, flask.current_app.config.get(TOKEN_CONFIG)):
        response = flask.jsonify(
            {
                "error": "metrics need the scrape token (LESIONLENS_METRICS_TOKEN) or a "
                "direct connection from this machine",
                "status": 403,
            }
        )
        response.status_code = 403
        return response
    from dashboard.services import current_services

    body = metrics.exposition(current_services().store.sessions)
    response = flask.Response(body, mimetype="text/plain")
    response.headers["Content-Type"] = "text/plain; version=0.0.4; charset=utf-8"
    response.headers["Cache-Control"] = "no-store"
    return response


def _start_timer() -> None:
    flask.request.environ[_START] = time.perf_counter()


def _observe(response: flask.Response) -> flask.Response:
    started = flask.request.environ.get(_START)
    if started is not None:
        rule = flask.request.url_rule
        metrics.observe_request(
            rule.rule if rule is not None else "unmatched",
            flask.request.method,
            response.status_code,
            time.perf_counter() - started,
        )
    return response


def install(server: flask.Flask, token: str | None) -> None:
    """Time every request (the timer runs before the sign-in guard, so refusals count) and add `/prometheus`."""
    server.config[TOKEN_CONFIG] = token or None
    server.before_request_funcs.setdefault(None, []).insert(0, _start_timer)
    server.after_request(_observe)
    server.register_blueprint(bp)
