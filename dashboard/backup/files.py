"""The file half of a backup: the image folder as one tar with a sha256 per file, and the home's secrets.

Why hashes in the manifest: a restore is only as good as the files it puts
back; every extracted file is checked against its recorded sha256 (and
`verify` checks a backup at rest), so a truncated copy or a flipped bit on
the backup disk is caught before anyone relies on it. Temp files of writes in
progress (`.*.tmp`) are left out: they are never part of a case.

Why the secrets: `secret_key` keys the patient pseudonyms (patient keys are
salted hashes) and signs sessions, `deid_salt` keys the de-identified DICOM
UIDs. A restore without them gives a store whose new imports no longer
group with the old patients and whose DICOM UIDs differ. They are stored
with mode 0600 and restored only into a home that does not have its own (a
different one is refused, never overwritten). The backup is therefore as
sensitive as the database: keep it where the database may be kept.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
from pathlib import Path

SECRET_FILES = ("secret_key", "deid_salt")  # Settings' session key, pipeline.deid's UID salt
TEMP_SUFFIX = ".tmp"
CHUNK = 1 << 20


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def tree_hashes(root: Path) -> dict[str, str]:
    """{relative path: sha256} of every file under `root` except temp files."""
    root = Path(root)
    if not root.is_dir():
        return {}
    return {
        p.relative_to(root).as_posix(): sha256_of(p)
        for p in sorted(root.rglob("*"))
        if p.is_file() and not (p.name.startswith(".") and p.name.endswith(TEMP_SUFFIX))
    }


def archive(root: Path, target: Path) -> dict[str, str]:
    """Write `root`'s files into the tar `target`; returns their hashes (what the tar holds)."""
    hashes = tree_hashes(root)
    with tarfile.open(target, "w") as tar:
        for name in hashes:
            tar.add(Path(root) / name, arcname=name, recursive=False)
    return hashes


def extract(source: Path, root: Path, expected: dict[str, str]) -> None:
    """Unpack the tar into an empty `root` and check every file against `expected` (the manifest)."""
    from dashboard.backup.database import BackupError

    root = Path(root)
    if root.exists() and any(root.iterdir()):
        raise BackupError(f"the image folder {root} is not empty: restore into a new LESIONLENS_HOME")
    root.mkdir(parents=True, exist_ok=True)
    with tarfile.open(source, "r") as tar:
        members = tar.getmembers()
        unexpected = [m.name for m in members if m.isfile() and m.name not in expected]
        if unexpected:
            raise BackupError(f"{source.name} holds {len(unexpected)} file(s) the manifest does not list")
        tar.extractall(root, filter="data")  # no absolute paths, no '..', no links out of the folder
    found = tree_hashes(root)
    wrong = sorted(n for n in expected if found.get(n) != expected[n])
    if wrong:
        raise BackupError(f"{len(wrong)} restored file(s) do not match their sha256 in the manifest, e.g. {wrong[0]}")


def save_secrets(home: Path, folder: Path) -> dict[str, str]:
    """Copy the home's secret files (those that exist) into `folder`; returns {name: sha256}."""
    saved = {}
    for name in SECRET_FILES:
        source = Path(home) / name
        if source.is_file():
            folder.mkdir(mode=0o700, exist_ok=True)
            target = folder / name
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(source.read_bytes())
            saved[name] = sha256_of(target)
    return saved


def restore_secrets(folder: Path, home: Path, expected: dict[str, str]) -> list[str]:
    """Put the saved secrets into `home` (absent ones only); returns the names written."""
    from dashboard.backup.database import BackupError

    written = []
    Path(home).mkdir(parents=True, exist_ok=True)
    for name, digest in expected.items():
        source, target = folder / name, Path(home) / name
        if sha256_of(source) != digest:
            raise BackupError(f"secrets/{name} does not match its sha256 in the manifest")
        if target.exists():
            if sha256_of(target) != digest:
                raise BackupError(
                    f"{target} exists and differs from the backup's {name}: move it away to "
                    "restore the backup's (pseudonyms and DICOM UIDs depend on it)"
                )
            continue
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(source.read_bytes())
        written.append(name)
    return written
