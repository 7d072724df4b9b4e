"""`JobItems`: the per-item ledger (ll_job_items) that makes running a chunk twice harmless.

Why: a re-scoring chunk lost with its Celery worker (the pool child killed
by the OOM killer, a node restarted) is delivered again to another worker
(`tasks.py`). Its first delivery may have finished some items already, so
progress must be idempotent: an item's outcome is recorded once (a
conditional UPDATE `WHERE state = 'started'`) and only that UPDATE adds it
to the job's `done`/`failed` counters, in the same transaction. A re-run
reuses the recorded outcomes for its report and predicts only the rest.

Redelivery could loop on an item that kills every worker it reaches (an
image that exhausts memory): each delivery that begins an item counts an
attempt, an item begun `MAX_ATTEMPTS` times already is failed without
running, and a job that lost `MAX_LOST` items stops running the items it
has not reached (they are failed, with the reason), so a broken deployment
does not kill workers forever.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from dashboard.store.tables import JobItemRow, JobRow, utcnow
from dashboard.store.upsert import insert_ignore, rows_changed

MAX_ATTEMPTS = 2  # deliveries that may begin one item; the next one fails it
MAX_LOST = 4  # items of one job lost with their worker before the job stops running new items
LOST_ITEM = "the worker was lost while predicting this item {attempts} times; not tried again (see the worker log)"
LOST_JOB = "not run: {lost} items of this job were lost with their worker (out of memory?); see the worker logs"


def _clip(text: str | None, size: int) -> str | None:
    return text[:size] if text else None


@dataclass(frozen=True)
class Outcome:
    """What one item came to; `label` names it in errors (a case id or an item number, never a file name)."""

    failed: bool = False
    predicted: bool = False
    label: str | None = None
    error: str | None = None


@dataclass
class ChunkState:
    """What earlier deliveries of a chunk left: finished items' outcomes, and items begun but never finished."""

    finished: dict[int, Outcome] = field(default_factory=dict)
    unfinished: set[int] = field(default_factory=set)

    @property
    def rerun(self) -> bool:
        return bool(self.finished or self.unfinished)


class JobItems:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def chunk_state(self, job_id: str, first: int, count: int) -> ChunkState:
        state = ChunkState()
        with self.sessions() as session:
            rows = session.scalars(select(JobItemRow).where(
                JobItemRow.job_id == job_id, JobItemRow.item >= first, JobItemRow.item < first + count))
            for row in rows:
                if row.state == "started":
                    state.unfinished.add(row.item)
                else:
                    state.finished[row.item] = Outcome(row.state == "failed", bool(row.predicted), row.label,
                                                       row.error)
        return state

    def lost(self, job_id: str) -> int:
        """Items of the job that a delivery began again after a worker was lost on them."""
        with self.sessions() as session:
            return session.scalar(select(func.count()).select_from(JobItemRow).where(
                JobItemRow.job_id == job_id, JobItemRow.attempts > 1)) or 0

    def begin(self, job_id: str, item: int) -> int:
        """Count a delivery beginning `item`; returns how many have (1 the first time)."""
        key = (JobItemRow.job_id == job_id, JobItemRow.item == item)
        with self.sessions() as session:
            insert_ignore(session, JobItemRow, {"job_id": job_id, "item": item, "state": "started", "attempts": 0,
                                                "predicted": False})
            session.execute(update(JobItemRow).where(*key, JobItemRow.state == "started")
                            .values(attempts=JobItemRow.attempts + 1))
            session.commit()
            return session.scalar(select(JobItemRow.attempts).where(*key)) or 0

    def record(self, job_id: str, item: int, outcome: Outcome) -> bool:
        """Record `item`'s outcome and, the first time only, add it to the job's counters; one transaction.
        Returns True when a cancel was requested (read in the same round trip)."""
        with self.sessions() as session:
            insert_ignore(session, JobItemRow, {"job_id": job_id, "item": item, "state": "started", "attempts": 0,
                                                "predicted": False})
            counted = rows_changed(session, update(JobItemRow).where(
                JobItemRow.job_id == job_id, JobItemRow.item == item, JobItemRow.state == "started").values(
                state="failed" if outcome.failed else "done", predicted=outcome.predicted,
                label=_clip(outcome.label, 200), error=_clip(outcome.error, 500)))
            progress = {"done": JobRow.done + 1, "failed": JobRow.failed + int(outcome.failed)} if counted else {}
            session.execute(update(JobRow).where(JobRow.id == job_id).values(heartbeat=utcnow(), **progress))
            session.commit()
            return bool(session.scalar(select(JobRow.cancel_requested).where(JobRow.id == job_id)))

    def forget(self, job_id: str) -> None:
        """The job has finished: its ledger is no longer needed."""
        with self.sessions() as session:
            session.execute(delete(JobItemRow).where(JobItemRow.job_id == job_id))
            session.commit()

    def prune(self, ended: tuple[str, ...], before: datetime) -> int:
        """Ledgers of jobs that ended (`ended` statuses) before `before` and were never finished by their tasks
        (a job reaped as interrupted whose lost chunk never came back). Reads first: called on every poll of
        the Jobs page, it writes (and takes SQLite's write lock) only when there is something to drop."""
        stale = select(JobRow.id).where(JobRow.status.in_(ended), JobRow.finished < before)
        with self.sessions() as session:
            if session.scalar(select(JobItemRow.job_id).where(JobItemRow.job_id.in_(stale)).limit(1)) is None:
                return 0
            dropped = rows_changed(session, delete(JobItemRow).where(JobItemRow.job_id.in_(stale)))
            session.commit()
            return dropped
