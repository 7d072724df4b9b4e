"""`cv --backend celery` with two real workers on Redis, one killed mid-fold: same numbers as the local run.

The whole worker (its process group: the Celery parent and the child training
the fold) is SIGKILLed once the fold has finished a segmentation epoch, as
when a machine is lost. The submitting CLI sees the fold's lease die and sends
the fold again; the other worker resumes it from the last epoch's checkpoint
(training.resume makes that exact), so the summary must equal the local
backend's, fold by fold, with the same seeds. Redis DB 9 (the app's tests use
0, 11, 12 and 14); only the processes started here are killed. Skipped, with
the reason, when Redis is not reachable.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from tests.polling import wait_for
from tests.processes import stop_all

pytestmark = [pytest.mark.services, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = "redis://127.0.0.1:6379/9"
SPEC = "synthetic:24:0"


@pytest.fixture
def redis_db():
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {exc}")
    client.flushdb()  # our own DB number: leftovers of an earlier run only
    yield client
    client.flushdb()


def _config(tmp_path: Path) -> Path:
    """tiny.yaml with 4 segmentation epochs (a window to kill the worker between two epochs) and no
    refinement stage (the test's runtime; the stages it keeps checkpoint and resume the same way)."""
    config = yaml.safe_load((ROOT / "training" / "configs" / "tiny.yaml").read_text())
    config["seg"]["epochs"] = 4
    config["refine"]["enabled"] = False
    path = tmp_path / "tiny4.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _cv_args(out: Path, config: Path) -> list[str]:
    return [
        "-m",
        "training",
        "cv",
        "--dataset",
        SPEC,
        "--folds",
        "2",
        "--config",
        str(config),
        "--out",
        str(out),
        "--n-boot",
        "20",
    ]


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "LESIONLENS_BROKER_URL": REDIS_URL,
        "LESIONLENS_LEASE_SECONDS": "4",
        "LESIONLENS_HOME": str(tmp_path / "home"),
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONPATH": str(ROOT),
    }


def _start_worker(name: str, tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    log = tmp_path / f"{name}.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "training", "worker", "--name", f"{name}@%h"],
        cwd=ROOT,
        env=_env(tmp_path),
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # its own process group: killed with its pool child
    return process, log


def _same(a, b, tol: float = 1e-4) -> bool:
    if a is None or b is None:
        return a is b
    return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= tol


def test_celery_cv_survives_a_killed_worker_and_matches_local(tmp_path, redis_db):
    config = _config(tmp_path)
    local_out, celery_out = tmp_path / "local", tmp_path / "celery"
    subprocess.run(
        [sys.executable, *_cv_args(local_out, config)],
        cwd=ROOT,
        env=_env(tmp_path),
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=600,
    )

    workers = [_start_worker(name, tmp_path) for name in ("wa", "wb")]
    cli = None
    try:
        for process, log in workers:
            wait_for(
                lambda p=process, f=log: "ready" in f.read_text() or p.poll() is not None, 120, 0.1, "worker start"
            )
            assert process.poll() is None, log.read_text()[-3000:]
        cli_log = tmp_path / "cli.log"
        cli = subprocess.Popen(
            [sys.executable, *_cv_args(celery_out, config), "--backend", "celery"],
            cwd=ROOT,
            env=_env(tmp_path),
            stdout=cli_log.open("w"),
            stderr=subprocess.STDOUT,
        )

        def lease_in_seg_epoch():
            for k in (1, 2):
                path = celery_out / f"fold_{k}" / "worker.json"
                try:
                    lease = json.loads(path.read_text())
                except (OSError, ValueError):
                    continue
                if "seg epoch 1/4" in lease.get("status", "") or "seg epoch 2/4" in lease.get("status", ""):
                    return k, lease
            return None

        k, lease = wait_for(lease_in_seg_epoch, 300, 0.05, "a fold in its segmentation epochs")
        victim = next((p, log) for p, log in workers if str(lease["pid"]) in {str(c) for c in _children(p.pid)})
        os.killpg(victim[0].pid, signal.SIGKILL)
        victim[0].wait(10)
        survivor_log = next(log for p, log in workers if p is not victim[0])

        assert cli.wait(600) == 0, cli_log.read_text()[-4000:]
    finally:
        if cli is not None and cli.poll() is None:
            cli.kill()
        stop_all([process for process, _ in workers])

    cli_text, survivor = cli_log.read_text(), survivor_log.read_text()
    assert f"fold {k}: its worker was lost: submitted again" in cli_text, cli_text[-3000:]
    assert "resumed at epoch" in survivor, survivor[-3000:]  # not retrained from scratch
    assert "fold 1: finished" in cli_text and "fold 2: finished" in cli_text

    local = json.loads((local_out / "cv_summary.json").read_text())
    remote = json.loads((celery_out / "cv_summary.json").read_text())
    assert remote["folds_done"] == local["folds_done"] == [1, 2]
    for key, row in local["table"].items():
        assert all(_same(a, b) for a, b in zip(row["folds"], remote["table"][key]["folds"])), (
            key,
            row,
            remote["table"][key],
        )
    for a, b in zip(local["per_fold"], remote["per_fold"]):
        assert _same(a["classification"]["threshold"], b["classification"]["threshold"])
        assert a["calibration"] == b["calibration"]
    oof_local = pd.read_csv(local_out / "oof_predictions.csv").set_index("case_id").sort_index()
    oof_remote = pd.read_csv(celery_out / "oof_predictions.csv").set_index("case_id").sort_index()
    assert list(oof_local.index) == list(oof_remote.index)
    for column in ("probability", "cnn_logit", "lesion_probability", "area_px"):
        diff = (oof_local[column].fillna(-1) - oof_remote[column].fillna(-1)).abs().max()
        assert diff <= 1e-3, (column, diff)


def _children(pid: int) -> list[int]:
    """pid and its descendants (the worker's prefork pool child trains the fold)."""
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout.split()
    found = [pid]
    for child in map(int, out):
        found += _children(child)
    return found
