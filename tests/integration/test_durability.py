"""Nothing acknowledged is lost: parallel uploads through gunicorn while a worker is killed with SIGKILL.

gunicorn runs 3 workers on a fresh home (schema migrated once by
`ensure-admin`, workers only verify it: LESIONLENS_MIGRATE=verify). 40
uploads go to POST /api/v1/predict from 8 threads; after the first few
answers one worker is killed with `kill -9` mid-stream and gunicorn respawns
it. Then the whole server is restarted. Every acknowledged upload (2xx with
a case id) must be present after the restart, listed exactly once, with its
image files intact (sha256 of pixels.npy = the row's image_sha256, row
sha256 = the uploaded file's). An unacknowledged upload may be absent, but
never half-present: every row has its files, and a folder without a row is
only ever a crash leftover that the sweep removes.

Run once on SQLite and once on PostgreSQL (marker `services`, a throwaway schema).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.browser.support import Gunicorn, run_cli, server_env, tiny_models_dir
from tests.fakes_predictor import lesion_png
from tests.postgres import postgres_schema

pytestmark = pytest.mark.slow
UPLOADS = 40
CLIENT_THREADS = 8
KILL_AFTER = 6  # answers received before a worker is killed
PASSWORD = "durability-test-pass-1"


def api_headers(env: dict[str, str], role: str = "clinician") -> dict[str, str]:
    """A Bearer token of a new `role` user made directly in the database (the app's own account code)."""
    try:
        from dashboard.auth import build_auth
    except ImportError:  # a build without accounts: the API is open
        return {}
    from dashboard.settings import Settings

    settings = Settings(home=Path(env["LESIONLENS_HOME"]), database_url=env.get("DATABASE_URL", ""))
    auth = build_auth(settings)
    name = f"uploader{secrets.token_hex(3)}"
    auth.store.add(name, role, PASSWORD)
    return {"Authorization": f"Bearer {auth.store.create_token(name, 'tests')[1]}"}


def start(env: dict[str, str], home: Path, workers: int, tag: str) -> Gunicorn:
    server = Gunicorn(env, workers=workers, threads=2, log=home / f"gunicorn-{tag}.log")
    server.wait_ready(timeout=120)
    return server


def upload(server: Gunicorn, headers: dict, index: int, data: bytes) -> dict:
    outcome = {"index": index, "sha256": hashlib.sha256(data).hexdigest(), "status": None, "case_id": None}
    try:
        response = requests.post(f"{server.url}/api/v1/predict", files={"file": (f"{index}.png", data)},
                                 headers=headers, timeout=180)
        outcome["status"] = response.status_code
        if response.ok:
            outcome["case_id"] = response.json()["case_id"]
    except requests.RequestException as exc:  # the killed worker's connections
        outcome["error"] = type(exc).__name__
    return outcome


def run_durability(tmp_path: Path, database_url: str = "") -> dict:
    home = tmp_path / "home"
    extra = {"LESIONLENS_MIGRATE": "verify"}
    if database_url:
        extra["DATABASE_URL"] = database_url
    env = server_env(home, tiny_models_dir(), **extra)
    setup = run_cli(["ensure-admin"], env, timeout=300)
    assert setup.returncode == 0, setup.stderr[-2000:]
    headers = api_headers(env)
    images = [lesion_png(360, 280, seed=1000 + i) for i in range(UPLOADS)]

    server = start(env, home, workers=3, tag="first")
    killed: dict = {}
    answered = threading.Semaphore(0)

    def killer():
        for _ in range(KILL_AFTER):
            answered.acquire(timeout=300)
        victim = server.worker_pids()[0]
        os.kill(victim, signal.SIGKILL)
        killed["pid"] = victim
        killed["at"] = time.monotonic()

    def send(index):
        outcome = upload(server, headers, index, images[index])
        answered.release()
        return outcome

    try:
        thread = threading.Thread(target=killer, daemon=True)
        thread.start()
        with ThreadPoolExecutor(CLIENT_THREADS) as pool:
            outcomes = list(pool.map(send, range(UPLOADS)))
        thread.join(10)
        assert "pid" in killed, "the worker was never killed"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (len(server.worker_pids()) < 3 or killed["pid"] in server.worker_pids()):
            time.sleep(0.5)
        assert len(server.worker_pids()) == 3 and killed["pid"] not in server.worker_pids()  # respawned
    finally:
        server.stop()

    server = start(env, home, workers=2, tag="restart")
    try:
        acknowledged = [o for o in outcomes if o["case_id"]]
        for outcome in acknowledged:
            response = requests.get(f"{server.url}/api/v1/cases/{outcome['case_id']}", headers=headers, timeout=30)
            assert response.status_code == 200, outcome
            assert response.json()["predictions"], outcome  # the acknowledged prediction too
    finally:
        server.stop()

    from dashboard.store.cases import CaseStore
    from dashboard.store.tables import CaseRow
    from sqlalchemy import func, select

    store = CaseStore(database_url or f"sqlite:///{home / 'lesionlens.sqlite3'}", home / "store", schema="verify")
    try:
        with store.sessions() as session:
            rows = {row.id: row.sha256 for row in session.scalars(select(CaseRow))}
            by_sha = dict(session.execute(select(CaseRow.sha256, func.count()).group_by(CaseRow.sha256)).all())
        for outcome in acknowledged:
            assert rows.get(outcome["case_id"]) == outcome["sha256"], outcome
            assert by_sha[outcome["sha256"]] == 1, outcome  # listed exactly once
        unacknowledged = [o for o in outcomes if not o["case_id"]]
        for outcome in unacknowledged:
            assert by_sha.get(outcome["sha256"], 0) <= 1, outcome
        problems = {case_id: store.check_case(case_id) for case_id in rows}
        assert {k: v for k, v in problems.items() if v} == {}  # every row has intact files
        swept = store.sweep(min_age_s=0)
        assert set(store.files.case_ids()) == set(rows)  # after the sweep: no folder without a row
    finally:
        store.engine.dispose()
    return {"acknowledged": len(acknowledged), "unacknowledged": len(unacknowledged), "swept": swept,
            "errors": sorted({o.get("error") or str(o["status"]) for o in unacknowledged})}


def test_durability_sqlite(tmp_path, capsys):
    summary = run_durability(tmp_path)
    with capsys.disabled():
        print(f"\ndurability (SQLite): {summary}")
    assert summary["acknowledged"] >= UPLOADS - 2 * CLIENT_THREADS  # most were answered despite the kill


@pytest.mark.services
def test_durability_postgres(tmp_path, capsys):
    with postgres_schema("ll_dur") as url:
        summary = run_durability(tmp_path, url)
    with capsys.disabled():
        print(f"\ndurability (PostgreSQL): {summary}")
    assert summary["acknowledged"] >= UPLOADS - 2 * CLIENT_THREADS
