"""Typed settings read once from the environment.

One dataclass instead of `os.environ.get` scattered through the code, so a
deployment can see every knob in one place and a test can build an app with
its own settings (tmp database, tmp cache) without touching the environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.paths import home, models_dir, read_or_create_secret

MB = 1024 * 1024


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"environment variable {name} must be a whole number, got {raw!r}") from None
    if value <= 0:
        raise ValueError(f"environment variable {name} must be positive, got {value}")
    return value


def _secret_key(base: Path) -> str:
    """SECRET_KEY from the environment, else one generated once and kept under home().

    Every gunicorn worker must sign sessions with the same key, so a random
    per-process key would not do; the file is created with O_EXCL so two
    workers starting together agree on whichever wrote first.
    """
    env = os.environ.get("SECRET_KEY")
    if env:
        return env
    return read_or_create_secret(base / "secret_key")


@dataclass
class Settings:
    """Everything the dashboard needs to know about its deployment."""

    home: Path = field(default_factory=home)
    database_url: str = ""
    cache_redis_url: str | None = None
    models_dir: Path = field(default_factory=models_dir)
    default_model: str | None = None  # bundle name used when the database names none
    max_upload_bytes: int = 64 * MB  # one file (pipeline.io limit and dcc.Upload max_size)
    max_request_bytes: int = 256 * MB  # Flask MAX_CONTENT_LENGTH (several files in one request)
    max_files_per_upload: int = 20
    cache_timeout_s: int = 7 * 24 * 3600
    secret_key: str = ""
    title: str = "Lesion Lens"

    def __post_init__(self) -> None:
        self.home = Path(self.home)
        self.models_dir = Path(self.models_dir)
        self.home.mkdir(parents=True, exist_ok=True)
        if not self.database_url:
            self.database_url = f"sqlite:///{self.home / 'lesionlens.sqlite3'}"
        if not self.secret_key:
            self.secret_key = _secret_key(self.home)

    @property
    def files_dir(self) -> Path:
        """Image files of the case store (display PNGs, pixels, masks)."""
        return self.home / "store"

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache" / "dashboard"

    @classmethod
    def from_env(cls) -> "Settings":
        return cls(
            home=home(),
            database_url=os.environ.get("DATABASE_URL", ""),
            cache_redis_url=os.environ.get("CACHE_REDIS_URL") or None,
            models_dir=models_dir(),
            default_model=os.environ.get("LESIONLENS_MODEL") or None,
            max_upload_bytes=_int_env("LESIONLENS_MAX_UPLOAD_MB", 64) * MB,
            max_request_bytes=_int_env("LESIONLENS_MAX_REQUEST_MB", 256) * MB,
            max_files_per_upload=_int_env("LESIONLENS_MAX_FILES", 20),
        )
