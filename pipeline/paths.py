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
