"""Where working files live.

Everything the project writes at run time (decoded-image caches, checkpoints,
the demo cohort, the case store) sits under one folder, `LESIONLENS_HOME`,
defaulting to `var/` inside the repository (ignored by git), so a clean clone
is a clean slate and a deployment can point it at a shared volume.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def home() -> Path:
    path = Path(os.environ.get("LESIONLENS_HOME", REPO_ROOT / "var"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir(name: str) -> Path:
    path = home() / "cache" / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def models_dir() -> Path:
    return Path(os.environ.get("LESIONLENS_MODELS", REPO_ROOT / "models"))


def shared_data_dir() -> Path:
    """The read-only real datasets (`../shared/data` beside the repository by default)."""
    return Path(os.environ.get("LESIONLENS_DATA", REPO_ROOT.parent / "shared" / "data"))


def read_or_create_secret(path: Path) -> str:
    """A random hex secret kept in `path` (mode 0600), created once.

    Race-safe for several gunicorn workers starting together: each writes a
    private temp file and hard-links it into place; the first link wins and
    everyone reads the winner's value.
    """
    import secrets

    if not path.exists():
        tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
    return path.read_text().strip()
