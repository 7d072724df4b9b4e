"""Schema versions with Alembic: upgrade under a lock, or only verify.

The schema is no longer made by `create_all`: every table (the store's in
`models.py`, the accounts' in `dashboard.auth` when that package exists) is
created and changed by the migrations in `alembic/versions/`, and the
database records its revision in `alembic_version`.

Several processes may start at once (gunicorn workers, a Celery worker, the
import CLI), so `upgrade` takes a lock first: a PostgreSQL advisory lock, or
an exclusive `flock` on a file beside the SQLite database. The process that
gets it migrates; the others then find the revision at head and do nothing.
`ensure_schema(engine, "verify")` only checks the revision and refuses to
start with a clear message when the database is behind; that is what web
nodes of a several-machine deployment use (LESIONLENS_MIGRATE=verify), with
`python -m dashboard ensure-admin` run once per release to migrate.

A database made by `create_all` before migrations existed (tables, no
`alembic_version`) is stamped at the first revision, whose tables are
exactly those, and then upgraded.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import importlib.util
import logging
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Connection, Engine, MetaData, inspect, text

from pipeline.errors import LesionLensError
from pipeline.paths import REPO_ROOT

log = logging.getLogger(__name__)

ALEMBIC_INI = REPO_ROOT / "alembic.ini"
SCRIPT_LOCATION = REPO_ROOT / "alembic"
BASELINE = "0001"  # the tables that create_all made before migrations existed
LEGACY_TABLE = "ll_cases"
LOCK_KEY = 0x4C4C_5343  # "LLSC": PostgreSQL advisory lock id of the schema migration
MODES = ("upgrade", "verify", "none")
# Packages whose models share Base.metadata; imported when present so Alembic sees their tables.
MODEL_MODULES = ("dashboard.store.tables", "dashboard.auth.tables")


class SchemaError(LesionLensError):
    """The database schema is not the one this code needs."""


def _quiet_alembic() -> None:
    """Alembic's INFO lines (plugins, context) are noise in a web worker's log; `upgrade` logs one summary."""
    logging.getLogger("alembic").setLevel(logging.WARNING)


def target_metadata() -> MetaData:
    """Base.metadata with every model module that exists in this checkout imported."""
    for name in MODEL_MODULES:
        package = name.rsplit(".", 1)[0]
        try:
            if importlib.util.find_spec(package) is None or importlib.util.find_spec(name) is None:
                continue
        except ModuleNotFoundError:
            continue
        importlib.import_module(name)
    from dashboard.store.tables import Base

    return Base.metadata


def alembic_config(connection: Connection | None = None):
    _quiet_alembic()
    from alembic.config import Config

    config = Config(str(ALEMBIC_INI))
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@lru_cache(maxsize=1)
def head_revision() -> str:
    _quiet_alembic()
    from alembic.script import ScriptDirectory

    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    if len(heads) != 1:
        raise SchemaError(f"alembic/versions has {len(heads)} heads ({', '.join(heads)}); merge them")
    return heads[0]


def current_revision(connection: Connection) -> str | None:
    _quiet_alembic()
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def _sqlite_path(engine: Engine) -> Path | None:
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return None
    return Path(database)


@contextlib.contextmanager
def migration_lock(engine: Engine):
    """A connection held under the schema lock (advisory lock / file lock) for its whole use."""
    path = _sqlite_path(engine)
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": LOCK_KEY})
            connection.commit()
            try:
                yield connection
            finally:
                connection.rollback()
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
                connection.commit()
    elif path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.with_name(path.name + ".migrate-lock"), "a+") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                with engine.connect() as connection:
                    yield connection
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    else:
        with engine.connect() as connection:
            yield connection


def is_current(engine: Engine) -> bool:
    with engine.connect() as connection:
        return current_revision(connection) == head_revision()


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Bring the schema to head (idempotent, race-safe); returns (revision before, revision after)."""
    _quiet_alembic()
    from alembic import command

    with migration_lock(engine) as connection:
        before = current_revision(connection)
        if before == head_revision():
            return before, before
        config = alembic_config(connection)
        if before is None and inspect(connection).has_table(LEGACY_TABLE):
            log.info("database made before migrations: stamping revision %s", BASELINE)
            command.stamp(config, BASELINE)
            connection.commit()
        command.upgrade(config, "head")
        connection.commit()
        after = current_revision(connection)
    log.info("database schema upgraded from %s to %s", before or "empty", after)
    return before, after


def verify(engine: Engine) -> str:
    """The database's revision, or SchemaError when it is not this code's head."""
    with engine.connect() as connection:
        revision = current_revision(connection)
    head = head_revision()
    if revision != head:
        raise SchemaError(
            f"database schema is at revision {revision or 'none (empty database)'}, this code needs {head}: "
            "run `python -m dashboard ensure-admin` (or `alembic upgrade head`) once, then start the workers"
        )
    return revision


def ensure_schema(engine: Engine, mode: str = "upgrade") -> None:
    """What a process opening the store does: 'upgrade' (default), 'verify' (web nodes) or 'none'."""
    if mode not in MODES:
        raise ValueError(f"schema mode must be one of {', '.join(MODES)}, got {mode!r}")
    if mode == "none":
        return
    if mode == "verify":
        verify(engine)
        return
    if not is_current(engine):
        upgrade(engine)
