"""Dice / IoU / HD95 on hand-made masks, plus property tests against brute force."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.spatial.distance import cdist

from pipeline.metrics.segmentation import (
    ImageSegmentation,
    SegmentationScores,
    boundary,
    dice,
    hd95,
    iou,
    score_image,
    segmentation_scores,
)

PROPS = settings(max_examples=60, deadline=None)


def square(top: int, left: int, side: int, shape=(64, 64)) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[top : top + side, left : left + side] = True
    return mask


def test_dice_and_iou_of_overlapping_squares():
    a = square(10, 10, 20)  # 400 px
    b = square(10, 20, 20)  # shifted 10 columns: overlap 20 x 10 = 200 px
    assert dice(a, b) == pytest.approx(2 * 200 / 800)
    assert iou(a, b) == pytest.approx(200 / 600)


def test_identical_and_disjoint():
    a = square(5, 5, 8)
    assert dice(a, a) == 1.0 and iou(a, a) == 1.0
    b = square(40, 40, 8)
    assert dice(a, b) == 0.0 and iou(a, b) == 0.0


def test_empty_mask_convention():
    empty = np.zeros((16, 16), dtype=bool)
    lesion = square(2, 2, 4, shape=(16, 16))
    assert dice(empty, empty) == 1.0 and iou(empty, empty) == 1.0
    assert dice(empty, lesion) == 0.0 and dice(lesion, empty) == 0.0
    assert iou(empty, lesion) == 0.0 and iou(lesion, empty) == 0.0
    assert math.isnan(hd95(empty, empty))
    assert math.isnan(hd95(lesion, empty))
    assert math.isnan(hd95(empty, lesion))


def test_integer_masks_accepted_float_refused_shape_checked():
    a = square(2, 2, 4, shape=(10, 10))
    assert dice(a.astype(np.uint8) * 255, a) == 1.0
    with pytest.raises(ValueError, match="threshold"):
        dice(a.astype(float), a)
    with pytest.raises(ValueError, match="shapes"):
        iou(a, a[:5])


@pytest.mark.parametrize("shift", [1, 3, 7])
def test_hd95_of_shifted_square_equals_shift(shift):
    a = square(10, 10, 20)
    b = square(10, 10 + shift, 20)
    assert hd95(a, b) == pytest.approx(shift)
    assert hd95(b, a) == pytest.approx(shift)
    vertical = square(10 + shift, 10, 20)
    assert hd95(a, vertical) == pytest.approx(shift)


def test_hd95_uses_spacing_in_mm():
    a = square(10, 10, 20)
    b = square(10, 13, 20)  # 3 columns right
    assert hd95(a, b, spacing=(0.5, 2.0)) == pytest.approx(6.0)
    with pytest.raises(ValueError, match="spacing"):
        hd95(a, b, spacing=(1.0,))


def test_hd95_identical_is_zero_and_touching_image_edge():
    a = square(0, 0, 10, shape=(10, 20))  # touches three image edges
    assert hd95(a, a) == 0.0
    b = square(0, 2, 10, shape=(10, 20))
    assert hd95(a, b) == pytest.approx(2.0)


def test_boundary_of_filled_square_is_its_outline():
    edge = boundary(square(0, 0, 5, shape=(7, 7)))
    assert edge.sum() == 16  # 5 x 5 square minus its 3 x 3 interior
    assert not edge[1:4, 1:4].any()


@st.composite
def mask_pairs(draw):
    shape = draw(st.tuples(st.integers(1, 12), st.integers(1, 12)))
    return draw(arrays(bool, shape)), draw(arrays(bool, shape))


@PROPS
@given(mask_pairs())
def test_dice_iou_properties(pair):
    a, b = pair
    d, j = dice(a, b), iou(a, b)
    assert d == dice(b, a) and j == iou(b, a)
    assert 0.0 <= j <= d <= 1.0
    assert d == pytest.approx(2 * j / (1 + j))  # the exact Dice-IoU relation


def brute_force_hd95(a: np.ndarray, b: np.ndarray, spacing=(1.0, 1.0)) -> float:
    pa = np.argwhere(boundary(a)) * np.asarray(spacing)
    pb = np.argwhere(boundary(b)) * np.asarray(spacing)
    d = cdist(pa, pb)
    return float(np.percentile(np.concatenate([d.min(axis=1), d.min(axis=0)]), 95))


@PROPS
@given(mask_pairs(), st.sampled_from([(1.0, 1.0), (0.5, 2.0)]))
def test_hd95_matches_brute_force_and_is_symmetric(pair, spacing):
    a, b = pair
    got = hd95(a, b, spacing)
    if not a.any() or not b.any():
        assert math.isnan(got)
        return
    assert got == pytest.approx(brute_force_hd95(a, b, spacing))
    assert got == pytest.approx(hd95(b, a, spacing))
    assert hd95(a, a, spacing) == 0.0


def test_score_image_flags():
    empty = np.zeros((8, 8), dtype=bool)
    lesion = square(1, 1, 3, shape=(8, 8))
    fp = score_image(lesion, empty)
    assert fp.false_positive and not fp.missed and fp.dice == 0.0
    miss = score_image(empty, lesion)
    assert miss.missed and not miss.false_positive and math.isnan(miss.hd95)


def test_segmentation_scores_summary():
    shape = (32, 32)
    empty = np.zeros(shape, dtype=bool)
    truth = square(5, 5, 10, shape=shape)
    half = square(5, 5, 10, shape=shape)
    half[:, 10:] = False  # 10 x 5 = 50 of 100 px -> dice 2*50/150
    preds = [truth, half, empty, empty, square(0, 0, 2, shape=shape)]
    truths = [truth, truth, truth, empty, empty]
    s = segmentation_scores(preds, truths)
    assert isinstance(s, SegmentationScores)
    assert (s.n_images, s.n_with_lesion, s.n_empty_truth) == (5, 3, 2)
    assert s.n_false_positive == 1 and s.n_missed == 1
    dices = [1.0, 2 * 50 / 150, 0.0]
    assert s.dice_mean == pytest.approx(np.mean(dices))
    assert s.dice_median == pytest.approx(np.median(dices))
    assert s.iou_mean == pytest.approx(np.mean([1.0, 0.5, 0.0]))
    assert s.hd95_n == 2  # the miss has no HD95
    assert s.hd95_mean == pytest.approx(np.mean([0.0, hd95(half, truth)]))


def test_segmentation_scores_with_spacings_and_no_lesions():
    a, b = square(2, 2, 6, shape=(16, 16)), square(2, 4, 6, shape=(16, 16))
    s = segmentation_scores([a], [b], spacings=[(1.0, 0.25)])
    assert s.hd95_mean == pytest.approx(0.5)
    none = SegmentationScores.from_images(
        [ImageSegmentation(1.0, 1.0, math.nan, truth_empty=True, pred_empty=True)]
    )
    assert none.n_with_lesion == 0 and math.isnan(none.dice_mean) and math.isnan(none.hd95_mean)
    with pytest.raises(ValueError):
        segmentation_scores([a], [a, b])
