"""Thresholded rates, ROC/PR, calibration, thresholds and BI-RADS operating points."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score, roc_auc_score

from pipeline.metrics import classification as C

PROPS = settings(max_examples=60, deadline=None)


def test_confusion_matrix_and_rates_by_hand():
    y = [1, 1, 1, 0, 0, 0, 0, 1]
    p = [0.9, 0.6, 0.4, 0.5, 0.2, 0.1, 0.7, 0.5]
    # threshold 0.5, >= is malignant: called = 1,1,0,1,0,0,1,1
    cm = C.confusion_matrix(y, p, 0.5)
    assert (cm.tn, cm.fp, cm.fn, cm.tp) == (2, 2, 1, 3)
    m = C.threshold_metrics(y, p, 0.5)
    assert m.accuracy == pytest.approx(5 / 8)
    assert m.sensitivity == pytest.approx(3 / 4)
    assert m.specificity == pytest.approx(2 / 4)
    assert m.precision == pytest.approx(3 / 5)
    assert m.npv == pytest.approx(2 / 3)
    assert m.f1 == pytest.approx(2 * 3 / (2 * 3 + 2 + 1))
    assert m.threshold == 0.5


def test_zero_denominators_give_nan():
    # no malignant cases, nothing called malignant
    m = C.threshold_metrics([0, 0, 0], [0.1, 0.2, 0.3], 0.5)
    assert m.accuracy == 1.0 and m.specificity == 1.0 and m.npv == 1.0
    assert math.isnan(m.sensitivity) and math.isnan(m.precision) and math.isnan(m.f1)
    # only malignant cases, everything called malignant
    m = C.threshold_metrics([True, True], [0.9, 0.8], 0.5)
    assert math.isnan(m.specificity) and math.isnan(m.npv) and m.f1 == 1.0
    # empty input
    m = C.threshold_metrics([], [], 0.5)
    assert all(math.isnan(v) for v in (m.accuracy, m.sensitivity, m.specificity, m.f1))
    assert math.isnan(C.brier_score([], []))
    assert math.isnan(C.expected_calibration_error([], []))
    # single-class ranking metrics
    assert math.isnan(C.roc_auc([1, 1], [0.2, 0.3]))
    assert math.isnan(C.roc_auc([0, 0], [0.2, 0.3]))
    assert math.isnan(C.roc_curve([0, 0], [0.2, 0.3]).auc)
    assert math.isnan(C.average_precision([0, 0], [0.2, 0.3]))
    assert C.pr_curve([0, 0], [0.2, 0.3]).precision.size == 0
    assert math.isnan(C.youden_threshold([1, 1], [0.2, 0.3]))
    assert math.isnan(C.threshold_for_sensitivity([0, 0], [0.2, 0.3], 0.9))


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="0 and 1"):
        C.roc_auc([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="finite"):
        C.roc_auc([0, 1], [0.1, math.nan])
    with pytest.raises(ValueError, match="expected 2"):
        C.confusion_matrix([0, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        C.brier_score([0, 1], [0.1, 1.2])


def test_auc_perfect_reversed_and_ties():
    y = [0, 0, 0, 1, 1]
    assert C.roc_auc(y, [0.1, 0.2, 0.3, 0.8, 0.9]) == 1.0
    assert C.roc_auc(y, [0.9, 0.8, 0.7, 0.2, 0.1]) == 0.0
    assert C.roc_auc(y, [0.5] * 5) == 0.5
    curve = C.roc_curve(y, [0.1, 0.2, 0.3, 0.8, 0.9])
    assert curve.auc == 1.0 and curve.fpr[0] == 0.0 and curve.tpr[-1] == 1.0


@st.composite
def labelled_scores(draw, max_size=60):
    n = draw(st.integers(2, max_size))
    y = np.array(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))
    # few distinct values so ties are common
    s = np.array(draw(st.lists(st.integers(0, 6), min_size=n, max_size=n)), dtype=float) / 6
    return y, s


@PROPS
@given(labelled_scores())
def test_auc_and_ap_equal_sklearn(data):
    y, s = data
    assume(0 < y.sum() < y.size)
    assert C.roc_auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert C.average_precision(y, s) == pytest.approx(average_precision_score(y, s), abs=1e-12)


def test_auc_equals_sklearn_on_continuous_random_data():
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 500)
    s = rng.normal(y * 0.8, 1.0)
    assert C.roc_auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    curve = C.roc_curve(y, s)
    assert curve.auc == pytest.approx(np.trapezoid(curve.tpr, curve.fpr), abs=1e-12)


def test_brier_by_hand():
    assert C.brier_score([0, 1], [0.2, 0.6]) == pytest.approx((0.04 + 0.16) / 2)
    assert C.brier_score([0, 1], [0.0, 1.0]) == 0.0


def test_ece_of_calibrated_data_is_near_zero():
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 1, 20000)
    y = rng.uniform(0, 1, p.size) < p
    assert C.expected_calibration_error(y, p) < 0.02


def test_ece_of_overconfident_model_by_hand():
    y = np.array([1, 0] * 50)
    p = np.full(100, 0.9)  # says 90 %, is right 50 %
    assert C.expected_calibration_error(y, p) == pytest.approx(0.4)


def test_reliability_curve_bins():
    y = [0, 1, 1, 0, 1]
    p = [0.05, 0.15, 0.12, 0.95, 1.0]
    curve = C.reliability_curve(y, p, n_bins=10)
    assert curve.count.tolist() == [1, 2, 0, 0, 0, 0, 0, 0, 0, 2]
    assert curve.count.sum() == 5
    assert curve.mean_predicted[1] == pytest.approx(0.135)
    assert curve.observed_frequency[1] == 1.0
    assert curve.observed_frequency[9] == 0.5  # 1.0 lands in the last bin
    assert math.isnan(curve.mean_predicted[2]) and math.isnan(curve.observed_frequency[2])
    assert curve.bin_lower[0] == 0.0 and curve.bin_upper[-1] == 1.0
    assert curve.ece == pytest.approx(C.expected_calibration_error(y, p))
    with pytest.raises(ValueError):
        C.reliability_curve(y, p, n_bins=0)


def test_youden_threshold():
    y = [0, 0, 0, 1, 1, 1]
    s = [0.1, 0.2, 0.4, 0.6, 0.7, 0.9]
    t = C.youden_threshold(y, s)
    assert t == 0.6  # highest threshold with sens = spec = 1
    m = C.threshold_metrics(y, s, t)
    assert m.sensitivity == 1.0 and m.specificity == 1.0


def test_youden_threshold_takes_labels_first():
    # the one Youden function (training used to have its own with the arguments the other way round):
    # scores where labels belong are refused, whichever way a caller mixes them up
    y, s = np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.6, 0.9])
    assert C.youden_threshold(y, s) == 0.6
    with pytest.raises(ValueError, match="0 and 1"):
        C.youden_threshold(s, y)


def test_youden_threshold_for_a_model_card():
    # what training writes into a card: 0.5 without both classes, clipped into (0, 1), and a model no better
    # than chance calls nothing malignant (the upper limit), never one of its own scores
    low, high = C.CARD_THRESHOLD_LIMITS
    card = {"fallback": 0.5, "limits": C.CARD_THRESHOLD_LIMITS}
    assert C.youden_threshold([1, 1], [0.2, 0.8], **card) == 0.5
    assert C.youden_threshold([], [], **card) == 0.5
    assert C.youden_threshold([0, 0, 1, 1], [0.1, 0.4, 0.6, 0.9], **card) == 0.6
    assert C.youden_threshold([0, 1], [0.0, 1.0], **card) == 1.0 - 1e-4 == high  # a perfect split at 1.0
    assert C.youden_threshold([0, 1], [0.0, 0.00001], **card) == low
    chance = ([0, 1, 0, 1], [0.8, 0.8, 0.3, 0.3])
    assert C.youden_threshold(*chance, **card) == high
    assert C.youden_threshold(*chance) == 0.8  # the metric itself: the highest observed score with the best J
    # J ties within float rounding fall as on sklearn's default curve, the curve every card so far was made on
    y = [0, 1, 0, 1, 0, 1, 1, 1, 1, 0, 1, 0, 0, 0, 1, 0, 0, 1]
    s = [0.1, 0.1, 0.5, 0.2, 0.4, 1.0, 0.1, 0.9, 0.8, 0.3, 0.6, 0.6, 0.9, 0.1, 0.5, 0.4, 0.9, 0.8]
    assert C.youden_threshold(y, s, **card) == 0.8


def test_threshold_for_sensitivity_by_hand():
    y = [1, 1, 1, 1, 1, 0, 0]
    s = [0.9, 0.8, 0.7, 0.6, 0.5, 0.55, 0.1]
    assert C.threshold_for_sensitivity(y, s, 0.8) == 0.6
    assert C.threshold_for_sensitivity(y, s, 1.0) == 0.5
    assert C.threshold_for_sensitivity(y, s, 0.01) == 0.9
    with pytest.raises(ValueError):
        C.threshold_for_sensitivity(y, s, 0.0)


@PROPS
@given(labelled_scores(), st.floats(0.05, 1.0))
def test_threshold_for_sensitivity_is_highest_meeting_target(data, target):
    y, s = data
    assume(y.any())
    t = C.threshold_for_sensitivity(y, s, target)
    assert C.threshold_metrics(y, s, t).sensitivity >= target - 1e-12
    higher = s[y.astype(bool) & (s > t)]
    if higher.size:
        assert C.threshold_metrics(y, s, higher.min()).sensitivity < target


def test_birads_operating_points():
    y = [0, 0, 0, 1, 0, 1, 1, 1]
    birads = ["2", "3", "3", "4a", "BI-RADS 4b", "4C", 5, "5"]
    points = C.operating_points(y, birads)
    assert [p.label for p in points] == ["2", "3", "4a", "4b", "4c", "5"]
    got = {p.label: (p.fpr, p.tpr) for p in points}
    assert got["2"] == (1.0, 1.0)
    assert got["3"] == (0.75, 1.0)
    assert got["4a"] == (0.25, 1.0)  # >= 4a: the 4a, 4b, 4c and two 5s
    assert got["4b"] == (0.25, 0.75)
    assert got["4c"] == (0.0, 0.75)
    assert got["5"] == (0.0, 0.5)
    assert points[2].n_called_positive == 5


def test_operating_points_numeric_and_errors():
    points = C.operating_points([0, 1, 1], np.array([1, 2, 3]))
    assert [(p.cut, p.fpr, p.tpr) for p in points] == [(1.0, 1.0, 1.0), (2.0, 0.0, 1.0), (3.0, 0.0, 0.5)]
    assert math.isnan(C.operating_points([1, 1], [2, 3])[0].fpr)
    assert C.birads_to_ordinal(["4", "4a", "4b", "6"]).tolist() == [4, 4, 5, 8]
    with pytest.raises(ValueError, match="BI-RADS 0"):
        C.operating_points([0, 1], ["0", "4a"])
