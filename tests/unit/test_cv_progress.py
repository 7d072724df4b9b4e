"""Issue 18.1: every fold's progress in one place. The CLI (`cv-status`, and the overview `cv --backend celery`
prints) and the Jobs page read a CV folder with the same code (pipeline/cv_progress.py) and show the same
states: done (Dice/AUC), training (worker, stage, epoch), lost (stale lease), stopped, waiting."""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from pathlib import Path

from pipeline.cv_progress import cv_progress, cv_runs
from tests.fakes_predictor import fake_app


def make_cv(out: Path) -> Path:
    """A CV folder in the middle of a run: fold 1 done, 2 training, 3 lost its worker, 4 stopped, 5 waiting."""
    out.mkdir(parents=True)
    (out / "folds.json").write_text(json.dumps({f"case{i}": i % 5 + 1 for i in range(20)}))
    for k in (1, 2, 3, 4):
        (out / f"fold_{k}").mkdir()
    (out / "fold_1" / "fold_metrics.json").write_text(json.dumps(
        {"segmentation": {"dice": 0.8123}, "classification": {"auc": 0.9012}}))
    now = time.time()
    (out / "fold_2" / "worker.json").write_text(json.dumps({
        "owner": "a", "host": socket.gethostname(), "pid": os.getpid(), "beat": now,
        "status": "segmentation epoch 3/40 loss=0.41 elapsed=60s eta=700s"}))
    (out / "fold_3" / "worker.json").write_text(json.dumps({
        "owner": "b", "host": "gpu-box", "pid": 7, "beat": now - 3600, "status": "classifier epoch 9/20"}))
    return out


def test_fold_states_from_the_folder(tmp_path):
    progress = cv_progress(make_cv(tmp_path / "cv-a"))
    states = {f.fold: f for f in progress.folds}
    assert [states[k].state for k in range(1, 6)] == ["done", "training", "lost", "stopped", "waiting"]
    assert states[1].detail == "Dice 0.812 AUC 0.901"
    assert (states[2].stage, states[2].epoch, states[2].epochs) == ("segmentation", 3, 40)
    assert states[2].worker == f"{socket.gethostname()}:{os.getpid()}"
    assert states[3].worker == "gpu-box:7" and states[3].epoch == 9
    assert progress.counts == {"done": 1, "training": 1, "lost": 1, "stopped": 1, "waiting": 1}
    assert "fold 2: training on" in progress.lines()[2] and "segmentation epoch 3/40" in progress.lines()[2]
    assert cv_progress(tmp_path) is None  # not a CV folder


def test_cli_cv_status_prints_the_same_lines(tmp_path, capsys):
    from training.__main__ import main

    out = make_cv(tmp_path / "cv-a")
    assert main(["cv-status", str(out)]) == 0
    printed = capsys.readouterr().out
    for line in cv_progress(out).lines():
        assert line in printed
    assert main(["cv-status", str(tmp_path)]) == 2


def test_a_local_fold_shows_its_epoch_while_it_trains(tmp_path):
    """The local backend holds the fold's lease too, so its running fold shows like a worker's."""
    from training.fold_lease import holding

    out = make_cv(tmp_path / "cv-b")
    with holding(out / "fold_4") as lease:
        assert lease is not None
        logging.getLogger("training.fit").info("%s epoch %d/%d", "refine", 2, 5)
        fold = cv_progress(out).folds[3]
        assert (fold.state, fold.stage, fold.epoch, fold.epochs) == ("training", "refine", 2, 5)
    assert cv_progress(out).folds[3].state == "stopped"
    with holding(out / "fold_2") as lease:  # a live holder elsewhere keeps it
        assert lease is None


def test_jobs_page_lists_the_folds_of_recent_cv_runs(tmp_path):
    from dashboard.pages import jobs as jobs_page
    from tests.auth_helpers import as_user

    roots = tmp_path / "reports"
    make_cv(roots / "cv-a")
    make_cv(roots / "tune-x" / "trial_000")
    assert {p.out.name for p in cv_runs((roots,))} == {"trial_000", "cv-a"}
    app = fake_app(tmp_path, cv_roots=(roots,))
    with as_user(app, "admin"):
        text = str(jobs_page.layout())
    assert "Cross-validation runs" in text and "cv-a" in text and "trial_000" in text
    for expected in ("training", "lost", "stopped", "waiting", "segmentation 3/40", "gpu-box:7", "Dice 0.812"):
        assert expected in text, expected
