"""`insert_ignore`: add a row unless its key exists, in one statement, on SQLite and PostgreSQL.

Why: counters and ledgers shared by several gunicorn workers, Celery workers
and nodes (the upload quota, a job's item ledger) must create their row
exactly once even when two processes try at the same moment. A
read-then-insert races; catching IntegrityError would abort the caller's
transaction on PostgreSQL. `INSERT ... ON CONFLICT DO NOTHING` (both
dialects) makes the second insert a no-op and says which one won.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Insert
from sqlalchemy.orm import Session


def _insert(session: Session, model: type) -> Insert:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        raise NotImplementedError(f"insert_ignore supports SQLite and PostgreSQL, not {dialect}")
    return insert(model)


def insert_ignore(session: Session, model: type, values: dict[str, Any]) -> bool:
    """Insert `values` as a `model` row unless one with the same key exists; True when this call inserted it.

    Runs in the caller's transaction (the caller commits).
    """
    statement = _insert(session, model).values(**values).on_conflict_do_nothing()
    return (session.execute(statement).rowcount or 0) == 1
