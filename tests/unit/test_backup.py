"""Issue 17.4 (hospital IT): back up the database + image folder + secrets, restore into an EMPTY database and
a fresh image folder, and get the same rows (table by table, row by row) and the same files (sha256)."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from dashboard.backup import database, procedure
from dashboard.backup.files import tree_hashes
from dashboard.store.db import make_engine, normalize_url
from tests.auth_helpers import logged_in_client
from tests.fakes_predictor import fake_app, lesion_png
from tests.unit.test_dashboard_store import POSTGRES_URL

REPO = Path(__file__).resolve().parents[2]


def filled_app(tmp_path: Path, **settings):
    """A store with a few cases, predictions, a review, accounts, sessions and audit rows."""
    app = fake_app(tmp_path, **settings)
    services = app.server.extensions["lesionlens"]
    for seed in range(3):
        case_id = services.ingest.upload(lesion_png(120, 90, seed=seed), {"age": 50 + seed, "sex": "F"})
        services.analyzer.predict_case(case_id)
    services.store.add_review(case_id, "dr-a", False, "benign", "looks benign")
    client = logged_in_client(app, "clinician")
    assert client.get(f"/case/{case_id}").status_code == 200  # a case.view audit row
    return app, services


def rows_of(url: str) -> dict[str, list[tuple]]:
    engine = make_engine(url)
    try:
        return database.table_rows(engine)
    finally:
        engine.dispose()


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO / "deploy" / "backup.py"), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=300,
    )


def cli_env(**values: str) -> dict[str, str]:
    """The script's environment: this one without another deployment's database or secrets."""
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SECRET_KEY", "LESIONLENS_DEID_SALT")}
    return {**env, "TF_CPP_MIN_LOG_LEVEL": "2", **values}


def assert_same_store(source_url: str, source_home: Path, target_url: str, target_home: Path) -> None:
    source, target = rows_of(source_url), rows_of(target_url)
    assert set(source) == set(target) and "ll_cases" in source and "ll_audit" in source
    for table in source:
        assert source[table] == target[table], table  # row for row, every column
    assert len(source["ll_cases"]) == 3 and len(source["ll_predictions"]) == 3
    hashes = tree_hashes(source_home / "store")
    assert len(hashes) >= 3 * 5 and hashes == tree_hashes(target_home / "store")
    for name in ("secret_key", "deid_salt"):
        if (source_home / name).exists():
            assert (source_home / name).read_bytes() == (target_home / name).read_bytes()
            assert (target_home / name).stat().st_mode & 0o077 == 0


def test_sqlite_backup_and_restore_with_the_script(tmp_path):
    app, services = filled_app(tmp_path / "source")
    source_home = services.settings.home
    (source_home / "deid_salt").write_text(secrets.token_hex(32))  # as an upload of a DICOM would create it
    out = tmp_path / "backups" / "b1"
    env = cli_env(LESIONLENS_HOME=str(source_home), LESIONLENS_MODELS=str(services.settings.models_dir))
    made = run_cli("backup", "--out", str(out), env=env)
    assert made.returncode == 0, made.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["database"]["method"] == "sqlite" and manifest["database"]["tables"]["ll_cases"] == 3
    assert (out.stat().st_mode & 0o077) == 0 and set(manifest["secrets"]) == {"secret_key", "deid_salt"}
    assert run_cli("verify", "--from", str(out), env=env).returncode == 0

    target_home = tmp_path / "restored-home"
    restored = run_cli("restore", "--from", str(out), "--home", str(target_home), env=env)
    assert restored.returncode == 0, restored.stderr + restored.stdout
    assert "restored 3 case(s)" in restored.stdout
    assert_same_store(
        services.settings.database_url, source_home, f"sqlite:///{target_home / 'lesionlens.sqlite3'}", target_home
    )
    # restoring again into the now non-empty target is refused, and changes nothing
    again = run_cli("restore", "--from", str(out), "--home", str(target_home), env=env)
    assert again.returncode == 2 and "not empty" in again.stderr
    # a damaged backup is caught by verify and refused by restore
    tar = out / "store.tar"
    data = bytearray(tar.read_bytes())
    data[len(data) // 2] ^= 0xFF
    tar.write_bytes(bytes(data))
    assert run_cli("verify", "--from", str(out), env=env).returncode == 1
    damaged = run_cli("restore", "--from", str(out), "--home", str(tmp_path / "other-home"), env=env)
    assert damaged.returncode == 2 and "damaged" in damaged.stderr


def test_row_by_row_copy_restores_the_same_rows(tmp_path):
    app, services = filled_app(tmp_path / "source")
    out = tmp_path / "b2"
    settings = services.settings
    manifest = procedure.backup(settings.database_url, settings.home, settings.files_dir, out, method="sqlalchemy")
    assert manifest["database"]["file"] == "database.jsonl.gz"
    target_url = f"sqlite:///{tmp_path / 'target' / 'db.sqlite3'}"
    report = procedure.restore(out, target_url, tmp_path / "target", tmp_path / "target" / "store")
    assert report["tables_differing"] == {} and report["cases_with_file_problems"] == [] and report["cases"] == 3
    assert_same_store(settings.database_url, settings.home, target_url, tmp_path / "target")


def test_a_restored_case_whose_files_are_missing_is_reported(tmp_path):
    app, services = filled_app(tmp_path / "source")
    settings = services.settings
    out = tmp_path / "b3"
    procedure.backup(settings.database_url, settings.home, settings.files_dir, out)
    target = tmp_path / "target"
    report = procedure.restore(out, f"sqlite:///{target / 'db.sqlite3'}", target, target / "store")
    victim = sorted(services.store.case_ids())[0]
    (next((target / "store").rglob(f"{victim}/display.png"))).unlink()
    manifest = procedure.read_manifest(out)
    again = procedure.check(f"sqlite:///{target / 'db.sqlite3'}", target / "store", manifest)
    assert report["cases_with_file_problems"] == [] and again["cases_with_file_problems"] == [victim]


# ------------------------------------------------------------------ PostgreSQL (marker `services`)
@pytest.fixture
def fresh_databases():
    """Two new, empty databases on the local PostgreSQL (source, target), dropped afterwards."""
    sqlalchemy = pytest.importorskip("sqlalchemy")
    admin = sqlalchemy.create_engine(normalize_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
    names = [f"ll_backup_{secrets.token_hex(4)}_{side}" for side in ("src", "dst")]
    try:
        with admin.connect() as connection:
            for name in names:
                connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sqlalchemy.exc.OperationalError as exc:
        admin.dispose()
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}: {exc.orig}")
    base = POSTGRES_URL.rsplit("/", 1)[0]
    try:
        yield [f"{base}/{name}" for name in names]
    finally:
        with admin.connect() as connection:
            for name in names:
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.mark.services
def test_postgresql_backup_restores_into_an_empty_database(tmp_path, fresh_databases):
    source_url, target_url = fresh_databases
    app, services = filled_app(tmp_path / "source", database_url=source_url)
    settings = services.settings
    out = tmp_path / "pg-backup"
    manifest = procedure.backup(settings.database_url, settings.home, settings.files_dir, out)
    assert manifest["database"]["method"] == "pg_dump" and manifest["database"]["dialect"] == "postgresql"
    services.store.engine.dispose()

    target_home = tmp_path / "restored-home"
    report = procedure.restore(out, target_url, target_home, target_home / "store")
    assert report["tables_differing"] == {} and report["cases_with_file_problems"] == [] and report["cases"] == 3
    assert_same_store(source_url, settings.home, target_url, target_home)
    engine = make_engine(target_url)
    try:  # the audit log's append-only triggers came back with the dump
        with pytest.raises(Exception, match="append-only"), engine.begin() as connection:
            connection.execute(text("UPDATE ll_audit SET actor = 'x'"))
    finally:
        engine.dispose()
    with pytest.raises(database.BackupError, match="not empty"):
        procedure.restore(out, target_url, tmp_path / "third-home", tmp_path / "third-home" / "store")


@pytest.mark.services
def test_sqlite_store_moves_to_postgresql_by_the_row_copy(tmp_path, fresh_databases):
    _source_url, target_url = fresh_databases
    app, services = filled_app(tmp_path / "source")
    settings = services.settings
    out = tmp_path / "move"
    procedure.backup(settings.database_url, settings.home, settings.files_dir, out, method="sqlalchemy")
    target_home = tmp_path / "pg-home"
    report = procedure.restore(out, target_url, target_home, target_home / "store")
    assert report["tables_differing"] == {} and report["cases_with_file_problems"] == []
    assert_same_store(settings.database_url, settings.home, target_url, target_home)
    engine = make_engine(target_url)
    try:  # sequences were moved past the copied ids: the next audit row gets a new id
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO ll_audit (at, action, detail) VALUES (now(), 'logout', '{}')"))
    finally:
        engine.dispose()
