"""pipeline.metrics.fast: one-sort curves equal sklearn's, the vectorised bootstrap equals the reference one."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from pipeline.metrics import fast
from pipeline.metrics.bootstrap import _group_codes, bootstrap, bootstrap_ci
from pipeline.metrics.classification import average_precision, pr_curve, roc_auc, roc_curve
from pipeline.metrics.fast import (
    average_precision_fast,
    bootstrap_auc_ap,
    delong_ci,
    group_codes,
    pr_curve_fast,
    roc_curve_fast,
    thin_curve,
)


def synthetic(n: int, seed: int = 0, *, ties: bool = False, prevalence: float = 0.35):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < prevalence).astype(int)
    p = np.clip(np.where(y, rng.beta(4, 2, n), rng.beta(2, 4, n)), 0, 1)
    if ties:
        p = np.round(p, 1)  # many tied scores, ties across the classes
    patients = np.array([f"p{i // 2:05d}" for i in rng.permutation(n)])  # two images per patient, shuffled
    return y, p, patients


def clustered(n_patients: int, seed: int = 0):
    """Two images per patient sharing a patient effect (so images are not independent)."""
    rng = np.random.default_rng(seed)
    y_patient = rng.random(n_patients) < 0.35
    effect = rng.normal(0, 1, n_patients)
    y = np.repeat(y_patient, 2).astype(int)
    score = 1 / (1 + np.exp(-(np.repeat(effect, 2) + rng.normal(0, 0.5, 2 * n_patients) + 1.5 * y - 0.7)))
    return y, score, np.repeat(np.arange(n_patients), 2)


@pytest.mark.parametrize("ties", [False, True])
def test_curves_equal_sklearn(ties):
    y, p, _ = synthetic(800, ties=ties)
    ref, got = roc_curve(y, p), roc_curve_fast(y, p)
    np.testing.assert_allclose(got.fpr, ref.fpr)
    np.testing.assert_allclose(got.tpr, ref.tpr)
    np.testing.assert_array_equal(got.thresholds, ref.thresholds)
    assert got.auc == pytest.approx(ref.auc, abs=1e-12) and got.auc == pytest.approx(roc_auc(y, p), abs=1e-12)
    ref_pr, got_pr = pr_curve(y, p), pr_curve_fast(y, p)
    np.testing.assert_allclose(got_pr.precision, ref_pr.precision)
    np.testing.assert_allclose(got_pr.recall, ref_pr.recall)
    np.testing.assert_array_equal(got_pr.thresholds, ref_pr.thresholds)
    assert got_pr.average_precision == pytest.approx(average_precision(y, p), abs=1e-12)
    assert average_precision_fast(y, p) == pytest.approx(average_precision(y, p), abs=1e-12)


def test_curves_of_one_class_are_empty():
    assert roc_curve_fast(np.ones(5, int), np.linspace(0, 1, 5)).fpr.size == 0
    assert math.isnan(roc_curve_fast(np.zeros(5, int), np.linspace(0, 1, 5)).auc)
    assert pr_curve_fast(np.zeros(5, int), np.linspace(0, 1, 5)).recall.size == 0
    assert average_precision_fast(np.ones(4, int), np.linspace(0, 1, 4)) == pytest.approx(1.0)


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("by_patient", [True, False])
def test_bootstrap_replicates_equal_the_reference(ties, by_patient):
    """Same seed, same draws: every replicate equals the per-replicate roc_auc / sklearn AP."""
    y, p, patients = synthetic(300, seed=1, ties=ties)
    groups = patients if by_patient else None
    ref_auc = bootstrap(roc_auc, y, p, groups=groups, n_boot=200, seed=7)
    ref_ap = bootstrap(average_precision, y, p, groups=groups, n_boot=200, seed=7)
    got = bootstrap_auc_ap(y, p, groups=groups, n_boot=200, seed=7)
    np.testing.assert_allclose(got["auc"].replicates, ref_auc.replicates, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got["ap"].replicates, ref_ap.replicates, rtol=0, atol=1e-12)
    assert (got["auc"].low, got["auc"].high) == pytest.approx((ref_auc.low, ref_auc.high), abs=1e-12)
    assert (got["ap"].low, got["ap"].high) == pytest.approx((ref_ap.low, ref_ap.high), abs=1e-12)


def test_degenerate_replicates_are_skipped_like_the_reference():
    # 12 cases, 2 malignant: many replicates have no malignant case (AUC and AP undefined)
    y = np.array([1, 1] + [0] * 10)
    p = np.linspace(0.9, 0.1, 12)
    groups = np.arange(12) // 2
    got = bootstrap_auc_ap(y, p, groups=groups, n_boot=300, seed=3)
    for metric, key in ((roc_auc, "auc"), (average_precision, "ap")):
        ref = bootstrap(metric, y, p, groups=groups, n_boot=300, seed=3)
        assert got[key].n_valid == ref.n_valid < 300
        np.testing.assert_allclose(got[key].replicates, ref.replicates, atol=1e-12)
    # too few usable replicates (~63% here, 90% asked for): NaN interval, like the reference
    y = np.array([1] + [0] * 30)
    p = np.linspace(1, 0, 31)
    ref = bootstrap(roc_auc, y, p, n_boot=100, min_valid_fraction=0.9)
    got = bootstrap_auc_ap(y, p, n_boot=100, min_valid_fraction=0.9)["auc"]
    assert got.n_valid == ref.n_valid < 90 and math.isnan(got.low) and math.isnan(ref.low)


def test_chunking_does_not_change_the_replicates(monkeypatch):
    y, p, patients = synthetic(500, seed=2, ties=True)
    whole = bootstrap_auc_ap(y, p, groups=patients, n_boot=120, seed=5)
    monkeypatch.setattr(fast, "CHUNK_CELLS", 777)  # a few replicates per block
    parts = bootstrap_auc_ap(y, p, groups=patients, n_boot=120, seed=5)
    for key in ("auc", "ap"):
        np.testing.assert_array_equal(whole[key].replicates, parts[key].replicates)


def test_interval_matches_an_independent_reference_bootstrap():
    """A different seed (different draws): intervals agree within Monte Carlo error."""
    y, p, patients = synthetic(2000, seed=4)
    got = bootstrap_auc_ap(y, p, groups=patients, n_boot=1000, seed=0)
    ref_auc = bootstrap_ci(roc_auc, y, p, groups=patients, n_boot=1000, seed=99)
    ref_ap = bootstrap_ci(average_precision, y, p, groups=patients, n_boot=300, seed=99)
    assert (got["auc"].low, got["auc"].high) == pytest.approx(ref_auc, abs=0.006)
    assert (got["ap"].low, got["ap"].high) == pytest.approx(ref_ap, abs=0.012)
    assert got["auc"].low < roc_auc(y, p) < got["auc"].high
    assert got["ap"].low < average_precision(y, p) < got["ap"].high


def test_patient_clustering_widens_the_interval():
    y, p, patients = clustered(600)
    by_patient = bootstrap_auc_ap(y, p, groups=patients, n_boot=1000, metrics=("auc",))["auc"]
    by_image = bootstrap_auc_ap(y, p, n_boot=1000, metrics=("auc",))["auc"]
    assert by_patient.high - by_patient.low > 1.1 * (by_image.high - by_image.low)


def test_group_codes_match_the_reference():
    for groups in (np.array(["b", "a", "b", "c", "a"]), [3, 1, 3, 2, 1], np.array([3.0, 1.0, 3.0, 2.0, 1.0]),
                   np.array(["x", "y", "x", "z", "y"], dtype=object), [("t", 1), ("t", 2), ("t", 1), "u", "u"]):
        np.testing.assert_array_equal(group_codes(groups, 5), _group_codes(groups, 5))
    with pytest.raises(ValueError, match="missing"):
        group_codes(np.array(["a", None, "b"], dtype=object), 3)
    with pytest.raises(ValueError, match="missing"):
        group_codes(np.array([1.0, np.nan]), 2)


def test_bad_arguments():
    y, p, _ = synthetic(20)
    with pytest.raises(ValueError, match="unknown metric"):
        bootstrap_auc_ap(y, p, metrics=("f1",))
    with pytest.raises(ValueError, match="alpha"):
        bootstrap_auc_ap(y, p, alpha=1.5)
    with pytest.raises(ValueError, match="same length|expected"):
        bootstrap_auc_ap(y, p[:-1])
    empty = bootstrap_auc_ap(np.array([], int), np.array([]), n_boot=10)
    assert math.isnan(empty["auc"].low) and empty["auc"].n_valid == 0


def test_delong_agrees_with_the_bootstrap():
    y, p, patients = clustered(1500, seed=1)
    auc, low, high = delong_ci(y, p)
    boot = bootstrap_auc_ap(y, p, n_boot=1000, metrics=("auc",))["auc"]
    assert auc == pytest.approx(roc_auc(y, p), abs=1e-12)
    assert (low, high) == pytest.approx((boot.low, boot.high), abs=0.006)
    _, c_low, c_high = delong_ci(y, p, groups=patients)
    c_boot = bootstrap_auc_ap(y, p, groups=patients, n_boot=1000, metrics=("auc",))["auc"]
    assert (c_low, c_high) == pytest.approx((c_boot.low, c_boot.high), abs=0.008)
    assert c_high - c_low > high - low  # clustering widens it
    # one image per patient: the clustered form is (asymptotically) plain DeLong
    y2, p2, _ = synthetic(3000, seed=3)
    plain = delong_ci(y2, p2)
    single = delong_ci(y2, p2, groups=np.arange(3000))
    assert single[1:] == pytest.approx(plain[1:], abs=1e-3)
    assert math.isnan(delong_ci(np.ones(4, int), np.linspace(0, 1, 4))[1])


def test_thin_curve_keeps_vertices_and_ends():
    y, p, _ = synthetic(10_000, seed=5)
    roc = roc_curve_fast(y, p)
    keep = thin_curve(roc.fpr, roc.tpr, 200)
    assert keep[0] == 0 and keep[-1] == roc.fpr.size - 1 and len(keep) <= 202
    assert np.all(np.diff(keep) > 0)  # in order, no repeats: a subset of the exact vertices
    assert len(thin_curve(roc.fpr[:50], roc.tpr[:50], 200)) == 50


def test_ten_thousand_cases_a_thousand_replicates_is_fast():
    y, p, patients = synthetic(10_000, seed=6)
    started = time.perf_counter()
    out = bootstrap_auc_ap(y, p, groups=patients, n_boot=1000)
    elapsed = time.perf_counter() - started
    assert out["auc"].n_valid == out["ap"].n_valid == 1000
    assert elapsed < 3.0, elapsed  # ~0.1-0.2 s on one core; the per-replicate reference takes ~10 s for both
