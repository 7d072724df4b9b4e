"""Celery app of training: one task per CV fold (`cv` and `tune --backend celery`).

Started by `python -m training worker`; never imports Dash or the dashboard,
and not TensorFlow either until a fold runs (the prefork pool forks the
worker's children, and a forked TensorFlow is unsafe).

Broker: LESIONLENS_BROKER_URL, else CELERY_BROKER_URL (the dashboard's
jobs broker), else redis://127.0.0.1:6379/0. Result backend:
LESIONLENS_RESULT_BACKEND, else CELERY_RESULT_BACKEND, else the broker.
Tasks go to their own queue (`lesionlens-training`), so the dashboard's
workers never take a fold and training workers never take a re-scoring job.

Reliability: acks_late + reject_on_worker_lost give a fold back to the queue
when the process training it dies; the fold's lease (training.fold_lease)
covers a whole worker lost and keeps two workers off one fold; every stage
checkpoints each epoch and resumes exactly (training.resume), so a lost
worker costs at most the epoch it was in. Each fold runs in a fresh child
process (max 1 task per child): TensorFlow's memory goes back with it.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from celery import Celery

QUEUE = "lesionlens-training"
TASK = "lesionlens.training.fold"
DEFAULT_BROKER = "redis://127.0.0.1:6379/0"
log = logging.getLogger(__name__)


def urls() -> tuple[str, str]:
    """(broker, result backend) from the environment."""
    broker = os.environ.get("LESIONLENS_BROKER_URL") or os.environ.get("CELERY_BROKER_URL") or DEFAULT_BROKER
    backend = os.environ.get("LESIONLENS_RESULT_BACKEND") or os.environ.get("CELERY_RESULT_BACKEND") or broker
    return broker, backend


def make_app() -> Celery:
    broker, backend = urls()
    celery = Celery("lesionlens-training", broker=broker, backend=backend)
    celery.conf.update(
        task_default_queue=QUEUE,
        task_acks_late=True,  # acknowledged when the fold ends, not when it starts
        task_reject_on_worker_lost=True,  # the child died (OOM, kill): back to the queue at once
        task_track_started=True,
        worker_prefetch_multiplier=1,  # a worker holds one fold, never a backlog others could run
        worker_max_tasks_per_child=1,
        result_expires=7 * 24 * 3600,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
    )
    return celery


app = make_app()


@app.task(name=TASK)
def train_fold(
    out: str, k: int, spec: str, config: dict[str, Any], n_boot: int, strategy: str | None = None
) -> dict[str, Any]:
    """Train and evaluate fold k of the CV in `out` (shared folder), unless done or held by another worker."""
    from training.fold_lease import holding

    out_dir = Path(out)
    fold_dir = out_dir / f"fold_{k}"
    done = fold_dir / "fold_metrics.json"
    if done.exists():
        return {"fold": k, "status": "done"}
    with holding(fold_dir) as lease:
        if lease is None:
            return {"fold": k, "status": "busy"}
        if done.exists():  # finished between the first check and the lease
            return {"fold": k, "status": "done"}
        from pipeline.datasets import load_cases
        from training.config import config_from_dict
        from training.fold import run_fold
        from training.strategy import set_strategy

        set_strategy(strategy)
        assignment = json.loads((out_dir / "folds.json").read_text())
        cases = load_cases(spec)
        missing = [c.case_id for c in cases if c.case_id not in assignment]
        if missing:
            raise ValueError(
                f"{len(missing)} cases of {spec} have no fold in {out_dir}/folds.json (e.g. {missing[0]}): "
                "the worker reads another dataset than the submitter"
            )
        folds = [int(assignment[c.case_id]) for c in cases]
        metrics = run_fold(k, cases, folds, config_from_dict(config), out_dir, spec, n_boot)
        return {
            "fold": k,
            "status": "trained",
            "dice": metrics["segmentation"].get("dice"),
            "auc": metrics["classification"].get("auc"),
        }
