"""Cross-validated descriptor-only malignancy model: out-of-fold scores by patient-level folds.

Why a separate, small module: `python -m training descriptors` reports this
AUC beside the radiologists' BI-RADS on the same images, and the stacking
stage (`training/stacking_fit.py`) fits the same model (the level (a) of
`pipeline.stacking`) with the same code, `pipeline.stacking_train.fit_logistic`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from pipeline.descriptors import DESCRIPTOR_FEATURES
from pipeline.metrics import birads_to_ordinal, roc_auc
from pipeline.stacking import sigmoid
from pipeline.stacking_train import fit_logistic


def assign_folds(table: pd.DataFrame, official: bool, k: int, seed: int) -> np.ndarray:
    """Fold number per row: the dataset's own (`fold` column) or stratified patient-grouped k folds."""
    if official:
        folds = pd.to_numeric(table["fold"], errors="coerce")
        if folds.isna().any():
            from pipeline.errors import DatasetError

            raise DatasetError("--official-folds: this dataset defines no official fold for some images")
        return folds.to_numpy(int)
    from sklearn.model_selection import StratifiedGroupKFold

    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    out = np.zeros(len(table), dtype=int)
    y, groups = table["malignant"].to_numpy(int), table["patient_id"].astype(str).to_numpy()
    for i, (_, test) in enumerate(splitter.split(np.zeros(len(table)), y, groups)):
        out[test] = i + 1
    return out


def out_of_fold_scores(table: pd.DataFrame, folds: np.ndarray, features: Sequence[str] = DESCRIPTOR_FEATURES,
                       c: float = 1.0) -> np.ndarray:
    """Descriptor-model log-odds of each image from the model fitted on the other folds."""
    x = table[list(features)].to_numpy(float)
    y = table["malignant"].to_numpy(int)
    scores = np.full(len(table), np.nan)
    for fold in np.unique(folds):
        test = folds == fold
        part = fit_logistic(x[~test], y[~test], tuple(features), c)
        z = (np.where(np.isfinite(x[test]), x[test], part.impute) - part.mean) / part.scale
        scores[test] = part.intercept + z @ np.asarray(part.coef)
    return scores


def cv_summary(table: pd.DataFrame, folds: np.ndarray, scores: dict[str, np.ndarray], n_boot: int,
               seed: int) -> dict[str, Any]:
    """AUC (95 % CI, patient bootstrap), per-fold AUC, and the paired difference with BI-RADS when known."""
    from training.fusion_stats import paired_test, score_row

    y = table["malignant"].to_numpy(int)
    patients = table["patient_id"].astype(str).to_numpy()
    rows = []
    for name, score in scores.items():
        row = {"model": name, **score_row(y, np.array([sigmoid(s) for s in score]), patients, n_boot, seed)}
        row["auc_per_fold"] = {str(f): roc_auc(y[folds == f], score[folds == f]) for f in np.unique(folds)}
        rows.append(row)
    out: dict[str, Any] = {"folds": sorted(int(f) for f in np.unique(folds)), "n": int(len(y)),
                           "n_malignant": int(y.sum()), "n_patients": int(len(set(patients))), "models": rows}
    rated = table["birads"].notna().to_numpy()
    if rated.any():
        ordinal = birads_to_ordinal(table.loc[rated, "birads"].tolist()).astype(float)
        from pipeline.metrics.fast import bootstrap_auc_ap

        ci = bootstrap_auc_ap(y[rated], ordinal, groups=patients[rated], n_boot=n_boot, seed=seed,
                              metrics=("auc",))["auc"]
        out["radiologists_birads"] = {"n": int(rated.sum()), "auc": roc_auc(y[rated], ordinal),
                                      "auc_ci95": [ci.low, ci.high]}
        first = next(iter(scores))
        out["paired_vs_birads"] = paired_test(y[rated], scores[first][rated], ordinal, patients[rated],
                                              first, "radiologists' BI-RADS", n_boot, seed)
    return out


def refit_all(table: pd.DataFrame, features: Sequence[str] = DESCRIPTOR_FEATURES, c: float = 1.0) -> dict[str, Any]:
    """The descriptor model refitted on every image: standardised coefficients, largest first (for reading)."""
    part = fit_logistic(table[list(features)].to_numpy(float), table["malignant"].to_numpy(int), tuple(features), c)
    coef = sorted(zip(part.feature_names, part.coef), key=lambda kv: -abs(kv[1]))
    return {"intercept": part.intercept, "standardised_coef": {k: v for k, v in coef},
            "note": "log-odds per standard deviation of each feature; refitted on all images (not a CV result)",
            "model": part.to_dict()}
