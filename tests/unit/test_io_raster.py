"""PNG, JPEG, BMP and TIFF loading: grey conversion, bit depths, pages, sources."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
from PIL import Image

from pipeline.io import ImageLoadError, load_image, record_from_array, sniff_format, to_png_bytes
from pipeline.io.intensity import LUMA_WEIGHTS
from pipeline.io.sample_files import gradient, multipage_tiff_bytes, raster_bytes
from pipeline.types import ImageRecord


def assert_valid(record: ImageRecord, shape: tuple[int, int]) -> None:
    assert record.pixels.dtype == np.float32 and record.pixels.shape == shape
    assert record.display.dtype == np.uint8 and record.display.shape == shape
    assert np.isfinite(record.pixels).all()


def colour_image(height: int = 24, width: int = 40) -> np.ndarray:
    rng = np.random.default_rng(7)
    return rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)


def test_png_8bit_grey_keeps_values():
    gray = gradient()
    record = load_image(raster_bytes(gray, "png"))
    assert_valid(record, gray.shape)
    assert record.source_format == "png" and record.frames == 1
    np.testing.assert_array_equal(record.pixels, gray.astype(np.float32))
    np.testing.assert_array_equal(record.display, gray)
    assert record.spacing_mm is None and record.modality is None and record.metadata == {}


def test_png_rgb_becomes_luma():
    rgb = colour_image()
    record = load_image(raster_bytes(rgb, "png"))
    assert_valid(record, rgb.shape[:2])
    expected = rgb.astype(np.float64) @ LUMA_WEIGHTS
    np.testing.assert_allclose(record.pixels, expected, atol=1e-3)
    # Pillow's own grey conversion uses the same weights (it rounds to integers)
    pil_gray = np.asarray(Image.fromarray(rgb).convert("L"), dtype=np.float32)
    assert np.abs(record.pixels - pil_gray).max() <= 1.0


def test_png_rgba_ignores_alpha():
    rgb = colour_image()
    alpha = np.random.default_rng(3).integers(0, 256, size=rgb.shape[:2], dtype=np.uint8)
    alpha[0, :] = 0  # fully transparent row must keep its grey value
    rgba = np.dstack([rgb, alpha])
    from_rgb = load_image(raster_bytes(rgb, "png"))
    from_rgba = load_image(raster_bytes(rgba, "png"))
    np.testing.assert_array_equal(from_rgba.pixels, from_rgb.pixels)
    np.testing.assert_array_equal(from_rgba.display, from_rgb.display)


def test_png_palette_and_bilevel():
    gray = gradient()
    palette = Image.fromarray(colour_image()).convert("P")
    record = load_image(_pil_bytes(palette, "PNG"))
    assert_valid(record, (24, 40))
    bilevel = load_image(_pil_bytes(Image.fromarray(gray).convert("1"), "PNG"))
    assert set(np.unique(bilevel.display)) <= {0, 255}


def test_png_16bit_keeps_values_and_windows_display():
    gray16 = gradient(dtype=np.uint16)
    gray16[0, 0] = 65535  # a single hot pixel must not set the display window
    record = load_image(raster_bytes(gray16, "png"))
    assert_valid(record, gray16.shape)
    np.testing.assert_array_equal(record.pixels, gray16.astype(np.float32))
    low, high = np.percentile(gray16, [0.5, 99.5])
    inside = (gray16 > low) & (gray16 < high)
    assert record.display.min() == 0 and record.display.max() == 255
    # monotonic: brighter stored values never get darker display values
    order = np.argsort(gray16[inside], kind="stable")
    assert np.all(np.diff(record.display[inside][order].astype(int)) >= 0)


def test_jpeg_grey_and_colour():
    gray = gradient(64, 64)
    record = load_image(raster_bytes(gray, "jpeg", quality=95))
    assert_valid(record, gray.shape)
    assert record.source_format == "jpeg"
    assert np.abs(record.pixels - gray).mean() < 3  # lossy, but close
    colour = load_image(raster_bytes(colour_image(), "jpeg"))
    assert_valid(colour, (24, 40))


def test_bmp_grey_and_colour():
    gray = gradient()
    record = load_image(raster_bytes(gray, "bmp"))
    assert record.source_format == "bmp"
    np.testing.assert_array_equal(record.pixels, gray.astype(np.float32))
    colour = load_image(raster_bytes(colour_image(), "bmp"))
    expected = colour_image().astype(np.float64) @ LUMA_WEIGHTS
    np.testing.assert_allclose(colour.pixels, expected, atol=1e-3)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_tiff_8_and_16_bit(dtype):
    gray = gradient(dtype=dtype)
    record = load_image(raster_bytes(gray, "tiff"))
    assert_valid(record, gray.shape)
    assert record.source_format == "tiff"
    np.testing.assert_array_equal(record.pixels, gray.astype(np.float32))


def test_multipage_tiff_frames_and_selection():
    pages = [np.full((16, 20), 10 * (i + 1), dtype=np.uint8) for i in range(5)]
    data = multipage_tiff_bytes(pages)
    middle = load_image(data)
    assert middle.frames == 5 and middle.metadata == {"frame": 2}
    assert np.all(middle.pixels == 30)
    for index in (0, 4):
        assert np.all(load_image(data, frame=index).pixels == 10 * (index + 1))
    with pytest.raises(ImageLoadError, match="frame 5 does not exist"):
        load_image(data, frame=5)
    with pytest.raises(ImageLoadError, match="frame -1 does not exist"):
        load_image(data, frame=-1)


def test_single_frame_accepts_only_frame_zero():
    data = raster_bytes(gradient(), "png")
    assert load_image(data, frame=0).frames == 1
    with pytest.raises(ImageLoadError, match="frame 1 does not exist"):
        load_image(data, frame=1)


def test_path_and_bytes_sources_agree_and_hash_the_bytes(tmp_path):
    data = raster_bytes(gradient(), "png")
    path = tmp_path / "scan.dcm"  # misleading extension: the content decides
    path.write_bytes(data)
    from_path = load_image(path)
    from_str = load_image(str(path))
    from_bytes = load_image(data)
    from_bytearray = load_image(bytearray(data))
    expected = hashlib.sha256(data).hexdigest()
    for record in (from_path, from_str, from_bytes, from_bytearray):
        assert record.sha256 == expected
        assert record.source_format == "png"
        np.testing.assert_array_equal(record.pixels, from_bytes.pixels)


def test_missing_file_and_folder_messages(tmp_path):
    with pytest.raises(ImageLoadError, match="not found") as info:
        load_image(tmp_path / "Doe_John_12345.png")
    assert "Doe" not in str(info.value)  # file names may carry patient identifiers
    with pytest.raises(ImageLoadError, match="folder"):
        load_image(tmp_path)


def test_sniff_format_ignores_names():
    gray = gradient()
    assert sniff_format(raster_bytes(gray, "png")) == "png"
    assert sniff_format(raster_bytes(gray, "jpeg")) == "jpeg"
    assert sniff_format(raster_bytes(gray, "bmp")) == "bmp"
    assert sniff_format(raster_bytes(gray, "tiff")) == "tiff"
    assert sniff_format(b"BM this is text, not a bitmap header") is None
    assert sniff_format(b"hello") is None
    assert sniff_format(b"") is None


def test_record_from_array():
    gray = gradient()
    record = record_from_array(gray)
    assert_valid(record, gray.shape)
    assert record.source_format == "array" and len(record.sha256) == 64
    np.testing.assert_array_equal(record.display, gray)
    floats = record_from_array(np.linspace(0, 1, 12, dtype=np.float64).reshape(3, 4))
    assert floats.display.min() == 0 and floats.display.max() == 255
    colour = record_from_array(colour_image(), source_format="synthetic")
    assert colour.source_format == "synthetic" and colour.shape == (24, 40)
    mask = record_from_array(np.eye(4, dtype=bool))
    assert set(np.unique(mask.display)) == {0, 255}
    with pytest.raises(ImageLoadError):
        record_from_array(np.zeros((2, 3, 7)))
    with pytest.raises(ImageLoadError):
        record_from_array(np.array(["a", "b"]))


def test_to_png_bytes_round_trip():
    for array in (gradient(), colour_image(), np.dstack([colour_image(), gradient(24, 40)])):
        data = to_png_bytes(array)
        assert sniff_format(data) == "png"
        np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(data))), array)
    with pytest.raises(ValueError, match="uint8"):
        to_png_bytes(np.zeros((4, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="shape"):
        to_png_bytes(np.zeros((4, 4, 2), dtype=np.uint8))


def _pil_bytes(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def test_colour_fraction_in_metadata_separates_colour_from_grey_and_tinted_grey():
    from pipeline.io.intensity import colour_fraction

    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (60, 80), dtype=np.uint8)
    assert "colour_fraction" not in load_image(to_png_bytes(grey)).metadata
    stored_rgb = np.stack([grey] * 3, axis=-1)  # BrEaST-Lesions-USG: grey stored as RGB
    assert load_image(to_png_bytes(stored_rgb)).metadata["colour_fraction"] == 0.0
    tinted = np.stack([grey * 0.8, grey * 0.9, grey], axis=-1).astype(np.uint8)  # scanner tint map
    assert colour_fraction(tinted) < 0.01
    yy, xx = np.mgrid[0:60, 0:80]
    photo = np.stack([128 + 100 * np.sin(xx / 9), 128 + 100 * np.cos(yy / 7), 128 + 100 * np.sin((xx + yy) / 11)], -1)
    assert load_image(to_png_bytes(photo.astype(np.uint8))).metadata["colour_fraction"] > 0.5
    doppler = stored_rgb.copy()
    doppler[10:30, 20:50] = (220, 30, 30)
    assert 0.05 < colour_fraction(doppler) < 0.3
    assert colour_fraction(grey) is None
