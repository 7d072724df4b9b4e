"""Schema versions: migrations match the models, upgrades are race-safe, old databases are adopted.

* `alembic/versions` at head creates exactly the tables, columns and indexes
  of the models (the store's and dashboard/auth's): a model changed without
  a migration fails here.
* Several processes upgrading one fresh database at once (gunicorn workers
  starting together) all succeed and leave one schema at head.
* A database made by `create_all` before migrations existed is stamped at
  0001 and upgraded, keeping its rows.
* "verify" mode refuses a database that is behind, with the command to run.
* The same on PostgreSQL (marker `services`, throwaway schema): advisory lock.
"""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from dashboard.store.db import make_engine
from dashboard.store.migrate import (
    BASELINE,
    SchemaError,
    current_revision,
    ensure_schema,
    head_revision,
    target_metadata,
    upgrade,
    verify,
)
from tests.postgres import postgres_schema


def differences(engine) -> list:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return compare_metadata(MigrationContext.configure(connection), target_metadata())


def test_migrations_at_head_match_the_models(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    assert upgrade(engine) == (None, head_revision())
    assert differences(engine) == []
    tables = set(inspect(engine).get_table_names())
    assert {"ll_cases", "ll_predictions", "ll_reviews", "ll_settings", "ll_jobs", "alembic_version"} <= tables
    assert upgrade(engine) == (head_revision(), head_revision())  # idempotent


def _upgrade_in_process(url: str, queue) -> None:
    try:
        engine = make_engine(url)
        ensure_schema(engine, "upgrade")
        with engine.connect() as connection:
            queue.put(current_revision(connection))
    except Exception as exc:  # noqa: BLE001 - reported to the test
        queue.put(f"error: {type(exc).__name__}: {exc}")


def upgrade_concurrently(url: str, n: int) -> list[str]:
    """`n` spawned processes upgrading `url` at once; the revision (or error) each one reports."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    processes = [context.Process(target=_upgrade_in_process, args=(url, queue)) for _ in range(n)]
    for process in processes:
        process.start()
    results = [queue.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(30)
    return results


def test_concurrent_upgrades_from_several_processes(tmp_path):
    assert upgrade_concurrently(f"sqlite:///{tmp_path / 'db.sqlite3'}", 4) == [head_revision()] * 4


def test_a_create_all_database_is_stamped_and_upgraded(tmp_path):
    from alembic import command

    from dashboard.store.migrate import alembic_config

    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    with engine.begin() as connection:  # the 0001 tables as create_all made them, with a row
        command.upgrade(alembic_config(connection), BASELINE)
        connection.exec_driver_sql("DROP TABLE alembic_version")
        connection.exec_driver_sql("INSERT INTO ll_settings (key, value, updated) VALUES ('active_model', 'x', "
                                   "'2026-01-01 00:00:00')")
    with pytest.raises(SchemaError, match="ensure-admin"):
        verify(engine)
    assert upgrade(engine) == (None, head_revision())
    with engine.connect() as connection:
        assert connection.execute(text("SELECT value FROM ll_settings")).scalar() == "x"
        assert "image_sha256" in {c["name"] for c in inspect(connection).get_columns("ll_cases")}
    assert verify(engine) == head_revision()


def test_verify_mode_refuses_an_empty_database(tmp_path):
    from dashboard.store.cases import CaseStore

    with pytest.raises(SchemaError, match="revision none"):
        CaseStore(f"sqlite:///{tmp_path / 'db.sqlite3'}", tmp_path / "files", schema="verify")
    CaseStore(f"sqlite:///{tmp_path / 'db.sqlite3'}", tmp_path / "files", schema="upgrade")
    CaseStore(f"sqlite:///{tmp_path / 'db.sqlite3'}", tmp_path / "files", schema="verify")  # now fine


def test_store_sweep_removes_only_old_leftovers(tmp_path):
    import os
    import time

    import numpy as np

    from dashboard.store.cases import CaseStore
    from pipeline.io import record_from_array

    store = CaseStore(f"sqlite:///{tmp_path / 'db.sqlite3'}", tmp_path / "files")
    kept, _ = store.add_case(record_from_array(np.zeros((8, 8), np.uint8)))
    orphan = store.files.folder("corphan000001")
    fresh = store.files.folder("cfresh0000001")
    for folder in (orphan, fresh):
        folder.mkdir(parents=True)
        (folder / "pixels.npy").write_bytes(b"x")
    temp = store.files.folder(kept) / ".display.png.abc.tmp"
    temp.write_bytes(b"half")
    old = time.time() - 3600
    for path in (orphan / "pixels.npy", orphan, temp):
        os.utime(path, (old, old))
    assert store.sweep() == {"temp_files": 1, "orphan_cases": 1}
    assert not orphan.exists() and fresh.exists() and not temp.exists()  # a write in progress is left alone
    assert store.check_case(kept) is None


def test_failed_commit_leaves_no_files(tmp_path, monkeypatch):
    import numpy as np

    from dashboard.store.cases import CaseStore
    from pipeline.io import record_from_array

    store = CaseStore(f"sqlite:///{tmp_path / 'db.sqlite3'}", tmp_path / "files")

    def broken_commit(self):
        raise RuntimeError("database went away")

    monkeypatch.setattr("sqlalchemy.orm.Session.commit", broken_commit)
    with pytest.raises(RuntimeError):
        store.add_case(record_from_array(np.zeros((8, 8), np.uint8)), case_id="cfailed00001")
    assert not store.files.folder("cfailed00001").exists()


@pytest.mark.services
def test_postgres_upgrade_under_the_advisory_lock():
    with postgres_schema("ll_alembic") as url:
        assert upgrade_concurrently(url, 3) == [head_revision()] * 3
        engine = make_engine(url)
        assert differences(engine) == []
        engine.dispose()


def test_alembic_command_line_uses_the_app_settings(tmp_path):
    import subprocess
    import sys

    env = {**__import__("os").environ, "LESIONLENS_HOME": str(tmp_path), "DATABASE_URL": ""}
    alembic = Path(sys.executable).with_name("alembic")
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([str(alembic), "upgrade", "head"], cwd=root, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    engine = make_engine(f"sqlite:///{tmp_path / 'lesionlens.sqlite3'}")
    assert verify(engine) == head_revision()
