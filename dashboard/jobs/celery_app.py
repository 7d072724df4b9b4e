"""Celery application of the jobs: `celery -A dashboard.jobs.celery_app worker --loglevel=INFO`.

Used when CELERY_BROKER_URL is set (e.g. redis://redis-host:6379/0); the
result backend is CELERY_RESULT_BACKEND, else CACHE_REDIS_URL, else the
broker. Start workers with the same environment as the web app (DATABASE_URL,
LESIONLENS_HOME on the shared volume, LESIONLENS_MODELS). A worker imports
`dashboard.jobs.tasks` at start (`include`), which builds the dashboard app
once and so registers the Dash background callbacks as Celery tasks under
the same names the web app uses.
Each job then runs in its own runner process (`dashboard.jobs.runner`), so
`--pool=solo` (one job at a time per worker) or the default prefork pool
both work; `--concurrency` bounds the jobs a machine runs at once.
"""

from __future__ import annotations

from celery import Celery

from dashboard.settings import Settings

broker, backend = Settings.from_env().celery_urls

celery_app = Celery("lesionlens", broker=broker, backend=backend, include=["dashboard.jobs.tasks"])
celery_app.conf.update(
    task_track_started=True,
    worker_prefetch_multiplier=1,  # a long job does not hold others hostage on a busy worker
    task_acks_late=False,  # a job is not re-run by another worker after a crash: its row says "interrupted"
    result_expires=24 * 3600,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)
app = celery_app  # what `celery -A dashboard.jobs.celery_app` looks for

_manager = None


def manager():
    """The CeleryManager on this Celery app (one per process)."""
    global _manager
    if _manager is None:
        from dash import CeleryManager

        _manager = CeleryManager(celery_app, expire=24 * 3600)
    return _manager
