"""BI-RADS lexicon descriptors on synthetic lesions whose answers are known (pipeline.descriptors)."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from pipeline import descriptor_geometry as geo
from pipeline.descriptor_words import suspicion_count
from pipeline.descriptors import (
    DESCRIPTOR_FEATURES,
    FEATURE_MEANING,
    NO_LESION,
    describe_lesion,
    descriptor_features,
    lesion_descriptor_features,
)

H, W = 500, 600
CENTRE = (200, 300)


def polar_mask(radius_of_theta, centre=CENTRE, shape=(H, W)) -> np.ndarray:
    """Mask of r <= R(theta), theta from +x towards the top of the image."""
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    y, x = -(rows - centre[0]), cols - centre[1]
    return np.hypot(x, y) <= radius_of_theta(np.arctan2(y, x))


def ellipse(a_x: float, b_y: float):
    return polar_mask(lambda t: a_x * b_y / np.sqrt((b_y * np.cos(t)) ** 2 + (a_x * np.sin(t)) ** 2))


def speckle(mask, inside=50.0, outside=130.0, seed=0, base=None) -> np.ndarray:
    """Rayleigh speckle around a mean grey level (what B-mode tissue looks like)."""
    rng = np.random.default_rng(seed)
    mean = np.where(mask, inside, outside) if base is None else base
    return np.clip(mean * rng.rayleigh(1.0, mask.shape) / math.sqrt(math.pi / 2), 0, 255).astype(np.uint8)


DISC = polar_mask(lambda t: 60 + 0 * t)
STAR = polar_mask(lambda t: 45 * (1 + 0.8 * np.maximum(0, np.cos(6 * t)) ** 8))
LOBED = polar_mask(lambda t: 60 * (1 + 0.06 * np.cos(12 * t)))


def test_disc_is_round_parallel_and_circumscribed():
    d = describe_lesion(speckle(DISC), DISC)
    assert d.found
    assert (d.shape, d.orientation, d.margin, d.margin_subtypes) == ("round", "parallel", "circumscribed", ())
    assert d.solidity > 0.98 and d.circularity > 0.95 and d.convexity > 0.98
    assert d.axis_ratio == pytest.approx(1.0, abs=0.02)
    assert d.radial_std < 0.01 and d.lobulation == 0 and d.margin_roughness < 0.01
    assert d.area_px == pytest.approx(math.pi * 60 ** 2, rel=0.01)


def test_wide_ellipse_is_oval_and_parallel():
    mask = ellipse(80, 40)
    d = describe_lesion(speckle(mask), mask)
    assert (d.shape, d.orientation, d.margin) == ("oval", "parallel", "circumscribed")
    assert d.axis_ratio == pytest.approx(0.5, abs=0.02)
    assert d.depth_width_ratio == pytest.approx(0.5, abs=0.02)
    assert d.major_axis_angle < 2
    assert d.lobulation == 2  # the two ends of the long axis


def test_tall_ellipse_is_not_parallel_and_spacing_makes_it_physical():
    mask = ellipse(40, 80)
    d = describe_lesion(speckle(mask), mask)
    assert (d.shape, d.orientation) == ("oval", "not parallel")
    assert d.depth_width_ratio == pytest.approx(2.0, abs=0.05)
    assert d.major_axis_angle > 88
    # rows of 0.05 mm and columns of 0.1 mm: the same pixels are as tall as wide in mm -> round, parallel
    physical = describe_lesion(speckle(mask), mask, spacing_mm=(0.05, 0.1))
    assert physical.depth_width_ratio == pytest.approx(1.0, abs=0.03)
    assert physical.orientation == "parallel" and physical.shape == "round"
    assert physical.equivalent_diameter_mm == pytest.approx(2 * math.sqrt(40 * 80 * 0.005), rel=0.02)
    assert math.isnan(d.equivalent_diameter_mm)


def test_star_is_spiculated_and_irregular():
    d = describe_lesion(speckle(STAR), STAR)
    assert d.shape == "irregular"
    assert d.margin == "not circumscribed" and "spiculated" in d.margin_subtypes
    assert d.solidity < 0.7 and d.defect_depth > 0.3 and d.spiculation > 0.1
    assert d.defect_count == 6


def test_lobulated_contour_is_microlobulated_not_spiculated():
    d = describe_lesion(speckle(LOBED), LOBED)
    assert d.margin == "not circumscribed"
    assert "microlobulated" in d.margin_subtypes and "spiculated" not in d.margin_subtypes
    assert d.lobulation == 12


def test_polygon_is_angular():
    triangle = polar_mask(lambda t: 50 / np.cos(((t + np.pi / 2) % (2 * np.pi / 3)) - np.pi / 3))
    d = describe_lesion(speckle(triangle), triangle)
    assert "angular" in d.margin_subtypes and d.angularity > 1.4


def test_blurred_border_is_indistinct():
    from scipy import ndimage

    blurred_mean = ndimage.gaussian_filter(np.where(DISC, 50.0, 130.0), 12)
    d = describe_lesion(speckle(DISC, base=blurred_mean), DISC)
    sharp = describe_lesion(speckle(DISC), DISC)
    assert "indistinct" in d.margin_subtypes and d.margin == "not circumscribed"
    assert d.edge_defined_fraction < sharp.edge_defined_fraction
    assert d.edge_sharpness < sharp.edge_sharpness


@pytest.mark.parametrize(("inside", "word"), [(5.0, "anechoic"), (50.0, "hypoechoic"), (130.0, "isoechoic"),
                                              (220.0, "hyperechoic")])
def test_echo_pattern_relative_to_the_ring(inside, word):
    d = describe_lesion(speckle(DISC, inside=inside), DISC)
    assert d.echo_pattern == word


def test_half_cystic_half_solid_is_heterogeneous():
    rows, _ = np.mgrid[:H, :W]
    mean = np.where(DISC, np.where(rows < CENTRE[0], 10.0, 160.0), 130.0)
    d = describe_lesion(speckle(DISC, base=mean), DISC)
    assert d.echo_pattern == "heterogeneous"


def _with_band(mask, factor):
    """Grey image with the column band below the lesion multiplied by `factor` (posterior feature)."""
    rows, cols = np.mgrid[:H, :W]
    below = (rows > CENTRE[0] + 60) & (np.abs(cols - CENTRE[1]) <= 60)
    mean = np.where(mask, 50.0, 130.0) * np.where(below, factor, 1.0)
    return speckle(mask, base=mean)


def test_bright_band_below_is_enhancement_and_dark_band_is_shadowing():
    enhanced = describe_lesion(_with_band(DISC, 1.7), DISC)
    shadowed = describe_lesion(_with_band(DISC, 0.4), DISC)
    plain = describe_lesion(speckle(DISC), DISC)
    assert enhanced.posterior == "enhancement" and enhanced.posterior_contrast > 0.3  # speckle clips at 255
    assert shadowed.posterior == "shadowing" and shadowed.posterior_contrast < -0.4
    assert plain.posterior == "none" and abs(plain.posterior_contrast) < 0.1


def test_half_bright_half_dark_below_is_combined():
    rows, cols = np.mgrid[:H, :W]
    below = rows > CENTRE[0] + 60
    factor = np.where(below & (cols >= CENTRE[1] - 60) & (cols < CENTRE[1]), 0.4, 1.0)
    factor = np.where(below & (cols >= CENTRE[1]) & (cols <= CENTRE[1] + 60), 1.8, factor)
    d = describe_lesion(speckle(DISC, base=np.where(DISC, 50.0, 130.0) * factor), DISC)
    assert d.posterior == "combined"


def test_lesion_at_the_bottom_edge_has_no_posterior_region_and_does_not_crash():
    mask = polar_mask(lambda t: 40 + 0 * t, centre=(480, 300))
    d = describe_lesion(speckle(mask), mask)
    assert d.found and d.posterior == "not assessable" and math.isnan(d.posterior_contrast)
    features = descriptor_features(d)
    assert math.isnan(features["posterior_contrast"]) and math.isfinite(features["log_hull_deficit"])


def test_empty_mask_is_no_lesion_with_nan_features():
    empty = np.zeros((H, W), bool)
    d = describe_lesion(speckle(empty), empty)
    assert not d.found and d.shape == NO_LESION and d.sentence() == "No lesion found."
    assert d.area_px == 0
    features = lesion_descriptor_features(speckle(empty), empty)
    assert list(features) == list(DESCRIPTOR_FEATURES)
    assert all(math.isnan(v) for v in features.values())


@pytest.mark.parametrize("pixels", [1, 4])
def test_speck_masks_are_found_but_not_assessable(pixels):
    mask = np.zeros((H, W), bool)
    mask[10:10 + pixels, 10] = True
    d = describe_lesion(speckle(mask), mask)
    assert d.found and d.area_px == pixels and d.shape == "not assessable"
    assert all(math.isnan(v) for v in descriptor_features(d).values())


def test_lesion_touching_the_image_corner_and_tiny_images():
    mask = np.zeros((20, 20), bool)
    mask[:6, :7] = True
    d = describe_lesion(speckle(mask), mask)
    assert d.found and d.shape in ("oval", "round")
    full = np.ones((12, 12), bool)  # the whole image is lesion: no ring, no posterior region
    d = describe_lesion(speckle(full), full)
    assert d.found and d.echo_pattern == "not assessable" and d.posterior == "not assessable"


def test_only_the_largest_region_is_described_and_holes_are_filled():
    mask = DISC.copy()
    mask[10:14, 10:14] = True  # a speck elsewhere
    mask[195:205, 295:305] = False  # a hole
    d = describe_lesion(speckle(DISC), mask)
    assert d.area_px == DISC.sum() and d.shape == "round"


def test_shape_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="same 2-D shape"):
        describe_lesion(np.zeros((10, 10), np.uint8), np.zeros((10, 11), bool))


def test_features_order_meaning_and_suspicion_count():
    features = descriptor_features(describe_lesion(speckle(STAR), STAR))
    assert tuple(features) == DESCRIPTOR_FEATURES and set(FEATURE_MEANING) == set(DESCRIPTOR_FEATURES)
    assert all(math.isfinite(v) for v in features.values())
    assert suspicion_count("irregular", "not parallel", "not circumscribed", "shadowing") == 4
    assert suspicion_count("oval", "parallel", "circumscribed", "none") == 0


def test_words_and_sentence_use_brEaST_spelling():
    d = describe_lesion(_with_band(STAR, 0.4), STAR)
    words = d.words()
    assert words["margin"].startswith("not circumscribed - spiculated")
    assert d.sentence().startswith("Irregular, ") and "posterior shadowing" in d.sentence()


def test_radial_outline_is_sub_pixel_and_lobes_are_counted():
    crop, offset = geo.lesion_crop(DISC)
    outline = geo.radial_outline(crop, offset)
    assert outline.radius.mean() == pytest.approx(60.0, abs=0.7)
    assert outline.centroid == pytest.approx(CENTRE, abs=0.01)
    theta = np.linspace(-np.pi, np.pi, 256, endpoint=False)
    assert geo.count_lobes(1 + 0.05 * np.cos(5 * theta)) == 5
    assert geo.count_lobes(1 + 0.01 * np.cos(5 * theta)) == 0  # below the prominence


def test_fast_enough_for_a_600_by_500_image():
    """< 20 ms of CPU per image (measured ~5 ms; CPU time, so a busy machine does not fail it)."""
    mask = ellipse(120, 70)
    image = speckle(mask)
    describe_lesion(image, mask)  # imports, caches
    times = []
    for _ in range(5):
        start = time.process_time()
        describe_lesion(image, mask)
        times.append(time.process_time() - start)
    assert min(times) < 0.020
