"""Per-subgroup performance (age band, sex, device, ...).

A model that works on average can still fail one group of patients; the
subgroup table makes that visible. Each grouping column is broken down on its
own (not crossed with the others), because crossed cells quickly become too
small to say anything. Small cells still get a row, with their counts, so the
reader can judge; metrics that need both classes are None there.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from pipeline.metrics.bootstrap import bootstrap_ci
from pipeline.metrics.classification import as_labels, as_scores, roc_auc, threshold_metrics
from pipeline.metrics.jsonable import to_jsonable

__all__ = ["AGE_BANDS", "SIZE_BANDS_MM", "UNKNOWN", "age_band", "lesion_size_bands", "subgroup_table"]

UNKNOWN = "unknown"
AGE_BANDS = ("<40", "40-49", "50-59", "60-69", ">=70", UNKNOWN)

# DICOM Patient's Age (AS): nnnD / nnnW / nnnM / nnnY.
_DICOM_AGE = re.compile(r"^\s*(\d{1,3})\s*([DWMY])\s*$", re.IGNORECASE)
_DICOM_UNIT_YEARS = {"D": 1 / 365.25, "W": 7 / 365.25, "M": 1 / 12, "Y": 1.0}


def _age_years(age: Any) -> float | None:
    if age is None or isinstance(age, bool):
        return None
    if isinstance(age, str):
        match = _DICOM_AGE.match(age)
        if match:
            return int(match.group(1)) * _DICOM_UNIT_YEARS[match.group(2).upper()]
        try:
            age = float(age)
        except ValueError:
            return None
    try:
        years = float(age)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(years) or years < 0 or years > 130:
        return None
    return years


def age_band(age: Any) -> str:
    """Decade band: "<40", "40-49", "50-59", "60-69", ">=70", or "unknown".

    Accepts numbers, numeric strings and DICOM ages ("045Y"); missing,
    negative or implausible ages (> 130) are "unknown" rather than errors,
    since metadata from the field is often incomplete.
    """
    years = _age_years(age)
    if years is None:
        return UNKNOWN
    if years < 40:
        return "<40"
    if years < 50:
        return "40-49"
    if years < 60:
        return "50-59"
    if years < 70:
        return "60-69"
    return ">=70"


# Equivalent-diameter bands (mm) of the true lesion area: the T-stage cut-offs
# (T1 <= 20 mm, T2 20-50 mm, T3 > 50 mm) with T1 split at 10 mm, because most
# ultrasound lesions are small and that is where models are least sure.
SIZE_BANDS_MM = ((10.0, "<=10 mm"), (20.0, "10-20 mm"), (50.0, "20-50 mm"), (math.inf, ">50 mm"))


def lesion_size_bands(area_px, spacing_mm=None) -> tuple[list[str], str]:
    """Size band per lesion and how the bands were made ("mm" or "px tertiles").

    With a pixel spacing for every lesion, the area becomes an equivalent
    diameter 2 * sqrt(area / pi) in mm, banded by `SIZE_BANDS_MM` (a clinical
    scale, comparable across datasets). Without spacing (BUS-BRA) pixels mean
    different sizes on different scanners, so only tertiles of the pixel area
    within this cohort are possible. Missing or zero areas are "unknown".
    """
    area = np.asarray(area_px, dtype=float)
    spacing = None if spacing_mm is None else np.asarray(spacing_mm, dtype=float)
    known = np.isfinite(area) & (area > 0)
    labels = [UNKNOWN] * area.shape[0]
    if spacing is not None and known.any() and np.isfinite(spacing[known]).all():
        diameter = 2.0 * np.sqrt(area * np.where(np.isfinite(spacing), spacing, 0.0) ** 2 / math.pi)
        for i in np.flatnonzero(known):
            labels[i] = next(name for upper, name in SIZE_BANDS_MM if diameter[i] <= upper)
        return labels, "mm"
    if known.sum() >= 3:
        low, high = np.quantile(area[known], [1 / 3, 2 / 3])
        names = (f"small (<={low:.0f} px)", f"medium ({low:.0f}-{high:.0f} px)", f"large (>{high:.0f} px)")
        for i in np.flatnonzero(known):
            labels[i] = names[0] if area[i] <= low else names[1] if area[i] <= high else names[2]
    return labels, "px tertiles"


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        import pandas as pd

        return bool(pd.isna(value))
    except (TypeError, ValueError):  # list-like cells
        return False


def _row(
    column: str,
    subgroup: str,
    y: np.ndarray,
    p: np.ndarray,
    dice: np.ndarray | None,
    patients: np.ndarray | None,
    called: np.ndarray | None,
    threshold: float,
    n_boot: int,
    seed: int,
) -> dict[str, Any]:
    # `called` (the model's own decisions) replaces `p >= threshold` when given.
    decisions = (p >= threshold) if called is None else called
    rates = threshold_metrics(y, decisions.astype(float), 0.5)
    row: dict[str, Any] = {
        "column": column,
        "subgroup": subgroup,
        "n": int(y.shape[0]),
        "n_positive": int(y.sum()),
        "auc": roc_auc(y, p),
        "sensitivity": rates.sensitivity,
        "specificity": rates.specificity,
    }
    if n_boot:
        row["auc_ci95"] = list(
            bootstrap_ci(roc_auc, y, p, groups=patients, n_boot=n_boot, seed=seed)
        )
        row["sensitivity_ci95"] = list(
            bootstrap_ci(_sensitivity, y, decisions, groups=patients, n_boot=n_boot, seed=seed)
        )
        row["specificity_ci95"] = list(
            bootstrap_ci(_specificity, y, decisions, groups=patients, n_boot=n_boot, seed=seed)
        )
    if dice is not None:
        finite = dice[np.isfinite(dice)]
        row["dice_mean"] = float(finite.mean()) if finite.size else math.nan
        row["n_with_lesion"] = int(finite.size)
    return row


def _sensitivity(y: np.ndarray, called: np.ndarray) -> float:
    return float(called[y].mean()) if y.any() else math.nan


def _specificity(y: np.ndarray, called: np.ndarray) -> float:
    return float((~called[~y]).mean()) if (~y).any() else math.nan


def subgroup_table(
    df,
    group_cols: Sequence[str],
    *,
    y_col: str = "y_true",
    prob_col: str = "prob",
    dice_col: str | None = "dice",
    threshold: float = 0.5,
    patient_col: str | None = None,
    n_boot: int = 0,
    seed: int = 0,
    include_overall: bool = True,
    called_col: str | None = None,
) -> list[dict[str, Any]]:
    """One JSON-ready row per (column, subgroup) of a per-image DataFrame.

    Columns used: `y_col` (0/1 malignant), `prob_col` (P(malignant)), and
    `dice_col` if present (per-image Dice, NaN for images without a lesion;
    rows then carry `dice_mean` over the finite values and `n_with_lesion`).
    Each row: column, subgroup, n, n_positive, auc (None unless both classes
    occur), sensitivity and specificity at `threshold`. With `n_boot > 0` an
    `auc_ci95`, `sensitivity_ci95` and `specificity_ci95` are added,
    bootstrapped by `patient_col` when given. `called_col` (bool/0-1, the
    model's own call per image) replaces `prob >= threshold`, for pooled
    cross-validation predictions where every fold had its own threshold.

    "age_band" may be asked for without existing: it is derived from an "age"
    column with `age_band`. Missing group values form the "unknown" subgroup.
    Age bands are listed youngest first, other values in sorted order; with
    `include_overall` a first row (column "all", subgroup "all") covers
    everything.
    """
    missing = [c for c in (y_col, prob_col) if c not in df.columns]
    if missing:
        raise ValueError(f"subgroup table needs column(s) {missing}; have {list(df.columns)}")
    y = as_labels(df[y_col].to_numpy())
    p = as_scores(df[prob_col].to_numpy(dtype=float), y.shape[0])
    dice = (
        df[dice_col].to_numpy(dtype=float)
        if dice_col is not None and dice_col in df.columns
        else None
    )
    patients = df[patient_col].to_numpy() if patient_col is not None else None
    called = df[called_col].to_numpy(dtype=bool) if called_col is not None else None

    def take(mask: np.ndarray | slice) -> dict[str, Any]:
        return {
            "y": y[mask],
            "p": p[mask],
            "dice": None if dice is None else dice[mask],
            "patients": None if patients is None else patients[mask],
            "called": None if called is None else called[mask],
        }

    rows = []
    if include_overall:
        rows.append(_row("all", "all", **take(slice(None)), threshold=threshold, n_boot=n_boot, seed=seed))
    for col in group_cols:
        if col in df.columns:
            raw = list(df[col])
        elif col == "age_band" and "age" in df.columns:
            raw = [age_band(a) for a in df["age"]]
        else:
            raise ValueError(f"no column {col!r} to group by")
        labels = np.array([UNKNOWN if _is_missing(v) else str(v) for v in raw], dtype=object)
        present = set(labels.tolist())
        if col == "age_band":
            order = [b for b in AGE_BANDS if b in present] + sorted(present - set(AGE_BANDS))
        elif present <= {name for _, name in SIZE_BANDS_MM} | {UNKNOWN}:
            order = [name for _, name in SIZE_BANDS_MM if name in present] + sorted(present & {UNKNOWN})
        elif col.startswith("size") and all(v.startswith(("small", "medium", "large", UNKNOWN)) for v in present):
            rank = {"small": 0, "medium": 1, "large": 2, UNKNOWN: 3}
            order = sorted(present, key=lambda v: rank[v.split(" ")[0]])
        else:
            order = sorted(present - {UNKNOWN}) + ([UNKNOWN] if UNKNOWN in present else [])
        for value in order:
            rows.append(
                _row(col, value, **take(labels == value), threshold=threshold, n_boot=n_boot, seed=seed)
            )
    return to_jsonable(rows)
