"""The work of a job, wherever it runs: the item loop of one chunk, and the summary of all chunks.

A job is planned once (`core.plan`), run as one chunk (the local executor,
a batch job) or as several chunks on several Celery workers (a re-scoring
with Celery configured, see `tasks.py`), and finished once from the chunks'
reports. Every chunk records each item's outcome in the job's item ledger
(`ledger.py`), which adds it to the job's row once, in the same transaction
(so the bar counts every worker's items and a chunk run twice, after its
worker was lost, counts nothing twice), and reads the cancel flag in the
same round trip, so a cancel stops every chunk between items. A chunk
reports which worker ran it, how many images and how many seconds; the
summary adds them up per worker (images per second per worker, issue 18.3;
items a lost worker had finished count in the job, not in any worker's
rate). Item errors are counted and the first few kept (by index or dataset
case id, never file names); the job goes on.
"""

from __future__ import annotations

import logging
import socket
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from dashboard.jobs.core import JobError, allowed_path, plan
from dashboard.jobs.ledger import LOST_ITEM, LOST_JOB, MAX_ATTEMPTS, MAX_LOST, JobItems, Outcome
from dashboard.store.tables import utcnow
from pipeline.errors import BundleError, DatasetError, ImageLoadError

log = logging.getLogger(__name__)

KEPT_ERRORS = 20
BATCH_DATASET = "batch"


def local_worker() -> str:
    """The name a chunk run outside Celery reports (host and process)."""
    import os

    return f"local@{socket.gethostname()[:60]}:{os.getpid()}"


@dataclass
class ChunkReport:
    """What one chunk did: JSON-safe (it travels back from a Celery worker as a task result)."""

    worker: str
    images: int = 0  # items processed, failed ones included
    failed: int = 0
    predicted: int = 0  # predicted by the model (the rest were cached or stored already)
    seconds: float = 0.0  # from the chunk's start (model load included) to its last item
    errors: list[tuple[str, str]] = field(default_factory=list)
    cancelled: bool = False
    rerun: bool = False  # an earlier delivery of this chunk was lost with its worker
    resumed: int = 0  # items of `images` that the lost delivery had finished (not this worker's work)

    def add(self, outcome: Outcome, resumed: bool = False) -> None:
        self.images += 1
        self.failed += outcome.failed
        self.predicted += outcome.predicted
        self.resumed += resumed
        if outcome.failed and outcome.error and len(self.errors) < KEPT_ERRORS:
            self.errors.append((outcome.label or "", outcome.error))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChunkReport:
        return cls(**{**data, "errors": [tuple(e) for e in data.get("errors") or []]})


@dataclass
class WorkerRate:
    """Images and seconds of one worker over all its chunks of a job."""

    worker: str
    images: int
    seconds: float
    chunks: int

    @property
    def images_per_s(self) -> float:
        return round(self.images / self.seconds, 2) if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "seconds": round(self.seconds, 2), "images_per_s": self.images_per_s}


def worker_rates(reports: list[ChunkReport]) -> list[WorkerRate]:
    """Per worker, in order of first appearance; a worker's seconds are the sum of its chunks'."""
    rates: dict[str, WorkerRate] = {}
    for report in reports:
        rate = rates.setdefault(report.worker, WorkerRate(report.worker, 0, 0.0, 0))
        rate.images += report.images - report.resumed
        rate.seconds += report.seconds
        rate.chunks += 1
    return list(rates.values())


def _store_item(services, spec, root: Path | None, item) -> str:
    """Store one batch item through the ingest service (as an upload or an import would); returns its case id."""
    if root is not None:
        return services.ingest.server_file(item, root, spec.get("dataset") or BATCH_DATASET)
    from dashboard.services.ingest import default_dataset_name

    dataset = spec.get("dataset") or default_dataset_name(spec["source"], item.dataset)
    return services.ingest.dataset_case(item, dataset)[0]


def _batch_root(services, spec) -> Path | None:
    if spec["kind"] == "batch" and spec["source"].startswith("folder:"):
        return allowed_path(spec["source"].partition(":")[2], services.settings.job_roots)
    return None


def _label(spec, root: Path | None, item, index: int) -> str:
    """How errors name an item: its case id (rescore), dataset case id, or number (a server file: never its name)."""
    if spec["kind"] == "rescore":
        return str(item)
    return str(item.case_id) if root is None else f"item {index + 1}"


def _predict(services, spec, root: Path | None, card, item, label: str, job_id: str) -> Outcome:
    """One item: stored if a batch item, then predicted; any error becomes a failed Outcome (the job goes on)."""
    try:
        case_id = item if spec["kind"] == "rescore" else _store_item(services, spec, root, item)
        _row, source = services.analyzer.predict_case(case_id, card)
        return Outcome(predicted=source == "model", label=label)
    except (ImageLoadError, DatasetError, BundleError, KeyError) as exc:
        return Outcome(True, label=label, error=str(exc) if not isinstance(exc, KeyError) else "case no longer stored")
    except Exception:  # noqa: BLE001 - one bad item never ends the job
        log.exception("job %s: %s failed", job_id, label)
        return Outcome(True, label=label, error="server error (see the log)")


def run_items(services, jobs, job_id: str, spec: dict[str, Any], items: list[Any], worker: str,
              first_index: int = 0, on_item: Callable[[int, int, int], None] | None = None) -> ChunkReport:
    """Predict `items` (a chunk, or all of a job) with the spec's model, adding progress to the job's row.

    Safe to run again for the same chunk (a delivery lost with its worker):
    items an earlier run finished are reported from the ledger, not redone
    or counted again.
    """
    started = time.perf_counter()
    report = ChunkReport(worker)
    if jobs.cancel_requested(job_id):
        report.cancelled = True
        return report
    card = services.models.card_by_name(spec["model"])
    if card is None:
        raise BundleError(f"model {spec['model']!r} is not available")
    root = _batch_root(services, spec)
    ledger = JobItems(jobs.sessions)
    earlier = ledger.chunk_state(job_id, first_index, len(items))
    report.rerun = earlier.rerun
    lost = ledger.lost(job_id) if earlier.rerun else 0
    for offset, item in enumerate(items):
        index = first_index + offset
        if index in earlier.finished:
            report.add(earlier.finished[index], resumed=True)
            continue
        label = _label(spec, root, item, index)
        attempts = ledger.begin(job_id, index)
        if lost >= MAX_LOST:
            outcome = Outcome(True, label=label, error=LOST_JOB.format(lost=lost))
        elif attempts > MAX_ATTEMPTS:
            outcome = Outcome(True, label=label, error=LOST_ITEM.format(attempts=attempts - 1))
        else:
            outcome = _predict(services, spec, root, card, item, label, job_id)
        report.add(outcome)
        report.seconds = time.perf_counter() - started
        if on_item is not None:
            on_item(report.images, report.failed, len(items))
        if ledger.record(job_id, index, outcome):
            report.cancelled = True
            break
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def fail_unfinished(jobs, job_id: str, first_index: int, count: int, worker: str, message: str) -> ChunkReport:
    """A chunk that broke as a whole (the model went missing, the database went away): its items not yet
    recorded are counted failed, once; the report covers the whole chunk."""
    report = ChunkReport(worker)
    span = f"items {first_index + 1}-{first_index + count}"
    try:
        ledger = JobItems(jobs.sessions)
        earlier = ledger.chunk_state(job_id, first_index, count)
        for index in range(first_index, first_index + count):
            outcome = earlier.finished.get(index) or Outcome(True)
            if index not in earlier.finished:
                ledger.record(job_id, index, outcome)
            report.add(outcome, resumed=index in earlier.finished)
    except Exception:  # noqa: BLE001 - the database is gone too: report the chunk failed, the row stays behind
        log.exception("job %s: cannot record the failure of %s", job_id, span)
        report = ChunkReport(worker, images=count, failed=count)
    report.errors.append((span, message))
    return report


def finish(jobs, job_id: str, reports: list[ChunkReport], seconds: float | None = None) -> dict[str, Any]:
    """Record the job's end from its chunks' reports; returns the summary (also stored as the row's result)."""
    job = jobs.get(job_id) or {}
    total = int(job.get("total") or sum(r.images for r in reports))
    if seconds is None:  # chunks on several workers: wall time since the job started
        started = job.get("started")
        seconds = (utcnow() - datetime.fromisoformat(started)).total_seconds() if started else 0.0
    done = sum(r.images for r in reports)
    failed = sum(r.failed for r in reports)
    predicted = sum(r.predicted for r in reports)
    cancelled = any(r.cancelled for r in reports) or (bool(job.get("cancel_requested")) and done < total)
    status = "cancelled" if cancelled else "done"
    rates = worker_rates(reports)
    rerun = sum(r.rerun for r in reports)
    summary = {"items": total, "done": done, "failed": failed, "predicted_by_model": predicted,
               "errors": [e for r in reports for e in r.errors][:KEPT_ERRORS], "seconds": round(seconds, 1),
               "chunks": len(reports), "workers": [rate.as_dict() for rate in rates],
               "rerun_chunks": rerun, "resumed": sum(r.resumed for r in reports)}
    speed = ", ".join(f"{r.worker}: {r.images_per_s:g} images/s" for r in rates)
    message = (f"{'cancelled after' if cancelled else 'finished'} {done} of {total} items; "
               f"{failed} failed; {predicted} predicted by the model, the rest were stored or cached already"
               + (f"; {rerun} chunk(s) run again after their worker was lost" if rerun else "")
               + (f" · {speed}" if speed else ""))
    jobs.finish(job_id, status, message, summary)
    JobItems(jobs.sessions).forget(job_id)
    log.info("job %s %s: %d/%d items, %d failed, %.1f s, %d chunk(s) on %d worker(s)", job_id, status, done, total,
             failed, seconds, len(reports), len(rates))
    return {"status": status, **summary}


def start(services, jobs, job_id: str, spec: dict[str, Any]) -> list[Any]:
    """Plan the job and mark it running with its total; a spec that cannot run marks it failed and raises."""
    if services.models.card_by_name(spec["model"]) is None:
        jobs.finish(job_id, "failed", f"model {spec['model']!r} is not available")
        raise BundleError(f"model {spec['model']!r} is not available")
    try:
        items = plan(services, spec)
    except (DatasetError, JobError) as exc:
        jobs.finish(job_id, "failed", str(exc))
        raise
    jobs.start(job_id, total=len(items))
    log.info("job %s: %s of %d items with %s", job_id, spec["kind"], len(items), spec["model"])
    return items


def run_job(services, jobs, job_id: str, spec: dict[str, Any],
            on_item: Callable[[int, int, int], None] | None = None) -> dict[str, Any]:
    """The whole job in this process, as one chunk: what the local executor runs (and tests call)."""
    began = time.perf_counter()
    items = start(services, jobs, job_id, spec)
    report = run_items(services, jobs, job_id, spec, items, local_worker(), on_item=on_item)
    return finish(jobs, job_id, [report], seconds=time.perf_counter() - began)
