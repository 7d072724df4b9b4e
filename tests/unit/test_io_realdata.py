"""Real ultrasound files from ../shared/data, read in place (never copied)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from PIL import Image

from pipeline.io import load_image

pytestmark = pytest.mark.realdata


def load_present(path):
    """The record of one real file, read in place; skips the test when this file is not in the copy."""
    if not path.exists():
        pytest.skip(f"{path.name} not present")
    return load_image(path)


def test_bus_bra_png_is_8bit_grey(shared_data):
    path = shared_data / "bus-bra" / "Images" / "bus_0001-l.png"
    record = load_present(path)
    with Image.open(path) as image:
        assert image.mode == "L"
        expected = np.asarray(image, dtype=np.float32)
    assert record.source_format == "png" and record.shape == expected.shape
    np.testing.assert_array_equal(record.pixels, expected)
    np.testing.assert_array_equal(record.display, expected.astype(np.uint8))
    assert record.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_breast_lesions_usg_colour_png_becomes_grey(shared_data):
    path = shared_data / "breast-lesions-usg" / "images_and_masks" / "case001.png"
    record = load_present(path)
    with Image.open(path) as image:
        assert image.mode in ("RGB", "RGBA")
        rgb = np.asarray(image.convert("RGB"))
    assert record.pixels.ndim == 2 and record.shape == rgb.shape[:2]
    assert record.display.dtype == np.uint8 and record.display.shape == record.shape
    assert np.isfinite(record.pixels).all()
    # Pillow's integer grey conversion agrees within rounding: alpha played no part
    pil_gray = np.asarray(Image.fromarray(rgb).convert("L"), dtype=np.float32)
    assert np.abs(record.pixels - pil_gray).max() <= 1.0
