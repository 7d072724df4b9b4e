"""Scores of the fusion comparison: AUC with a patient-bootstrap CI, Brier, ECE, paired AUC tests.

The paired test is DeLong's (1988) for two correlated ROC curves when every
patient contributes one image (BrEaST-Lesions-USG); with several images per
patient DeLong's independence assumption fails, so the p-value then comes
from the paired bootstrap over patients instead (the `method` field says
which). The delta's 95% CI is always the paired patient bootstrap.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from pipeline.metrics import brier_score, expected_calibration_error, roc_auc
from pipeline.metrics.bootstrap import resample_indices
from pipeline.metrics.fast import bootstrap_auc_ap


def score_row(y: np.ndarray, prob: np.ndarray, groups: np.ndarray, n_boot: int, seed: int) -> dict[str, Any]:
    ci = bootstrap_auc_ap(y, prob, groups=groups, n_boot=n_boot, seed=seed, metrics=("auc",))["auc"]
    return {"auc": roc_auc(y, prob), "auc_ci95": [ci.low, ci.high], "brier": brier_score(y, prob),
            "ece": expected_calibration_error(y, prob)}


def _components(y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeLong's structural components: per positive, per negative (ties count 1/2)."""
    pos, neg = score[y == 1], score[y == 0]
    neg_sorted, pos_sorted = np.sort(neg), np.sort(pos)
    v10 = (np.searchsorted(neg_sorted, pos, "left") + np.searchsorted(neg_sorted, pos, "right")) / (2.0 * neg.size)
    v01 = 1.0 - (np.searchsorted(pos_sorted, neg, "left") + np.searchsorted(pos_sorted, neg, "right")) / (2.0 * pos.size)
    return v10, v01


def delong_paired(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(AUC(a) - AUC(b), two-sided p) by DeLong's test for correlated ROC curves."""
    from scipy.stats import norm

    y = np.asarray(y, int)
    a10, a01 = _components(y, np.asarray(a, float))
    b10, b01 = _components(y, np.asarray(b, float))
    m, n = a10.size, a01.size
    if m < 2 or n < 2:
        return math.nan, math.nan
    delta = float(a10.mean() - b10.mean())
    s10 = np.cov(np.vstack([a10, b10]))
    s01 = np.cov(np.vstack([a01, b01]))
    var = (s10[0, 0] + s10[1, 1] - 2 * s10[0, 1]) / m + (s01[0, 0] + s01[1, 1] - 2 * s01[0, 1]) / n
    if not var > 0:
        return delta, 1.0 if delta == 0 else math.nan
    return delta, float(2 * norm.sf(abs(delta) / math.sqrt(var)))


def paired_bootstrap(y, a, b, groups, n_boot: int, seed: int) -> tuple[list[float], float]:
    """([low, high] of AUC(a) - AUC(b), two-sided bootstrap p) resampling whole patients."""
    y, a, b = np.asarray(y, int), np.asarray(a, float), np.asarray(b, float)
    deltas = []
    for idx in resample_indices(len(y), groups, n_boot=n_boot, rng=np.random.default_rng(seed)):
        yy = y[idx]
        if yy.min() == yy.max():
            continue
        deltas.append(roc_auc(yy, a[idx]) - roc_auc(yy, b[idx]))
    values = np.array(deltas)
    if values.size < 2:
        return [math.nan, math.nan], math.nan
    p = min(1.0, 2 * min(np.mean(values <= 0), np.mean(values >= 0)))
    return [float(v) for v in np.quantile(values, [0.025, 0.975])], float(p)


def paired_test(y, a, b, groups, name_a: str, name_b: str, n_boot: int, seed: int) -> dict[str, Any]:
    ci, p_boot = paired_bootstrap(y, a, b, groups, n_boot, seed)
    one_per_patient = len(set(map(str, groups))) == len(groups)
    if one_per_patient:
        delta, p = delong_paired(y, a, b)
        method = "DeLong paired (one image per patient)"
    else:
        delta, p = roc_auc(y, a) - roc_auc(y, b), p_boot
        method = "paired bootstrap over patients"
    return {"a": name_a, "b": name_b, "delta_auc": delta, "delta_auc_ci95": ci, "p_value": p, "method": method}
