"""Model vs radiologists' BI-RADS, calibration slope/intercept, subgroup extensions."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from pipeline.metrics.calibration_fit import calibration_slope_intercept
from pipeline.metrics.reader_comparison import (
    ReaderComparisonConfig,
    birads_scores,
    compare_with_readers,
    detect_scale,
    positive_cut,
    sensitivity_at_specificity,
    specificity_at_sensitivity,
)
from pipeline.metrics.subgroups import lesion_size_bands, subgroup_table

NO_BOOT = ReaderComparisonConfig(n_boot=0)


# ------------------------------------------------------------------ BI-RADS scales


def test_scale_detection_and_parsing_on_both_scales():
    assert detect_scale(["2", "4a", None, "5"]) == "4a"  # BrEaST
    assert detect_scale([2, 3, 4.0, 5, float("nan")]) == "4"  # BUS-BRA, as pandas reads it
    assert birads_scores(["4a", "4b", "4c", "5", "4"], "4a").tolist() == [4, 5, 6, 7, 4]
    assert birads_scores(["4a", "4b", "4c", "5", 3.0], "4").tolist() == [4, 4, 4, 5, 3]
    missing = birads_scores([None, float("nan"), "0", "BI-RADS 3"], "4a")
    assert np.isnan(missing[:3]).all() and missing[3] == 3
    with pytest.raises(ValueError, match="unknown BI-RADS"):
        birads_scores(["7x"], "4a")


def test_positive_cut_defaults_and_custom_thresholds():
    assert positive_cut("4a") == (4.0, "4a")
    assert positive_cut("4") == (4.0, "4")
    assert positive_cut("4a", "4b") == (5.0, "4b")
    assert positive_cut("4", "5") == (5.0, "5")
    with pytest.raises(ValueError, match="subdivided"):
        positive_cut("4", "4b")


# ------------------------------------------------------------------ matched operating points


def test_perfect_model_is_fully_specific_at_any_sensitivity():
    rng = np.random.default_rng(0)
    y = rng.random(60) < 0.4
    prob = np.where(y, 0.6 + 0.4 * rng.random(60), 0.5 * rng.random(60))
    for target in (0.1, 0.5, 0.9, 1.0):
        assert specificity_at_sensitivity(y, prob, target) == 1.0
        assert sensitivity_at_specificity(y, prob, target) == 1.0


def test_small_example_by_hand():
    y = [1, 1, 0, 0]
    prob = [0.9, 0.4, 0.6, 0.1]
    # Radiologists perfect: 4a+ calls both cancers, neither benign.
    perfect = compare_with_readers(y, prob, ["5", "4a", "3", "2"], config=NO_BOOT)
    assert perfect["radiologists"]["sensitivity"] == 1.0 and perfect["radiologists"]["specificity"] == 1.0
    assert perfect["radiologists"]["birads_auc"] == 1.0
    assert perfect["model"]["auc"] == 0.75  # 3 of 4 (malignant, benign) pairs ordered right
    assert perfect["model"]["specificity_at_radiologist_sensitivity"] == 0.5  # must call 0.4: also calls 0.6
    assert perfect["model"]["sensitivity_at_radiologist_specificity"] == 0.5  # above 0.6 only 0.9
    assert perfect["differences_model_minus_radiologists"]["auc_vs_birads_auc"] == -0.25
    # Radiologists at sens 0.5 / spec 0.5: the model does better at both of their points.
    weak = compare_with_readers(y, prob, ["4b", "3", "4a", "2"], config=NO_BOOT)
    assert (weak["radiologists"]["sensitivity"], weak["radiologists"]["specificity"]) == (0.5, 0.5)
    assert weak["model"]["specificity_at_radiologist_sensitivity"] == 1.0
    assert weak["model"]["sensitivity_at_radiologist_specificity"] == 1.0
    assert weak["threshold"] == "4a" and weak["scale"] == "4a"


def test_rows_without_birads_are_excluded_from_both_sides():
    y = [1, 1, 0, 0, 1]
    prob = [0.9, 0.8, 0.2, 0.1, 0.0]  # the last (missed) cancer has no BI-RADS
    result = compare_with_readers(y, prob, [5, 4, 3, 2, None], config=NO_BOOT)
    assert result["n"] == 4 and result["n_excluded_no_birads"] == 1
    assert result["model"]["auc"] == 1.0 and result["scale"] == "4" and result["threshold"] == "4"
    cuts = [p["positive_from"] for p in result["radiologists"]["operating_points"]]
    assert cuts == ["2", "3", "4", "5"]


def test_patient_bootstrap_intervals_bracket_the_estimates():
    rng = np.random.default_rng(1)
    n = 300
    y = rng.random(n) < 0.35
    prob = np.clip(0.35 + 0.3 * y + rng.normal(0, 0.2, n), 0, 1)
    birads = np.where(y, rng.choice(["4b", "4c", "5", "3"], n), rng.choice(["2", "3", "4a"], n))
    patients = np.arange(n) // 2
    result = compare_with_readers(y, prob, list(birads), patients=patients, called=prob >= 0.5,
                                  config=ReaderComparisonConfig(n_boot=200))
    assert result["n_patients"] == 150 and result["bootstrap"]["unit"] == "patient"
    for section, key in (("radiologists", "sensitivity"), ("radiologists", "specificity"),
                         ("radiologists", "birads_auc"), ("model", "auc"),
                         ("model", "specificity_at_radiologist_sensitivity"),
                         ("model", "sensitivity_at_radiologist_specificity"), ("model", "sensitivity")):
        low, high = result[section][f"{key}_ci95"]
        assert low <= result[section][key] <= high, (section, key)


# ------------------------------------------------------------------ calibration slope / intercept


def test_calibration_slope_and_intercept_recover_known_miscalibration():
    rng = np.random.default_rng(0)
    z = rng.normal(0, 2, 20000)
    y = rng.random(z.size) < 1 / (1 + np.exp(-z))
    over = calibration_slope_intercept(y, 1 / (1 + np.exp(-2 * z)))  # logits twice too large
    shifted = calibration_slope_intercept(y, 1 / (1 + np.exp(-(z + 1))))  # risk over-estimated
    assert over.slope == pytest.approx(0.5, abs=0.03)
    assert shifted.slope == pytest.approx(1.0, abs=0.05) and shifted.intercept == pytest.approx(-1.0, abs=0.05)
    assert math.isnan(calibration_slope_intercept([1, 1, 1], [0.2, 0.5, 0.9]).slope)


# ------------------------------------------------------------------ subgroups


def test_lesion_size_bands_in_mm_with_spacing_else_pixel_tertiles():
    # equivalent diameters 2*sqrt(A/pi) * 0.1 mm: 5, 15, 30, 60 mm
    diam_px = np.array([50, 150, 300, 600])
    area = np.pi * (diam_px / 2) ** 2
    labels, kind = lesion_size_bands(np.r_[area, 0], np.full(5, 0.1))
    assert kind == "mm" and labels == ["<=10 mm", "10-20 mm", "20-50 mm", ">50 mm", "unknown"]
    labels, kind = lesion_size_bands([100, 200, 300, 400, 500, 600], None)
    assert kind == "px tertiles"
    assert [label.split(" ")[0] for label in labels] == ["small", "small", "medium", "medium", "large", "large"]


def test_subgroup_table_uses_the_models_own_calls_and_adds_rate_cis():
    df = pd.DataFrame({
        "y_true": [1, 1, 0, 0, 1, 0, 1, 0],
        "prob": [0.9, 0.3, 0.2, 0.6, 0.8, 0.1, 0.7, 0.4],
        "called": [True, True, False, False, True, False, True, False],  # not prob >= 0.5
        "device": ["A", "A", "A", "A", "B", "B", "B", "B"],
        "patient_id": list("aabbccdd"),
    })
    rows = subgroup_table(df, ["device"], dice_col=None, called_col="called", patient_col="patient_id", n_boot=50)
    overall = rows[0]
    assert overall["sensitivity"] == 1.0 and overall["specificity"] == 1.0
    assert {"auc_ci95", "sensitivity_ci95", "specificity_ci95"} <= set(overall)
    assert [r["subgroup"] for r in rows[1:]] == ["A", "B"]
    by_threshold = subgroup_table(df, ["device"], dice_col=None, threshold=0.5)
    assert by_threshold[0]["sensitivity"] == 0.75 and "sensitivity_ci95" not in by_threshold[0]
