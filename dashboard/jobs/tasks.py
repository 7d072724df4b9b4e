"""The job task functions, one per kind: run by Celery workers when CELERY_BROKER_URL is set, by the local
executor (`python -m dashboard.jobs.runner`) otherwise. No Dash here.

Why: the Celery worker used to build the whole Dash app so that the Jobs
page's background callback became a task. A task is now a plain function of
a job id: it opens the services it needs (store, model registry, predictor
pool, ingest, analyzer; `build_services` on a bare Flask app, once per
process, so a model loads once per worker process, not per job or chunk),
reads the spec from the job's row and runs it (`work.py`). Progress and
cancel go through the row as before. tests/unit/test_jobs_workers.py fails if
importing this module imports dash.

* `rescore(job_id)`: locally, every case in one process. On Celery the case
  ids are split into chunks (about two per worker online), sent as
  `lesionlens.jobs.rescore_chunk` tasks in a chord, so every worker takes a
  share and the task that planned them returns at once (it holds no worker
  slot while they run); `lesionlens.jobs.rescore_finish` adds the chunks'
  reports up (images per second per worker). A chunk lost with its worker
  (the pool child killed mid-chunk) is delivered again, to another worker
  or a new child (`acks_late` + `reject_on_worker_lost`), and the job
  finishes instead of ending "interrupted": a re-scoring's items are
  independent and its chord waits for every chunk, so re-running a chunk is
  what a team that started it expects. The re-run skips what the lost run
  finished (the item ledger, `ledger.py`, counts each item once) and gives
  up on an item that kills its worker twice. Chunks hold at most
  MAX_CHUNK_ITEMS items, so each finishes well within the broker's
  visibility timeout (`celery_app.py`), after which Redis would deliver a
  still-running chunk a second time.
* `batch(job_id)`: one process; its items are stored as they are predicted.
"""

from __future__ import annotations

import importlib
import logging
import os
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from dashboard.jobs.celery_app import TASKS, celery_app
from dashboard.jobs.work import ChunkReport, fail_unfinished, finish, local_worker, run_items, run_job, start

log = logging.getLogger(__name__)
CHUNKS_PER_WORKER = 2
MAX_CHUNK_ITEMS = 100  # a few minutes of CPU inference: far below the broker's visibility timeout
ENDED = ("done", "failed", "cancelled")  # a chunk delivered after its job ended does nothing
_process: dict[int, tuple[Any, Any]] = {}  # pid -> (flask server, Services): never shared across a fork


def _factory(target: str):
    if not target:
        return None
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def _process_services() -> tuple[Any, Any]:
    """(bare Flask server, Services) of this process, built on first use from the environment."""
    if os.getpid() not in _process:
        import flask

        from dashboard.services import build_services
        from dashboard.settings import Settings

        server = flask.Flask("lesionlens-job")
        settings = Settings.from_env()
        _process[os.getpid()] = (server, build_services(settings, server, _factory(settings.predictor_factory)))
    return _process[os.getpid()]


@contextmanager
def job_services() -> Iterator[Any]:
    """This process's Services, inside a Flask app context."""
    server, services = _process_services()
    with server.app_context():
        yield services


def _jobs(services):
    from dashboard.jobs.store import JobStore

    return JobStore(services.store.sessions)


def _recorded(job_id: str, body: Callable[[Any, Any, dict], dict]) -> dict[str, Any]:
    """Run `body(services, jobs, job)` for a job still to run; any failure ends up in the job's row."""
    from pipeline.errors import LesionLensError

    try:
        server, services = _process_services()
    except Exception as exc:  # noqa: BLE001 - no services (bad settings, database down): say so in the row if we can
        log.exception("job %s: cannot open the services", job_id)
        _fail_without_services(job_id, f"the worker could not start the job ({type(exc).__name__}); see its log")
        return {"status": "failed", "message": type(exc).__name__}
    with server.app_context():
        jobs = _jobs(services)
        job = jobs.get(job_id)
        if job is None:
            log.error("no job %s", job_id)
            return {"status": "failed", "message": f"no job {job_id}"}
        if job["cancel_requested"]:
            jobs.finish(job_id, "cancelled", "cancelled before it started")
            return {"status": "cancelled"}
        try:
            return body(services, jobs, job)
        except LesionLensError as exc:
            if (jobs.get(job_id) or {}).get("status") in ("queued", "running"):
                jobs.finish(job_id, "failed", str(exc))
            return {"status": "failed", "message": str(exc)}
        except Exception as exc:  # noqa: BLE001 - record it; the traceback goes to the worker's log
            log.exception("job %s failed", job_id)
            jobs.finish(job_id, "failed", f"server error ({type(exc).__name__}); see the job log")
            return {"status": "failed", "message": type(exc).__name__}
        finally:
            services.ingest.sandbox.close()


def _fail_without_services(job_id: str, message: str) -> None:
    from dashboard.jobs.store import JobStore
    from dashboard.settings import Settings

    try:
        JobStore.on(Settings.from_env().database_url).finish(job_id, "failed", message)
    except Exception:  # noqa: BLE001 - nothing more to do: the row will show the job as never started
        log.exception("job %s: cannot record the failure", job_id)


def rescore(job_id: str, fan_out: Callable[[str, list[str]], None] | None = None) -> dict[str, Any]:
    """Re-score a cohort: in this process, or (given `fan_out`) as chunks sent to the workers."""

    def body(services, jobs, job):
        if fan_out is None:
            return run_job(services, jobs, job_id, job["spec"])
        case_ids = start(services, jobs, job_id, job["spec"])
        if not case_ids:
            return finish(jobs, job_id, [])
        fan_out(job_id, case_ids)
        return {"status": "running", "items": len(case_ids)}

    return _recorded(job_id, body)


def batch(job_id: str) -> dict[str, Any]:
    """Store and predict a server folder or dataset spec, in this process."""
    return _recorded(job_id, lambda services, jobs, job: run_job(services, jobs, job_id, job["spec"]))


KINDS: dict[str, Callable[[str], dict[str, Any]]] = {"rescore": rescore, "batch": batch}


def run(job_id: str) -> dict[str, Any]:
    """The local executor's entry: the job's kind's task function, in this process."""
    with job_services() as services:
        job = _jobs(services).get(job_id)
    if job is None:
        return {"status": "failed", "message": f"no job {job_id}"}
    return KINDS[job["kind"]](job_id)


def rescore_chunk(job_id: str, first_index: int, case_ids: list[str], worker: str) -> dict[str, Any]:
    """One share of a re-scoring; returns its ChunkReport as a dict (never raises: the chord must finish).

    May run twice for one chunk (its first worker was lost): `run_items`
    skips what the first run finished, and a job the reaper marked
    interrupted meanwhile is running again.
    """
    with job_services() as services:
        jobs = _jobs(services)
        job = jobs.get(job_id)
        if job is None or job["status"] in ENDED:
            return ChunkReport(worker, cancelled=True).as_dict()
        if jobs.resume(job_id):
            log.info("job %s: a chunk lost with its worker came back; the job runs again", job_id)
        try:
            return run_items(services, jobs, job_id, job["spec"], case_ids, worker, first_index).as_dict()
        except Exception as exc:  # noqa: BLE001 - the model went missing, the database went away, ...
            log.exception("job %s: chunk from item %d failed", job_id, first_index + 1)
            return fail_unfinished(
                jobs,
                job_id,
                first_index,
                len(case_ids),
                worker,
                f"server error ({type(exc).__name__}); see the worker log",
            ).as_dict()


def rescore_finish(reports: list[dict[str, Any]], job_id: str) -> dict[str, Any]:
    with job_services() as services:
        return finish(_jobs(services), job_id, [ChunkReport.from_dict(r) for r in reports])


def chunks(case_ids: list[str], workers: int) -> list[tuple[int, list[str]]]:
    """(first index, ids) slices: CHUNKS_PER_WORKER per worker (a fast worker takes more), at least two,
    at most MAX_CHUNK_ITEMS ids each."""
    n = max(1, min(len(case_ids), max(2, CHUNKS_PER_WORKER * workers, -(-len(case_ids) // MAX_CHUNK_ITEMS))))
    size, extra = divmod(len(case_ids), n)
    out, first = [], 0
    for i in range(n):
        length = size + (i < extra)
        out.append((first, case_ids[first : first + length]))
        first += length
    return [c for c in out if c[1]]


# --------------------------------------------------------------------------- Celery
def _workers_online(me: str) -> int:
    """Workers answering a ping within a second, this one included (a --pool=solo worker busy here cannot)."""
    try:
        names = {name for reply in celery_app.control.ping(timeout=1.0) or [] for name in reply}
    except Exception:  # noqa: BLE001 - no answer: split for two anyway
        names = set()
    return len(names | {me})


@celery_app.task(name=TASKS["rescore"], bind=True)
def rescore_task(self, job_id: str) -> dict[str, Any]:
    def fan_out(job_id: str, case_ids: list[str]) -> None:
        from celery import chord

        parts = chunks(case_ids, _workers_online(self.request.hostname or ""))
        log.info("job %s: %d cases in %d chunks", job_id, len(case_ids), len(parts))
        chord(rescore_chunk_task.s(job_id, first, ids) for first, ids in parts)(rescore_finish_task.s(job_id))

    return rescore(job_id, fan_out)


@celery_app.task(name=TASKS["batch"])
def batch_task(job_id: str) -> dict[str, Any]:
    return batch(job_id)


# acks_late: a worker holds only the chunk it runs, never a second one a free worker could take, and the
# message stays in the broker until the chunk is done; reject_on_worker_lost: a chunk whose worker process
# died (killed, out of memory) goes back to the queue instead of failing the chord (Celery would otherwise
# ack it and record WorkerLostError); the ledger makes the re-run count nothing twice and stop on an item
# that keeps killing workers (the message loop Celery's docs warn about)
@celery_app.task(name=TASKS["rescore_chunk"], bind=True, acks_late=True, reject_on_worker_lost=True)
def rescore_chunk_task(self, job_id: str, first_index: int, case_ids: list[str]) -> dict[str, Any]:
    return rescore_chunk(job_id, first_index, case_ids, self.request.hostname or local_worker())


@celery_app.task(name=TASKS["rescore_finish"])
def rescore_finish_task(reports: list[dict[str, Any]], job_id: str) -> dict[str, Any]:
    return rescore_finish(reports, job_id)
