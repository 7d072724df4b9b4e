"""The database half of a backup: dump and restore with the database's own tool when there is one.

Why three methods: `pg_dump --format=custom` is PostgreSQL's consistent
online snapshot (one transaction, however busy the app is) and `pg_restore`
rebuilds it exactly, triggers of the append-only audit log included;
SQLite's online backup API does the same for the one-machine default (a
plain file copy of a WAL database can miss committed pages). When pg_dump is
not installed (or is older than the server), `sqlalchemy` copies every
table row by row into gzipped JSON lines and restores them into a schema
that Alembic builds at the backup's revision, which also moves a store from
SQLite to PostgreSQL. Restores go into an empty database only: merging a
backup into a live store would mix two histories.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import sqlite3
import subprocess
from contextlib import closing
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, MetaData, inspect, make_url, select, text
from sqlalchemy.sql.sqltypes import Date, DateTime

from dashboard.store.db import make_engine, normalize_url

FILES = {"pg_dump": "database.pgdump", "sqlite": "database.sqlite3", "sqlalchemy": "database.jsonl.gz"}
VERSION_TABLE = "alembic_version"


class BackupError(RuntimeError):
    """A backup or restore cannot go ahead; the message says why and what to do."""


def dialect(database_url: str) -> str:
    return make_url(normalize_url(database_url)).get_backend_name()


def choose_method(database_url: str, requested: str = "auto") -> str:
    name = dialect(database_url)
    if requested != "auto":
        if requested == "pg_dump" and (name != "postgresql" or not shutil.which("pg_dump")):
            raise BackupError(
                "pg_dump needs a PostgreSQL DATABASE_URL and pg_dump on PATH (apt-get install postgresql-client)"
            )
        if requested == "sqlite" and name != "sqlite":
            raise BackupError("the sqlite method needs a SQLite DATABASE_URL")
        return requested
    if name == "sqlite":
        return "sqlite"
    return "pg_dump" if name == "postgresql" and shutil.which("pg_dump") else "sqlalchemy"


def libpq(database_url: str) -> tuple[str, dict[str, str]]:
    """(URI for pg_dump/pg_restore without the password, environment with PGPASSWORD): never on the command line."""
    url = make_url(normalize_url(database_url))
    env = {**os.environ}
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _sqlite_file(engine: Engine) -> Path:
    database = engine.url.database
    if not database or database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up or restored")
    return Path(database)


def _sqlite_copy(source: Path, target: Path) -> None:
    """SQLite's online backup: a consistent copy even while workers write (WAL pages included)."""
    with closing(sqlite3.connect(source)) as origin, closing(sqlite3.connect(target)) as copy:
        origin.backup(copy)


def table_rows(engine: Engine) -> dict[str, list[tuple]]:
    """Every table's rows in primary-key order: what 'restored row for row' compares."""
    metadata = MetaData()
    metadata.reflect(engine)
    out = {}
    with engine.connect() as connection:
        for table in metadata.sorted_tables:
            order = list(table.primary_key.columns) or list(table.columns)
            out[table.name] = [tuple(r) for r in connection.execute(select(table).order_by(*order))]
    return out


def table_counts(engine: Engine) -> dict[str, int]:
    return {name: len(rows) for name, rows in table_rows(engine).items()}


def revision(engine: Engine) -> str | None:
    if not inspect(engine).has_table(VERSION_TABLE):
        return None
    with engine.connect() as connection:
        return connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


def dump(database_url: str, folder: Path, method: str = "auto") -> dict[str, Any]:
    """Write the database into `folder`; returns the manifest's database part."""
    method = choose_method(database_url, method)
    engine = make_engine(database_url)
    try:
        target = folder / FILES[method]
        if method == "sqlite":
            _sqlite_copy(_sqlite_file(engine), target)
        elif method == "pg_dump":
            uri, env = libpq(database_url)
            subprocess.run(
                ["pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--file={target}", f"--dbname={uri}"],
                check=True,
                env=env,
                capture_output=True,
            )
        else:
            _dump_rows(engine, target)
        return {
            "method": method,
            "file": target.name,
            "dialect": engine.dialect.name,
            "revision": revision(engine),
            "tables": table_counts(engine),
        }
    finally:
        engine.dispose()


def _encode(value: Any) -> Any:
    return value.isoformat() if isinstance(value, (datetime, date)) else value


def _dump_rows(engine: Engine, target: Path) -> None:
    metadata = MetaData()
    metadata.reflect(engine)
    with engine.connect() as connection, gzip.open(target, "wt", encoding="utf-8") as out:
        for table in metadata.sorted_tables:
            for row in connection.execute(select(table)).mappings():
                record = {k: _encode(v) for k, v in row.items()}
                out.write(json.dumps({"table": table.name, "row": record}, sort_keys=True) + "\n")


def check_empty(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        names = inspect(engine).get_table_names()
    finally:
        engine.dispose()
    if names:
        raise BackupError(
            f"the target database is not empty ({len(names)} tables, e.g. {sorted(names)[0]}): restore "
            "into a new database (createdb …) and point DATABASE_URL at it"
        )


def restore(database_url: str, folder: Path, part: dict[str, Any]) -> None:
    """Load the dump described by `part` (the manifest's database part) into an empty database."""
    check_empty(database_url)
    source = folder / part["file"]
    method = part["method"]
    if method == "sqlite":
        if dialect(database_url) != "sqlite":
            raise BackupError(
                "a SQLite backup restores into SQLite only here; use --method sqlalchemy "
                "when backing up to move to PostgreSQL"
            )
        engine = make_engine(database_url)
        path = _sqlite_file(engine)
        engine.dispose()
        for suffix in ("-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        _sqlite_copy(source, path)
    elif method == "pg_dump":
        if dialect(database_url) != "postgresql":
            raise BackupError("a pg_dump backup restores into PostgreSQL only")
        uri, env = libpq(database_url)
        result = subprocess.run(
            [
                "pg_restore",
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                "--single-transaction",
                f"--dbname={uri}",
                str(source),
            ],
            env=env,
            capture_output=True,
            text=True,
        )
        if result.returncode:
            raise BackupError(f"pg_restore failed: {result.stderr.strip()[-500:]}")
    else:
        _restore_rows(database_url, source, part.get("revision"))


def _restore_rows(database_url: str, source: Path, at_revision: str | None) -> None:
    from alembic import command

    from dashboard.auth.tables import ensure_schema as audit_triggers
    from dashboard.store.migrate import alembic_config

    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:  # the schema exactly as it was when the backup was made
            command.upgrade(alembic_config(connection), at_revision or "head")
            connection.commit()
        metadata = MetaData()
        metadata.reflect(engine)
        with gzip.open(source, "rt", encoding="utf-8") as lines, engine.begin() as connection:
            for line in lines:
                item = json.loads(line)
                table = metadata.tables[item["table"]]
                if table.name == VERSION_TABLE:
                    continue  # written by the upgrade above
                row = {k: _decode(table.c[k].type, v) for k, v in item["row"].items()}
                connection.execute(table.insert().values(**row))
            if engine.dialect.name == "postgresql":
                _reset_sequences(connection, metadata)
        audit_triggers(engine)
    finally:
        engine.dispose()


def _decode(column_type, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(column_type, DateTime):
        return datetime.fromisoformat(value)
    if isinstance(column_type, Date):
        return date.fromisoformat(value)
    return value


def _reset_sequences(connection, metadata: MetaData) -> None:
    """Rows were inserted with their ids: move each serial's sequence past them, or the next insert collides."""
    for table in metadata.sorted_tables:
        for column in table.primary_key.columns:
            sequence = connection.execute(
                text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table.name, "c": column.name}
            ).scalar()
            if sequence:
                connection.execute(
                    text(
                        f'SELECT setval(:s, COALESCE((SELECT MAX("{column.name}") FROM '
                        f'"{table.name}"), 1), (SELECT COUNT(*) > 0 FROM "{table.name}"))'
                    ),
                    {"s": sequence},
                )
