"""API rate limits (flask-limiter): per signed-in user, in memory or in Redis.

Why: a valid token must not be able to queue the model without bound — each
`POST /api/v1/predict` decodes an image and runs the model on a CPU that the
whole app shares — nor hammer the other API routes. Limits are counted per
user (the token's account, set by the request guard, which runs first), else
per client address. Storage: `settings.ratelimit_storage`
(LESIONLENS_RATELIMIT_STORAGE, a limits storage URI), else `CACHE_REDIS_URL`
(so every worker and node shares one count), else this process's memory (one
count per gunicorn worker: the effective limit is then workers x the rate).
Rates: `settings.predict_rate` (LESIONLENS_PREDICT_RATE, default 60/minute)
and `settings.api_rate` (LESIONLENS_API_RATE, default 300/minute, every
/api/v1 route).
"""

from __future__ import annotations

from flask import g, request


def _key() -> str:
    user = g.get("ll_user")
    return f"user:{user.username}" if user is not None else f"ip:{request.remote_addr or 'unknown'}"


def storage_uri(settings) -> str:
    return settings.ratelimit_storage or settings.cache_redis_url or "memory://"


def install(server, settings, predict_rate: str | None = None, api_rate: str | None = None):
    """Attach the limiter; call after the access guard is installed (its before_request must run first)."""
    from flask_limiter import Limiter

    predict_rate = predict_rate or settings.predict_rate
    api_rate = api_rate or settings.api_rate
    limiter = Limiter(_key, app=server, storage_uri=storage_uri(settings), strategy="moving-window",
                      headers_enabled=True, key_prefix="lesionlens",
                      swallow_errors=True)  # a Redis outage must not take the API down: count in memory then
    api_blueprint = server.blueprints["api"]
    limiter.limit(api_rate)(api_blueprint)
    predict_view = server.view_functions["api.predict"]
    server.view_functions["api.predict"] = limiter.limit(predict_rate)(predict_view)
    return limiter
