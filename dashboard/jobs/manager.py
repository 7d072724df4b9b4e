"""The background-callback manager for this deployment, and `follow`, the body of a job callback.

One machine: `DiskcacheManager` with its cache under LESIONLENS_HOME (every
gunicorn worker of the machine sees every job's progress and result).
Several machines: CELERY_BROKER_URL set -> `CeleryManager` on the Celery app
of `celery_app.py` (Redis broker and result backend), and the callbacks run
in `celery -A dashboard.jobs.celery_app worker` processes on any machine
that shares the database and the store volume.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

from pipeline.paths import REPO_ROOT

POLL_S = 0.5
_diskcache_managers: dict[str, Any] = {}


def background_manager(settings):
    if settings.celery_broker_url:
        from dashboard.jobs.celery_app import manager

        return manager()
    key = str(settings.jobs_cache_dir)
    if key not in _diskcache_managers:
        import diskcache
        from dash import DiskcacheManager

        settings.jobs_cache_dir.mkdir(parents=True, exist_ok=True)
        _diskcache_managers[key] = DiskcacheManager(diskcache.Cache(key), expire=24 * 3600)
    return _diskcache_managers[key]


def job_env(settings) -> dict[str, str]:
    """The runner's environment: this app's storage, whatever the parent's environment says."""
    return settings.child_environment(LESIONLENS_MIGRATE="verify")  # the app has migrated: a runner only checks


def job_store(settings):
    """A JobStore on a fresh engine (this may be a forked process: never reuse the parent's connections)."""
    from dashboard.jobs.store import JobStore
    from dashboard.store.db import make_engine, make_sessionmaker

    return JobStore(make_sessionmaker(make_engine(settings.database_url)))


def log_path(settings, job_id: str) -> Path:
    folder = settings.home / "logs" / "jobs"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{job_id}.log"


def follow(settings, job_id: str, report: Callable[[dict], None]) -> dict:
    """Run job `job_id` in a runner process, calling `report(job)` as it progresses; returns the final job."""
    jobs = job_store(settings)
    with open(log_path(settings, job_id), "ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "dashboard.jobs.runner", job_id], cwd=REPO_ROOT,
                                   env=job_env(settings), stdout=log, stderr=subprocess.STDOUT)
        last = None
        try:
            while process.poll() is None:
                time.sleep(POLL_S)
                job = jobs.get(job_id)
                state = job and (job["status"], job["done"], job["failed"], job["total"])
                if job is not None and state != last:
                    report(job)
                    last = state
        finally:
            if process.poll() is None:  # we are being stopped: take the runner with us
                process.kill()
                process.wait(10)
    job = jobs.get(job_id)
    if job is not None and job["status"] in ("queued", "running"):
        jobs.finish(job_id, "failed", f"the job process stopped unexpectedly (exit code {process.returncode})")
        job = jobs.get(job_id)
    return job or {"id": job_id, "status": "failed", "message": "job record missing"}
