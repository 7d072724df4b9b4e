"""Jobs: the job function on a tiny cohort (fake predictor), and the DiskcacheManager path end to end.

The pure part runs `run_job` in this process: re-scoring a cohort with a
second model, batch inference of a server folder (bad files counted, file
names never recorded, re-running stores nothing twice), paths outside the
allowed folders refused, and cancel between items. The background part
drives the page's real background callback through Dash's DiskcacheManager
exactly as the renderer does (call_job_fn, get_progress, result_ready,
get_result, terminate_job): the callback starts a runner process, progress
is reported, and cancel stops the runner.
"""

from __future__ import annotations

import time
from pathlib import Path

import psutil
import pytest

from dashboard.jobs.core import JobError, run_job, validate_spec
from dashboard.jobs.store import JobStore
from tests.fakes_predictor import FakePredictor, fake_app, lesion_png, make_fake_bundle
from tests.polling import wait_for

SLOW_S = 0.4


class SlowFake(FakePredictor):
    """The fake model, slow enough to watch progress and cancel a job in the middle."""

    def predict(self, record, metadata=None):
        time.sleep(SLOW_S)
        return super().predict(record, metadata)


@pytest.fixture
def app(tmp_path):
    app = fake_app(tmp_path)
    make_fake_bundle(tmp_path / "models", name="fake2", version="2.0")
    return app


@pytest.fixture
def services(app):
    return app.server.extensions["lesionlens"]


def add_cases(services, n: int) -> list[str]:
    return [services.ingest.upload(lesion_png(120, 100, seed=i)) for i in range(n)]


def test_rescore_a_cohort_with_another_model(services):
    case_ids = add_cases(services, 4)
    jobs = JobStore(services.store.sessions)
    spec = validate_spec({"kind": "rescore", "model": "fake2", "filter": ""}, services.settings, services.models)
    job_id = jobs.create(spec["kind"], spec, spec["model"])
    seen = []
    summary = run_job(services, jobs, job_id, spec, on_item=lambda done, failed, total: seen.append((done, total)))
    assert summary["status"] == "done" and summary["done"] == 4 and summary["failed"] == 0
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert all(services.store.has_prediction(c, "fake2", "2.0") for c in case_ids)
    job = jobs.get(job_id)
    assert job["status"] == "done" and (job["done"], job["total"]) == (4, 4) and "finished 4 of 4" in job["message"]
    again = jobs.create(spec["kind"], spec, spec["model"])
    assert run_job(services, jobs, again, spec)["predicted_by_model"] == 0  # already scored: kept


def test_rescore_filter_and_limit(services):
    add_cases(services, 3)
    spec = validate_spec({"kind": "rescore", "model": "fake2", "filter": "age=40-50", "limit": "2"},
                         services.settings, services.models)
    assert spec["filter"] == "?age=40-50" and spec["limit"] == 2
    jobs = JobStore(services.store.sessions)
    assert run_job(services, jobs, jobs.create("rescore", spec, "fake2"), spec)["items"] == 0  # no ages stored
    spec = {**spec, "filter": ""}
    assert run_job(services, jobs, jobs.create("rescore", spec, "fake2"), spec)["items"] == 2


def test_batch_folder_counts_bad_files_and_never_records_names(services):
    folder = services.settings.home / "imports" / "clinic-a"
    (folder / "sub").mkdir(parents=True)
    for i in range(3):
        (folder / f"DOE^JANE-{i}.png").write_bytes(lesion_png(90, 70, seed=10 + i))
    (folder / "sub" / "SMITH^JOHN.dcm").write_bytes(b"not an image at all")
    (folder / ".hidden.png").write_bytes(lesion_png(90, 70, seed=99))
    jobs = JobStore(services.store.sessions)
    spec = validate_spec({"kind": "batch", "model": "fake", "source": "folder:clinic-a"}, services.settings,
                         services.models)
    summary = run_job(services, jobs, jobs.create("batch", spec, "fake"), spec)
    assert (summary["items"], summary["failed"], summary["predicted_by_model"]) == (4, 1, 3)
    assert summary["errors"][0][0].startswith("item ") and "not a supported image" in summary["errors"][0][1]
    assert "DOE" not in str(jobs.recent()) and "SMITH" not in str(jobs.recent())
    assert services.store.count() == 3
    summary = run_job(services, jobs, jobs.create("batch", spec, "fake"), spec)  # idempotent
    assert services.store.count() == 3 and summary["predicted_by_model"] == 0
    with services.store.sessions() as session:
        from sqlalchemy import select

        from dashboard.store.tables import CaseRow

        keys = list(session.scalars(select(CaseRow.source_case_id)))
    assert all("DOE" not in key and len(key) == 24 for key in keys)  # hashed relative paths


def test_specs_are_validated(services, tmp_path):
    settings, models = services.settings, services.models
    for raw, message in [
        ({"kind": "nope"}, "job kind"),
        ({"kind": "rescore", "model": "missing"}, "not a valid bundle"),
        ({"kind": "rescore", "limit": "x"}, "whole number"),
        ({"kind": "batch", "source": f"folder:{tmp_path}"}, "outside the folders"),
        ({"kind": "batch", "source": "folder:../../etc"}, "outside the folders"),
        ({"kind": "batch", "source": "busi:/etc"}, "outside the folders"),
        ({"kind": "batch", "source": "folder:missing"}, "does not exist"),
        ({"kind": "batch", "source": "/etc/passwd"}, "source must be"),
    ]:
        with pytest.raises(JobError, match=message):
            validate_spec(raw, settings, models)
    assert validate_spec({"kind": "batch", "source": "synthetic:4:1"}, settings, models)["source"] == "synthetic:4:1"


def test_cancel_between_items(services):
    add_cases(services, 5)
    jobs = JobStore(services.store.sessions)
    spec = validate_spec({"kind": "rescore", "model": "fake2"}, services.settings, services.models)
    job_id = jobs.create("rescore", spec, "fake2")

    def cancel_after_two(done, failed, total):
        if done == 2:
            jobs.request_cancel(job_id)

    summary = run_job(services, jobs, job_id, spec, on_item=cancel_after_two)
    assert summary["status"] == "cancelled" and summary["done"] == 2
    assert jobs.get(job_id)["status"] == "cancelled"


# --------------------------------------------------------------------------- DiskcacheManager, end to end
def background(app):
    info = app.server.extensions["lesionlens_jobs"]
    manager = info["manager"]
    return manager, manager.func_registry[info["key"]]


def signed_in_context(app, role: str = "clinician") -> dict:
    """What Dash hands a background callback: the request's cookies (the job's owner is their session's user)."""
    from tests.auth_helpers import add_user, auth_of

    user = add_user(app, role)
    return {"cookies": {"ll_session": auth_of(app).store.create_session(user, "127.0.0.1")}, "remote": "127.0.0.1"}


def start_job(app, key: str, args: list):
    manager, job_fn = background(app)
    return manager, manager.call_job_fn(key, job_fn, args, signed_in_context(app))


def test_diskcache_background_job_reports_progress_and_finishes(app, services, monkeypatch):
    monkeypatch.setenv("LESIONLENS_PREDICTOR_FACTORY", "tests.unit.test_jobs:SlowFake")
    add_cases(services, 4)
    manager, pid = start_job(app, "test-progress", [1, "rescore", "fake2", "", "", None])
    progress = []

    def finished():
        value = manager.get_progress("test-progress")
        if value:
            progress.append(value)
        return manager.result_ready("test-progress")

    wait_for(finished, timeout=120)
    result = manager.get_result("test-progress", pid)
    assert "done" in str(result) and "finished 4 of 4" in str(result)
    labels = [p[1] for p in progress]
    assert any("of 4" in label for label in labels), progress  # the bar moved while it ran
    job_id = progress[-1][2]
    job = JobStore(services.store.sessions).get(job_id)
    assert job["status"] == "done" and job["done"] == 4
    assert all(services.store.has_prediction(c, "fake2", "2.0") for c in services.store.case_ids())


def test_diskcache_background_job_cancel_stops_the_runner(app, services, monkeypatch):
    monkeypatch.setenv("LESIONLENS_PREDICTOR_FACTORY", "tests.unit.test_jobs:SlowFake")
    add_cases(services, 12)
    manager, pid = start_job(app, "test-cancel", [1, "rescore", "fake2", "", "", None])
    jobs = JobStore(services.store.sessions)

    def two_done():
        value = manager.get_progress("test-cancel")
        if value and value[2]:
            job = jobs.get(value[2])
            return job if job and job["done"] >= 2 else None
        return None

    job = wait_for(two_done, timeout=120)
    runners = [p for p in psutil.Process(pid).children(recursive=True)]
    assert runners, "the callback should have started a runner process"
    # what the page does on Cancel: Dash terminates the callback's process tree, the cancel callback flags the row
    jobs.request_cancel(job["id"])
    manager.terminate_job(pid)
    wait_for(lambda: not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in runners), timeout=20)
    stopped_at = jobs.get(job["id"])["done"]
    time.sleep(2 * SLOW_S + 0.5)
    after = jobs.get(job["id"])
    assert after["done"] == stopped_at < 12 and after["cancel_requested"]


def test_cooperative_cancel_ends_the_job_cleanly(app, services, monkeypatch):
    """Without terminate (a Celery worker with --pool=solo): the flag alone stops the runner."""
    monkeypatch.setenv("LESIONLENS_PREDICTOR_FACTORY", "tests.unit.test_jobs:SlowFake")
    add_cases(services, 12)
    manager, pid = start_job(app, "test-coop", [1, "rescore", "fake2", "", "", None])
    jobs = JobStore(services.store.sessions)

    def started():
        value = manager.get_progress("test-coop")
        return value[2] if value and value[2] else None

    job_id = wait_for(started, timeout=120)
    jobs.request_cancel(job_id)
    wait_for(lambda: manager.result_ready("test-coop"), timeout=60)
    result = str(manager.get_result("test-coop", pid))
    assert "cancelled" in result
    assert jobs.get(job_id)["status"] == "cancelled" and jobs.get(job_id)["done"] < 12


def test_jobs_page_renders_for_an_admin(app):
    from dashboard.pages import jobs as jobs_page
    from tests.auth_helpers import as_user

    with as_user(app, "admin"):
        text = str(jobs_page.layout())
    assert "Re-score a cohort" in text and "Recent jobs" in text and "imports" in text
