"""Report-level summaries: the numbers the training CLI writes and the dashboard shows.

Each function returns a plain dict (Python floats, ints, lists; undefined
values as None) so it can go straight into `json.dump` or a Dash component
without numpy or NaN surprises. Key names are part of the contract with the
dashboard and the saved model bundles: add keys deliberately, never rename.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from pipeline.metrics.bootstrap import bootstrap_ci
from pipeline.metrics.classification import (
    brier_score,
    expected_calibration_error,
    labels_and_scores,
    roc_auc,
    threshold_metrics,
)
from pipeline.metrics.jsonable import to_jsonable
from pipeline.metrics.subgroups import AGE_BANDS, age_band, subgroup_table

__all__ = [
    "AGE_BANDS",
    "CLASSIFICATION_KEYS",
    "SEGMENTATION_KEYS",
    "age_band",
    "classification_report",
    "segmentation_report",
    "subgroup_table",
    "to_jsonable",
]

CLASSIFICATION_KEYS = (
    "auc",
    "auc_ci95",
    "accuracy",
    "sensitivity",
    "specificity",
    "precision",
    "npv",
    "f1",
    "brier",
    "ece",
    "threshold",
    "n",
    "n_positive",
)
SEGMENTATION_KEYS = ("dice", "iou", "hd95_px", "dice_ci95", "dice_median", "n_with_lesion")


def classification_report(
    y_true,
    prob,
    threshold: float = 0.5,
    groups: Sequence[Hashable] | np.ndarray | None = None,
    n_boot: int = 1000,
    *,
    seed: int = 0,
    n_bins: int = 10,
) -> dict[str, Any]:
    """Headline benign/malignant metrics at `threshold` (prob >= threshold = malignant).

    `auc_ci95` is a percentile bootstrap interval, by patient when `groups`
    holds patient ids (recommended: several images per patient are not
    independent); `n_boot=0` skips it ([None, None]). `ece` uses `n_bins`
    equal-width bins.
    """
    y, p = labels_and_scores(y_true, prob, probability=True)
    rates = threshold_metrics(y, p, threshold)
    if n_boot > 0:
        ci = bootstrap_ci(roc_auc, y, p, groups=groups, n_boot=n_boot, seed=seed)
    else:
        ci = (math.nan, math.nan)
    report = {
        "auc": roc_auc(y, p),
        "auc_ci95": list(ci),
        "accuracy": rates.accuracy,
        "sensitivity": rates.sensitivity,
        "specificity": rates.specificity,
        "precision": rates.precision,
        "npv": rates.npv,
        "f1": rates.f1,
        "brier": brier_score(y, p),
        "ece": expected_calibration_error(y, p, n_bins),
        "threshold": float(threshold),
        "n": int(y.shape[0]),
        "n_positive": int(y.sum()),
    }
    return to_jsonable(report)


def _mean_of(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else math.nan


def segmentation_report(
    dices,
    ious,
    hd95s,
    groups: Sequence[Hashable] | np.ndarray | None = None,
    n_boot: int = 1000,
    *,
    seed: int = 0,
) -> dict[str, Any]:
    """Cohort segmentation summary from per-image scores.

    Pass one value per image whose truth has a lesion; NaN Dice entries are
    taken to mean "no lesion in the truth" and dropped (with their IoU, HD95
    and group), so per-image arrays of a whole cohort can be passed as they
    are when normal images carry NaN. HD95 is averaged over its finite values
    (it is NaN where the prediction was empty), in pixels. `dice_ci95` is a
    bootstrap interval of the mean Dice, by patient when `groups` is given.
    """
    d = np.asarray(dices, dtype=float)
    i = np.asarray(ious, dtype=float)
    h = np.asarray(hd95s, dtype=float)
    if not (d.ndim == i.ndim == h.ndim == 1 and d.shape == i.shape == h.shape):
        raise ValueError(
            f"dices, ious and hd95s must be 1-D of one length, got {d.shape}, {i.shape}, {h.shape}"
        )
    keep = np.isfinite(d)
    d, i, h = d[keep], i[keep], h[keep]
    g = None
    if groups is not None:
        g = np.asarray(list(groups), dtype=object)
        if g.shape[0] != keep.shape[0]:
            raise ValueError(f"groups has {g.shape[0]} entries for {keep.shape[0]} images")
        g = g[keep]
    if n_boot > 0 and d.size:
        ci = bootstrap_ci(np.mean, d, groups=g, n_boot=n_boot, seed=seed)
    else:
        ci = (math.nan, math.nan)
    report = {
        "dice": _mean_of(d),
        "iou": _mean_of(i[np.isfinite(i)]),
        "hd95_px": _mean_of(h[np.isfinite(h)]),
        "dice_ci95": list(ci),
        "dice_median": float(np.median(d)) if d.size else math.nan,
        "n_with_lesion": int(d.size),
    }
    return to_jsonable(report)
