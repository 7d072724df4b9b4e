"""Helpers for tests that need a real model bundle and a running server.

Used by tests/browser and tests/integration (dashboard/API). A tiny bundle is
trained once with the project's own training CLI (~40 s on 2 cores) and
cached under $LESIONLENS_HOME/cache/dashboard-tests, keyed by a hash of the
training and inference code, so a code change retrains it and a rerun does not.
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from pipeline.paths import REPO_ROOT, cache_dir

TINY_CONFIG = REPO_ROOT / "training" / "configs" / "tiny.yaml"
TRAIN_SPEC = "synthetic:40:1"
CODE_FOR_BUNDLE = ("training", "pipeline/models", "pipeline/predictor.py", "pipeline/preprocess.py",
                   "pipeline/bundle.py", "pipeline/synthetic.py")


def _code_hash() -> str:
    digest = hashlib.sha256(TINY_CONFIG.read_bytes())
    for rel in CODE_FOR_BUNDLE:
        path = REPO_ROOT / rel
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        for file in files:
            if file.is_file():
                digest.update(file.read_bytes())
    return digest.hexdigest()[:12]


def tiny_models_dir() -> Path:
    """A models folder holding one trained bundle named 'tiny' (trained on first use)."""
    root = cache_dir("dashboard-tests") / f"tiny-{_code_hash()}"
    models = root / "models"
    if (models / "tiny" / "bundle.json").is_file():
        return models
    env = {**os.environ, "LESIONLENS_HOME": str(root / "home"), "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run(
        [sys.executable, "-m", "training", "train", "--dataset", TRAIN_SPEC, "--out", str(models / "tiny"),
         "--config", str(TINY_CONFIG)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=1200,
    )
    if result.returncode != 0 or not (models / "tiny" / "bundle.json").is_file():
        raise RuntimeError(f"training the tiny test bundle failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
    return models


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(home: Path, models: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "LESIONLENS_HOME": str(home), "LESIONLENS_MODELS": str(models),
            "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1", **extra}


def run_cli(args: list[str], env: dict[str, str], timeout: int = 900,
            stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dashboard", *args], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout, input=stdin)


def add_user(env: dict[str, str], username: str, role: str, password: str) -> None:
    """`python -m dashboard users add` with the password on stdin (never argv)."""
    result = run_cli(["users", "add", username, "--role", role, "--password-stdin"], env, timeout=120,
                     stdin=password + "\n")
    if result.returncode != 0:
        raise RuntimeError(f"users add {username} failed: {result.stderr[-2000:]}")


def api_token(env: dict[str, str], username: str) -> str:
    result = run_cli(["users", "token", "create", username, "--label", "tests"], env, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"users token create {username} failed: {result.stderr[-2000:]}")
    return result.stdout.strip().splitlines()[-1]


class Gunicorn:
    """`gunicorn dashboard.app:server` as in the Procfile, on a free loopback port."""

    def __init__(self, env: dict[str, str], workers: int = 2, threads: int = 4, log: Path | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        gunicorn = Path(sys.executable).with_name("gunicorn")
        self._out = open(log, "w") if log else subprocess.DEVNULL
        self.process = subprocess.Popen(
            [str(gunicorn), "dashboard.app:server", "--bind", f"127.0.0.1:{self.port}", "--workers", str(workers),
             "--threads", str(threads), "--timeout", "120"],
            cwd=REPO_ROOT, env=env, stdout=self._out, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}; log: {self.log}")
            try:
                if requests.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise TimeoutError(f"gunicorn not ready after {timeout} s; log: {self.log}")

    def worker_pids(self) -> list[int]:
        import psutil

        return [child.pid for child in psutil.Process(self.process.pid).children()]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # gunicorn master stops its own workers
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        if self._out is not subprocess.DEVNULL:
            self._out.close()


def new_page(browser, timeout_ms: int = 60_000, **context_options):
    """A fresh context (1440 x 1000, empty cache unless `storage_state` is given) and its page; the page's
    JavaScript errors collect in `page.errors`, which every browser test asserts empty at its end."""
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, **context_options)
    page = context.new_page()
    page.set_default_timeout(timeout_ms)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors
    return context, page
