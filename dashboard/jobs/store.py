"""`JobStore`: create, follow, cancel and finish jobs in the ll_jobs table.

Progress (`done`/`failed`) is added by the item ledger (`ledger.py`), once
per item, so a chunk run twice never counts an item twice.
"""

from __future__ import annotations

import secrets
import socket
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from dashboard.jobs.ledger import JobItems
from dashboard.store.tables import JobRow, utcnow

ACTIVE = ("queued", "running")
FINAL = ("done", "failed", "cancelled", "interrupted")
STALE_AFTER = timedelta(seconds=90)  # a running job whose runner has not reported for this long is gone
LEDGER_KEPT = timedelta(days=1)  # item ledger of a job that ended without its tasks finishing it


def new_job_id() -> str:
    return "j" + secrets.token_hex(6)


def runner_name() -> str:
    import os

    return f"{socket.gethostname()[:60]}:{os.getpid()}"


def as_dict(row: JobRow) -> dict[str, Any]:
    return {
        "id": row.id, "kind": row.kind, "spec": dict(row.spec or {}), "model": row.model_name,
        "status": row.status, "total": row.total, "done": row.done, "failed": row.failed,
        "message": row.message, "result": dict(row.result or {}), "cancel_requested": row.cancel_requested,
        "owner": row.owner, "created": row.created.isoformat(timespec="seconds") if row.created else None,
        "started": row.started.isoformat(timespec="seconds") if row.started else None,
        "finished": row.finished.isoformat(timespec="seconds") if row.finished else None,
    }


class JobStore:
    def __init__(self, sessions) -> None:
        self.sessions = sessions

    @classmethod
    def on(cls, database_url: str) -> JobStore:
        """A JobStore on its own engine (a page callback or a worker without the app's CaseStore)."""
        from dashboard.store.db import make_engine, make_sessionmaker

        return cls(make_sessionmaker(make_engine(database_url)))

    def create(self, kind: str, spec: dict[str, Any], model_name: str | None, owner: str | None = None) -> str:
        job_id = new_job_id()
        with self.sessions() as session:
            session.add(JobRow(id=job_id, kind=kind, spec=spec, model_name=model_name, owner=owner, status="queued",
                               total=0, done=0, failed=0, message="", result={}, cancel_requested=False))
            session.commit()
        return job_id

    def get(self, job_id: str) -> dict[str, Any] | None:
        with self.sessions() as session:
            row = session.get(JobRow, job_id)
            return None if row is None else as_dict(row)

    def recent(self, limit: int = 20) -> list[dict[str, Any]]:
        self.reap()
        with self.sessions() as session:
            rows = session.scalars(select(JobRow).order_by(JobRow.created.desc()).limit(limit))
            return [as_dict(row) for row in rows]

    def _update(self, job_id: str, **values) -> None:
        with self.sessions() as session:
            row = session.get(JobRow, job_id)
            if row is None:
                raise KeyError(job_id)
            for key, value in values.items():
                setattr(row, key, value)
            session.commit()

    def start(self, job_id: str, total: int) -> None:
        now = utcnow()
        self._update(job_id, status="running", total=total, started=now, heartbeat=now, runner=runner_name())

    def resume(self, job_id: str) -> bool:
        """A chunk lost with its worker came back after the reaper marked the job interrupted: running again."""
        with self.sessions() as session:
            result = session.execute(update(JobRow).where(JobRow.id == job_id, JobRow.status == "interrupted")
                                     .values(status="running", finished=None, message="", heartbeat=utcnow()))
            session.commit()
            return bool(result.rowcount)

    def finish(self, job_id: str, status: str, message: str = "", result: dict | None = None) -> None:
        self._update(job_id, status=status, message=message[:2000], result=result or {}, finished=utcnow(),
                     heartbeat=utcnow())

    def request_cancel(self, job_id: str) -> bool:
        with self.sessions() as session:
            row = session.get(JobRow, job_id)
            if row is None or row.status in FINAL:
                return False
            row.cancel_requested = True
            if row.status == "queued":
                row.status, row.finished = "cancelled", utcnow()
            session.commit()
            return True

    def cancel_requested(self, job_id: str) -> bool:
        with self.sessions() as session:
            row = session.get(JobRow, job_id)
            return row is None or bool(row.cancel_requested)

    def reap(self, now: datetime | None = None) -> int:
        """Mark running jobs whose runner stopped reporting (killed, machine restarted) as ended.

        A Celery chunk lost with its worker may still come back (within the
        broker's visibility timeout) and resume the job; the item ledgers of
        jobs ended over a day ago are dropped.
        """
        cutoff = (now or utcnow()) - STALE_AFTER
        JobItems(self.sessions).prune(FINAL, (now or utcnow()) - LEDGER_KEPT)
        with self.sessions() as session:
            stale = list(session.scalars(select(JobRow).where(JobRow.status == "running",
                                                              JobRow.heartbeat < cutoff)))
            for row in stale:
                row.status = "cancelled" if row.cancel_requested else "interrupted"
                row.finished = utcnow()
                row.message = (row.message + " (runner stopped reporting)").strip()[:2000]
            session.commit()
            return len(stale)
