"""One cross-validation fold: split its patients, train, predict the held-out ones, write its metrics.

Shared by the local loop (`training.cv.run_cv`) and the Celery fold worker (`training.celery_backend`),
so both write the same `fold_K/` folder; `fold_metrics.json` is written last and marks the fold done.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import pandas as pd

from pipeline.splits import inner_split

log = logging.getLogger(__name__)


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
    trained = train_bundle(
        train,
        val,
        cfg,
        fold_dir,
        name=f"{out.name}-fold{k}",
        dataset_spec=spec,
        split={"kind": "cv", "fold": k, "n_test": len(test)},
    )
    df = predict_cases(trained.predictor, test, desc=f"fold {k} held-out", mask_dir=fold_dir / "masks" / "heldout")
    df.to_csv(fold_dir / "predictions.csv", index=False)
    # inputs of a stacked model fitted later on the inner validation patients (training stack)
    predict_cases(trained.predictor, val, desc=f"fold {k} validation", mask_dir=fold_dir / "masks" / "val").to_csv(
        fold_dir / "val_predictions.csv", index=False
    )
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
    log.info(
        "fold %d: dice=%.3f auc=%.3f (%.1f min)",
        k,
        metrics["segmentation"]["dice"] or float("nan"),
        metrics["classification"]["auc"] or float("nan"),
        metrics["minutes"],
    )
    return metrics


def presence_summary(predictions: pd.DataFrame, lesion_free: pd.DataFrame) -> dict[str, Any]:
    """ "No lesion" answered on lesion-free inputs (specificity) and lesions missed (1 - sensitivity)."""
    lesions = predictions[predictions["truth_has_lesion"]]
    return {
        "lesion_images": int(len(lesions)),
        "lesions_missed": int((~lesions["lesion_found"].astype(bool)).sum()),
        "missed_share": float((~lesions["lesion_found"].astype(bool)).mean()) if len(lesions) else None,
        "lesion_free_inputs": int(len(lesion_free)),
        "no_lesion_answered_share": float((~lesion_free["lesion_found"].astype(bool)).mean())
        if len(lesion_free)
        else None,
        "lesion_free_inputs_built_as": "largest strip of each held-out scan beside/above/below the expert mask box "
        "(pipeline.crops.lesion_free_box), original resolution",
    }
