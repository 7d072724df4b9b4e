"""Bootstrap intervals: coverage of the estimate, width, patient clustering, speed."""

from __future__ import annotations

import math
import time
from collections import Counter

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from pipeline.metrics.bootstrap import bootstrap, bootstrap_ci, resample_indices
from pipeline.metrics.classification import roc_auc


def synthetic(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p = np.clip(rng.normal(0.35 + 0.3 * y, 0.2), 0, 1)
    return y, p


def width(ci):
    return ci[1] - ci[0]


def test_ci_contains_point_estimate_and_narrows_with_more_data():
    y, p = synthetic(2000)
    small = bootstrap_ci(roc_auc, y[:200], p[:200], n_boot=300)
    large = bootstrap_ci(roc_auc, y, p, n_boot=300)
    assert small[0] < roc_auc(y[:200], p[:200]) < small[1]
    assert large[0] < roc_auc(y, p) < large[1]
    assert width(large) < 0.6 * width(small)  # ~ 1/sqrt(10) in theory


def test_mean_ci_and_seed_reproducibility():
    x = np.random.default_rng(3).normal(10, 2, 400)
    ci = bootstrap_ci(np.mean, x, n_boot=500, seed=1)
    assert ci[0] < x.mean() < ci[1]
    assert width(ci) == pytest.approx(2 * 1.96 * 2 / math.sqrt(400), rel=0.25)
    assert bootstrap_ci(np.mean, x, n_boot=500, seed=1) == ci
    assert bootstrap_ci(np.mean, x, n_boot=500, seed=2) != ci


def test_cluster_bootstrap_keeps_patients_together():
    # 30 patients with 3 images each, rows interleaved so patients are not contiguous
    patients = np.tile(np.arange(30), 3)
    seen: list[Counter] = []

    def record(ids):
        seen.append(Counter(ids.tolist()))
        return 0.0

    bootstrap_ci(record, patients, groups=patients, n_boot=200)
    assert len(seen) == 200
    for counts in seen:
        assert all(c % 3 == 0 for c in counts.values())  # whole patients only
        assert sum(counts.values()) == 90  # 30 patients drawn
    # the check has teeth: resampling images splits patients
    seen.clear()
    bootstrap_ci(record, patients, n_boot=20)
    assert any(c % 3 for counts in seen for c in counts.values())


def test_cluster_bootstrap_with_unequal_group_sizes():
    groups = np.array(["a", "b", "b", "c", "c", "c", "d"], dtype=object)
    sizes = Counter(groups.tolist())
    for idx in resample_indices(len(groups), groups, n_boot=100, rng=np.random.default_rng(5)):
        counts = Counter(groups[idx].tolist())
        assert all(c % sizes[g] == 0 for g, c in counts.items())


def test_duplicated_rows_widen_cluster_interval():
    # 60 patients, each image duplicated 4 times: only 60 independent values
    x = np.random.default_rng(0).normal(0, 1, 60)
    values = np.repeat(x, 4)
    patients = np.repeat(np.arange(60), 4)
    naive = bootstrap_ci(np.mean, values, n_boot=400)
    cluster = bootstrap_ci(np.mean, values, groups=patients, n_boot=400)
    independent = bootstrap_ci(np.mean, x, n_boot=400)
    assert width(cluster) > 1.5 * width(naive)  # ~2x in theory (sqrt 4)
    assert width(cluster) == pytest.approx(width(independent), rel=0.25)


def test_undefined_replicates_are_skipped():
    y = np.array([1] + [0] * 19)
    p = np.linspace(0.9, 0.0, 20)
    result = bootstrap(roc_auc, y, p, n_boot=300)
    assert 0 < result.n_valid < 300  # replicates without the positive are skipped
    assert result.replicates.size == result.n_valid
    assert not math.isnan(result.low)
    # an sklearn scorer that raises on one class is skipped the same way
    low, high = bootstrap_ci(roc_auc_score, y, p, n_boot=100)
    assert 0.0 <= low <= high <= 1.0
    # never defined -> no interval
    assert all(math.isnan(v) for v in bootstrap_ci(roc_auc, np.zeros(10), p[:10], n_boot=50))
    assert all(math.isnan(v) for v in bootstrap_ci(np.mean, np.array([]), n_boot=10))


def test_input_errors():
    with pytest.raises(ValueError, match="same length"):
        bootstrap_ci(roc_auc, [0, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="groups"):
        bootstrap_ci(np.mean, [1.0, 2.0], groups=["a"])
    with pytest.raises(ValueError, match="missing"):
        bootstrap_ci(np.mean, [1.0, 2.0], groups=["a", None])
    with pytest.raises(ValueError, match="alpha"):
        bootstrap_ci(np.mean, [1.0, 2.0], alpha=1.5)


def test_speed_1000_auc_resamples_of_2000_images():
    y, p = synthetic(2000)
    patients = np.repeat(np.arange(1000), 2)
    start = time.perf_counter()
    bootstrap_ci(roc_auc, y, p, n_boot=1000)
    bootstrap_ci(roc_auc, y, p, groups=patients, n_boot=1000)
    elapsed = time.perf_counter() - start
    assert elapsed < 6.0  # two runs; each must stay under ~3 s on a shared machine
