"""Typed settings read once from the environment.

One dataclass instead of `os.environ.get` scattered through the code, so a
deployment can see every knob in one place and a test can build an app with
its own settings (tmp database, tmp cache) without touching the environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.paths import home, models_dir, read_or_create_secret, shared_data_dir

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


def _float_env(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"environment variable {name} must be a number, got {raw!r}") from None
    if not value > 0:
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
    max_image_side: int = 1536  # uploads larger on their long side are downsampled on ingest (store/downsample.py)
    daily_uploads: int = 1000  # images one user may upload per UTC day (UI + API; imports and jobs are not counted)
    cache_timeout_s: int = 7 * 24 * 3600
    secret_key: str = ""
    title: str = "Lesion Lens"
    # --- uploads: de-identification, per-file time limit, decoding sandbox
    keep_originals: bool = False  # LESIONLENS_KEEP_ORIGINALS=1 also keeps the uploaded bytes (never served)
    file_time_limit_s: float = 60.0  # decode + de-identify, and predict, each within this per file
    # "process": decode in a child process that is killed on timeout (from_env default);
    # "thread": in a thread of this process (tests, embedding: no child processes)
    decode_isolation: str = "thread"
    decode_processes: int = 2  # decoding children per worker process
    decode_memory_mb: int = 4096  # address-space limit of a decoding child
    # --- schema: "upgrade" migrates to the Alembic head under a lock; "verify" only checks it
    schema_mode: str = "upgrade"
    # --- jobs: Celery + Redis when set, else local processes (DiskcacheManager)
    celery_broker_url: str | None = None
    job_roots: tuple[Path, ...] = ()  # server folders a batch job may read (default: <home>/imports, shared data)
    # --- monitoring: bearer token for /prometheus (without it only direct loopback connections may scrape)
    metrics_token: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.home = Path(self.home)
        self.models_dir = Path(self.models_dir)
        self.home.mkdir(parents=True, exist_ok=True)
        if not self.database_url:
            self.database_url = f"sqlite:///{self.home / 'lesionlens.sqlite3'}"
        if not self.secret_key:
            self.secret_key = _secret_key(self.home)
        if self.decode_isolation not in ("process", "thread"):
            raise ValueError(f"decode isolation must be 'process' or 'thread', got {self.decode_isolation!r}")
        if self.schema_mode not in ("upgrade", "verify", "none"):
            raise ValueError(f"LESIONLENS_MIGRATE must be upgrade, verify or none, got {self.schema_mode!r}")
        self.job_roots = tuple(Path(p).resolve() for p in self.job_roots) or (
            (self.home / "imports").resolve(), shared_data_dir().resolve())

    @property
    def files_dir(self) -> Path:
        """Image files of the case store (display PNGs, pixels, masks)."""
        return self.home / "store"

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache" / "dashboard"

    @property
    def jobs_cache_dir(self) -> Path:
        """DiskcacheManager's store of background-callback results (one machine)."""
        return self.home / "cache" / "jobs"

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
            max_image_side=_int_env("LESIONLENS_MAX_IMAGE_SIDE", 1536),
            daily_uploads=_int_env("LESIONLENS_DAILY_UPLOADS", 1000),
            keep_originals=os.environ.get("LESIONLENS_KEEP_ORIGINALS", "").strip() == "1",
            file_time_limit_s=_float_env("LESIONLENS_FILE_TIME_LIMIT_S", 60.0),
            decode_isolation=os.environ.get("LESIONLENS_DECODE_ISOLATION", "process").strip() or "process",
            decode_processes=_int_env("LESIONLENS_DECODE_PROCESSES", 2),
            decode_memory_mb=_int_env("LESIONLENS_DECODE_MEMORY_MB", 4096),
            schema_mode=os.environ.get("LESIONLENS_MIGRATE", "upgrade").strip() or "upgrade",
            celery_broker_url=os.environ.get("CELERY_BROKER_URL") or None,
            job_roots=tuple(Path(p) for p in os.environ.get("LESIONLENS_JOB_ROOTS", "").split(os.pathsep) if p),
            metrics_token=os.environ.get("LESIONLENS_METRICS_TOKEN") or None,
        )
