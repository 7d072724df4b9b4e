"""Cohort metrics for the filtered cases, split by cost.

`cohort_curves` does the expensive, threshold-independent work once per
filter + model + data version (ROC/PR with patient-level bootstrap CIs,
calibration, reader operating points, overlap scores) and is memoised in the
cache; `at_threshold` is what the slider recomputes (confusion matrix, rates,
subgroup table), cheap even for 10,000 cases.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pipeline.metrics import (
    bootstrap_ci,
    brier_score,
    operating_points,
    pr_curve,
    reliability_curve,
    roc_auc,
    roc_curve,
    subgroup_table,
    threshold_metrics,
)
from pipeline.metrics.classification import BIRADS_ORDINAL, average_precision

AUC_BOOT = 1000


def ap_boot_for(n: int) -> int:
    """Replicates for the average-precision CI: AP goes through sklearn (~10 ms per
    replicate at 10,000 cases), so large cohorts get fewer replicates to keep a
    cold filter change near a second; small ones get up to 500."""
    return int(min(500, max(100, 1_000_000 // max(n, 1))))
SUBGROUP_COLUMNS = ("age_band", "sex", "device")


@dataclass
class CohortCurves:
    n_cases: int
    n_scored: int
    n_patients: int
    y: np.ndarray
    p: np.ndarray
    roc: Any = None
    auc_ci: tuple[float, float] | None = None
    pr: Any = None
    ap_ci: tuple[float, float] | None = None
    prevalence: float = math.nan
    reliability: Any = None
    brier: float = math.nan
    reader_points: list = field(default_factory=list)
    n_reader: int = 0
    dice: np.ndarray = field(default_factory=lambda: np.empty(0))
    iou: np.ndarray = field(default_factory=lambda: np.empty(0))
    scored: pd.DataFrame | None = None  # rows used for y/p (for subgroups)
    auc_boot: int = 0
    ap_boot: int = 0


def scored_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Cases with a benign/malignant truth and a probability from the active model."""
    if frame.empty:
        return frame.assign(y=pd.Series(dtype=int), p=pd.Series(dtype=float))
    mask = frame["true_label"].isin(["benign", "malignant"]) & frame["probability"].notna()
    rows = frame.loc[mask].copy()
    rows["y"] = (rows["true_label"] == "malignant").astype(int)
    rows["p"] = rows["probability"].astype(float).clip(0.0, 1.0)
    return rows


def _reader_points(rows: pd.DataFrame):
    birads = rows["birads"].astype("string").str.lower()
    usable = birads.isin([k for k in BIRADS_ORDINAL if k != "0"])
    if usable.sum() < 2 or rows.loc[usable, "y"].nunique() < 2:
        return [], int(usable.sum())
    points = operating_points(rows.loc[usable, "y"].to_numpy(), birads[usable].to_numpy(dtype=object))
    return points, int(usable.sum())


def cohort_curves(frame: pd.DataFrame, *, auc_boot: int = AUC_BOOT, ap_boot: int | None = None) -> CohortCurves:
    rows = scored_rows(frame)
    y = rows["y"].to_numpy(dtype=int)
    p = rows["p"].to_numpy(dtype=float)
    groups = rows["patient_key"].to_numpy() if "patient_key" in rows else None
    dice = pd.to_numeric(frame.get("dice", pd.Series(dtype=float)), errors="coerce").to_numpy(dtype=float)
    iou = pd.to_numeric(frame.get("iou", pd.Series(dtype=float)), errors="coerce").to_numpy(dtype=float)
    curves = CohortCurves(
        n_cases=int(len(frame)),
        n_scored=int(len(rows)),
        n_patients=int(rows["patient_key"].nunique()) if len(rows) else 0,
        y=y,
        p=p,
        dice=dice[np.isfinite(dice)],
        iou=iou[np.isfinite(iou)],
        scored=rows,
    )
    if len(rows) == 0:
        return curves
    both = 0 < y.sum() < len(y)
    ap_boot = ap_boot_for(len(rows)) if ap_boot is None else ap_boot
    curves.auc_boot, curves.ap_boot = auc_boot, ap_boot
    curves.prevalence = float(y.mean())
    curves.roc = roc_curve(y, p)
    curves.pr = pr_curve(y, p)
    curves.reliability = reliability_curve(y, p, n_bins=10)
    curves.brier = brier_score(y, p)
    if both and auc_boot:
        curves.auc_ci = bootstrap_ci(roc_auc, y, p, groups=groups, n_boot=auc_boot)
    if both and ap_boot:
        curves.ap_ci = bootstrap_ci(average_precision, y, p, groups=groups, n_boot=ap_boot)
    curves.reader_points, curves.n_reader = _reader_points(rows)
    return curves


@dataclass
class AtThreshold:
    threshold: float
    rates: Any  # pipeline.metrics.ThresholdMetrics
    subgroups: list[dict[str, Any]]


def at_threshold(curves: CohortCurves, threshold: float) -> AtThreshold:
    rates = threshold_metrics(curves.y, curves.p, threshold)
    subgroups: list[dict[str, Any]] = []
    rows = curves.scored
    if rows is not None and len(rows):
        subgroups = subgroup_table(
            rows, list(SUBGROUP_COLUMNS), y_col="y", prob_col="p", dice_col="dice", threshold=threshold, n_boot=0
        )
    return AtThreshold(threshold=float(threshold), rates=rates, subgroups=subgroups)


def threshold_points(at: AtThreshold) -> tuple[tuple[float, float] | None, tuple[float, float] | None]:
    """(fpr, tpr) for the ROC marker and (recall, precision) for the PR marker."""
    r = at.rates
    roc_point = None if math.isnan(r.specificity) or math.isnan(r.sensitivity) else (1 - r.specificity, r.sensitivity)
    pr_point = None if math.isnan(r.sensitivity) or math.isnan(r.precision) else (r.sensitivity, r.precision)
    return roc_point, pr_point
