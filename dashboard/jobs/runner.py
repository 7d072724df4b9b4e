"""`python -m dashboard.jobs.runner JOB_ID`: run one job in a fresh process.

Started by `manager.follow` (from a DiskcacheManager child or a Celery
worker) with the web app's storage settings in its environment. It builds
its own Services container (no Dash, no accounts), so the model loads once
for the whole job, runs `core.run_job`, and exits 0 (done or cancelled) or
1 (failed). A watchdog turns the death of the process that started it
(Dash cancel, Celery terminate) into a cancel request, so an orphaned runner
stops after its current item instead of running on unseen.

LESIONLENS_PREDICTOR_FACTORY=module:callable (`settings.predictor_factory`)
replaces pipeline.predictor.Predictor (tests use the fake predictor); it is
used here only, never by the web app.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import threading
import time


def _factory(target: str):
    if not target:
        return None
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def _watch_parent(jobs, job_id: str, parent: int) -> None:
    def watch():
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                logging.getLogger(__name__).warning("job %s: the process that started it is gone; stopping", job_id)
                jobs.request_cancel(job_id)
                return

    threading.Thread(target=watch, name="lesionlens-job-watchdog", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m dashboard.jobs.runner JOB_ID", file=sys.stderr)
        return 2
    job_id = argv[0]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    import flask

    from dashboard.jobs.core import run_job
    from dashboard.jobs.store import JobStore
    from dashboard.services import build_services
    from dashboard.settings import Settings
    from pipeline.errors import LesionLensError

    server = flask.Flask("lesionlens-job")
    settings = Settings.from_env()
    services = build_services(settings, server, _factory(settings.predictor_factory))
    jobs = JobStore(services.store.sessions)
    job = jobs.get(job_id)
    if job is None:
        print(f"no job {job_id}", file=sys.stderr)
        return 2
    if job["cancel_requested"]:
        jobs.finish(job_id, "cancelled", "cancelled before it started")
        return 0
    _watch_parent(jobs, job_id, os.getppid())
    try:
        with server.app_context():
            summary = run_job(services, jobs, job_id, job["spec"])
    except LesionLensError as exc:
        print(f"job {job_id} failed: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - record it; the traceback goes to the job's log
        logging.getLogger(__name__).exception("job %s failed", job_id)
        jobs.finish(job_id, "failed", f"server error ({type(exc).__name__}); see the job log")
        return 1
    finally:
        services.ingest.sandbox.close()
    return 0 if summary["status"] in ("done", "cancelled") else 1


if __name__ == "__main__":
    sys.exit(main())
