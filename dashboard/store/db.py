"""Engine and session factory for the case store.

SQLite (the one-machine default) gets WAL journaling so the review meeting's
readers never block the worker writing a new upload, a busy timeout so two
gunicorn workers writing at once wait instead of failing, foreign keys (off
by default in SQLite) and synchronous=FULL, so a commit the API has
acknowledged survives a power cut, not only a crashed process (one fsync of
the WAL per commit; uploads and reviews are rare next to reads).
PostgreSQL is used as-is when DATABASE_URL says so. The schema is made and
versioned by Alembic (`migrate.py`), not by `create_all`.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 15000


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=FULL")
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


def init_schema(engine: Engine, mode: str = "upgrade") -> None:
    """Bring the schema to the code's Alembic head (idempotent, race-safe; see `migrate.ensure_schema`)."""
    from dashboard.store.migrate import ensure_schema

    ensure_schema(engine, mode)


def make_sessionmaker(engine: Engine) -> sessionmaker:
    return sessionmaker(bind=engine, expire_on_commit=False)
