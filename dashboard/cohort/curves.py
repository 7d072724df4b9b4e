"""Cohort metrics for the filtered cases, split by cost.

`cohort_curves` does the expensive, threshold-independent work once per
filter + model + data version and is memoised in the cache: ROC/PR curves
(one sort, kept as at most `CURVE_POINTS` vertices of the exact curve),
patient-level bootstrap CIs for AUC and AP (`pipeline.metrics.fast`: one
sort, all replicates as integer weight vectors, the same replicates as the
reference `bootstrap_ci` for the same seed), calibration, reader operating
points, overlap scores, and the threshold-free half of the subgroup table
(groups, counts, AUC, mean Dice). `at_threshold` is what the slider
recomputes: confusion counts, rates and per-subgroup sensitivity/specificity
from a few `bincount`s, well under 10 ms for 10,000 cases.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from pipeline.metrics import brier_score, operating_points, reliability_curve, roc_auc, threshold_metrics
from pipeline.metrics.classification import BIRADS_ORDINAL, PrCurve, RocCurve, _birads_key
from pipeline.metrics.fast import bootstrap_auc_ap, pr_curve_fast, roc_curve_fast, thin_curve
from pipeline.metrics.jsonable import to_jsonable
from pipeline.metrics.subgroups import AGE_BANDS, UNKNOWN, age_band

AUC_BOOT = 1000
AP_BOOT = 1000
CURVE_POINTS = 200  # vertices kept per ROC/PR curve (figure and cache size; the areas use every case)
SUBGROUP_COLUMNS = ("age_band", "sex", "device")
CURVES_VERSION = 3  # part of the cache key: bump when CohortCurves changes shape


# ------------------------------------------------------------------ subgroups


def _labels(frame: pd.DataFrame, column: str) -> np.ndarray:
    """Subgroup label per row, exactly as `pipeline.metrics.subgroup_table` derives it."""
    if column == "age_band" and column not in frame.columns:
        ages = frame["age"]
        if pd.api.types.is_numeric_dtype(ages) and not pd.api.types.is_bool_dtype(ages):
            a = ages.to_numpy(dtype=float, na_value=np.nan)
            ok = np.isfinite(a) & (a >= 0) & (a <= 130)
            a = np.where(ok, a, 0.0)
            bands = np.select([a < 40, a < 50, a < 60, a < 70], list(AGE_BANDS[:4]), AGE_BANDS[4])
            return np.where(ok, bands, UNKNOWN).astype(object)
        return np.array([age_band(v) for v in ages], dtype=object)
    values = frame[column].to_numpy(dtype=object)
    missing = pd.isna(values)
    out = np.empty(values.shape[0], dtype=object)
    out[missing] = UNKNOWN
    out[~missing] = [str(v) for v in values[~missing]]
    return out


def _order(column: str, present: set[str]) -> list[str]:
    if column == "age_band":
        return [b for b in AGE_BANDS if b in present] + sorted(present - set(AGE_BANDS))
    return sorted(present - {UNKNOWN}) + ([UNKNOWN] if UNKNOWN in present else [])


@dataclass
class Subgroups:
    """The subgroup table minus its threshold: rows in table order, and each
    row's place in `blocks` (per grouping column: a group code per scored case)."""

    static: list[dict[str, Any]]
    where: list[tuple[int, int]]  # (block, code); block -1 = all cases
    blocks: list[np.ndarray]
    sizes: list[int]

    @classmethod
    def build(cls, rows: pd.DataFrame, y: np.ndarray, p: np.ndarray, columns=SUBGROUP_COLUMNS) -> "Subgroups":
        yb = y.astype(bool)
        dice = rows["dice"].to_numpy(dtype=float, na_value=np.nan) if "dice" in rows else None

        def static(column: str, subgroup: str, mask) -> dict[str, Any]:
            row = {"column": column, "subgroup": subgroup, "n": int(yb[mask].shape[0]),
                   "n_positive": int(yb[mask].sum()), "auc": roc_auc(yb[mask], p[mask])}
            if dice is not None:
                finite = dice[mask][np.isfinite(dice[mask])]
                row["dice_mean"] = float(finite.mean()) if finite.size else math.nan
                row["n_with_lesion"] = int(finite.size)
            return row

        out = cls(static=[static("all", "all", slice(None))], where=[(-1, 0)], blocks=[], sizes=[])
        for column in columns:
            labels = _labels(rows, column)
            order = _order(column, set(labels.tolist()))
            code_of = {value: i for i, value in enumerate(order)}
            codes = np.fromiter((code_of[v] for v in labels), dtype=np.intp, count=labels.shape[0])
            block = len(out.blocks)
            out.blocks.append(codes)
            out.sizes.append(len(order))
            for i, value in enumerate(order):
                out.static.append(static(column, value, codes == i))
                out.where.append((block, i))
        return out

    def at(self, y: np.ndarray, p: np.ndarray, threshold: float) -> list[dict[str, Any]]:
        """JSON-ready rows equal to `subgroup_table(..., threshold=threshold, n_boot=0)`."""
        yb = y.astype(bool)
        called = p >= threshold
        counts = [(np.bincount(codes[yb & called], minlength=k), np.bincount(codes[yb], minlength=k),
                   np.bincount(codes[~yb & ~called], minlength=k), np.bincount(codes[~yb], minlength=k))
                  for codes, k in zip(self.blocks, self.sizes)]
        all_counts = (int(np.sum(yb & called)), int(yb.sum()), int(np.sum(~yb & ~called)), int((~yb).sum()))
        rows = []
        for static, (block, code) in zip(self.static, self.where):
            tp, pos, tn, neg = all_counts if block < 0 else (int(c[code]) for c in counts[block])
            row = dict(static)
            row["sensitivity"] = tp / pos if pos else math.nan
            row["specificity"] = tn / neg if neg else math.nan
            rows.append(row)
        keys = ("column", "subgroup", "n", "n_positive", "auc", "sensitivity", "specificity",
                "dice_mean", "n_with_lesion")
        return to_jsonable([{k: r[k] for k in keys if k in r} for r in rows])


# ------------------------------------------------------------------ curves


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
    scored: pd.DataFrame | None = None  # not kept (the cached object stays small); see `subgroups`
    auc_boot: int = 0
    ap_boot: int = 0
    subgroups: Subgroups | None = None
    uncertainty: np.ndarray = field(default_factory=lambda: np.empty(0))  # per scored case, NaN when unknown
    ood: np.ndarray = field(default_factory=lambda: np.empty(0, bool))  # per scored case: flagged by the guard
    called: np.ndarray = field(default_factory=lambda: np.empty(0, bool))  # per scored case: model said malignant


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
    """BI-RADS operating points ("category >= k"), worked out on the few distinct categories."""
    birads = rows["birads"].astype("string").str.lower()
    usable = birads.isin([k for k in BIRADS_ORDINAL if k != "0"]).to_numpy(dtype=bool)
    y = rows["y"].to_numpy(dtype=int)[usable]
    if usable.sum() < 2 or len(np.unique(y)) < 2:
        return [], int(usable.sum())
    codes, categories = pd.factorize(birads[usable].to_numpy(dtype=object))
    keys = [_birads_key(c) for c in categories]
    ordinal = np.array([BIRADS_ORDINAL[k] for k in keys], dtype=float)
    spelled: dict[float, set[str]] = {}
    for key, level in zip(keys, ordinal):
        spelled.setdefault(float(level), set()).add(key)
    points = operating_points(y, ordinal[codes])  # numeric scale: same cuts, labelled below
    labels = {level: "/".join(sorted(keys)) for level, keys in spelled.items()}
    points = [replace(pt, label=labels[pt.cut]) for pt in points]
    return points, int(usable.sum())


def _thinned_roc(roc: RocCurve) -> RocCurve:
    keep = thin_curve(roc.fpr, roc.tpr, CURVE_POINTS)
    return RocCurve(roc.fpr[keep], roc.tpr[keep], roc.thresholds[keep], roc.auc)


def _thinned_pr(pr: PrCurve) -> PrCurve:
    keep = thin_curve(pr.recall, pr.precision, CURVE_POINTS)
    thresholds = pr.thresholds[keep[keep < pr.thresholds.shape[0]]]
    return PrCurve(pr.precision[keep], pr.recall[keep], thresholds, pr.average_precision)


def cohort_curves(frame: pd.DataFrame, *, auc_boot: int = AUC_BOOT, ap_boot: int | None = None) -> CohortCurves:
    """Everything threshold-independent about the cohort (`ap_boot` defaults to `auc_boot`)."""
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
        uncertainty=pd.to_numeric(rows.get("uncertainty", pd.Series(np.nan, index=rows.index)),
                                  errors="coerce").to_numpy(dtype=float),
        ood=rows.get("out_of_distribution", pd.Series(False, index=rows.index)).fillna(False).to_numpy(dtype=bool),
        # the call as made, at the model's own threshold (no lesion found = not malignant)
        called=(rows.get("predicted", pd.Series("", index=rows.index)) == "malignant").to_numpy(dtype=bool),
    )
    if len(rows) == 0:
        return curves
    both = 0 < y.sum() < len(y)
    ap_boot = auc_boot if ap_boot is None else ap_boot
    curves.auc_boot, curves.ap_boot = auc_boot, ap_boot
    curves.prevalence = float(y.mean())
    curves.roc = _thinned_roc(roc_curve_fast(y, p))
    curves.pr = _thinned_pr(pr_curve_fast(y, p))
    curves.reliability = reliability_curve(y, p, n_bins=10)
    curves.brier = brier_score(y, p)
    if both and (auc_boot or ap_boot):
        if auc_boot == ap_boot:  # one pass, the same replicates for both (as two seeded bootstrap_ci calls)
            boot = bootstrap_auc_ap(y, p, groups=groups, n_boot=auc_boot)
        else:
            boot = {}
            if auc_boot:
                boot.update(bootstrap_auc_ap(y, p, groups=groups, n_boot=auc_boot, metrics=("auc",)))
            if ap_boot:
                boot.update(bootstrap_auc_ap(y, p, groups=groups, n_boot=ap_boot, metrics=("ap",)))
        if "auc" in boot:
            curves.auc_ci = (boot["auc"].low, boot["auc"].high)
        if "ap" in boot:
            curves.ap_ci = (boot["ap"].low, boot["ap"].high)
    curves.reader_points, curves.n_reader = _reader_points(rows)
    curves.subgroups = Subgroups.build(rows, y, p)
    return curves


@dataclass
class AtThreshold:
    threshold: float
    rates: Any  # pipeline.metrics.ThresholdMetrics
    subgroups: list[dict[str, Any]]


def at_threshold(curves: CohortCurves, threshold: float) -> AtThreshold:
    rates = threshold_metrics(curves.y, curves.p, threshold)
    subgroups = curves.subgroups.at(curves.y, curves.p, threshold) if curves.subgroups is not None else []
    return AtThreshold(threshold=float(threshold), rates=rates, subgroups=subgroups)


def threshold_points(at: AtThreshold) -> tuple[tuple[float, float] | None, tuple[float, float] | None]:
    """(fpr, tpr) for the ROC marker and (recall, precision) for the PR marker."""
    r = at.rates
    roc_point = None if math.isnan(r.specificity) or math.isnan(r.sensitivity) else (1 - r.specificity, r.sensitivity)
    pr_point = None if math.isnan(r.sensitivity) or math.isnan(r.precision) else (r.sensitivity, r.precision)
    return roc_point, pr_point
