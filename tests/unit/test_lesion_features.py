"""Lesion shape features of predicted masks (pipeline.lesion_features)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipeline.lesion_features import LESION_FEATURES, lesion_features, lesion_shape


def disc(shape=(200, 200), centre=(100, 100), radii=(40, 40)) -> np.ndarray:
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    return ((rows - centre[0]) / radii[0]) ** 2 + ((cols - centre[1]) / radii[1]) ** 2 <= 1


def test_disc_is_round_convex_and_as_wide_as_tall():
    shape = lesion_shape(disc())
    assert shape.found and shape.area_mm2 is None
    assert shape.aspect_ratio == pytest.approx(1.0)
    assert shape.solidity == pytest.approx(1.0, abs=0.03)
    assert shape.normalized_perimeter == pytest.approx(1.0, abs=0.05)  # Crofton-corrected crack length
    assert shape.area_fraction == pytest.approx(math.pi * 40 * 40 / 200 / 200, rel=0.02)


def test_taller_than_wide_and_spacing_in_mm():
    tall = lesion_shape(disc(radii=(50, 25)))
    assert tall.aspect_ratio == pytest.approx(2.0, rel=0.03)
    # anisotropic pixels: 0.1 mm rows, 0.2 mm columns make the same mask as wide as tall
    physical = lesion_shape(disc(radii=(50, 25)), spacing_mm=(0.1, 0.2))
    assert physical.aspect_ratio == pytest.approx(1.0, rel=0.03)
    assert physical.area_mm2 == pytest.approx(physical.area_px * 0.02)


def test_irregular_border_lowers_solidity_and_raises_perimeter():
    star = disc(radii=(30, 30))
    for angle in np.linspace(0, np.pi, 6, endpoint=False):  # spicules through the centre
        t = np.linspace(-70, 70, 400)
        r = np.clip((100 + t * np.sin(angle)).astype(int), 0, 199)
        c = np.clip((100 + t * np.cos(angle)).astype(int), 0, 199)
        for dr in (-1, 0, 1):
            star[np.clip(r + dr, 0, 199), c] = True
    smooth, spiculated = lesion_shape(disc()), lesion_shape(star)
    assert spiculated.solidity < smooth.solidity - 0.3
    assert spiculated.normalized_perimeter > smooth.normalized_perimeter + 0.5


def test_empty_mask_gives_missing_features():
    features = lesion_features(np.zeros((50, 60), bool))
    assert set(features) == set(LESION_FEATURES)
    assert features["lesion_missing"] == 1.0
    assert all(math.isnan(v) for k, v in features.items() if k != "lesion_missing")


def test_single_pixel_and_line_do_not_crash():
    mask = np.zeros((10, 10), bool)
    mask[4, 4] = True
    assert lesion_shape(mask).solidity == pytest.approx(1.0)
    mask[4, :] = True
    assert 0 < lesion_shape(mask).solidity <= 1.0
