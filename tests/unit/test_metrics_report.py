"""Report dicts: exact keys, JSON-serialisable values, subgroup breakdowns."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from pipeline.metrics.classification import roc_auc, threshold_metrics
from pipeline.metrics.report import (
    CLASSIFICATION_KEYS,
    SEGMENTATION_KEYS,
    age_band,
    classification_report,
    segmentation_report,
    subgroup_table,
    to_jsonable,
)


def strict_json(obj) -> str:
    return json.dumps(obj, allow_nan=False)


def cohort(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    prob = np.clip(rng.normal(0.3 + 0.4 * y, 0.2), 0, 1)
    dice = np.where(rng.uniform(size=n) < 0.8, rng.uniform(0.5, 1.0, n), np.nan)
    return pd.DataFrame(
        {
            "patient_id": [f"P{i // 2}" for i in range(n)],
            "y_true": y,
            "prob": prob,
            "dice": dice,
            "age": rng.choice([35, 44.5, 51, 66, 80, None, "052Y"], n),
            "sex": rng.choice(["F", "M", None], n, p=[0.8, 0.1, 0.1]),
            "device": rng.choice(["Toshiba", "GE", "Philips"], n),
        }
    )


def test_classification_report_keys_values_and_json():
    df = cohort()
    r = classification_report(df.y_true, df.prob, 0.5, groups=df.patient_id, n_boot=200)
    assert tuple(r) == CLASSIFICATION_KEYS
    strict_json(r)
    assert r["auc"] == pytest.approx(roc_auc(df.y_true, df.prob))
    lo, hi = r["auc_ci95"]
    assert lo < r["auc"] < hi
    m = threshold_metrics(df.y_true, df.prob, 0.5)
    for key in ("accuracy", "sensitivity", "specificity", "precision", "npv", "f1"):
        assert r[key] == pytest.approx(getattr(m, key))
    assert r["n"] == 300 and r["n_positive"] == int(df.y_true.sum())
    assert type(r["n"]) is int and type(r["auc"]) is float and type(r["brier"]) is float
    assert 0 <= r["ece"] <= 1 and 0 <= r["brier"] <= 1


def test_classification_report_single_class_gives_none():
    r = classification_report([0, 0, 0], [0.1, 0.6, 0.2], 0.5, n_boot=50)
    strict_json(r)
    assert r["auc"] is None and r["auc_ci95"] == [None, None]
    assert r["sensitivity"] is None and r["specificity"] == pytest.approx(2 / 3)
    assert classification_report([0, 1], [0.1, 0.9], n_boot=0)["auc_ci95"] == [None, None]


def test_segmentation_report():
    dices = [0.9, 0.7, np.nan, 0.5, 0.8]  # nan = normal image, dropped
    ious = [0.8, 0.6, np.nan, 0.4, 0.7]
    hd = [2.0, 4.0, np.nan, np.nan, 6.0]  # a miss has no HD95
    r = segmentation_report(dices, ious, hd, groups=["a", "a", "b", "c", "d"], n_boot=200)
    assert tuple(r) == SEGMENTATION_KEYS
    strict_json(r)
    assert r["n_with_lesion"] == 4
    assert r["dice"] == pytest.approx(0.725)
    assert r["iou"] == pytest.approx(0.625)
    assert r["hd95_px"] == pytest.approx(4.0)
    assert r["dice_median"] == pytest.approx(0.75)
    assert r["dice_ci95"][0] <= r["dice"] <= r["dice_ci95"][1]
    empty = segmentation_report([], [], [], n_boot=10)
    strict_json(empty)
    assert empty["dice"] is None and empty["n_with_lesion"] == 0
    with pytest.raises(ValueError):
        segmentation_report([0.5], [0.5, 0.4], [1.0])


@pytest.mark.parametrize(
    ("age", "band"),
    [
        (39.9, "<40"),
        (40, "40-49"),
        (49.5, "40-49"),
        (50, "50-59"),
        (65, "60-69"),
        (70, ">=70"),
        (92, ">=70"),
        ("45", "40-49"),
        ("072Y", ">=70"),
        ("006M", "<40"),
        (None, "unknown"),
        (float("nan"), "unknown"),
        (-1, "unknown"),
        ("n/a", "unknown"),
        (np.int64(55), "50-59"),
    ],
)
def test_age_band(age, band):
    assert age_band(age) == band


def test_subgroup_table():
    df = cohort()
    rows = subgroup_table(df, ["age_band", "sex", "device"], threshold=0.5)
    strict_json(rows)
    assert rows[0]["column"] == "all" and rows[0]["n"] == len(df)
    assert rows[0]["auc"] == pytest.approx(roc_auc(df.y_true, df.prob))
    bands = [r["subgroup"] for r in rows if r["column"] == "age_band"]
    assert bands == ["<40", "40-49", "50-59", "60-69", ">=70", "unknown"]
    sexes = [r["subgroup"] for r in rows if r["column"] == "sex"]
    assert sexes == ["F", "M", "unknown"]
    for col in ("age_band", "sex", "device"):
        assert sum(r["n"] for r in rows if r["column"] == col) == len(df)
    ge = next(r for r in rows if r["subgroup"] == "GE")
    sub = df[df.device == "GE"]
    assert ge["n_positive"] == int(sub.y_true.sum())
    assert ge["sensitivity"] == pytest.approx(threshold_metrics(sub.y_true, sub.prob, 0.5).sensitivity)
    assert ge["dice_mean"] == pytest.approx(sub.dice.mean())  # pandas skips NaN
    assert ge["n_with_lesion"] == int(sub.dice.notna().sum())


def test_subgroup_with_one_class_and_bootstrap():
    df = pd.DataFrame(
        {
            "y_true": [0, 0, 1, 1, 0, 1],
            "prob": [0.1, 0.7, 0.8, 0.9, 0.2, 0.4],
            "site": ["A", "A", "B", "B", "C", "C"],
            "pid": ["p1", "p1", "p2", "p3", "p4", "p5"],
        }
    )
    rows = subgroup_table(df, ["site"], dice_col=None, patient_col="pid", n_boot=50)
    strict_json(rows)
    by = {r["subgroup"]: r for r in rows}
    assert by["A"]["auc"] is None and by["A"]["sensitivity"] is None
    assert by["A"]["specificity"] == 0.5
    assert by["B"]["auc"] is None and by["B"]["specificity"] is None
    assert by["C"]["auc"] == 1.0 and "auc_ci95" in by["C"] and "dice_mean" not in by["C"]
    with pytest.raises(ValueError, match="no column"):
        subgroup_table(df, ["age_band"])


@dataclass
class _Point:
    x: float
    tags: tuple


def test_to_jsonable():
    obj = {
        "a": np.float32(0.5),
        "b": np.int64(3),
        "c": [np.nan, float("inf"), 1.0],
        "d": np.array([[1, 2], [3, 4]]),
        "e": _Point(np.float64(np.nan), ("x", np.bool_(True))),
        1: None,
        "f": pd.NA,
    }
    out = to_jsonable(obj)
    assert out == {
        "a": 0.5,
        "b": 3,
        "c": [None, None, 1.0],
        "d": [[1, 2], [3, 4]],
        "e": {"x": None, "tags": ["x", True]},
        "1": None,
        "f": None,
    }
    assert type(out["a"]) is float and type(out["b"]) is int
    strict_json(out)
    with pytest.raises(TypeError):
        to_jsonable(object())
