"""The Jobs page over HTTP, as Dash's renderer drives it (Flask test client, local executor).

Start: POST /_dash-update-component for the Start callback returns the new
job's id (kept in the page's store) and no notice; the follow callback,
polled with that id as the renderer's interval does, returns the bar and its
label until the job ends, then its result (with images per second per
worker) and turns polling off. Cancel: the page's Cancel callback sets the
job's cancel flag, which stops the runner process between items.
"""

from __future__ import annotations

import time

import psutil
import pytest

from dashboard.jobs.store import JobStore
from dashboard.pages import jobs as jobs_page
from tests.auth_helpers import logged_in_client
from tests.fakes_predictor import fake_app, lesion_png, make_fake_bundle
from tests.unit.test_jobs import runner_processes


def jobs_app(tmp_path, monkeypatch):
    """An app whose predictor is slow enough to watch a job move, with a second bundle to re-score with."""
    monkeypatch.setenv("LESIONLENS_PREDICTOR_FACTORY", "tests.unit.test_jobs:SlowFake")
    app = fake_app(tmp_path)
    make_fake_bundle(tmp_path / "models", name="fake2", version="2.0")
    return app


@pytest.fixture
def app(tmp_path, monkeypatch):
    return jobs_app(tmp_path, monkeypatch)


def outputs(*ids: tuple[str, str]) -> dict:
    return {"output": "..." .join(f"{i}.{p}" for i, p in ids).join(("..", "..")),
            "outputs": [{"id": i, "property": p} for i, p in ids]}


def start_body(model: str = "fake2", changed: bool = True) -> dict:
    return {**outputs((jobs_page.CURRENT, "data"), (jobs_page.NOTICE, "children")),
            "inputs": [{"id": jobs_page.START, "property": "n_clicks", "value": 1}],
            "state": [{"id": jobs_page.KIND, "property": "value", "value": "rescore"},
                      {"id": jobs_page.MODEL, "property": "value", "value": model},
                      {"id": jobs_page.FILTER, "property": "value", "value": ""},
                      {"id": jobs_page.SOURCE, "property": "value", "value": ""},
                      {"id": jobs_page.LIMIT, "property": "value", "value": None}],
            "changedPropIds": [f"{jobs_page.START}.n_clicks"] if changed else []}


def start(client, **kwargs) -> str:
    """The Start click; returns the job id the page keeps."""
    response = client.post("/_dash-update-component", json=start_body(**kwargs))
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return response.get_json()["response"][jobs_page.CURRENT]["data"]


def start_on_cases(app, n_cases: int) -> tuple:
    """`n_cases` lesion images uploaded, then Start clicked by a clinician: (their client, the job id)."""
    services = app.server.extensions["lesionlens"]
    for i in range(n_cases):
        services.ingest.upload(lesion_png(100, 80, seed=i))
    client = logged_in_client(app, "clinician")
    return client, start(client)


def follow_once(client, job_id: str) -> dict:
    """One tick of the page's poll: {component id: {property: value}}."""
    response = client.post("/_dash-update-component", json={
        **outputs((jobs_page.PROGRESS, "value"), (jobs_page.PROGRESS, "label"), (jobs_page.START, "disabled"),
                  (jobs_page.CANCEL, "disabled"), (jobs_page.RESULT, "children"), (jobs_page.POLL, "disabled")),
        "inputs": [{"id": jobs_page.POLL, "property": "n_intervals", "value": 1},
                   {"id": jobs_page.CURRENT, "property": "data", "value": job_id}],
        "changedPropIds": [f"{jobs_page.POLL}.n_intervals"], "state": []})
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return response.get_json()["response"]


def follow(client, job_id: str, until, timeout: float = 120.0) -> tuple[dict, list]:
    """Poll like the page until `until(tick, ticks)`; returns the last tick and all of them."""
    ticks = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ticks.append(follow_once(client, job_id))
        if until(ticks[-1], ticks):
            return ticks[-1], ticks
        time.sleep(0.3)
    raise TimeoutError(ticks[-3:])


def ended(tick, _ticks) -> bool:
    return bool(tick[jobs_page.POLL]["disabled"])


def test_start_progress_and_result_over_http(app):
    client, job_id = start_on_cases(app, 3)
    services = app.server.extensions["lesionlens"]
    last, ticks = follow(client, job_id, ended)
    result = str(last[jobs_page.RESULT]["children"])
    assert "finished 3 of 3" in result and "ll-job-workers" in result and "local@" in result
    labels = [t[jobs_page.PROGRESS]["label"] for t in ticks[:-1]]
    assert any("of 3" in label for label in labels), ticks
    assert all(t[jobs_page.START]["disabled"] and not t[jobs_page.CANCEL]["disabled"] for t in ticks[:-1])
    assert not last[jobs_page.START]["disabled"] and last[jobs_page.CANCEL]["disabled"]
    assert all(services.store.has_prediction(c, "fake2", "2.0") for c in services.store.case_ids())
    table = client.post("/_dash-update-component", json={
        "output": f"{jobs_page.TABLE}.children", "outputs": {"id": jobs_page.TABLE, "property": "children"},
        "inputs": [{"id": jobs_page.REFRESH, "property": "n_intervals", "value": 1},
                   {"id": jobs_page.RESULT, "property": "children", "value": None}],
        "changedPropIds": [f"{jobs_page.REFRESH}.n_intervals"], "state": []})
    assert table.status_code == 200 and "done" in table.get_data(as_text=True)
    assert "local@" in table.get_data(as_text=True)  # images per second per worker


def test_an_invalid_form_starts_nothing_and_says_why(app):
    client = logged_in_client(app, "clinician")
    response = client.post("/_dash-update-component", json=start_body(model="missing"))
    assert "not a valid bundle" in response.get_data(as_text=True)
    assert JobStore(app.server.extensions["lesionlens"].store.sessions).recent() == []


def test_cancel_over_http(app):
    client, job_id = start_on_cases(app, 12)
    services = app.server.extensions["lesionlens"]
    jobs = JobStore(services.store.sessions)
    follow(client, job_id, lambda _t, _ts: jobs.get(job_id)["done"] >= 2)
    runners = runner_processes(job_id)
    assert runners
    cancel_flag = client.post("/_dash-update-component", json={
        "output": f"{jobs_page.CANCEL_STATUS}.children",
        "outputs": {"id": jobs_page.CANCEL_STATUS, "property": "children"},
        "inputs": [{"id": jobs_page.CANCEL, "property": "n_clicks", "value": 1}],
        "state": [{"id": jobs_page.CURRENT, "property": "data", "value": job_id}],
        "changedPropIds": [f"{jobs_page.CANCEL}.n_clicks"]})
    assert "Cancel requested" in cancel_flag.get_data(as_text=True)
    last, _ticks = follow(client, job_id, ended, timeout=20)
    assert "cancelled" in str(last[jobs_page.RESULT]["children"])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in runners):
        time.sleep(0.2)
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in runners)
    job = jobs.get(job_id)
    assert job["cancel_requested"] and job["status"] == "cancelled" and job["done"] < 12
