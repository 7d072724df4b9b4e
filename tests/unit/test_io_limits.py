"""Limits and hostile input: every failure is an ImageLoadError with a readable message."""

from __future__ import annotations

import dataclasses
import struct
import zlib

import pytest
from PIL import ImageFile
from pydicom.encaps import encapsulate
from pydicom.uid import JPEGBaseline8Bit

import pipeline.io.loader as loader
from pipeline.io import ImageLoadError, Limits, load_image
from pipeline.io.limits import MB
from pipeline.io.sample_files import dataset_bytes, dicom_bytes, dicom_dataset, gradient, raster_bytes
from tests.corpus.make_bad_inputs import nested_dataset

UNSUPPORTED = "file is not a supported image: expected PNG, JPEG, BMP, TIFF or DICOM"


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)
    )


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose valid IHDR declares width x height 8-bit grey, with one tiny IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 16)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


@pytest.fixture
def pillow_load_calls(monkeypatch):
    """Counts Pillow pixel decodes, to prove limits are enforced from headers alone."""
    calls: list[int] = []
    original = ImageFile.ImageFile.load

    def spy(self):
        calls.append(1)
        return original(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    return calls


def test_declared_40000_square_png_rejected_before_decoding(pillow_load_calls):
    data = png_header_only(40000, 40000)
    assert len(data) < 200
    with pytest.raises(ImageLoadError) as info:
        load_image(data)
    assert str(info.value) == "image is 40000 x 40000 pixels, the limit is 50 megapixels"
    assert pillow_load_calls == []


def test_pixel_limit_is_configurable_and_pillow_bomb_guard_holds(pillow_load_calls):
    data = raster_bytes(gradient(100, 100), "png")
    with pytest.raises(ImageLoadError, match="the limit is 0.005 megapixels"):
        load_image(data, limits=Limits(max_pixels=5000))
    # With our limit raised above Pillow's, Pillow's own guard still refuses the bomb.
    with pytest.raises(ImageLoadError, match="decompression-bomb limit"):
        load_image(png_header_only(40000, 40000), limits=Limits(max_pixels=10**10))
    assert pillow_load_calls == []


def test_file_over_max_bytes(tmp_path):
    big = tmp_path / "big.png"
    with big.open("wb") as handle:  # sparse: 80 MB on paper, nothing written
        handle.truncate(80 * MB)
    with pytest.raises(ImageLoadError) as info:
        load_image(big)
    assert str(info.value) == "file is 80.0 MB, the limit is 64 MB"
    data = raster_bytes(gradient(), "png")
    with pytest.raises(ImageLoadError, match=r"the limit is 0\.000\d+ MB|the limit is .* MB"):
        load_image(data, limits=Limits(max_bytes=len(data) - 1))


def test_empty_input(tmp_path):
    with pytest.raises(ImageLoadError, match="^file is empty$"):
        load_image(b"")
    empty = tmp_path / "empty.dcm"
    empty.write_bytes(b"")
    with pytest.raises(ImageLoadError, match="^file is empty$"):
        load_image(empty)


@pytest.mark.parametrize(
    "data",
    [b"patient report: nothing to see", b"%PDF-1.7\n", b"GIF89a" + bytes(20), b"\x00" * 300,
     b"BM" + bytes(60), b"<html><body>hi</body></html>"],
    ids=["text", "pdf", "gif", "zeros", "bm-text", "html"],
)
def test_unsupported_content(data):
    with pytest.raises(ImageLoadError) as info:
        load_image(data)
    assert str(info.value) == UNSUPPORTED


@pytest.mark.parametrize("fmt", ["png", "jpeg", "tiff", "bmp"])
def test_truncated_raster(fmt):
    data = raster_bytes(gradient(64, 64), fmt)
    with pytest.raises(ImageLoadError, match="truncated or corrupt"):
        load_image(data[: len(data) // 2])


def test_bad_png_crc_is_corrupt():
    data = bytearray(raster_bytes(gradient(), "png"))
    data[40] ^= 0xFF  # inside the IDAT payload
    with pytest.raises(ImageLoadError, match="truncated or corrupt"):
        load_image(bytes(data))


def test_dicom_claiming_60000_square_rejected_before_decoding(monkeypatch):
    decoded: list[int] = []
    monkeypatch.setattr(loader, "decode_frame", lambda *a, **k: decoded.append(1))
    ds = dicom_dataset(gradient(4, 4))
    ds.Rows, ds.Columns = 60000, 60000
    with pytest.raises(ImageLoadError) as info:
        load_image(dataset_bytes(ds))
    assert str(info.value) == "image is 60000 x 60000 pixels, the limit is 50 megapixels"
    assert decoded == []


def test_dicom_frames_and_samples_count_towards_the_limit():
    ds = dicom_dataset(gradient(4, 4))
    ds.Rows, ds.Columns, ds.NumberOfFrames = 1000, 1000, 60
    with pytest.raises(ImageLoadError, match="1000 x 1000 pixels x 60 frames"):
        load_image(dataset_bytes(ds))
    ds.NumberOfFrames = 5000
    with pytest.raises(ImageLoadError, match="file has 5000 frames, the limit is 1000"):
        load_image(dataset_bytes(ds))


def test_compressed_frame_declaring_huge_size_is_rejected():
    """The DICOM header says 16 x 16, the JPEG inside says 60000 x 60000."""
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, 60000, 60000, 1) + b"\x01\x11\x00"
    jpeg = b"\xff\xd8" + sof + b"\xff\xd9"
    ds = dicom_dataset(gradient(16, 16))
    ds.PixelData = encapsulate([jpeg])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    with pytest.raises(ImageLoadError, match="60000 x 60000 pixels"):
        load_image(dataset_bytes(ds))


def test_nested_sequences_depth_limit():
    with pytest.raises(ImageLoadError, match="nested more than 8 levels"):
        load_image(dataset_bytes(nested_dataset(20, dicom_dataset(gradient(8, 8)))))
    assert load_image(dataset_bytes(nested_dataset(3, dicom_dataset(gradient(8, 8))))).shape == (8, 8)
    with pytest.raises(ImageLoadError, match="nested more than 2 levels"):
        load_image(dataset_bytes(nested_dataset(3, dicom_dataset(gradient(8, 8)))), limits=Limits(max_sequence_depth=2))


def test_pathologically_deep_undefined_length_sequences():
    """Thousands of levels would exhaust the parser's recursion: still ImageLoadError."""
    depth = 5000
    open_level = (
        struct.pack("<HH", 0x0008, 0x1140) + b"SQ\x00\x00" + b"\xff\xff\xff\xff"  # sequence
        + struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF)  # item, undefined length
    )
    close_level = struct.pack("<HHI", 0xFFFE, 0xE00D, 0) + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    base = dicom_bytes(gradient(4, 4))
    data = base + open_level * depth + close_level * depth
    with pytest.raises(ImageLoadError, match="nested"):
        load_image(data)


def test_limits_are_validated_and_frozen():
    with pytest.raises(ValueError):
        Limits(max_bytes=0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        Limits().max_pixels = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        load_image(b"x", limits={"max_bytes": 10})  # type: ignore[arg-type]


def test_non_image_source_type():
    with pytest.raises(ImageLoadError, match="give a file path or the file's bytes"):
        load_image(12345)  # type: ignore[arg-type]


def test_unexpected_errors_become_generic_image_load_errors(monkeypatch):
    def boom(*args, **kwargs):
        raise struct.error("unpack requires a buffer of 4 bytes")

    monkeypatch.setattr(loader, "decode_raster", boom)
    with pytest.raises(ImageLoadError) as info:
        load_image(raster_bytes(gradient(), "png"))
    assert str(info.value) == "image data is truncated or corrupt"
    assert info.value.__cause__ is None and info.value.__suppress_context__

    def out_of_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(loader, "decode_raster", out_of_memory)
    with pytest.raises(ImageLoadError, match="too large to load"):
        load_image(raster_bytes(gradient(), "png"))


def test_messages_never_quote_patient_identifiers():
    """Broken files still carrying a name must fail without echoing it."""
    data = dicom_bytes(gradient(10, 10), PatientName="Secret^Person", PatientID="ID-31337")
    cut = data[: len(data) - 50]
    for broken in (cut, data.replace(b"MONOCHROME2", b"MONOCHROME9")):
        try:
            load_image(broken)
        except ImageLoadError as error:
            assert "Secret" not in str(error) and "31337" not in str(error)
