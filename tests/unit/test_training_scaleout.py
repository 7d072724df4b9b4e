"""Scale-out pieces that need no broker: strategy scaling, fold leases, the Celery app's settings,
and the submitting loop's decisions (resend a lost fold, stop on a failed one) against a fake app."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from pipeline.errors import LesionLensError
from training import celery_backend, celery_cv, strategy
from training.config import config_from_dict, load_config
from training.fold_lease import FoldLease, is_live, read_lease

ROOT = Path(__file__).resolve().parents[2]


def test_batch_is_per_replica_and_lr_scales_by_sqrt():
    seg = load_config(None).seg
    assert strategy.scaled(seg, 1) is seg
    four = strategy.scaled(seg, 4)
    assert four.batch_size == 4 * seg.batch_size
    assert math.isclose(four.learning_rate, 2 * seg.learning_rate)
    assert four.epochs == seg.epochs and four.model == seg.model


def test_strategy_choice_is_validated_and_inherited(monkeypatch):
    monkeypatch.delenv(strategy.ENV, raising=False)
    assert strategy.chosen() == "auto"
    strategy.set_strategy("default")
    assert os.environ[strategy.ENV] == "default" and strategy.chosen() == "default"
    with pytest.raises(ValueError, match="one of"):
        strategy.set_strategy("tpu")
    monkeypatch.setenv(strategy.ENV, "nccl")
    with pytest.raises(ValueError, match="LESIONLENS_STRATEGY"):
        strategy.chosen()


def test_config_survives_the_task_message():
    cfg = load_config(ROOT / "training" / "configs" / "tiny.yaml", {"seed": 3})
    assert config_from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_lease_excludes_a_second_worker_until_its_holder_dies(tmp_path, monkeypatch):
    monkeypatch.setenv("LESIONLENS_LEASE_SECONDS", "30")
    first = FoldLease(tmp_path / "fold_1")
    assert first.acquire()
    try:
        first.status("seg epoch 3/25 loss=0.5")
        held = read_lease(tmp_path / "fold_1")
        assert is_live(held) and held["status"].startswith("seg epoch 3/25")
        assert not FoldLease(tmp_path / "fold_1").acquire()
        assert not is_live(held, now=held["beat"] + 31)  # no heartbeat for longer than the limit
        assert not is_live({**held, "pid": _dead_pid()})  # same host, process gone
    finally:
        first.release()
    assert read_lease(tmp_path / "fold_1") is None
    second = FoldLease(tmp_path / "fold_1")
    assert second.acquire()
    second.release()


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_training_app_settings_and_no_dashboard_import(monkeypatch):
    conf = celery_backend.app.conf
    assert conf.task_acks_late and conf.task_reject_on_worker_lost and conf.worker_prefetch_multiplier == 1
    assert conf.task_default_queue == celery_backend.QUEUE != "celery"  # not the dashboard jobs' queue
    monkeypatch.delenv("LESIONLENS_RESULT_BACKEND", raising=False)
    monkeypatch.delenv("CELERY_RESULT_BACKEND", raising=False)
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://jobs:6379/0")
    monkeypatch.delenv("LESIONLENS_BROKER_URL", raising=False)
    assert celery_backend.urls() == ("redis://jobs:6379/0", "redis://jobs:6379/0")
    monkeypatch.setenv("LESIONLENS_BROKER_URL", "redis://train:6379/3")
    assert celery_backend.urls()[0] == "redis://train:6379/3"
    code = (
        "import sys, training.celery_backend, training.cmd_worker; "
        "bad = [m for m in ('dash', 'dashboard', 'tensorflow') if m in sys.modules]; assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})


class FakeApp:
    """send_task / AsyncResult with states the test sets."""

    def __init__(self):
        self.sent: list[list] = []
        self.states: dict[str, str] = {}

    def send_task(self, name, args):
        task_id = f"t{len(self.sent)}"
        self.sent.append(args)
        self.states[task_id] = "STARTED"
        return SimpleNamespace(id=task_id)

    def AsyncResult(self, task_id):  # noqa: N802 - Celery's name
        return SimpleNamespace(state=self.states[task_id], result=RuntimeError("boom"), traceback="Traceback: boom")


def test_submitter_resends_a_fold_whose_worker_is_lost(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LESIONLENS_LEASE_SECONDS", "30")
    fake = FakeApp()
    monkeypatch.setattr(celery_backend, "app", fake)
    fold = tmp_path / "fold_1"
    fold.mkdir()
    (fold / "worker.json").write_text(json.dumps({"owner": "x", "host": "elsewhere", "pid": 1, "beat": 0}))
    polls = []

    def sleep(_):  # the worker comes back after the resend and finishes the fold
        polls.append(len(fake.sent))
        if len(fake.sent) == 2:
            (fold / "fold_metrics.json").write_text("{}")

    monkeypatch.setattr(celery_cv.time, "sleep", sleep)
    celery_cv.run_on_workers([celery_cv.FoldJob(tmp_path, 1, "synthetic:8", {}, 10)], poll=0, grace=0)
    assert len(fake.sent) == 2 and fake.sent[0] == fake.sent[1]
    assert fake.sent[0][0] == str(tmp_path.resolve())
    printed = capsys.readouterr().out
    assert "fold 1: its worker was lost: submitted again" in printed and "fold 1: finished" in printed


def test_submitter_stops_on_a_failed_fold_and_skips_finished_ones(tmp_path, monkeypatch):
    fake = FakeApp()
    monkeypatch.setattr(celery_backend, "app", fake)
    monkeypatch.setattr(celery_cv.time, "sleep", lambda _: fake.states.update({k: "FAILURE" for k in fake.states}))
    (tmp_path / "fold_1").mkdir()
    (tmp_path / "fold_1" / "fold_metrics.json").write_text("{}")
    jobs = [celery_cv.FoldJob(tmp_path, k, "synthetic:8", {}, 10) for k in (1, 2)]
    with pytest.raises(LesionLensError, match="fold 2 failed on a worker"):
        celery_cv.run_on_workers(jobs, poll=0)
    assert [args[1] for args in fake.sent] == [2]
