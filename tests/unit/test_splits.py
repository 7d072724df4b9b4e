"""Patient-level splits: no patient on two sides, deterministic, stratified."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.errors import DatasetError
from pipeline.splits import (
    Fold,
    check_no_patient_overlap,
    duplicate_groups,
    kfold,
    leakage_check,
    official_folds,
    train_val_test_split,
)
from pipeline.types import Case


def cohort(images_per_patient: list[int], labels: list[str] | None = None, folds=None) -> list[Case]:
    cases = []
    for p, n in enumerate(images_per_patient):
        label = labels[p] if labels else ("malignant" if p % 3 == 0 else "benign")
        for v in range(n):
            fold = None if folds is None else folds[p]
            cases.append(Case(f"c{p}_{v}", f"p{p}", Path(f"/nonexistent/c{p}_{v}.png"), label, fold=fold))
    return cases


def patients_of(cases, indices) -> set[str]:
    return {cases[i].patient_id for i in indices}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sizes=st.lists(st.integers(1, 3), min_size=6, max_size=40),
    k=st.integers(2, 5),
    seed=st.integers(0, 2**16),
)
def test_kfold_partitions_patients(sizes, k, seed):
    cases = cohort(sizes)
    folds = kfold(cases, k=k, seed=seed)
    assert len(folds) == k and [f.number for f in folds] == list(range(1, k + 1))
    all_test = np.concatenate([f.test for f in folds])
    assert sorted(all_test.tolist()) == list(range(len(cases)))  # every case tested exactly once
    for fold in folds:
        assert not patients_of(cases, fold.train) & patients_of(cases, fold.test)
        check_no_patient_overlap(cases, **fold.named())
        assert len(fold.train) + len(fold.test) == len(cases)
    again = kfold(cases, k=k, seed=seed)
    assert all((a.test == b.test).all() and (a.train == b.train).all() for a, b in zip(folds, again))


def test_kfold_is_stratified_and_seed_matters():
    cases = cohort([2, 1] * 50)
    folds = kfold(cases, k=5, seed=1)
    rates = [np.mean([cases[i].label == "malignant" for i in f.test]) for f in folds]
    overall = np.mean([c.label == "malignant" for c in cases])
    assert max(abs(r - overall) for r in rates) < 0.12
    other = kfold(cases, k=5, seed=2)
    assert any((a.test.shape != b.test.shape) or (a.test != b.test).any() for a, b in zip(folds, other))
    train, test = folds[0]  # unpacks like a tuple
    assert len(train) + len(test) == len(cases)


def test_kfold_needs_enough_patients():
    with pytest.raises(DatasetError, match="at least k patients"):
        kfold(cohort([3, 3]), k=5)


@settings(max_examples=25, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 3), min_size=3, max_size=60),
    val=st.floats(0.0, 0.4),
    test=st.floats(0.0, 0.4),
    seed=st.integers(0, 1000),
)
def test_train_val_test_split_properties(sizes, val, test, seed):
    cases = cohort(sizes)
    split = train_val_test_split(cases, val_fraction=val, test_fraction=test, seed=seed)
    parts = [split.train, split.val, split.test]
    assert sorted(np.concatenate(parts).tolist()) == list(range(len(cases)))
    check_no_patient_overlap(cases, **split.named())
    again = train_val_test_split(cases, val_fraction=val, test_fraction=test, seed=seed)
    assert all((a == b).all() for a, b in zip(split, again))


def test_train_val_test_split_fractions_are_per_patient_and_stratified():
    labels = ["malignant"] * 40 + ["benign"] * 60
    cases = cohort([2] * 100, labels=labels)
    split = train_val_test_split(cases, 0.2, 0.1, seed=3)
    assert len(patients_of(cases, split.test)) == 10 and len(patients_of(cases, split.val)) == 20
    assert sum(cases[i].label == "malignant" for i in split.test) == 2 * 4  # 10% of 40 patients, 2 images each
    with pytest.raises(DatasetError, match="must be >= 0 and < 1"):
        train_val_test_split(cases, 0.6, 0.5)


def test_small_cohort_still_gets_a_validation_patient():
    cases = cohort([1, 1, 2, 1])
    split = train_val_test_split(cases, val_fraction=0.1, test_fraction=0.0, seed=0)
    assert len(split.val) >= 1 and len(split.test) == 0 and len(split.train) >= 1
    assert len(train_val_test_split(cases, 0.0, 0.0).train) == len(cases)


def test_official_folds():
    cases = cohort([2, 1, 1, 2], folds=[1, 2, 1, 2])
    folds = official_folds(cases)
    assert [f.number for f in folds] == [1, 2]
    assert folds[0].test.tolist() == [0, 1, 3] and folds[0].train.tolist() == [2, 4, 5]


def test_official_folds_errors():
    with pytest.raises(DatasetError, match="no official fold"):
        official_folds(cohort([1, 1]))
    bad = cohort([2, 1], folds=[1, 2])
    bad[1].fold = 2  # patient p0 split over folds 1 and 2
    with pytest.raises(DatasetError, match="patient p0 is in official folds 1 and 2"):
        official_folds(bad)


def test_check_no_patient_overlap_names_patient():
    cases = cohort([2, 1])
    with pytest.raises(DatasetError, match="patient p0 appears in both train and test"):
        check_no_patient_overlap(cases, train=[0, 2], test=[1])


def test_leakage_check_finds_identical_bytes(tmp_path, caplog):
    paths = []
    for name, payload in [("a", b"same"), ("b", b"same"), ("c", b"other"), ("d", b"other")]:
        path = tmp_path / f"{name}.png"
        path.write_bytes(payload)
        paths.append(path)
    cases = [Case(p.stem, p.stem, p, "benign") for p in paths]
    with caplog.at_level(logging.WARNING, logger="pipeline.splits"):
        leaks = leakage_check(cases, train=[0, 2, 3], test=[1])
    assert len(leaks) == 1 and {c for _, c in leaks[0].cases} == {"a", "b"}
    assert "identical image bytes" in caplog.text and "a (train)" in caplog.text
    assert leakage_check(cases, Fold(1, np.array([0, 1]), np.array([2, 3]))) == []  # duplicates on one side only
    assert sorted(map(sorted, duplicate_groups(cases))) == [[0, 1], [2, 3]]
