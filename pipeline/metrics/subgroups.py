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

__all__ = ["AGE_BANDS", "UNKNOWN", "age_band", "subgroup_table"]

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
    threshold: float,
    n_boot: int,
    seed: int,
) -> dict[str, Any]:
    rates = threshold_metrics(y, p, threshold)
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
    if dice is not None:
        finite = dice[np.isfinite(dice)]
        row["dice_mean"] = float(finite.mean()) if finite.size else math.nan
        row["n_with_lesion"] = int(finite.size)
    return row


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
) -> list[dict[str, Any]]:
    """One JSON-ready row per (column, subgroup) of a per-image DataFrame.

    Columns used: `y_col` (0/1 malignant), `prob_col` (P(malignant)), and
    `dice_col` if present (per-image Dice, NaN for images without a lesion;
    rows then carry `dice_mean` over the finite values and `n_with_lesion`).
    Each row: column, subgroup, n, n_positive, auc (None unless both classes
    occur), sensitivity and specificity at `threshold`. With `n_boot > 0` an
    `auc_ci95` is added, bootstrapped by `patient_col` when given.

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

    def take(mask: np.ndarray | slice) -> dict[str, Any]:
        return {
            "y": y[mask],
            "p": p[mask],
            "dice": None if dice is None else dice[mask],
            "patients": None if patients is None else patients[mask],
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
        else:
            order = sorted(present - {UNKNOWN}) + ([UNKNOWN] if UNKNOWN in present else [])
        for value in order:
            rows.append(
                _row(col, value, **take(labels == value), threshold=threshold, n_boot=n_boot, seed=seed)
            )
    return to_jsonable(rows)
