"""Number formatting and generic JSON-to-table helpers.

Why generic: the fusion, radiologist and external-validation artifacts are
written by other commands whose keys may grow; rendering "every scalar, with
its `_ci95` sibling in brackets" keeps the report correct without a schema
copy here, and a missing or null value shows as "–" instead of crashing.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

DASH = "–"
LABELS = {
    "auc": "AUC", "auc_ci95": "AUC 95% CI", "ece": "ECE", "brier": "Brier score", "dice": "Dice", "iou": "IoU",
    "hd95_px": "HD95 (px)", "n": "images", "n_positive": "malignant", "n_malignant": "malignant",
    "ppv": "PPV", "npv": "NPV", "f1": "F1", "birads_auc": "BI-RADS AUC",
}


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def num(value: Any, digits: int = 3) -> str:
    """A number as text; integers stay integers; None/NaN become a dash."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if not is_number(value):
        return DASH if value is None or isinstance(value, float) else str(value)
    return f"{value:.{digits}f}"


def ci(bounds: Any, digits: int = 3) -> str:
    """"[lo–hi]" or "" when the interval is missing or undefined."""
    if isinstance(bounds, (list, tuple)) and len(bounds) == 2 and all(is_number(b) for b in bounds):
        return f"[{bounds[0]:.{digits}f}–{bounds[1]:.{digits}f}]"
    return ""


def with_ci(value: Any, bounds: Any = None, digits: int = 3) -> str:
    text = num(value, digits)
    interval = ci(bounds, digits)
    return f"{text} {interval}" if interval and text != DASH else text


def mean_sd(stat: Any, digits: int = 3) -> str:
    """cv_summary.json table entry {"mean", "sd"} as "m ± sd"."""
    if not isinstance(stat, dict) or not is_number(stat.get("mean")):
        return DASH
    return f"{stat['mean']:.{digits}f} ± {num(stat.get('sd'), digits)}"


def pct(value: Any) -> str:
    return f"{100 * value:.1f}%" if is_number(value) else DASH


def label(key: str) -> str:
    """Readable name for a JSON key (`specificity_at_radiologist_sensitivity` → words)."""
    if key in LABELS:
        return LABELS[key]
    return key.replace("_ci95", " 95% CI").replace("_", " ")


def get(data: Any, *path: str, default: Any = None) -> Any:
    """data[p0][p1]... without KeyError/TypeError on missing or odd levels."""
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return default
        data = data[key]
    return data


def scalar_rows(data: Any, skip: Iterable[str] = ()) -> list[tuple[str, str]]:
    """(label, value [CI]) for every scalar key of a dict, CIs merged into their base key."""
    if not isinstance(data, dict):
        return []
    skip = set(skip)
    rows = []
    for key, value in data.items():
        if key in skip or key.endswith("_ci95") and key[: -len("_ci95")] in data:
            continue
        if isinstance(value, (dict, list)) and not key.endswith("_ci95"):
            continue
        if key.endswith("_ci95"):
            rows.append((label(key), ci(value) or DASH))
        else:
            rows.append((label(key), with_ci(value, data.get(f"{key}_ci95"))))
    return rows


def side_by_side(columns: dict[str, Any], skip: Iterable[str] = ()) -> tuple[list[str], list[list[str]]]:
    """One row per key over several dicts (e.g. in-domain vs external), CIs merged."""
    skip = set(skip)
    keys: list[str] = []
    for data in columns.values():
        for key in data if isinstance(data, dict) else {}:
            base = key[: -len("_ci95")] if key.endswith("_ci95") else key
            if base not in keys and base not in skip and not isinstance(data.get(base), (dict, list)):
                keys.append(base)
    rows = []
    for key in keys:
        row = [label(key)]
        for data in columns.values():
            data = data if isinstance(data, dict) else {}
            row.append(with_ci(data.get(key), data.get(f"{key}_ci95")) if key in data else DASH)
        rows.append(row)
    return ["measure", *columns], rows


def first_records(data: Any) -> list[dict[str, Any]]:
    """The first list of dicts found depth-first (a JSON file's "rows"), or []."""
    if isinstance(data, list):
        if data and all(isinstance(r, dict) for r in data):
            return data
        for item in data:
            found = first_records(item)
            if found:
                return found
    elif isinstance(data, dict):
        rows = data.get("rows")
        if isinstance(rows, list) and rows and all(isinstance(r, dict) for r in rows):
            return rows
        for value in data.values():
            found = first_records(value)
            if found:
                return found
    return []


def records_table(records: list[dict[str, Any]], max_columns: int = 9) -> tuple[list[str], list[list[str]]]:
    """Union of keys as columns (CIs merged), nested values shown compactly."""
    columns: list[str] = []
    for record in records:
        for key in record:
            if key.endswith("_ci95") and key[: -len("_ci95")] in record:
                continue
            if key not in columns:
                columns.append(key)
    columns = columns[:max_columns]
    rows = []
    for record in records:
        row = []
        for key in columns:
            value = record.get(key)
            if isinstance(value, (list, tuple)) and not key.endswith("_ci95"):
                row.append(", ".join(str(v) for v in value))
            elif key.endswith("_ci95"):
                row.append(ci(value) or DASH)
            elif isinstance(value, dict):
                row.append(", ".join(f"{k}={num(v)}" for k, v in value.items()))
            else:
                row.append(with_ci(value, record.get(f"{key}_ci95")))
        rows.append(row)
    return [label(c) for c in columns], rows
