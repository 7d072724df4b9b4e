"""The Jobs page over HTTP, as Dash's renderer drives it (Flask test client, real DiskcacheManager).

Start: POST /_dash-update-component with the page load's signed `endId`
returns signed `cacheKey`/`job` handles; polling with them returns
`progress` (the bar and its label) until the `response` (the job's result)
arrives. Cancel: the renderer calls Dash's own cancel callback with
`cancelJob=<handle>`, which terminates the job's process tree, and the
page's Cancel callback sets the job's cancel flag.
"""

from __future__ import annotations

import json
import re
import time

import psutil
import pytest

from dashboard.jobs.store import JobStore
from dashboard.pages import jobs as jobs_page
from tests.auth_helpers import logged_in_client
from tests.fakes_predictor import fake_app, lesion_png, make_fake_bundle


@pytest.fixture
def app(tmp_path, monkeypatch):
    monkeypatch.setenv("LESIONLENS_PREDICTOR_FACTORY", "tests.unit.test_jobs:SlowFake")
    app = fake_app(tmp_path)
    make_fake_bundle(tmp_path / "models", name="fake2", version="2.0")
    return app


def end_id(client) -> str:
    html = client.get("/jobs").get_data(as_text=True)
    config = json.loads(re.search(r'<script id="_dash-config" type="application/json">(.*?)</script>', html,
                                  re.S).group(1))
    return config["end_id"]


def start_body(n_clicks: int = 1) -> dict:
    return {"output": f"{jobs_page.RESULT}.children", "outputs": {"id": jobs_page.RESULT, "property": "children"},
            "inputs": [{"id": jobs_page.START, "property": "n_clicks", "value": n_clicks}],
            "state": [{"id": jobs_page.KIND, "property": "value", "value": "rescore"},
                      {"id": jobs_page.MODEL, "property": "value", "value": "fake2"},
                      {"id": jobs_page.FILTER, "property": "value", "value": ""},
                      {"id": jobs_page.SOURCE, "property": "value", "value": ""},
                      {"id": jobs_page.LIMIT, "property": "value", "value": None}],
            "changedPropIds": [f"{jobs_page.START}.n_clicks"]}


def poll(client, end: str, handles: dict, until, timeout: float = 120.0) -> tuple[dict, list]:
    progress = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = client.post(f"/_dash-update-component?endId={end}&cacheKey={handles['cacheKey']}"
                               f"&job={handles['job']}", json=start_body())
        assert response.status_code in (200, 204), response.get_data(as_text=True)[:500]
        data = response.get_json(silent=True) or {}
        if data.get("progress"):
            progress.append(data["progress"])
        if until(data, progress):
            return data, progress
        time.sleep(0.3)
    raise TimeoutError(progress[-3:])


def test_start_progress_and_result_over_http(app):
    services = app.server.extensions["lesionlens"]
    for i in range(3):
        services.ingest.upload(lesion_png(100, 80, seed=i))
    client = logged_in_client(app, "clinician")
    end = end_id(client)
    first = client.post(f"/_dash-update-component?endId={end}", json=start_body())
    assert first.status_code == 200, first.get_data(as_text=True)[:500]
    handles = first.get_json()
    assert {"cacheKey", "job", "cancel"} <= set(handles)
    data, progress = poll(client, end, handles, lambda d, _p: "response" in d)
    result = json.dumps(data["response"])
    assert "finished 3 of 3" in result
    labels = [p.get(f"{jobs_page.PROGRESS}.label") for p in progress]
    assert any(label and "of 3" in label for label in labels), progress
    assert all(services.store.has_prediction(c, "fake2", "2.0") for c in services.store.case_ids())
    table = client.post("/_dash-update-component", json={
        "output": f"{jobs_page.TABLE}.children", "outputs": {"id": jobs_page.TABLE, "property": "children"},
        "inputs": [{"id": jobs_page.REFRESH, "property": "n_intervals", "value": 1},
                   {"id": jobs_page.RESULT, "property": "children", "value": None}],
        "changedPropIds": [f"{jobs_page.REFRESH}.n_intervals"], "state": []})
    assert table.status_code == 200 and "done" in table.get_data(as_text=True)


def test_cancel_over_http(app):
    services = app.server.extensions["lesionlens"]
    for i in range(12):
        services.ingest.upload(lesion_png(100, 80, seed=i))
    client = logged_in_client(app, "clinician")
    end = end_id(client)
    handles = client.post(f"/_dash-update-component?endId={end}", json=start_body()).get_json()

    def two_done(_data, progress):
        job_id = progress and progress[-1].get(f"{jobs_page.CURRENT}.data")
        job = job_id and JobStore(services.store.sessions).get(job_id)
        return bool(job and job["done"] >= 2)

    _data, progress = poll(client, end, handles, two_done)
    job_id = progress[-1][f"{jobs_page.CURRENT}.data"]
    runners = [p for p in psutil.process_iter(["cmdline"])
               if p.info["cmdline"] and "dashboard.jobs.runner" in p.info["cmdline"] and job_id in p.info["cmdline"]]
    assert runners
    # the two callbacks the renderer fires on a Cancel click
    cancel_dash = client.post(f"/_dash-update-component?endId={end}&cancelJob={handles['job']}", json={
        "output": f"{jobs_page.CANCEL}.id", "outputs": {"id": jobs_page.CANCEL, "property": "id"},
        "inputs": [{"id": jobs_page.CANCEL, "property": "n_clicks", "value": 1}],
        "changedPropIds": [f"{jobs_page.CANCEL}.n_clicks"], "state": []})
    assert cancel_dash.status_code in (200, 204)
    cancel_flag = client.post("/_dash-update-component", json={
        "output": f"{jobs_page.CANCEL_STATUS}.children",
        "outputs": {"id": jobs_page.CANCEL_STATUS, "property": "children"},
        "inputs": [{"id": jobs_page.CANCEL, "property": "n_clicks", "value": 1}],
        "state": [{"id": jobs_page.CURRENT, "property": "data", "value": job_id}],
        "changedPropIds": [f"{jobs_page.CANCEL}.n_clicks"]})
    assert "Cancel requested" in cancel_flag.get_data(as_text=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in runners):
        time.sleep(0.2)
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in runners)
    job = JobStore(services.store.sessions).get(job_id)
    assert job["cancel_requested"] and job["done"] < 12
