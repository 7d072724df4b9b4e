"""`insert_ignore`: add a row unless its key exists, in one statement, on SQLite and PostgreSQL; `rows_changed`.

Why: counters and ledgers shared by several gunicorn workers, Celery workers
and nodes (the upload quota, a job's item ledger) must create their row
exactly once even when two processes try at the same moment. A
read-then-insert races; catching IntegrityError would abort the caller's
transaction on PostgreSQL. `INSERT ... ON CONFLICT DO NOTHING` (both
dialects) makes the second insert a no-op and says which one won.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, Executable
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_ignore(session: Session, model: type[Any], values: dict[str, Any]) -> bool:
    """Insert `values` as a `model` row unless one with the same key exists; True when this call inserted it.

    Runs in the caller's transaction (the caller commits).
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        statement: postgresql.Insert | sqlite.Insert = postgresql.insert(model)
    elif dialect == "sqlite":
        statement = sqlite.insert(model)
    else:
        raise NotImplementedError(f"insert_ignore supports SQLite and PostgreSQL, not {dialect}")
    return rows_changed(session, statement.values(**values).on_conflict_do_nothing()) == 1


def rows_changed(session: Session, statement: Executable) -> int:
    """Run an INSERT/UPDATE/DELETE in the caller's transaction; how many rows it changed (what a conditional
    UPDATE's caller decides on)."""
    return cast(CursorResult[Any], session.execute(statement)).rowcount or 0
