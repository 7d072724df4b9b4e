"""Every environment variable the dashboard reads, parsed once into typed dataclasses.

Why one module: a deployment sees every knob in one place (the README table
"Configuration (environment variables)" lists exactly what this module reads;
tests/unit/test_settings_env.py fails when they drift apart, and when any other
dashboard module reads `os.environ` itself), and a test builds an app with its
own `Settings(...)` (tmp database, tmp cache, its own rate limits) without
touching the environment. `Settings.from_env()` is the only place the
environment is read; `Settings(...)` reads only the pipeline's folders
(`pipeline.paths`: LESIONLENS_HOME, LESIONLENS_MODELS, LESIONLENS_DATA), which
the pipeline and training read the same way without the dashboard.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from pipeline.paths import REPO_ROOT, home, models_dir, read_or_create_secret, shared_data_dir

T = TypeVar("T", int, float)

MB = 1024 * 1024
PREDICT_RATE = "60/minute"
API_RATE = "300/minute"
DEFAULT_BROKER = "redis://127.0.0.1:6379/0"


class _Env:
    """Typed reads of the environment; blank values count as unset. The only reader of `os.environ` here."""

    def __init__(self) -> None:
        self.environ: Mapping[str, str] = os.environ

    def text(self, name: str, default: str = "") -> str:
        value = (self.environ.get(name) or "").strip()
        return value or default

    def secret(self, name: str) -> str:
        """A key or password exactly as given (never stripped)."""
        return self.environ.get(name) or ""

    def optional(self, name: str) -> str | None:
        return self.text(name) or None

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.text(name).lower()
        if not value:
            return default
        return value in ("1", "true", "yes", "on")

    def number(self, name: str, default: float) -> float:
        return self._positive(name, default, float, "a number")

    def whole(self, name: str, default: int) -> int:
        return self._positive(name, default, int, "a whole number")

    def _positive(self, name: str, default: T, parse: Callable[[str], T], kind: str) -> T:
        """`parse(value)` of a set variable, which must be positive; `default` when unset."""
        raw = self.text(name)
        if not raw:
            return default
        try:
            value = parse(raw)
        except ValueError:
            raise ValueError(f"environment variable {name} must be {kind}, got {raw!r}") from None
        if not value > 0:
            raise ValueError(f"environment variable {name} must be positive, got {raw!r}")
        return value


@dataclass
class AuthConfig:
    """Sessions, cookies, proxies and login back-off (dashboard/auth)."""

    secure_cookies: bool = False  # LESIONLENS_SECURE_COOKIES=1: cookies only over HTTPS
    trust_proxy: int = 0  # LESIONLENS_TRUST_PROXY=N: honour X-Forwarded-For/-Proto/-Host from N proxies
    session_hours: float = 12.0  # absolute session lifetime
    idle_minutes: float = 120.0  # a session unused this long ends
    # lockout: back-off after this many failures within the window (per username / per address)
    user_failures: int = 5
    ip_failures: int = 20
    window_minutes: float = 60.0
    base_delay_s: float = 30.0
    max_delay_s: float = 900.0

    @classmethod
    def from_env(cls) -> AuthConfig:
        env = _Env()
        proxy = env.text("LESIONLENS_TRUST_PROXY")
        return cls(
            secure_cookies=env.flag("LESIONLENS_SECURE_COOKIES"),
            trust_proxy=int(proxy) if proxy.isdigit() else (1 if env.flag("LESIONLENS_TRUST_PROXY") else 0),
            session_hours=env.number("LESIONLENS_SESSION_HOURS", 12.0),
            idle_minutes=env.number("LESIONLENS_SESSION_IDLE_MINUTES", 120.0),
        )


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
    secret_key: str = field(default="", repr=False)
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
    # --- jobs: Celery + Redis when set, else one local runner process per job
    celery_broker_url: str | None = None
    celery_result_backend: str | None = None  # default: CACHE_REDIS_URL, else the broker
    job_roots: tuple[Path, ...] = ()  # server folders a batch job may read (default: <home>/imports, shared data)
    cv_roots: tuple[Path, ...] = ()  # folders whose CV runs (`training cv --out`) the Jobs page lists (default: reports/)
    predictor_factory: str = ""  # "module:callable" replacing pipeline.predictor.Predictor in job runners (tests)
    # --- access, API rate limits (flask-limiter), per-worker warm-up, first admin
    auth: AuthConfig = field(default_factory=AuthConfig)
    predict_rate: str = PREDICT_RATE  # POST /api/v1/predict per user
    api_rate: str = API_RATE  # every /api/v1 route per user
    ratelimit_storage: str | None = None  # a limits storage URI; default: CACHE_REDIS_URL, else memory
    warm_up: bool = True  # load the model and the cohort curves in each worker after the fork (warmup.py)
    dash_polyfill: bool = False  # keep Dash's @babel/polyfill for old browsers (firstload.py swaps it out)
    admin_user: str = "admin"  # the first admin `ensure-admin` creates
    admin_password: str = field(default="", repr=False)  # its password; blank: a random one printed once
    metrics_token: str | None = field(default=None, repr=False)  # bearer token for /prometheus from afar

    def __post_init__(self) -> None:
        self.home = Path(self.home)
        self.models_dir = Path(self.models_dir)
        self.home.mkdir(parents=True, exist_ok=True)
        if not self.database_url:
            self.database_url = f"sqlite:///{self.home / 'lesionlens.sqlite3'}"
        if not self.secret_key:
            # every gunicorn worker must sign sessions with the same key: a file created once under home
            self.secret_key = read_or_create_secret(self.home / "secret_key")
        if self.decode_isolation not in ("process", "thread"):
            raise ValueError(f"decode isolation must be 'process' or 'thread', got {self.decode_isolation!r}")
        if self.schema_mode not in ("upgrade", "verify", "none"):
            raise ValueError(f"LESIONLENS_MIGRATE must be upgrade, verify or none, got {self.schema_mode!r}")
        self.job_roots = tuple(Path(p).resolve() for p in self.job_roots) or (
            (self.home / "imports").resolve(), shared_data_dir().resolve())
        self.cv_roots = tuple(Path(p).resolve() for p in self.cv_roots) or ((REPO_ROOT / "reports").resolve(),)

    @property
    def files_dir(self) -> Path:
        """Image files of the case store (display PNGs, pixels, masks)."""
        return self.home / "store"

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache" / "dashboard"

    @property
    def celery_urls(self) -> tuple[str, str]:
        """(broker, result backend) of the jobs' Celery app."""
        broker = self.celery_broker_url or DEFAULT_BROKER
        return broker, self.celery_result_backend or self.cache_redis_url or broker

    @classmethod
    def from_env(cls) -> Settings:
        env = _Env()
        return cls(
            home=home(),
            database_url=env.text("DATABASE_URL"),
            cache_redis_url=env.optional("CACHE_REDIS_URL"),
            models_dir=models_dir(),
            default_model=env.optional("LESIONLENS_MODEL"),
            max_upload_bytes=env.whole("LESIONLENS_MAX_UPLOAD_MB", 64) * MB,
            max_request_bytes=env.whole("LESIONLENS_MAX_REQUEST_MB", 256) * MB,
            max_files_per_upload=env.whole("LESIONLENS_MAX_FILES", 20),
            max_image_side=env.whole("LESIONLENS_MAX_IMAGE_SIDE", 1536),
            daily_uploads=env.whole("LESIONLENS_DAILY_UPLOADS", 1000),
            secret_key=env.secret("SECRET_KEY"),
            keep_originals=env.text("LESIONLENS_KEEP_ORIGINALS") == "1",
            file_time_limit_s=env.number("LESIONLENS_FILE_TIME_LIMIT_S", 60.0),
            decode_isolation=env.text("LESIONLENS_DECODE_ISOLATION", "process"),
            decode_processes=env.whole("LESIONLENS_DECODE_PROCESSES", 2),
            decode_memory_mb=env.whole("LESIONLENS_DECODE_MEMORY_MB", 4096),
            schema_mode=env.text("LESIONLENS_MIGRATE", "upgrade"),
            celery_broker_url=env.optional("CELERY_BROKER_URL"),
            celery_result_backend=env.optional("CELERY_RESULT_BACKEND"),
            job_roots=tuple(Path(p) for p in env.text("LESIONLENS_JOB_ROOTS").split(os.pathsep) if p),
            cv_roots=tuple(Path(p) for p in env.text("LESIONLENS_CV_ROOTS").split(os.pathsep) if p),
            predictor_factory=env.text("LESIONLENS_PREDICTOR_FACTORY"),
            auth=AuthConfig.from_env(),
            predict_rate=env.text("LESIONLENS_PREDICT_RATE", PREDICT_RATE),
            api_rate=env.text("LESIONLENS_API_RATE", API_RATE),
            ratelimit_storage=env.optional("LESIONLENS_RATELIMIT_STORAGE"),
            warm_up=env.text("LESIONLENS_WARM_UP", "1").lower() not in ("0", "false", "no", "off"),
            dash_polyfill=env.flag("LESIONLENS_DASH_POLYFILL"),
            admin_user=env.text("LESIONLENS_ADMIN_USER", "admin"),
            admin_password=env.secret("LESIONLENS_ADMIN_PASSWORD"),
            metrics_token=env.secret("LESIONLENS_METRICS_TOKEN") or None,
        )

    def child_environment(self, **overrides: str) -> dict[str, str]:
        """This process's environment with these settings written back: a job runner started with it builds
        the same Settings from `from_env()` (same home, database, models, limits), whatever the parent's
        environment said. TensorFlow's C++ logging is quiet unless the parent chose otherwise."""
        env = {**os.environ, "LESIONLENS_HOME": str(self.home), "DATABASE_URL": self.database_url,
               "LESIONLENS_MODELS": str(self.models_dir), "LESIONLENS_DECODE_ISOLATION": self.decode_isolation,
               "LESIONLENS_FILE_TIME_LIMIT_S": repr(float(self.file_time_limit_s)),
               "LESIONLENS_MAX_UPLOAD_MB": str(max(1, self.max_upload_bytes // MB)),
               "LESIONLENS_JOB_ROOTS": os.pathsep.join(str(p) for p in self.job_roots),
               "SECRET_KEY": self.secret_key}
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        if self.cache_redis_url:
            env["CACHE_REDIS_URL"] = self.cache_redis_url
        else:
            env.pop("CACHE_REDIS_URL", None)
        if self.default_model:
            env["LESIONLENS_MODEL"] = self.default_model
        return {**env, **overrides}
