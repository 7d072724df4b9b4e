"""Engine and session factory for the case store.

SQLite (the one-machine default) gets WAL journaling so the review meeting's
readers never block the worker writing a new upload, a busy timeout so two
gunicorn workers writing at once wait instead of failing, and foreign keys
(off by default in SQLite). PostgreSQL is used as-is when DATABASE_URL says so.
"""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.orm import sessionmaker

from dashboard.store.models import Base


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def normalize_url(database_url: str) -> str:
    """Pick the installed PostgreSQL driver for plain `postgresql://` / `postgres://` URLs.

    SQLAlchemy 2.1 defaults to psycopg 3; the pinned requirements ship
    psycopg2-binary, and platform-style `postgres://` URLs are common.
    """
    for prefix in ("postgres://", "postgresql://"):
        if database_url.startswith(prefix):
            try:
                import psycopg  # noqa: F401

                driver = "postgresql+psycopg://"
            except ImportError:
                driver = "postgresql+psycopg2://"
            return driver + database_url[len(prefix):]
    return database_url


def make_engine(database_url: str) -> Engine:
    database_url = normalize_url(database_url)
    if database_url.startswith("sqlite"):
        path = database_url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(database_url, connect_args={"check_same_thread": False, "timeout": 15})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(database_url, pool_pre_ping=True, pool_size=5, max_overflow=5)
    return engine


def init_schema(engine: Engine, attempts: int = 5) -> None:
    """Create missing tables (idempotent; safe when several workers start at once).

    gunicorn workers each build the app (no --preload), so two of them can
    race between "does the table exist" and "CREATE TABLE"; the loser sees
    "already exists", waits a moment and checks again.
    """
    for attempt in range(attempts):
        try:
            Base.metadata.create_all(engine, checkfirst=True)
            return
        except (OperationalError, ProgrammingError, IntegrityError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))


def make_sessionmaker(engine: Engine) -> sessionmaker:
    return sessionmaker(bind=engine, expire_on_commit=False)
