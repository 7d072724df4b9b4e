"""A re-scoring chunk lost with its worker is delivered again, and the job still counts every case once.

* The chunk task is configured to go back to the queue when its worker dies
  (`acks_late` + `reject_on_worker_lost`), and chunks stay small enough to
  finish within the broker's visibility timeout.
* The task function run twice for one chunk (its first run killed
  mid-chunk: simulated by a BaseException nothing in the chunk catches, as
  nothing runs after a SIGKILL) counts each case once in the job's row and
  in the summary, predicts only what the lost run had not, and says so.
* An item that kills its worker on every delivery is failed after two
  tries, not retried forever; a job the reaper marked interrupted while its
  chunk waited runs again; a chunk that breaks as a whole after a lost run
  counts only the items not yet counted.

tests/integration/test_jobs_celery.py kills a real prefork worker's child mid-chunk.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pytest

from dashboard.jobs import tasks
from dashboard.jobs.core import validate_spec
from dashboard.jobs.ledger import JobItems
from dashboard.jobs.store import JobStore
from dashboard.jobs.work import ChunkReport, start
from dashboard.store.tables import utcnow
from tests.fakes_predictor import fake_app, lesion_png, make_fake_bundle


class WorkerLost(BaseException):
    """What a chunk sees of its worker being killed: nothing after this point runs, no handler catches it."""


@pytest.fixture
def job(tmp_path, monkeypatch):
    """(services, jobs, job id, chunks): a planned re-scoring of 6 cases in 2 chunks; the task functions use
    this app's services."""
    app = fake_app(tmp_path)
    make_fake_bundle(tmp_path / "models", name="fake2", version="2.0")
    services = app.server.extensions["lesionlens"]
    monkeypatch.setitem(tasks._process, os.getpid(), (app.server, services))
    for seed in range(6):
        services.ingest.upload(lesion_png(96, 80, seed=seed))
    jobs = JobStore(services.store.sessions)
    spec = validate_spec({"kind": "rescore", "model": "fake2", "filter": ""}, services.settings, services.models)
    job_id = jobs.create(spec["kind"], spec, spec["model"])
    parts = tasks.chunks(start(services, jobs, job_id, spec), workers=1)
    assert [len(ids) for _first, ids in parts] == [3, 3]
    return services, jobs, job_id, parts


def lose_worker(services, monkeypatch, on) -> list[str]:
    """From now on the worker dies when `on(case id, calls so far)` says so; returns the calls made."""
    real = type(services.analyzer).predict_case
    calls: list[str] = []

    def predict_case(case_id, card=None, force=False, wait=True):
        calls.append(case_id)
        if on(case_id, len(calls)):
            raise WorkerLost
        return real(services.analyzer, case_id, card, force, wait)

    monkeypatch.setattr(services.analyzer, "predict_case", predict_case)
    return calls


def run_chunk(job_id: str, part: tuple[int, list[str]], worker: str) -> ChunkReport:
    first, ids = part
    return ChunkReport.from_dict(tasks.rescore_chunk(job_id, first, ids, worker))


def test_the_chunk_task_goes_back_to_the_queue_when_its_worker_is_lost():
    from dashboard.jobs.celery_app import VISIBILITY_TIMEOUT_S, celery_app

    task = celery_app.tasks["lesionlens.jobs.rescore_chunk"]
    assert task.acks_late is True and task.reject_on_worker_lost is True
    assert celery_app.conf.broker_transport_options["visibility_timeout"] == VISIBILITY_TIMEOUT_S >= 1800
    ids = [f"c{i}" for i in range(1001)]
    parts = tasks.chunks(ids, workers=2)
    assert max(len(part) for _first, part in parts) <= tasks.MAX_CHUNK_ITEMS
    assert [i for _first, part in parts for i in part] == ids


def test_a_chunk_run_again_after_its_worker_was_lost_counts_each_case_once(job, monkeypatch):
    services, jobs, job_id, (first, second) = job
    first_report = run_chunk(job_id, first, "w1")
    lose_worker(services, monkeypatch, on=lambda _case, n: n == 2)  # dies on the second case of the chunk
    with pytest.raises(WorkerLost):
        run_chunk(job_id, second, "w1")
    assert jobs.get(job_id)["done"] == 4
    calls = lose_worker(services, monkeypatch, on=lambda _case, _n: False)
    again = run_chunk(job_id, second, "w2")
    assert calls == second[1][1:]  # the case the lost run finished is not predicted again
    assert (again.images, again.resumed, again.failed, again.predicted, again.rerun) == (3, 1, 0, 3, True)
    row = jobs.get(job_id)
    assert row["done"] == row["total"] == 6 and row["failed"] == 0 and row["status"] == "running"

    summary = tasks.rescore_finish([first_report.as_dict(), again.as_dict()], job_id)
    assert summary["status"] == "done" and (summary["done"], summary["failed"]) == (6, 0)
    assert summary["predicted_by_model"] == 6 and (summary["rerun_chunks"], summary["resumed"]) == (1, 1)
    assert {w["worker"]: w["images"] for w in summary["workers"]} == {"w1": 3, "w2": 2}  # own work only
    row = jobs.get(job_id)
    assert (row["status"], row["done"]) == ("done", 6) and "1 chunk(s) run again" in row["message"]
    assert all(services.store.has_prediction(c, "fake2", "2.0") for _f, ids in (first, second) for c in ids)
    assert not JobItems(jobs.sessions).chunk_state(job_id, 0, 6).rerun  # ledger dropped with the job's end

    late = run_chunk(job_id, second, "w3")  # a duplicate delivery after the job ended
    assert late.cancelled and late.images == 0 and jobs.get(job_id)["done"] == 6


def test_an_item_that_kills_every_worker_is_failed_after_two_tries(job, monkeypatch):
    services, jobs, job_id, (first, second) = job
    poison = first[1][1]
    lose_worker(services, monkeypatch, on=lambda case, _n: case == poison)
    for _delivery in range(2):
        with pytest.raises(WorkerLost):
            run_chunk(job_id, first, "w")
    report = run_chunk(job_id, first, "w")
    assert (report.images, report.failed, report.resumed) == (3, 1, 1)
    assert report.errors == [(poison, "the worker was lost while predicting this item 2 times; not tried again "
                                      "(see the worker log)")]
    row = jobs.get(job_id)
    assert (row["done"], row["failed"]) == (3, 1)
    assert not services.store.has_prediction(poison, "fake2", "2.0")


def test_a_job_reaped_as_interrupted_runs_again_when_its_chunk_comes_back(job, monkeypatch):
    services, jobs, job_id, (first, second) = job
    reports = [run_chunk(job_id, first, "w1")]
    lose_worker(services, monkeypatch, on=lambda _case, n: n == 3)
    with pytest.raises(WorkerLost):
        run_chunk(job_id, second, "w1")
    assert jobs.reap(now=utcnow() + timedelta(minutes=5)) == 1
    assert jobs.get(job_id)["status"] == "interrupted"
    lose_worker(services, monkeypatch, on=lambda _case, _n: False)
    reports.append(run_chunk(job_id, second, "w2"))
    row = jobs.get(job_id)
    assert (row["status"], row["finished"], row["message"], row["done"]) == ("running", None, "", 6)
    assert tasks.rescore_finish([r.as_dict() for r in reports], job_id)["status"] == "done"


def test_a_chunk_broken_after_a_lost_run_counts_only_what_was_not_counted(job, monkeypatch):
    services, jobs, job_id, (first, second) = job
    lose_worker(services, monkeypatch, on=lambda _case, n: n == 2)
    with pytest.raises(WorkerLost):
        run_chunk(job_id, first, "w1")
    monkeypatch.setattr(services.models, "card_by_name", lambda _name: None)  # the model went missing
    report = run_chunk(job_id, first, "w2")
    assert (report.images, report.failed, report.resumed) == (3, 2, 1)
    assert report.errors[-1][0] == "items 1-3" and "BundleError" in report.errors[-1][1]
    assert (jobs.get(job_id)["done"], jobs.get(job_id)["failed"]) == (3, 2)
