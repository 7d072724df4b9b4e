"""The submitting side of `cv --backend celery`: send the folds, follow them, resend lost ones.

The fold folders on the shared volume are the truth, not the task results:
a fold is finished when its `fold_metrics.json` exists, and it is being
trained while its lease (`worker.json`) is live. So the CLI can be stopped
and started again (finished folds are skipped, folds in training are left to
their worker), and a fold whose worker vanished is submitted again after the
lease goes stale, to resume from its last epoch on any worker. A task that
raised (bad data, a bug) stops the run with the worker's traceback instead of
being retried forever.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.errors import LesionLensError

log = logging.getLogger(__name__)


@dataclass
class FoldJob:
    out: Path
    k: int
    spec: str
    config: dict[str, Any]
    n_boot: int
    strategy: str | None = None
    task_id: str | None = None
    submitted: float = 0.0
    last_alive: float = 0.0
    shown: str = field(default="", repr=False)

    @property
    def label(self) -> str:
        return f"{self.out.name} fold {self.k}" if self.out.name.startswith("trial_") else f"fold {self.k}"

    @property
    def fold_dir(self) -> Path:
        return self.out / f"fold_{self.k}"

    def done(self) -> bool:
        return (self.fold_dir / "fold_metrics.json").exists()


def _submit(app: Any, job: FoldJob) -> None:
    from training.celery_backend import TASK

    result = app.send_task(TASK, args=[str(job.out), job.k, job.spec, job.config, job.n_boot, job.strategy])
    job.task_id, job.submitted = result.id, time.time()
    job.last_alive = job.submitted


def _show(job: FoldJob, text: str, stream: Any) -> None:
    if text != job.shown:
        job.shown = text
        print(f"[{time.strftime('%H:%M:%S')}] {job.label}: {text}", file=stream, flush=True)


def _show_overview(outs: set[Path], shown: dict[Path, tuple], stream: Any) -> None:
    """Every fold of each CV folder, as `cv-status` and the Jobs page show them, when a state or epoch changed."""
    from pipeline.cv_progress import cv_progress

    for out in sorted(outs):
        progress = cv_progress(out)
        if progress is None:
            continue
        key = tuple((f.fold, f.state, f.stage, f.epoch) for f in progress.folds)
        if shown.get(out) != key:
            shown[out] = key
            print("\n".join(progress.lines()), file=stream, flush=True)


def run_on_workers(jobs: list[FoldJob], poll: float = 2.0, grace: float | None = None, stream: Any = None) -> None:
    """Submit every unfinished fold and return when all are finished; print each fold's progress."""
    from training.celery_backend import app
    from training.fold_lease import is_live, read_lease, stale_after

    stream = stream or sys.stdout
    grace = stale_after() if grace is None else grace
    for job in jobs:
        job.out = job.out.resolve()  # workers see the shared folder at the same absolute path
    pending = [j for j in jobs if not j.done()]
    for job in pending:
        _submit(app, job)
        _show(job, f"submitted (task {job.task_id})", stream)
    overview: dict[Path, tuple] = {}
    while pending:
        time.sleep(poll)
        _show_overview({job.out for job in jobs}, overview, stream)
        now = time.time()
        for job in list(pending):
            if job.done():
                pending.remove(job)
                _show(job, "finished", stream)
                continue
            result = app.AsyncResult(job.task_id)
            if result.state == "FAILURE":
                raise LesionLensError(f"{job.label} failed on a worker: {result.result!r}\n{result.traceback or ''}")
            lease = read_lease(job.fold_dir)
            if is_live(lease) and lease is not None:
                job.last_alive = now
                _show(job, f"[{lease.get('host')}:{lease.get('pid')}] {lease.get('status', '')}", stream)
            elif result.state in ("PENDING", "RECEIVED"):  # in the queue (a lost worker's stale lease may remain)
                job.last_alive = now
                _show(job, "queued, waiting for a worker", stream)
            elif now - job.last_alive > grace:
                # the holder stopped beating, or the task ended without finishing the fold
                reason = "its worker was lost" if lease else f"task {result.state.lower()} without a result"
                log.warning("%s: %s; submitting it again (it resumes from its last epoch)", job.label, reason)
                _submit(app, job)
                _show(job, f"{reason}: submitted again (task {job.task_id})", stream)
