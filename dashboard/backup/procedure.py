"""Backup, restore and verify: the database, the image folder and the secrets, with one manifest.

A backup is a folder (mode 0700):

    manifest.json       format, time, code commit, database part (method, revision, rows per table),
                        sha256 of every file below
    database.pgdump     pg_dump --format=custom (PostgreSQL) | database.sqlite3 (SQLite online backup)
                        | database.jsonl.gz (row-by-row copy, any database)
    store.tar           the image folder (<home>/store), one entry per file
    secrets/            secret_key, deid_salt (mode 0600), unless left out

Order matters for consistency while the app runs: the database is dumped
first, the files second. The store writes a case's files before its row, so
every row in the dump has its files in the tar; a case uploaded in between
only adds files without a row, which the restored store's sweep removes.
Deleting cases while a backup runs can break this (a row in the dump whose
files went before the tar was written): the restore's check lists such cases,
so run retention before or after the backup, not during it.
"""

from __future__ import annotations

import json
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from dashboard.backup import database, files

FORMAT = "lesionlens-backup/1"
MANIFEST = "manifest.json"
STORE_TAR = "store.tar"


def _commit() -> str | None:
    try:
        return (
            subprocess.run(
                ["git", "rev-parse", "HEAD"],
                capture_output=True,
                text=True,
                check=True,
                cwd=Path(__file__).resolve().parent,
            ).stdout.strip()
            or None
        )
    except (OSError, subprocess.CalledProcessError):
        return None


def backup(
    database_url: str, home: Path, files_dir: Path, out: Path, method: str = "auto", secrets: bool = True
) -> dict[str, Any]:
    """Write a backup folder `out` (new or empty); returns its manifest."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise database.BackupError(f"{out} is not empty: give a new folder for each backup")
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    out.chmod(0o700)
    started = datetime.now(timezone.utc)
    db_part = database.dump(database_url, out, method)
    hashes = files.archive(files_dir, out / STORE_TAR)
    saved = files.save_secrets(home, out / "secrets") if secrets else {}
    manifest = {
        "format": FORMAT,
        "created_utc": started.isoformat(timespec="seconds"),
        "code_commit": _commit(),
        "database": {**db_part, "sha256": files.sha256_of(out / db_part["file"])},
        "store": {"file": STORE_TAR, "sha256": files.sha256_of(out / STORE_TAR), "files": hashes},
        "secrets": saved,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
    return manifest


def read_manifest(source: Path) -> dict[str, Any]:
    path = Path(source) / MANIFEST
    if not path.is_file():
        raise database.BackupError(f"{source} has no {MANIFEST}: not a Lesion Lens backup folder")
    manifest = json.loads(path.read_text())
    if manifest.get("format") != FORMAT:
        raise database.BackupError(f"unknown backup format {manifest.get('format')!r} (this code reads {FORMAT})")
    return manifest


def verify(source: Path) -> list[str]:
    """Problems of a backup at rest (missing or altered files); empty when it is intact."""
    source = Path(source)
    manifest = read_manifest(source)
    problems = []
    for label, part in (("database", manifest["database"]), ("store", manifest["store"])):
        path = source / part["file"]
        if not path.is_file():
            problems.append(f"{label}: {part['file']} is missing")
        elif files.sha256_of(path) != part["sha256"]:
            problems.append(f"{label}: {part['file']} does not match its sha256")
    for name, digest in manifest.get("secrets", {}).items():
        path = source / "secrets" / name
        if not path.is_file() or files.sha256_of(path) != digest:
            problems.append(f"secrets: {name} is missing or altered")
    return problems


def restore(source: Path, database_url: str, home: Path, files_dir: Path) -> dict[str, Any]:
    """Restore a verified backup into an empty database and an empty image folder; returns a report.

    The report compares rows per table with the manifest and checks every
    restored case's files against its row (`CaseStore.check_case`).
    """
    source = Path(source)
    problems = verify(source)
    if problems:
        raise database.BackupError("the backup is damaged: " + "; ".join(problems))
    manifest = read_manifest(source)
    database.check_empty(database_url)
    written = files.restore_secrets(source / "secrets", home, manifest.get("secrets", {}))
    database.restore(database_url, source, manifest["database"])
    files.extract(source / STORE_TAR, files_dir, manifest["store"]["files"])
    return {"secrets_written": written, **check(database_url, files_dir, manifest)}


def check(database_url: str, files_dir: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """Rows per table against the manifest, and each case's files against its row."""
    from dashboard.store.cases import CaseStore
    from dashboard.store.db import make_engine

    engine = make_engine(database_url)
    try:
        counts = database.table_counts(engine)
    finally:
        engine.dispose()
    expected = manifest["database"]["tables"]
    differing = {
        t: (expected.get(t), counts.get(t)) for t in set(expected) | set(counts) if expected.get(t) != counts.get(t)
    }
    store = CaseStore(database_url, files_dir, schema="none")
    try:
        bad_cases = sorted(c for c in store.case_ids() if store.check_case(c) is not None)
    finally:
        store.engine.dispose()
    return {
        "tables": counts,
        "tables_differing": differing,
        "cases": counts.get("ll_cases", 0),
        "cases_with_file_problems": bad_cases,
    }
