"""Jobs on Celery + Redis: the page's background callback runs in a real `celery worker --pool=solo`.

The worker is started as the README says (`celery -A dashboard.jobs.celery_app
worker`) with the app's environment; it builds the dashboard once and so
registers the Dash background callbacks as tasks. This process builds the
same app (CELERY_BROKER_URL set -> CeleryManager) and drives the callback as
the renderer would: progress arrives through the Redis result backend, the
result is the job's summary, and a cancel request stops a running job (with
--pool=solo Celery cannot terminate a task, so the job's cancel flag does).
Skipped, with the reason, when Redis is not reachable.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fakes_predictor import lesion_png, make_fake_bundle
from tests.polling import wait_for

pytestmark = [pytest.mark.services, pytest.mark.slow]
REDIS_URL = "redis://127.0.0.1:6379/14"


def redis_or_skip():
    redis = pytest.importorskip("redis")
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.exceptions.ConnectionError as exc:
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {exc}")


@pytest.fixture
def celery_env(tmp_path, monkeypatch):
    redis_or_skip()
    models = tmp_path / "models"
    make_fake_bundle(models)
    make_fake_bundle(models, name="fake2", version="2.0")
    env = {"LESIONLENS_HOME": str(tmp_path / "home"), "LESIONLENS_MODELS": str(models),
           "CELERY_BROKER_URL": REDIS_URL, "CACHE_REDIS_URL": REDIS_URL,
           "LESIONLENS_PREDICTOR_FACTORY": "tests.unit.test_jobs:SlowFake", "LESIONLENS_DECODE_ISOLATION": "thread"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    return env


@pytest.fixture
def worker(celery_env, tmp_path):
    from dashboard.factory import create_app

    create_app()  # migrate the fresh home before the worker opens it
    log = open(tmp_path / "celery.log", "w")
    celery = Path(sys.executable).with_name("celery")
    process = subprocess.Popen([str(celery), "-A", "dashboard.jobs.celery_app", "worker", "--pool=solo",
                                "--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"],
                               cwd=Path(__file__).resolve().parents[2], env={**os.environ, **celery_env},
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(lambda: "ready" in (tmp_path / "celery.log").read_text() or process.poll() is not None, timeout=120)
        assert process.poll() is None, (tmp_path / "celery.log").read_text()[-3000:]
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        log.close()


def test_celery_job_progress_result_and_cancel(worker, tmp_path):
    from dash import CeleryManager

    from dashboard.factory import create_app
    from dashboard.jobs.store import JobStore

    app = create_app()
    info = app.server.extensions["lesionlens_jobs"]
    manager = info["manager"]
    assert isinstance(manager, CeleryManager)
    services = app.server.extensions["lesionlens"]
    for i in range(4):
        services.ingest.upload(lesion_png(100, 80, seed=i))
    job_fn = manager.func_registry[info["key"]]
    jobs = JobStore(services.store.sessions)

    key = f"celery-test-{os.getpid()}-{time.time_ns()}"
    from tests.unit.test_jobs import signed_in_context

    context = signed_in_context(app)  # the job's owner: the user of the session cookie Dash passes on
    task = manager.call_job_fn(key, job_fn, [1, "rescore", "fake2", "", "", None], context)
    progress = []

    def finished():
        value = manager.get_progress(key)
        if value:
            progress.append(value)
        return manager.result_ready(key)

    wait_for(finished, timeout=180)
    result = manager.get_result(key, task)
    assert "finished 4 of 4" in str(result), result
    assert progress and any("of 4" in str(p[1]) for p in progress), progress
    assert all(services.store.has_prediction(c, "fake2", "2.0") for c in services.store.case_ids())

    for i in range(4, 14):
        services.ingest.upload(lesion_png(100, 80, seed=i))
    key2 = key + "-cancel"
    task2 = manager.call_job_fn(key2, job_fn, [1, "rescore", "fake2", "", "", None], context)

    def running_job():
        value = manager.get_progress(key2)
        return value[2] if value and value[2] else None

    job_id = wait_for(running_job, timeout=180)
    assert jobs.request_cancel(job_id)
    manager.terminate_job(task2)  # what Dash does on cancel; a no-op with --pool=solo
    wait_for(lambda: manager.result_ready(key2), timeout=120)
    assert "cancelled" in str(manager.get_result(key2, task2))
    job = jobs.get(job_id)
    assert job["status"] == "cancelled" and job["done"] < 14 and job["owner"]
