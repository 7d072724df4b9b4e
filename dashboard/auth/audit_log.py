"""The audit log: who did what, to which case/user/model, when, from which address.

Insert-only by construction: this module has `record` and read functions and
nothing else; the ORM refuses updates/deletes of `AuditRow` and the database
triggers refuse them too (see models.py). Rows carry usernames, roles, actions,
pseudonymous case ids, model names and client addresses — never patient names
or identifiers, file names (they often contain patient names), free-text
notes, form values or passwords. `detail` is a small dict of such safe facts.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Iterator

from sqlalchemy import func, select

from dashboard.auth.tables import AuditRow
from dashboard.store.tables import utcnow

ACTIONS = (
    "login.ok", "login.failed", "login.locked", "logout", "access.denied",
    "case.view", "case.upload", "case.review", "case.predict",
    "model.switch", "job.start", "job.cancel",
    "user.add", "user.remove", "user.set_role", "user.reset_password", "user.unlock", "user.bootstrap",
    "token.create", "token.revoke",
    "audit.export",
    "case.export", "cohort.export",  # downloads (dashboard/exports)
    "case.delete", "retention.run",  # deletion by an admin or by the retention command (services/deletion.py)
)
CSV_COLUMNS = ("id", "at_utc", "actor", "role", "action", "target", "ip", "detail")
MAX_TEXT = 200


def _safe(value: Any) -> Any:
    if isinstance(value, (bool, int, float)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_safe(v) for v in list(value)[:50]]
    if isinstance(value, dict):
        return {str(k)[:40]: _safe(v) for k, v in list(value.items())[:20]}
    return str(value)[:MAX_TEXT]


@dataclass
class AuditFilter:
    actor: str | None = None
    action: str | None = None
    date_from: date | None = None  # inclusive, UTC
    date_to: date | None = None  # inclusive, UTC

    @staticmethod
    def _date(text: str | None) -> date | None:
        if not text:
            return None
        try:
            return date.fromisoformat(str(text)[:10])
        except ValueError:
            return None

    @classmethod
    def parse(cls, actor=None, action=None, date_from=None, date_to=None) -> "AuditFilter":
        return cls(actor=(actor or None), action=(action or None), date_from=cls._date(date_from),
                   date_to=cls._date(date_to))

    def as_query(self) -> dict[str, str]:
        items = {"actor": self.actor, "action": self.action,
                 "from": self.date_from.isoformat() if self.date_from else None,
                 "to": self.date_to.isoformat() if self.date_to else None}
        return {k: v for k, v in items.items() if v}

    def where(self, query):
        if self.actor:
            query = query.where(AuditRow.actor == self.actor)
        if self.action:
            query = query.where(AuditRow.action == self.action)
        if self.date_from:
            query = query.where(AuditRow.at >= datetime.combine(self.date_from, datetime.min.time()))
        if self.date_to:
            query = query.where(AuditRow.at < datetime.combine(self.date_to + timedelta(days=1), datetime.min.time()))
        return query


def row_dict(row: AuditRow) -> dict[str, Any]:
    return {"id": row.id, "at_utc": row.at.strftime("%Y-%m-%d %H:%M:%S"), "actor": row.actor or "",
            "role": row.role or "", "action": row.action, "target": row.target or "", "ip": row.ip or "",
            "detail": json.dumps(row.detail, sort_keys=True) if row.detail else ""}


class AuditLog:
    def __init__(self, sessions) -> None:
        self.sessions = sessions

    def record(self, action: str, *, actor: str | None = None, role: str | None = None, target: str | None = None,
               ip: str | None = None, detail: dict[str, Any] | None = None) -> None:
        if action not in ACTIONS:
            raise ValueError(f"unknown audit action {action!r}")
        row = AuditRow(at=utcnow(), actor=(actor or None) and str(actor)[:80], role=role, action=action,
                       target=None if target is None else str(target)[:120], ip=(ip or None) and ip[:64],
                       detail=_safe(detail or {}))
        with self.sessions() as session:
            session.add(row)
            session.commit()

    def page(self, flt: AuditFilter, offset: int = 0, limit: int = 50) -> tuple[list[dict], int]:
        """Newest first."""
        limit = max(1, min(int(limit), 500))
        with self.sessions() as session:
            total = session.scalar(flt.where(select(func.count()).select_from(AuditRow)))
            rows = session.scalars(flt.where(select(AuditRow)).order_by(AuditRow.id.desc())
                                   .offset(max(0, int(offset))).limit(limit))
            return [row_dict(r) for r in rows], int(total or 0)

    def iter_rows(self, flt: AuditFilter, batch: int = 1000) -> Iterator[dict]:
        """Oldest first, in keyset batches (bounded memory for a long log)."""
        last = 0
        while True:
            with self.sessions() as session:
                rows = list(session.scalars(flt.where(select(AuditRow)).where(AuditRow.id > last)
                                           .order_by(AuditRow.id).limit(batch)))
            if not rows:
                return
            for row in rows:
                yield row_dict(row)
            last = rows[-1].id

    def facets(self) -> dict[str, list[str]]:
        with self.sessions() as session:
            actors = [a for a in session.scalars(select(AuditRow.actor).distinct().order_by(AuditRow.actor)) if a]
            actions = [a for a in session.scalars(select(AuditRow.action).distinct().order_by(AuditRow.action)) if a]
        return {"actor": actors, "action": actions}


def _cell(value: Any) -> Any:
    """Neutralise spreadsheet formulas (a cell starting with = + - @ is text, not a formula)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def csv_lines(rows) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    yield buffer.getvalue()
    for row in rows:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow({k: _cell(row.get(k)) for k in CSV_COLUMNS})
        yield buffer.getvalue()
