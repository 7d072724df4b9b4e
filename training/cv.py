"""Cross-validation loop and its summary (mean ± sd over folds, and pooled)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from training.config import TrainConfig
from training.fold import presence_summary, run_fold

log = logging.getLogger(__name__)
HEADLINE = (("segmentation", "dice"), ("segmentation", "iou"), ("classification", "auc"),
            ("classification", "sensitivity"), ("classification", "specificity"), ("classification", "ece"))


def summarise(out: Path, spec: str, fold_metrics: list[dict], n_boot: int) -> dict[str, Any]:
    table: dict[str, Any] = {}
    for section, key in HEADLINE:
        values = [m[section][key] for m in fold_metrics if m[section].get(key) is not None]
        if values:
            table[f"{section}.{key}"] = {"mean": float(np.mean(values)), "sd": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
                                         "folds": [round(v, 4) for v in values]}
    from training.evaluation import metrics_json

    frames = [pd.read_csv(out / f"fold_{m['fold']}" / "predictions.csv") for m in fold_metrics]
    pooled = None
    if frames:
        oof = pd.concat(frames, ignore_index=True)
        oof.to_csv(out / "oof_predictions.csv", index=False)
        # pooled metrics at each fold's own threshold are not comparable; use the median threshold
        threshold = float(np.median([m["classification"]["threshold"] for m in fold_metrics]))
        pooled = metrics_json(out.name, spec, oof, threshold, n_boot)
    free = [out / f"fold_{m['fold']}" / "lesion_free.csv" for m in fold_metrics]
    free = [pd.read_csv(p) for p in free if p.exists() and p.stat().st_size > 1]
    pooled_presence = presence_summary(oof, pd.concat(free, ignore_index=True)) if frames and free else None
    summary = {"dataset": spec, "folds_done": [m["fold"] for m in fold_metrics], "table": table, "pooled": pooled,
               "pooled_presence": pooled_presence,
               "train_minutes": [m.get("train_minutes") for m in fold_metrics], "per_fold": fold_metrics}
    (out / "cv_summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def prepare_cv(cases, folds, cfg: TrainConfig, out: Path) -> None:
    """config.json and folds.json: what every fold (and every Celery worker) trains from."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
    (out / "folds.json").write_text(json.dumps({c.case_id: f for c, f in zip(cases, folds)}))


def fold_jobs(folds, cfg: TrainConfig, out: Path, spec: str, only=None, n_boot: int = 1000, strategy=None) -> list:
    """The unfinished folds as Celery jobs (training.celery_cv)."""
    from training.celery_cv import FoldJob

    return [FoldJob(out, k, spec, cfg.to_dict(), n_boot, strategy) for k in sorted(set(folds))
            if (not only or k in only) and not (out / f"fold_{k}" / "fold_metrics.json").exists()]


def run_cv(cases, folds, cfg: TrainConfig, out: Path, spec: str, only=None, n_boot: int = 1000,
           backend: str = "local", strategy: str | None = None) -> dict[str, Any]:
    """Train the folds here one after another (`local`), or on Celery workers (`celery`) and wait;
    either way the loop below then summarises (on `celery` every fold is found done)."""
    from training.fold_lease import holding

    prepare_cv(cases, folds, cfg, out)
    if backend == "celery":
        from training.celery_cv import run_on_workers

        run_on_workers(fold_jobs(folds, cfg, out, spec, only, n_boot, strategy))
    results = []
    for k in sorted(set(folds)):
        if only and k not in only:
            done = out / f"fold_{k}" / "fold_metrics.json"
            if done.exists():
                results.append(json.loads(done.read_text()))
            continue
        if (out / f"fold_{k}" / "fold_metrics.json").exists():
            results.append(run_fold(k, cases, folds, cfg, out, spec, n_boot))
            continue
        with holding(out / f"fold_{k}") as lease:  # its progress shows in cv-status and the Jobs page
            if lease is None:
                log.warning("fold %d is being trained elsewhere (live lease): left to it", k)
                continue
            results.append(run_fold(k, cases, folds, cfg, out, spec, n_boot))
        summarise(out, spec, results, n_boot)
    return summarise(out, spec, results, n_boot)
