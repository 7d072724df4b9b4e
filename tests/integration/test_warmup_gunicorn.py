"""Issue 14, item 4: under gunicorn each worker loads and warms the model right after the fork.

Real gunicorn (2 workers, the Procfile's command line, gunicorn.conf.py read from the working
directory) and the tiny trained bundle: both workers report the model loaded on /healthz before
anyone uploaded anything, and the master never maps TensorFlow.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests

from tests.browser.support import Gunicorn, add_user, api_token, server_env, tiny_models_dir

pytestmark = pytest.mark.slow


def test_each_worker_warms_its_model_after_the_fork(tmp_path):
    env = server_env(tmp_path / "home", tiny_models_dir())
    add_user(env, "ops", "admin", "integration-password-1")
    headers = {"Authorization": f"Bearer {api_token(env, 'ops')}"}
    server = Gunicorn(env, workers=2, threads=2, log=tmp_path / "gunicorn.log")
    try:
        server.wait_ready()
        workers = set(server.worker_pids())
        loaded: dict[int, dict] = {}
        deadline = time.monotonic() + 180
        while set(loaded) != workers and time.monotonic() < deadline:
            body = requests.get(f"{server.url}/healthz", headers=headers, timeout=10).json()
            if body["model"].get("loaded_in_this_worker"):
                loaded[body["pid"]] = body["model"]["loaded_in_this_worker"]
            time.sleep(0.2)
        assert set(loaded) == workers, (loaded, workers, Path(tmp_path / "gunicorn.log").read_text()[-2000:])
        assert all(info["name"] == "tiny" for info in loaded.values())
        log = tmp_path / "gunicorn.log"
        while log.read_text().count("warmed in") < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert log.read_text().count("warmed in") >= 2  # load + one throw-away prediction, in each worker
        maps = Path(f"/proc/{server.process.pid}/maps").read_text()
        assert "tensorflow" not in maps.lower()  # the master stays TensorFlow-free (fork safety)
    finally:
        server.stop()
