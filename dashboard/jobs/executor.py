"""Where a job runs: `submit` sends it to the Celery workers when CELERY_BROKER_URL is set, else starts the
local executor, a fresh `python -m dashboard.jobs.runner JOB_ID` process.

Both run the same task function of the job's kind (`tasks.py`). The page
only creates the job's row and submits it; it follows progress from the row,
so it needs no background-callback manager and whichever web node answers
the next poll sees the same job. The local process gets a session of its
own: a web worker that restarts does not take a running job with it (the
row's cancel flag stops it, as it stops a Celery task).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pipeline.paths import REPO_ROOT

_children: list[subprocess.Popen] = []  # local runners, reaped when the next one starts


def log_path(settings, job_id: str) -> Path:
    folder = settings.home / "logs" / "jobs"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{job_id}.log"


def submit(settings, job_id: str, kind: str) -> str:
    """Start job `job_id`; returns where it went ("celery:<task id>" or "local:<pid>")."""
    if settings.celery_broker_url:
        from dashboard.jobs.celery_app import TASKS, celery_app

        return f"celery:{celery_app.send_task(TASKS[kind], args=[job_id]).id}"
    _children[:] = [child for child in _children if child.poll() is None]
    env = settings.child_environment(LESIONLENS_MIGRATE="verify")  # the app has migrated: a runner only checks
    with open(log_path(settings, job_id), "ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "dashboard.jobs.runner", job_id], cwd=REPO_ROOT, env=env,
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    _children.append(process)
    return f"local:{process.pid}"
