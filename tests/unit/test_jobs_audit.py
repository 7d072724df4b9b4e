"""Issue 15.3: every job start and cancel is audited however the callback request is phrased; jobs carry
their owner; only the owner or an admin cancels."""

from __future__ import annotations

import json

import pytest

from dashboard.jobs.store import JobStore
from dashboard.pages import jobs as jobs_page
from tests.auth_helpers import logged_in_client
from tests.fakes_predictor import lesion_png
from tests.unit.test_jobs_http import ended, follow, jobs_app, start, start_body


@pytest.fixture
def app(tmp_path, monkeypatch):
    return jobs_app(tmp_path, monkeypatch)


def audit_rows(app, action):
    from dashboard.auth.audit_log import AuditFilter

    rows, _total = app.server.extensions["lesionlens_auth"].audit.page(AuditFilter(action=action), 0, 100)
    return rows


def cancel(client, job_id, changed=True):
    return client.post("/_dash-update-component", json={
        "output": f"{jobs_page.CANCEL_STATUS}.children",
        "outputs": {"id": jobs_page.CANCEL_STATUS, "property": "children"},
        "inputs": [{"id": jobs_page.CANCEL, "property": "n_clicks", "value": 1}],
        "state": [{"id": jobs_page.CURRENT, "property": "data", "value": job_id}],
        "changedPropIds": [f"{jobs_page.CANCEL}.n_clicks"] if changed else []})


def test_a_start_phrased_without_trigger_is_audited_with_its_owner(app):
    services = app.server.extensions["lesionlens"]
    services.ingest.upload(lesion_png(100, 80, seed=1))
    client = logged_in_client(app, "clinician")
    job_id = start(client, changed=False)  # replayed without the trigger
    follow(client, job_id, ended)
    jobs = JobStore(services.store.sessions).recent()
    assert len(jobs) == 1 and jobs[0]["owner"] == client.user.username
    started = audit_rows(app, "job.start")
    assert [(r["actor"], r["target"]) for r in started] == [(client.user.username, jobs[0]["id"])]
    assert json.loads(started[0]["detail"])["kind"] == "rescore"


def test_only_the_owner_or_an_admin_cancels(app):
    services = app.server.extensions["lesionlens"]
    owner, other = logged_in_client(app, "clinician"), logged_in_client(app, "clinician")
    admin = logged_in_client(app, "admin")
    jobs = JobStore(services.store.sessions)
    mine = jobs.create("rescore", {"kind": "rescore"}, "fake", owner=owner.user.username)
    refused = cancel(other, mine)
    assert refused.status_code == 200 and "started by someone else" in refused.get_data(as_text=True)
    assert not jobs.get(mine)["cancel_requested"]
    assert [r["actor"] for r in audit_rows(app, "access.denied")] == [other.user.username]
    assert "Cancel requested" in cancel(owner, mine, changed=False).get_data(as_text=True)  # no trigger named
    assert jobs.get(mine)["cancel_requested"]
    theirs = jobs.create("rescore", {"kind": "rescore"}, "fake", owner=other.user.username)
    assert "Cancel requested" in cancel(admin, theirs).get_data(as_text=True)
    cancelled = audit_rows(app, "job.cancel")
    assert sorted((r["actor"], r["target"]) for r in cancelled) == sorted(
        [(owner.user.username, mine), (admin.user.username, theirs)])
    ownerless = jobs.create("rescore", {"kind": "rescore"}, "fake")  # from before owners were recorded
    assert "started by someone else" in cancel(owner, ownerless).get_data(as_text=True)


def test_a_start_without_a_live_session_or_by_a_viewer_starts_nothing(app):
    for client in (app.server.test_client(), logged_in_client(app, "viewer")):
        response = client.post("/_dash-update-component", json=start_body())
        assert response.status_code in (204, 302, 401, 403), response.status_code
    assert JobStore(app.server.extensions["lesionlens"].store.sessions).recent() == []
    assert audit_rows(app, "job.start") == []
