"""The loaders against the real BUS-BRA and BrEaST-Lesions-USG copies (read-only)."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from pipeline.datasets import load_cases, load_mask, read_gray
from pipeline.datasets.describe import describe
from pipeline.splits import check_no_patient_overlap, official_folds

pytestmark = pytest.mark.realdata

SAMPLE = (0, 1, 17, 250, 251)  # a handful of cases, fixed so failures reproduce


@pytest.fixture(scope="module")
def busbra(shared_data):
    return load_cases(f"busbra:{shared_data / 'bus-bra'}")


@pytest.fixture(scope="module")
def breast(shared_data):
    return load_cases(f"breast-lesions-usg:{shared_data / 'breast-lesions-usg'}")


def no_nan(cases) -> bool:
    return not any(isinstance(v, float) and math.isnan(v) for c in cases for v in c.metadata.values())


def test_busbra_counts_and_folds(busbra):
    assert len(busbra) == 1592
    assert len({c.patient_id for c in busbra}) == 905
    assert Counter(c.label for c in busbra) == {"benign": 1077, "malignant": 515}
    folds = official_folds(busbra)
    assert [f.number for f in folds] == [1, 2, 3, 4, 5]
    for fold in folds:
        check_no_patient_overlap(busbra, **fold.named())
    assert all(isinstance(c.metadata["birads"], int) for c in busbra)
    assert len({c.metadata["device"] for c in busbra}) == 4
    assert no_nan(busbra)


def test_breast_counts_and_metadata(breast):
    assert len(breast) == 256
    assert sum(c.metadata["age"] is not None for c in breast) == 214
    assert Counter(c.label for c in breast) == {"benign": 154, "malignant": 98, "normal": 4}
    assert all(not c.mask_paths for c in breast if c.label == "normal")
    assert all(c.mask_paths and all("_tumor" in p.name for p in c.mask_paths) for c in breast if c.label != "normal")
    assert sum(c.metadata["history"] is True for c in breast) == 22  # symptoms naming family history
    assert {c.metadata["birads_major"] for c in breast} == {1, 2, 3, 4, 5}
    assert all(0.03 < c.metadata["spacing_mm"] < 0.2 for c in breast)
    assert no_nan(breast)


@pytest.mark.parametrize("which", ["busbra", "breast"])
def test_masks_load_and_match_images(which, request):
    cases = request.getfixturevalue(which)
    sample = [cases[i] for i in SAMPLE] + [c for c in cases if c.label == "normal"][:2]
    for case in sample:
        gray = read_gray(case.image_path)
        mask = load_mask(case)
        assert gray.dtype == np.uint8 and gray.ndim == 2
        assert mask.dtype == bool and mask.shape == gray.shape, case.case_id
        assert mask.any() == (case.label != "normal"), case.case_id
        assert mask.mean() < 0.8, case.case_id  # a lesion, not the whole frame (alpha ignored)


def test_describe_figures(busbra, breast):
    s = describe(busbra, "busbra")
    assert (s.cases, s.patients, len(s.official_folds)) == (1592, 905, 5)
    assert s.width.min >= 200 and s.width.max <= 600
    b = describe(breast, "breast")
    assert (b.cases, b.metadata_coverage["age"]) == (256, 214)
