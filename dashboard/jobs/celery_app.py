"""Celery application of the jobs: `celery -A dashboard.jobs.celery_app worker --loglevel=INFO`.

Used when CELERY_BROKER_URL is set (e.g. redis://redis-host:6379/0); the
result backend is CELERY_RESULT_BACKEND, else CACHE_REDIS_URL, else the
broker (a re-scoring's chunks are a chord: the backend collects their
reports). Start workers with the same environment as the web app
(DATABASE_URL, LESIONLENS_HOME on the shared volume, LESIONLENS_MODELS). A
worker imports `dashboard.jobs.tasks` at start (`include`): the task
functions and the services they use, never the Dash app. The web app sends
tasks by name (`TASKS`) and so never imports the tasks module either.
Either pool works: `--pool=solo` runs one task at a time per worker, the
default prefork pool `--concurrency` at once (each child builds its own
services and loads a model once).

Lost workers: a re-scoring chunk is re-delivered when its worker dies
(`tasks.py`): at once when a prefork child is killed (the parent rejects
it back to the queue), and after VISIBILITY_TIMEOUT_S when a whole worker
or node dies with Redis as the broker (nothing is left to reject it; Redis
hands unacknowledged messages out again after that time). The planning and
batch tasks are not re-run (`task_acks_late=False`): a batch job lost with
its worker ends "interrupted" (the reaper, `store.py`) and is started again
by hand; re-running it stores nothing twice.
"""

from __future__ import annotations

from celery import Celery

from dashboard.settings import Settings

TASKS = {
    "rescore": "lesionlens.jobs.rescore",
    "batch": "lesionlens.jobs.batch",
    "rescore_chunk": "lesionlens.jobs.rescore_chunk",
    "rescore_finish": "lesionlens.jobs.rescore_finish",
}

# Redis re-delivers a message not acknowledged within this time: a lost node's chunk comes back after it,
# so a chunk must always finish sooner (tasks.MAX_CHUNK_ITEMS keeps chunks to minutes)
VISIBILITY_TIMEOUT_S = 3600

broker, backend = Settings.from_env().celery_urls

celery_app = Celery("lesionlens", broker=broker, backend=backend, include=["dashboard.jobs.tasks"])
celery_app.conf.update(
    task_track_started=True,
    worker_prefetch_multiplier=1,  # a long job does not hold others hostage on a busy worker
    task_acks_late=False,  # planning and batch tasks are not re-run after a crash (re-scoring chunks are)
    broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT_S},
    result_expires=24 * 3600,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
)
app = celery_app  # what `celery -A dashboard.jobs.celery_app` looks for
