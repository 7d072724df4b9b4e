"""Jobs: the job function on a tiny cohort (fake predictor), and the local executor end to end.

The pure part runs `run_job` in this process: re-scoring a cohort with a
second model, batch inference of a server folder (bad files counted, file
names never recorded, re-running stores nothing twice), paths outside the
allowed folders refused, and cancel between items. The executor part submits
a job as the page does (`executor.submit`, no broker: a local runner
process running the same task function a Celery worker runs): progress
reaches the job's row, the result carries images per second per worker, and
the cancel flag stops the runner between items.
"""

from __future__ import annotations

import time

import psutil
import pytest

from dashboard.jobs.core import JobError, validate_spec
from dashboard.jobs.store import JobStore
from dashboard.jobs.work import run_job
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
        ({"kind": "batch", "source": "folder:missing"}, "does not exist on the server .a relative path starts at "),
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


# --------------------------------------------------------------------------- the local executor, end to end
def signed_in_context(app, role: str = "clinician") -> dict:
    """The cookies of a signed-in user's request (tests that drive callbacks outside a test client)."""
    from tests.auth_helpers import add_user, auth_of

    user = add_user(app, role)
    return {"cookies": {"ll_session": auth_of(app).store.create_session(user, "127.0.0.1")}, "remote": "127.0.0.1"}


def submit_rescore(services, model: str = "fake2") -> str:
    from dashboard.jobs.executor import submit

    spec = validate_spec({"kind": "rescore", "model": model}, services.settings, services.models)
    job_id = JobStore(services.store.sessions).create("rescore", spec, model, owner="tester")
    assert submit(services.settings, job_id, "rescore").startswith("local:")
    return job_id


def runner_processes(job_id: str) -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["cmdline"])
            if p.info["cmdline"] and "dashboard.jobs.runner" in p.info["cmdline"] and job_id in p.info["cmdline"]]


def test_local_executor_runs_the_task_reports_progress_and_rates(services, monkeypatch):
    monkeypatch.setenv("LESIONLENS_PREDICTOR_FACTORY", "tests.unit.test_jobs:SlowFake")
    add_cases(services, 4)
    jobs = JobStore(services.store.sessions)
    job_id = submit_rescore(services)
    seen = set()

    def ended():
        job = jobs.get(job_id)
        seen.add(job["done"])
        return job if job["status"] not in ("queued", "running") else None

    job = wait_for(ended, timeout=120)
    assert job["status"] == "done" and job["done"] == job["total"] == 4, job
    assert seen - {0, 4}, seen  # the row moved while it ran
    result = job["result"]
    assert result["chunks"] == 1 and len(result["workers"]) == 1  # the local executor: one process
    worker = result["workers"][0]
    assert worker["worker"].startswith("local@") and worker["images"] == 4 == result["items"]
    assert worker["images_per_s"] == pytest.approx(4 / worker["seconds"], rel=0.02)
    assert "images/s" in job["message"]
    assert all(services.store.has_prediction(c, "fake2", "2.0") for c in services.store.case_ids())


def test_local_executor_stops_on_the_cancel_flag(services, monkeypatch):
    monkeypatch.setenv("LESIONLENS_PREDICTOR_FACTORY", "tests.unit.test_jobs:SlowFake")
    add_cases(services, 12)
    jobs = JobStore(services.store.sessions)
    job_id = submit_rescore(services)
    wait_for(lambda: jobs.get(job_id)["done"] >= 2, timeout=120)
    runners = runner_processes(job_id)
    assert runners, "submit should have started a runner process"
    assert jobs.request_cancel(job_id)
    wait_for(lambda: not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in runners), timeout=20)
    job = jobs.get(job_id)
    assert job["status"] == "cancelled" and job["done"] < 12 and job["result"]["done"] == job["done"]


def test_jobs_page_renders_for_an_admin(app):
    from dashboard.pages import jobs as jobs_page
    from tests.auth_helpers import as_user

    with as_user(app, "admin"):
        text = str(jobs_page.layout())
    assert "Re-score a cohort" in text and "Recent jobs" in text and "imports" in text
