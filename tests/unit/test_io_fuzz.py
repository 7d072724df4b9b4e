"""Bounded fuzzing: for any bytes, load_image returns a valid record or raises ImageLoadError.

Random bytes mostly exercise the sniffer; the mutation tests start from valid
PNG / JPEG / TIFF / BMP / DICOM files (several transfer syntaxes) and flip,
cut and splice bytes so the decoders themselves see damaged input. Warnings
are turned into errors for the DICOM run, as a strict deployment might do.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.uid import JPEG2000Lossless, RLELossless

from pipeline.io import ImageLoadError, Limits, load_image
from pipeline.io.sample_files import dicom_bytes, gradient, multipage_tiff_bytes, raster_bytes

FUZZ = settings(
    max_examples=200,
    deadline=None,
    database=None,  # nothing written into the repository
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SMALL = Limits(max_bytes=1 << 20, max_pixels=2_000_000, max_frames=50)


def check(data: bytes) -> None:
    """The property: success gives a well-formed record, failure is ImageLoadError."""
    try:
        record = load_image(data, limits=SMALL)
    except ImageLoadError as error:
        assert str(error)
        return
    assert record.pixels.ndim == 2 and record.pixels.dtype == np.float32
    assert np.isfinite(record.pixels).all()
    assert record.display.dtype == np.uint8 and record.display.shape == record.pixels.shape


@functools.cache
def raster_seeds() -> tuple[bytes, ...]:
    gray = gradient(24, 32)
    rgb = np.dstack([gray, gray[::-1], gray[:, ::-1]])
    return (
        raster_bytes(gray, "png"),
        raster_bytes(rgb, "png"),
        raster_bytes(gradient(24, 32, dtype=np.uint16), "png"),
        raster_bytes(rgb, "jpeg"),
        raster_bytes(gray, "bmp"),
        raster_bytes(gray, "tiff"),
        multipage_tiff_bytes([gray, gray]),
    )


@functools.cache
def dicom_seeds() -> tuple[bytes, ...]:
    gray = gradient(16, 16)
    gray16 = gradient(16, 16, dtype=np.uint16)
    rgb = np.dstack([gray, gray[::-1], gray[:, ::-1]])
    return (
        dicom_bytes(gray, PatientAge="045Y", PatientSex="F", PixelSpacing=[0.1, 0.1]),
        dicom_bytes(gray16, modality="CT", RescaleSlope="1", RescaleIntercept="-1024",
                    WindowCenter="40", WindowWidth="400"),
        dicom_bytes(gray, preamble=False, photometric="MONOCHROME1"),
        dicom_bytes(rgb),
        dicom_bytes(np.stack([gray, gray, gray]), multiframe=True),
        dicom_bytes(gray16, compress=RLELossless),
        dicom_bytes(gradient(32, 32, dtype=np.uint16), compress=JPEG2000Lossless),
    )


def mutate(seed: bytes, data: st.DataObject) -> bytes:
    out = bytearray(seed)
    for _ in range(data.draw(st.integers(1, 8), label="mutations")):
        kind = data.draw(st.sampled_from(["flip", "cut", "insert", "delete", "set16"]))
        position = data.draw(st.integers(0, max(len(out) - 1, 0)))
        if kind == "flip" and out:
            out[position] ^= data.draw(st.integers(1, 255))
        elif kind == "cut":
            del out[position:]
        elif kind == "insert":
            out[position:position] = data.draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del out[position : position + data.draw(st.integers(1, 16))]
        elif kind == "set16" and position + 2 <= len(out):  # lengths, sizes, tags
            out[position : position + 2] = data.draw(st.sampled_from([b"\xff\xff", b"\x00\x00", b"\xff\x7f"]))
    return bytes(out)


@FUZZ
@given(st.binary(max_size=4096))
def test_random_bytes(data):
    check(data)


@settings(FUZZ, max_examples=100)
@given(
    st.sampled_from([b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*",
                     b"BM" + bytes(12) + b"\x28\x00\x00\x00", b"\x02\x00\x00\x00UL",
                     b"\x08\x00\x05\x00CS", bytes(128) + b"DICM"]),
    st.binary(max_size=2048),
)
def test_magic_prefix_then_random_bytes(prefix, tail):
    check(prefix + tail)


@FUZZ
@given(st.data())
def test_mutated_raster_files(data):
    seed = data.draw(st.sampled_from(raster_seeds()), label="seed")
    check(mutate(seed, data))


@pytest.mark.filterwarnings("error::UserWarning", "error::RuntimeWarning")
@FUZZ
@given(st.data())
def test_mutated_dicom_files_with_warnings_as_errors(data):
    seed = data.draw(st.sampled_from(dicom_seeds()), label="seed")
    check(mutate(seed, data))


def test_seeds_are_valid():
    for seed in (*raster_seeds(), *dicom_seeds()):
        check(seed)
        load_image(seed, limits=SMALL)  # unmutated seeds must load
