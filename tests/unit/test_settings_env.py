"""Every environment variable goes through `dashboard/settings.py` and is listed in the README table.

Why: a deployment should find every knob in one place (README "Configuration
(environment variables)"), and a knob read somewhere else is one a test
cannot set through `Settings(...)` and an operator cannot find.
"""

from __future__ import annotations

import ast
import os
import re

import pytest

from dashboard.settings import AuthConfig, Settings
from pipeline.paths import REPO_ROOT

README_SECTION = "## Configuration (environment variables)"
SETTINGS = REPO_ROOT / "dashboard" / "settings.py"
READERS = {"text", "optional", "flag", "number", "whole", "secret"}  # settings._Env's typed reads
# Dashboard modules that touch os.environ without reading a setting, and why that is right:
OUTSIDE_SETTINGS = {
    # sets thread-count variables (OMP_NUM_THREADS…) for the numeric libraries of a decoding child
    "dashboard/sandbox.py": set(),
    # copies the environment for pg_dump / pg_restore children, adding PGPASSWORD (never on their command line)
    "dashboard/backup/database.py": set(),
    # PROMETHEUS_MULTIPROC_DIR is prometheus_client's own variable, read by the library itself: the gunicorn
    # master sets it before forking so every worker's library writes to the same folder
    "dashboard/monitoring/multiproc.py": {"PROMETHEUS_MULTIPROC_DIR"},
    "dashboard/monitoring/metrics.py": {"PROMETHEUS_MULTIPROC_DIR"},
}
NOT_SETTINGS = {"LD_PRELOAD"}  # the dynamic loader's: pipeline/allocator.py checks whether jemalloc is preloaded


def _constants(tree: ast.Module) -> dict[str, str]:
    """Module-level NAME = "TEXT" assignments (so `environ.get(SALT_ENV)` resolves)."""
    out = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            out.update({t.id: node.value.value for t in node.targets if isinstance(t, ast.Name)})
    return out


def _touches_environ(tree: ast.Module) -> bool:
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in ("environ", "getenv")
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
        ):
            return True
        if (
            isinstance(node, ast.ImportFrom)
            and node.module == "os"
            and any(a.name in ("environ", "getenv") for a in node.names)
        ):
            return True
    return False


def _environ_reads(tree: ast.Module) -> set[str]:
    """Names read as `os.environ.get(X)`, `environ.get(X)`, `os.environ[X]`, `os.getenv(X)` (X a literal or a
    module constant)."""
    constants = _constants(tree)

    def name_of(arg):
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            return arg.value
        return constants.get(arg.id) if isinstance(arg, ast.Name) else None

    def is_environ(node):
        return (isinstance(node, ast.Name) and node.id == "environ") or (
            isinstance(node, ast.Attribute) and node.attr == "environ"
        )

    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args and isinstance(node.func, ast.Attribute):
            func = node.func
            if (func.attr == "get" and is_environ(func.value)) or (
                func.attr == "getenv" and isinstance(func.value, ast.Name) and func.value.id == "os"
            ):
                names.add(name_of(node.args[0]))
        elif isinstance(node, ast.Subscript) and is_environ(node.value) and isinstance(node.ctx, ast.Load):
            names.add(name_of(node.slice))
    return names - {None}


def _settings_reads() -> set[str]:
    """Every variable `dashboard/settings.py` asks its `_Env` reader for."""
    names = set()
    for node in ast.walk(ast.parse(SETTINGS.read_text())):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in READERS
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "env"
        ):
            assert isinstance(node.args[0], ast.Constant), f"line {node.lineno}: name the variable literally"
            names.add(node.args[0].value)
    return names


def _readme_table() -> list[str]:
    text = (REPO_ROOT / "README.md").read_text()
    assert text.count(README_SECTION) == 1, f"README.md needs exactly one {README_SECTION!r} section"
    section = text.split(README_SECTION, 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", section, flags=re.M)


def _python_files(*folders: str):
    for folder in folders:
        for path in sorted((REPO_ROOT / folder).rglob("*.py")):
            yield path.relative_to(REPO_ROOT).as_posix(), ast.parse(path.read_text())


def test_dashboard_reads_the_environment_only_through_settings():
    stray, stale = [], []
    for rel, tree in _python_files("dashboard"):
        if rel == "dashboard/settings.py":
            continue
        touches = _touches_environ(tree)
        if rel in OUTSIDE_SETTINGS:
            if not touches:
                stale.append(rel)
            assert _environ_reads(tree) <= OUTSIDE_SETTINGS[rel], rel
        elif touches:
            stray.append(rel)
    assert not stray, f"read these through dashboard/settings.py (Settings / AuthConfig): {stray}"
    assert not stale, f"no longer touch os.environ: remove them from OUTSIDE_SETTINGS: {stale}"


def test_settings_reads_nothing_behind_its_reader():
    tree = ast.parse(SETTINGS.read_text())
    assert _environ_reads(tree) == set(), "settings.py reads the environment through _Env only"
    assert len(_settings_reads()) >= 25  # the AST walk above still finds the reads (a refactor did not hide them)


def test_readme_table_lists_exactly_what_the_code_reads():
    rows = _readme_table()
    assert len(rows) == len(set(rows)), "a variable listed twice"
    read = _settings_reads()
    for _rel, tree in _python_files("pipeline", "training"):
        read |= _environ_reads(tree)
    for rel in OUTSIDE_SETTINGS:
        if (REPO_ROOT / rel).exists():
            read |= OUTSIDE_SETTINGS[rel]
    assert {"LESIONLENS_HOME", "LESIONLENS_MODELS", "LESIONLENS_DATA", "LESIONLENS_DEID_SALT"} <= read
    read -= NOT_SETTINGS
    assert sorted(read - set(rows)) == [], "read by the code but missing from the README table"
    assert sorted(set(rows) - read) == [], "in the README table but read by nothing"


def test_from_env_types_defaults_and_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("LESIONLENS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LESIONLENS_MAX_UPLOAD_MB", "8")
    monkeypatch.setenv("LESIONLENS_FILE_TIME_LIMIT_S", "2.5")
    monkeypatch.setenv("LESIONLENS_PREDICT_RATE", " 5/minute ")
    monkeypatch.setenv("LESIONLENS_WARM_UP", "off")
    monkeypatch.setenv("LESIONLENS_MAX_FILES", "")  # blank = unset
    monkeypatch.setenv("LESIONLENS_TRUST_PROXY", "2")
    monkeypatch.setenv("CACHE_REDIS_URL", "redis://cache:6379/1")
    monkeypatch.delenv("CELERY_RESULT_BACKEND", raising=False)
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    settings = Settings.from_env()
    assert settings.home == tmp_path / "home" and settings.max_upload_bytes == 8 * 1024 * 1024
    assert settings.file_time_limit_s == 2.5 and settings.max_files_per_upload == 20
    assert settings.predict_rate == "5/minute" and settings.warm_up is False
    assert settings.auth == AuthConfig(trust_proxy=2)
    assert settings.celery_urls == ("redis://127.0.0.1:6379/0", "redis://cache:6379/1")
    assert "secret_key" not in repr(settings)
    for name, value in [
        ("LESIONLENS_MAX_FILES", "many"),
        ("LESIONLENS_DAILY_UPLOADS", "0"),
        ("LESIONLENS_SESSION_HOURS", "-1"),
        ("LESIONLENS_MIGRATE", "sometimes"),
    ]:
        with monkeypatch.context() as patch:
            patch.setenv(name, value)
            with pytest.raises(ValueError, match=name):
                Settings.from_env()


def test_a_child_process_environment_rebuilds_the_same_settings(tmp_path, monkeypatch):
    """The job runner builds its Settings from the environment the web app hands it."""
    settings = Settings(
        home=tmp_path / "home",
        models_dir=tmp_path / "models",
        file_time_limit_s=7.5,
        max_upload_bytes=3 * 1024 * 1024,
        decode_isolation="thread",
        default_model="tiny",
        job_roots=(tmp_path,),
    )
    monkeypatch.setenv("CACHE_REDIS_URL", "redis://stale:6379/0")  # the parent's own, not the app's
    env = settings.child_environment(LESIONLENS_MIGRATE="verify")
    for name in set(os.environ) - set(env):
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    child = Settings.from_env()
    same = (
        "home",
        "models_dir",
        "database_url",
        "secret_key",
        "file_time_limit_s",
        "max_upload_bytes",
        "decode_isolation",
        "default_model",
        "job_roots",
        "cache_redis_url",
    )
    assert {k: getattr(child, k) for k in same} == {k: getattr(settings, k) for k in same}
    assert child.schema_mode == "verify"
