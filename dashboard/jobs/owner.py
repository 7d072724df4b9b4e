"""Who starts and who may cancel a job, and their audit rows.

Why here and not in the request guard: the guard used to audit "job.start"
and "job.cancel" from the shape of the callback request (the trigger named
in `changedPropIds`, no `cacheKey` in the URL), so a request phrased
differently (empty `changedPropIds`, `?cacheKey=` empty) started or
cancelled a job with no audit row. Now the row is written where the state
changes: when the job's row is created, and when its cancel flag is set.

A job's callback body runs in another process (a DiskcacheManager child or a
Celery worker) where there is no Flask request; Dash hands it the request's
cookies, so the owner is the user of the request's session cookie, looked up
in the shared database like the guard does. No session, no job.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Starter:
    username: str
    role: str
    ip: str | None


def starter_from_callback(settings) -> Starter | None:
    """The signed-in user who triggered the current (background) callback, or None."""
    import dash

    from dashboard.auth.guards import SESSION_COOKIE
    from dashboard.auth.store import AuthStore
    from dashboard.store.db import make_engine, make_sessionmaker

    token = (dash.callback_context.cookies or {}).get(SESSION_COOKIE)
    if not token:
        return None
    engine = make_engine(settings.database_url)
    try:
        user = AuthStore(make_sessionmaker(engine), settings.auth).session_user(token)
    finally:
        engine.dispose()
    return None if user is None else Starter(user.username, user.role, (dash.callback_context.remote or None))


def audit_start(settings, starter: Starter, job_id: str, spec: dict) -> None:
    """`job.start` for a job created outside a request (paths in the spec are left out: they may name people)."""
    from dashboard.auth.audit_log import AuditLog
    from dashboard.store.db import make_engine, make_sessionmaker

    engine = make_engine(settings.database_url)
    try:
        AuditLog(make_sessionmaker(engine)).record(
            "job.start", actor=starter.username, role=starter.role, target=job_id, ip=starter.ip,
            detail={"kind": spec.get("kind"), "model": spec.get("model"), "via": "web"})
    finally:
        engine.dispose()


def may_cancel(user, job: dict | None) -> bool:
    """Only the job's owner or an admin cancels it (a job without a recorded owner: admins only)."""
    if user is None or job is None:
        return False
    return user.role == "admin" or (job.get("owner") is not None and job.get("owner") == user.username)
