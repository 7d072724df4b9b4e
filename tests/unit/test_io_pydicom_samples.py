"""pydicom's bundled test files: every one loads cleanly or fails with ImageLoadError.

pydicom ships ~190 files covering most transfer syntaxes and many broken
edge cases; another ~80 are download-only. Nothing here may download: the
download hook is replaced so an attempt would show up as a missing file.
"""

from __future__ import annotations

import collections
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file, get_testdata_files
from pydicom.data.data_manager import DATA_ROOT
from pydicom.pixels import apply_modality_lut

from pipeline.io import ImageLoadError, load_image
from pipeline.io.intensity import LUMA_WEIGHTS

LOCAL_ROOT = Path(DATA_ROOT) / "test_files"


def local_file(name: str) -> str:
    """Path of a pydicom test file shipped with the package; skip download-only ones."""
    path = get_testdata_file(name, download=False)
    if path is None:
        pytest.skip(f"{name} is only available by download (no network in tests)")
    return path


def local_testdata_files(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    def no_download(*args, **kwargs):
        raise RuntimeError("network disabled in tests")

    monkeypatch.setattr("pydicom.data.data_manager.data_path_with_download", no_download)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        paths = [Path(p) for p in get_testdata_files()]
    assert paths, "pydicom test files missing"
    for path in paths:  # the call only listed files shipped inside the package
        assert LOCAL_ROOT in path.parents and path.exists()
    return sorted(p for p in paths if p.is_file())


def test_every_pydicom_test_file_loads_or_is_rejected_cleanly(monkeypatch, capsys):
    loaded, rejected = 0, collections.Counter()
    for path in local_testdata_files(monkeypatch):
        try:
            record = load_image(path)
        except ImageLoadError as error:
            rejected[str(error)] += 1
            continue
        except Exception as error:  # pragma: no cover - the failure this test exists for
            pytest.fail(f"{path.name}: {type(error).__name__} escaped load_image: {error}")
        loaded += 1
        assert record.pixels.ndim == 2 and record.pixels.dtype == np.float32
        assert np.isfinite(record.pixels).all(), path.name
        assert record.display.dtype == np.uint8 and record.display.shape == record.pixels.shape
        assert record.frames >= 1 and len(record.sha256) == 64
    with capsys.disabled():
        print(f"\npydicom test files: {loaded} loaded, {sum(rejected.values())} rejected")
        for message, count in rejected.most_common():
            print(f"  {count:3d} x {message}")
    assert loaded >= 80  # 90 with pylibjpeg-openjpeg + pylibjpeg-rle + pyjpegls + python-gdcm installed
    assert rejected  # reports, plans, text files and broken samples exist


def test_ct_small_modality_lut_gives_hounsfield_units():
    path = local_file("CT_small.dcm")
    ds = pydicom.dcmread(path)
    record = load_image(path)
    expected = apply_modality_lut(ds.pixel_array, ds)
    np.testing.assert_allclose(record.pixels, expected)
    assert float(ds.RescaleIntercept) != 0 or float(ds.RescaleSlope) != 1
    assert record.modality == "CT" and record.spacing_mm == pytest.approx((0.661468, 0.661468))
    assert record.pixels.min() < -800 and record.pixels.max() > 1000  # air .. bone in HU
    assert "PatientName" not in record.metadata and set(record.metadata) <= {
        "age", "sex", "manufacturer", "study_date", "body_part", "view"
    }


def _mr_reference() -> np.ndarray:
    return pydicom.dcmread(local_file("MR_small.dcm")).pixel_array.astype(np.float32)


@pytest.mark.parametrize(
    "name",
    [
        "MR_small.dcm",
        "MR_small_bigendian.dcm",
        "MR_small_implicit.dcm",
        "MR_small_RLE.dcm",
        "MR_small_jp2klossless.dcm",  # JPEG 2000 lossless
        "MR_small_jpeg_ls_lossless.dcm",  # JPEG-LS lossless
        "emri_small_jpeg_2k_lossless.dcm",  # download-only in pydicom 3: skipped offline
    ],
)
def test_lossless_encodings_of_mr_small_agree(name):
    path = local_file(name)
    record = load_image(path)
    if name.startswith("emri"):
        assert record.frames > 1
        return
    np.testing.assert_array_equal(record.pixels, _mr_reference())
    assert record.modality == "MR" and record.metadata.get("sex") == "F"


@pytest.mark.parametrize(
    ("name", "shape"),
    [
        ("JPEG2000.dcm", (1024, 256)),
        ("JPGExtended.dcm", (1024, 256)),  # JPEG extended, 12-bit
        ("SC_rgb_jpeg_gdcm.dcm", (100, 100)),  # JPEG lossless process 14 SV1, RGB
        ("SC_rgb_jpeg_dcmtk.dcm", (100, 100)),  # JPEG baseline, YBR_FULL_422
        ("JPEGLSNearLossless_16.dcm", (50, 10)),
        ("examples_palette.dcm", (350, 800)),
        # download-only in pydicom 3 (skipped offline; local equivalents above)
        ("JPEG-LL.dcm", None),
        ("JPGLosslessP14SV1_1s_1f_8b.dcm", None),
        ("US1_J2KR.dcm", None),
    ],
)
def test_compressed_samples_decode(name, shape):
    record = load_image(local_file(name))
    if shape is not None:
        assert record.shape == shape
    assert np.isfinite(record.pixels).all()
    assert record.display.max() > record.display.min()


def test_rgb_rle_sample_is_luma_of_pydicom_decode():
    path = local_file("SC_rgb_rle.dcm")
    rgb = pydicom.dcmread(path).pixel_array
    record = load_image(path)
    np.testing.assert_allclose(record.pixels, rgb.astype(np.float64) @ LUMA_WEIGHTS, atol=1e-3)


def test_multiframe_ybr_jpeg_sample():
    path = local_file("examples_ybr_color.dcm")
    record = load_image(path)
    assert record.frames == 30 and record.metadata["frame"] == 15 and record.modality == "US"
    first = load_image(path, frame=0)
    assert first.shape == record.shape == (240, 320)
    with pytest.raises(ImageLoadError, match="frame 30 does not exist"):
        load_image(path, frame=30)


def test_rtplan_has_no_pixel_data():
    with pytest.raises(ImageLoadError, match="no pixel data"):
        load_image(local_file("rtplan.dcm"))


@pytest.mark.parametrize("name", ["MR_truncated.dcm", "rtplan_truncated.dcm"])
def test_broken_samples_are_rejected(name):
    with pytest.raises(ImageLoadError):
        load_image(local_file(name))


def test_jpeg_extended_12_bit_decodes_to_reference_values():
    # pydicom's reference pixels for this file; decoded by GDCM (pipeline.io.jpeg12), not GPL libjpeg
    record = load_image(local_file("JPGExtended.dcm"))
    assert record.pixels[420, 140] == 244 and record.pixels[230, 120] == 95
    assert record.pixels.max() == 264


def test_jpeg_lossy_sample_with_bad_scan_header_recovers_the_same_image():
    # JPEG-lossy.dcm is JPGExtended.dcm with invalid start/end-of-spectral-selection values in its
    # scan header: libjpeg refused it, GDCM ignores the fields and recovers the same image (identical
    # when GDCM decodes both; within inverse-DCT rounding, 1 grey level, of libjpeg where that is installed)
    lossy, reference = load_image(local_file("JPEG-lossy.dcm")), load_image(local_file("JPGExtended.dcm"))
    np.testing.assert_allclose(lossy.pixels, reference.pixels, atol=1)

