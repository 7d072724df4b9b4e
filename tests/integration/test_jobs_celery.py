"""Jobs on Celery + Redis: the task functions run in real `celery worker --pool=solo` processes, no Dash there.

Two workers are started as the README says (`celery -A dashboard.jobs.celery_app
worker`) with the app's environment; they import the task functions and the
services, never the Dash app (the worker log must not mention dash). A
re-scoring submitted as the page does (`executor.submit` with
CELERY_BROKER_URL set) is split into chunks that both workers take: the
job's row counts every image once, and its result gives images and seconds
per worker, adding up to the cohort. A cancel request stops a running job
(with --pool=solo Celery cannot terminate a task; the job's cancel flag,
read between items by every chunk, does). A chunk whose worker process is
killed mid-chunk (a prefork pool child, SIGKILL) is delivered again and the
job ends "done", every case counted once. Skipped, with the reason, when
Redis is not reachable.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.paths import REPO_ROOT
from tests.fakes_predictor import lesion_png, make_fake_bundle
from tests.polling import wait_for
from tests.processes import stop_all

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
    make_fake_bundle(models, name="fake3", version="3.0")
    env = {"LESIONLENS_HOME": str(tmp_path / "home"), "LESIONLENS_MODELS": str(models),
           "CELERY_BROKER_URL": REDIS_URL, "CACHE_REDIS_URL": REDIS_URL,
           "LESIONLENS_PREDICTOR_FACTORY": "tests.unit.test_jobs:SlowFake", "LESIONLENS_DECODE_ISOLATION": "thread"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    return env


def start_worker(env: dict, tmp_path: Path, name: str, pool: tuple[str, ...] = ("--pool=solo",)):
    log = tmp_path / f"celery-{name}.log"
    celery = Path(sys.executable).with_name("celery")
    process = subprocess.Popen([str(celery), "-A", "dashboard.jobs.celery_app", "worker", *pool,
                                "--loglevel=INFO", "--without-gossip", "--without-mingle", "-n", f"{name}@%h"],
                               cwd=REPO_ROOT, env={**os.environ, **env, "PYTHONPATH": str(REPO_ROOT)},
                               stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True)
    return process, log


def started_workers(env: dict, tmp_path: Path, names: tuple[str, ...], pool: tuple[str, ...] = ("--pool=solo",)):
    """Celery workers on a flushed Redis database and a migrated home, ready; stopped on exit."""
    import redis

    from dashboard.factory import create_app

    redis.Redis.from_url(REDIS_URL).flushdb()  # no tasks left over from an earlier run
    create_app()  # migrate the fresh home before the workers open it
    started = [start_worker(env, tmp_path, name, pool) for name in names]
    try:
        for process, log in started:
            wait_for(lambda p=process, f=log: "ready" in f.read_text() or p.poll() is not None, timeout=120)
            assert process.poll() is None, log.read_text()[-3000:]
        yield started
    finally:
        stop_all([process for process, _log in started])


@pytest.fixture
def workers(celery_env, tmp_path):
    yield from started_workers(celery_env, tmp_path, ("jobs-a", "jobs-b"))


@pytest.fixture
def prefork_worker(celery_env, tmp_path):
    """One worker with one prefork pool child: the child can be killed and the worker lives on."""
    yield from started_workers(celery_env, tmp_path, ("jobs-p",), ("--pool=prefork", "--concurrency=1"))


def wait_end(jobs, job_id: str, timeout: float = 240) -> dict:
    return wait_for(lambda: (lambda j: j if j["status"] not in ("queued", "running") else None)(jobs.get(job_id)),
                    timeout=timeout)


def rescoring_of(n: int):
    """(services, jobs, job id): `n` uploaded cases and a re-scoring of them with fake2, submitted as the Jobs
    page does."""
    from dashboard.factory import create_app
    from dashboard.jobs.executor import submit
    from dashboard.jobs.store import JobStore

    services = create_app().server.extensions["lesionlens"]
    for i in range(n):
        services.ingest.upload(lesion_png(100, 80, seed=i))
    jobs = JobStore(services.store.sessions)
    job_id = jobs.create("rescore", {"kind": "rescore", "model": "fake2", "filter": "", "limit": None}, "fake2",
                         owner="tester")
    assert submit(services.settings, job_id, "rescore").startswith("celery:")
    return services, jobs, job_id


def test_rescoring_spreads_over_two_workers_and_reports_each(workers, tmp_path):
    from dashboard.jobs.executor import submit

    services, jobs, job_id = rescoring_of(8)
    spec = jobs.get(job_id)["spec"]
    job = wait_end(jobs, job_id)
    assert job["status"] == "done" and job["done"] == job["total"] == 8, job
    result = job["result"]
    names = {w["worker"] for w in result["workers"]}
    assert len(names) == 2 and all(n.startswith(("jobs-a@", "jobs-b@")) for n in names), result["workers"]
    assert sum(w["images"] for w in result["workers"]) == 8 == result["items"]  # every image once
    assert sum(w["chunks"] for w in result["workers"]) == result["chunks"] >= 2
    for w in result["workers"]:
        assert w["seconds"] > 0 and w["images_per_s"] == pytest.approx(w["images"] / w["seconds"], rel=0.02)
    assert "images/s" in job["message"]
    assert all(services.store.has_prediction(c, "fake2", "2.0") for c in services.store.case_ids())
    for _process, log in workers:
        text = log.read_text()
        assert "dashboard.factory" not in text and "dash." not in text.replace("dashboard.", "")

    for i in range(8, 20):
        services.ingest.upload(lesion_png(100, 80, seed=i))
    job_id = jobs.create("rescore", {**spec, "model": "fake3"}, "fake3", owner="tester")
    submit(services.settings, job_id, "rescore")
    wait_for(lambda: jobs.get(job_id)["done"] >= 2, timeout=180)
    assert jobs.request_cancel(job_id)
    job = wait_end(jobs, job_id, timeout=120)
    assert job["status"] == "cancelled" and job["done"] < 20 and job["owner"] == "tester", job


def test_a_chunk_lost_with_its_worker_process_is_delivered_again(prefork_worker, tmp_path):
    import psutil

    services, jobs, job_id = rescoring_of(8)
    wait_for(lambda: jobs.get(job_id)["done"] >= 2, timeout=180)  # inside the first of two chunks of 4
    (process, log), = prefork_worker
    (child,) = psutil.Process(process.pid).children()
    child.kill()  # SIGKILL mid-chunk, as the OOM killer would; the worker forks a new child
    job = wait_end(jobs, job_id)
    assert job["status"] == "done" and job["done"] == job["total"] == 8 and job["failed"] == 0, job
    assert job["result"]["rerun_chunks"] == 1 and job["result"]["resumed"] >= 2, job["result"]
    assert "run again after their worker was lost" in job["message"]
    assert all(services.store.has_prediction(c, "fake2", "2.0") for c in services.store.case_ids())
    assert "WorkerLostError" in log.read_text()
