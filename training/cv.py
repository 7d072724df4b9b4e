"""Cross-validation loop and its summary (mean ± sd over folds, and pooled)."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.types import Case
from training.config import TrainConfig

log = logging.getLogger(__name__)
HEADLINE = (("segmentation", "dice"), ("segmentation", "iou"), ("classification", "auc"),
            ("classification", "sensitivity"), ("classification", "specificity"), ("classification", "ece"))


def inner_split(cases: list[Case], fraction: float, seed: int) -> tuple[list[Case], list[Case]]:
    from pipeline import splits

    split = splits.train_val_test_split(cases, val_fraction=fraction, test_fraction=0.0, seed=seed)
    return split_lists(cases, split)


def split_lists(cases, split):
    """(train indices, val indices, ...) from pipeline.splits -> two Case lists."""
    parts = tuple(split)
    return [cases[int(i)] for i in parts[0]], [cases[int(i)] for i in parts[1]]


def run_fold(k, cases, folds, cfg, out, spec, n_boot) -> dict[str, Any]:
    from training.evaluation import metrics_json, predict_cases, predict_lesion_free
    from training.run import train_bundle

    fold_dir = out / f"fold_{k}"
    done = fold_dir / "fold_metrics.json"
    if done.exists():
        log.info("fold %d already done", k)
        return json.loads(done.read_text())
    test = [c for c, f in zip(cases, folds) if f == k]
    rest = [c for c, f in zip(cases, folds) if f != k]
    train, val = inner_split(rest, cfg.val_fraction, cfg.seed)
    started = time.time()
    trained = train_bundle(train, val, cfg, fold_dir, name=f"{out.name}-fold{k}", dataset_spec=spec,
                           split={"kind": "cv", "fold": k, "n_test": len(test)})
    df = predict_cases(trained.predictor, test, desc=f"fold {k} held-out", mask_dir=fold_dir / "masks" / "heldout")
    df.to_csv(fold_dir / "predictions.csv", index=False)
    # inputs of a stacked model fitted later on the inner validation patients (training stack)
    predict_cases(trained.predictor, val, desc=f"fold {k} validation",
                  mask_dir=fold_dir / "masks" / "val").to_csv(fold_dir / "val_predictions.csv", index=False)
    lesion_free = predict_lesion_free(trained.predictor, test, desc=f"fold {k} lesion-free crops")
    lesion_free.to_csv(fold_dir / "lesion_free.csv", index=False)
    threshold = trained.card.thresholds.malignant
    metrics = metrics_json(trained.card.name, spec, df, threshold, n_boot)
    metrics["fold"] = k
    minutes = trained.card.training.minutes
    metrics["train_minutes"] = round(minutes["segmentation"] + minutes["classifier"], 1)
    metrics["minutes"] = round((time.time() - started) / 60, 1)  # this process only (resumed runs are shorter)
    metrics["calibration"] = trained.card.calibration.to_card() if trained.card.calibration else None
    metrics["presence"] = presence_summary(df, lesion_free)
    tmp = done.with_suffix(".tmp")
    tmp.write_text(json.dumps(metrics, indent=2))
    tmp.replace(done)
    log.info("fold %d: dice=%.3f auc=%.3f (%.1f min)", k, metrics["segmentation"]["dice"] or float("nan"),
             metrics["classification"]["auc"] or float("nan"), metrics["minutes"])
    return metrics


def presence_summary(predictions: pd.DataFrame, lesion_free: pd.DataFrame) -> dict[str, Any]:
    """"No lesion" answered on lesion-free inputs (specificity) and lesions missed (1 - sensitivity)."""
    lesions = predictions[predictions["truth_has_lesion"]]
    return {
        "lesion_images": int(len(lesions)),
        "lesions_missed": int((~lesions["lesion_found"].astype(bool)).sum()),
        "missed_share": float((~lesions["lesion_found"].astype(bool)).mean()) if len(lesions) else None,
        "lesion_free_inputs": int(len(lesion_free)),
        "no_lesion_answered_share": float((~lesion_free["lesion_found"].astype(bool)).mean()) if len(lesion_free) else None,
        "lesion_free_inputs_built_as": "largest strip of each held-out scan beside/above/below the expert mask box "
                                       "(pipeline.crops.lesion_free_box), original resolution",
    }


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
