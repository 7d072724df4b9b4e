"""Issue 15.7: two app servers (gunicorn on two ports) on one PostgreSQL, one Redis and one shared case
folder, plus a Celery worker. A case uploaded through node A is listed, viewed and exported through node B;
a review saved on B shows on A; a job started on B runs on the Celery worker and is listed on A; killing
node A (kill -9 of its whole process group) in the middle of uploads loses no acknowledged case."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from pipeline.paths import REPO_ROOT
from tests.browser.support import Gunicorn, server_env, tiny_models_dir
from tests.fakes_predictor import lesion_png
from tests.postgres import postgres_schema

pytestmark = [pytest.mark.services, pytest.mark.slow]
REDIS_CACHE, REDIS_BROKER = "redis://127.0.0.1:6379/12", "redis://127.0.0.1:6379/11"
PASSWORD = "two-nodes-test-pass-31"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    redis = pytest.importorskip("redis")
    try:
        for url in (REDIS_CACHE, REDIS_BROKER):
            redis.Redis.from_url(url, socket_connect_timeout=1).flushdb()
    except redis.exceptions.ConnectionError as exc:
        pytest.skip(f"Redis not reachable: {exc}")
    with postgres_schema("ll_nodes") as database_url:
        yield from _cluster(tmp_path_factory, database_url)


def _cluster(tmp_path_factory, database_url: str):
    root = tmp_path_factory.mktemp("two-nodes")
    shared = root / "shared-home"  # the one case folder both nodes (and the worker) mount
    env = server_env(shared, tiny_models_dir(), DATABASE_URL=database_url,
                     CACHE_REDIS_URL=REDIS_CACHE, CELERY_BROKER_URL=REDIS_BROKER, SECRET_KEY="one-secret-all-nodes",
                     LESIONLENS_PREDICT_RATE="1000/minute", LESIONLENS_MODEL="tiny")
    processes = []
    try:
        # the release step (ensure-admin: migrate the shared schema) and the accounts, in this process (the CLI
        # does the same through the same code, at a few seconds of interpreter start-up per command)
        from dashboard.auth import build_auth
        from dashboard.settings import Settings

        auth = build_auth(Settings(home=shared, database_url=env["DATABASE_URL"], secret_key=env["SECRET_KEY"]))
        auth.store.add("cleo", "clinician", PASSWORD)
        auth.store.add("target", "viewer", PASSWORD)  # the account 40 parallel wrong passwords aim at
        token = {"Authorization": f"Bearer {auth.store.create_token('cleo', 'tests')[1]}"}
        node_env = {**env, "LESIONLENS_MIGRATE": "verify"}
        nodes = {}
        for name in ("a", "b"):
            nodes[name] = Gunicorn(node_env, workers=1, threads=4, log=root / f"node-{name}.log")
            processes.append(nodes[name])
        celery = subprocess.Popen([str(Path(sys.executable).with_name("celery")), "-A", "dashboard.jobs.celery_app",
                                   "worker", "--pool=solo", "--concurrency=1", "--without-gossip",
                                   "--without-mingle", "--without-heartbeat"], cwd=REPO_ROOT, env=node_env,
                                  stdout=open(root / "celery.log", "w"), stderr=subprocess.STDOUT,
                                  start_new_session=True)
        for node in nodes.values():
            node.wait_ready(timeout=300)
        yield {"a": nodes["a"], "b": nodes["b"], "token": token, "env": env, "root": root, "celery": celery}
    finally:
        for node in processes:
            try:
                node.stop()
            except (ProcessLookupError, OSError):
                pass
        if "celery" in locals() and celery.poll() is None:
            os.killpg(celery.pid, signal.SIGTERM)
            celery.wait(60)


def sign_in(url: str) -> requests.Session:
    session = requests.Session()
    session.get(url + "/login", timeout=30)
    response = session.post(url + "/login", timeout=60, allow_redirects=False, data={
        "username": "cleo", "password": PASSWORD, "csrf_token": session.cookies["ll_csrf"]})
    assert response.status_code == 303, response.text[:300]
    session.headers["X-CSRFToken"] = session.cookies["ll_csrf"]
    return session


def callback_key(session: requests.Session, url: str, output: str) -> str:
    deps = session.get(url + "/_dash-dependencies", timeout=30).json()
    return next(d["output"] for d in deps if re.search(rf"(^|\.\.\.|\.\.){re.escape(output)}\.", d["output"]))


def upload(node, token, seed: int, timeout: float = 300, size=(160, 120)):
    return requests.post(f"{node.url}/api/v1/predict", headers=token, timeout=timeout,
                         files={"file": ("scan.png", lesion_png(*size, seed=seed))})


def test_a_case_from_node_a_on_node_b_and_a_review_from_b_on_a(cluster):
    a, b, token = cluster["a"], cluster["b"], cluster["token"]
    uploaded = upload(a, token, seed=1)
    assert uploaded.status_code == 200, uploaded.text[:300]
    case_id = uploaded.json()["case_id"]
    on_b = requests.get(f"{b.url}/api/v1/cases/{case_id}", headers=token, timeout=60)
    assert on_b.status_code == 200 and on_b.json()["predictions"][0]["model"]["name"] == "tiny"
    browser = sign_in(b.url)
    assert case_id in browser.get(f"{b.url}/export/cohort.csv", timeout=60).text  # listed
    display = browser.get(f"{b.url}/files/{case_id}/display.png", timeout=60)
    assert display.status_code == 200 and display.content.startswith(b"\x89PNG")  # viewed (the shared folder)
    exported = browser.get(f"{b.url}/export/case/{case_id}.json", timeout=60)
    assert exported.status_code == 200 and case_id in exported.text  # exported
    key = callback_key(browser, b.url, "review-status")
    parts = key[2:-2].split("...")
    review = browser.post(f"{b.url}/_dash-update-component", timeout=60, json={
        "output": key, "outputs": [{"id": p.rsplit(".", 1)[0], "property": p.rsplit(".", 1)[1]} for p in parts],
        "inputs": [{"id": "review-save", "property": "n_clicks", "value": 1}],
        "state": [{"id": "case-id", "property": "data", "value": case_id},
                  {"id": "review-agree", "property": "value", "value": "disagree"},
                  {"id": "review-label", "property": "value", "value": "benign"},
                  {"id": "review-note", "property": "value", "value": "seen on node b"},
                  {"id": "review-user", "property": "value", "value": "cleo"}],
        "changedPropIds": ["review-save.n_clicks"]})
    assert review.status_code == 200, review.text[:300]
    on_a = requests.get(f"{a.url}/api/v1/cases/{case_id}", headers=token, timeout=60).json()
    assert [(r["note"], r["corrected_label"]) for r in on_a["reviews"]] == [("seen on node b", "benign")]


def test_a_job_started_on_node_b_runs_on_the_celery_worker_and_shows_on_a(cluster):
    from tests.unit.test_jobs_http import follow, start_body

    a, b = cluster["a"], cluster["b"]
    assert upload(a, cluster["token"], seed=5).status_code == 200  # at least one case to re-score
    browser = sign_in(b.url)
    browser.get(f"{b.url}/jobs", timeout=60)
    body = start_body(model="tiny")
    started = browser.post(f"{b.url}/_dash-update-component", json=body, timeout=60)
    assert started.status_code == 200, started.text[:300]
    job_id = started.json()["response"]["jobs-current"]["data"]
    on_a = sign_in(a.url)

    class Client:  # the page's poll, answered by node A (any node reads the job's row)
        @staticmethod
        def post(path, **kwargs):
            response = on_a.post(a.url + path, timeout=60, **kwargs)
            response.get_json = response.json  # the Flask test client's name
            return response

    last, _ticks = follow(Client, job_id, lambda tick, _t: tick["jobs-poll"]["disabled"], timeout=300)
    assert ": done" in str(last["jobs-result"]["children"]) and "celery@" in str(last["jobs-result"]["children"])
    table = on_a.post(f"{a.url}/_dash-update-component", timeout=60, json={
        "output": "jobs-table.children", "outputs": {"id": "jobs-table", "property": "children"},
        "inputs": [{"id": "jobs-refresh", "property": "n_intervals", "value": 1},
                   {"id": "jobs-result", "property": "children", "value": None}],
        "state": [], "changedPropIds": ["jobs-refresh.n_intervals"]})
    assert table.status_code == 200 and "done" in table.text and "rescore" in table.text


def test_parallel_wrong_passwords_across_both_nodes_get_at_most_five_checks(cluster):
    """Each checked attempt leaves a login.failed audit row, each refused one login.locked."""
    a, b = cluster["a"], cluster["b"]

    def attempt(url):
        session = requests.Session()
        session.get(url + "/login", timeout=60)
        return session.post(url + "/login", allow_redirects=False, timeout=120, data={
            "username": "target", "password": "wrong-password-42", "csrf_token": session.cookies["ll_csrf"]}).status_code

    with ThreadPoolExecutor(40) as pool:
        statuses = list(pool.map(attempt, [a.url, b.url] * 20))
    from sqlalchemy import create_engine, text

    from dashboard.store.db import normalize_url

    engine = create_engine(normalize_url(cluster["env"]["DATABASE_URL"]))
    with engine.connect() as connection:
        checked = connection.execute(text("SELECT count(*) FROM ll_audit WHERE action = 'login.failed' "
                                          "AND target = 'target'")).scalar()
    engine.dispose()
    assert 1 <= checked <= 5 and statuses.count(401) == checked and statuses.count(429) == 40 - checked, statuses


def test_killing_node_a_mid_upload_loses_no_acknowledged_case(cluster):
    a, b, token = cluster["a"], cluster["b"], cluster["token"]
    total = 64
    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(upload, a, token, 100 + i, 120, (640, 480)) for i in range(total)]
        deadline = time.monotonic() + 120
        while sum(f.done() for f in futures) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.killpg(a.process.pid, signal.SIGKILL)  # the whole node: master and worker, mid-stream
        answers = []
        for future in futures:
            try:
                answers.append(future.result())
            except requests.RequestException:
                answers.append(None)
    acknowledged = [r.json()["case_id"] for r in answers if r is not None and r.status_code == 200]
    assert acknowledged and len(acknowledged) < total, len(acknowledged)  # the kill really came mid-stream
    from dashboard.store.cases import CaseStore

    env = cluster["env"]
    store = CaseStore(env["DATABASE_URL"], Path(env["LESIONLENS_HOME"]) / "store", schema="none")
    try:
        for case_id in acknowledged:
            assert requests.get(f"{b.url}/api/v1/cases/{case_id}", headers=token, timeout=60).status_code == 200
        problems = {c: store.check_case(c) for c in store.case_ids() if store.check_case(c) is not None}
        assert problems == {}  # every listed case is whole; what was cut off is absent
    finally:
        store.engine.dispose()
    assert upload(b, token, seed=999).status_code == 200  # node B serves on
