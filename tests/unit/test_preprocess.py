"""Letterbox round trips, standardisation and region crops."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.preprocess import Letterbox, crop_region, largest_component, mask_box, prepare_image, standardize


@settings(max_examples=60, deadline=None)
@given(h=st.integers(8, 300), w=st.integers(8, 300), size=st.sampled_from([64, 96, 160]), seed=st.integers(0, 10**6))
def test_letterbox_inverse_returns_mask_to_original_grid(h, w, size, seed):
    rng = np.random.default_rng(seed)
    mask = np.zeros((h, w), bool)
    r0, c0 = rng.integers(0, h // 2 + 1), rng.integers(0, w // 2 + 1)
    mask[r0 : r0 + max(h // 3, 1), c0 : c0 + max(w // 3, 1)] = True
    box = Letterbox((h, w), size)
    back = box.inverse(box.forward(mask))
    assert back.shape == (h, w) and back.dtype == bool
    if box.scale >= 1:  # upsampling then downsampling on the same grid: exact
        np.testing.assert_array_equal(box.inverse(box.forward(mask, nearest=True), nearest=True), mask)
    elif back.any() and min(box.content_shape) >= 4:
        # downsampling blurs borders by about one model pixel, never moves the lesion; below 4 model pixels
        # across (e.g. an 8 x 289 image at 64 px: 2 rows) the blur of one axis eats into the other's extent
        # (uploads are at least UPLOAD_MIN_SIDE = 32 px a side)
        tol = 1.0 / box.scale + 1
        for a, b in zip(mask_box(back), mask_box(mask)):
            assert abs(a - b) <= tol


def test_letterbox_keeps_aspect_and_pads_bottom_right():
    box = Letterbox((100, 200), 64)
    assert box.content_shape == (32, 64)
    out = box.forward(np.ones((100, 200), np.float32))
    assert out[:32, :64].min() == 1 and out[32:].max() == 0


def test_standardize_zero_mean_unit_std_and_constant_image():
    x = standardize(np.arange(100, dtype=np.uint8).reshape(10, 10))
    assert abs(x.mean()) < 1e-5 and abs(x.std() - 1) < 1e-4
    assert np.all(standardize(np.full((4, 4), 7)) == 0)


def test_prepare_image_shape():
    img, box = prepare_image(np.zeros((300, 400), np.uint8), 128)
    assert img.shape == (128, 128) and box.original_shape == (300, 400)


def test_mask_box_and_largest_component():
    m = np.zeros((20, 20), bool)
    m[2:4, 2:4] = True
    m[10:18, 5:15] = True
    assert mask_box(m) == (2, 2, 18, 15)
    big = largest_component(m)
    assert mask_box(big) == (10, 5, 18, 15)
    assert mask_box(np.zeros((5, 5), bool)) is None


def test_crop_region_centres_lesion_with_context():
    img = np.zeros((200, 300), np.uint8)
    m = np.zeros((200, 300), bool)
    m[80:120, 100:160] = True
    img[m] = 200
    crop = crop_region(img, m, 64, margin=0.3)
    assert crop.shape == (64, 64, 2)
    centre = crop[24:40, 24:40, 1]
    assert centre.mean() > 0.9 and crop[:4, :4, 1].max() == 0


def test_crop_region_at_image_edge_pads():
    m = np.zeros((50, 50), bool)
    m[0:10, 0:10] = True
    crop = crop_region(np.full((50, 50), 100, np.uint8), m, 32)
    assert crop.shape == (32, 32, 2) and np.isfinite(crop).all()
