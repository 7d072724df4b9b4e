"""Synthetic DICOM files: grey pipeline, colour, frames, spacing and safe metadata."""

from __future__ import annotations

import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.pixels import convert_color_space
from pydicom.sequence import Sequence
from pydicom.uid import JPEG2000Lossless, MPEG2MPML, RLELossless

from pipeline.io import ImageLoadError, load_image, sniff_format
from pipeline.io.dicom_meta import parse_age, parse_date
from pipeline.io.intensity import LUMA_WEIGHTS
from pipeline.io.sample_files import dataset_bytes, dicom_bytes, dicom_dataset, gradient

IDENTIFIERS = {
    "PatientName": "Doe^Jane",
    "PatientID": "MRN-998877",
    "PatientBirthDate": "19790102",
    "AccessionNumber": "ACC-42",
    "InstitutionName": "General Hospital",
    "ReferringPhysicianName": "House^Greg",
}


def test_ultrasound_metadata_spacing_and_no_identifiers():
    gray = gradient(40, 60)
    data = dicom_bytes(
        gray,
        modality="US",
        PatientAge="045Y",
        PatientSex="F",
        PixelSpacing=[0.1, 0.12],
        Manufacturer="Acme Ultrasound",
        StudyDate="20240131",
        BodyPartExamined="BREAST",
        ViewPosition="CC",
        **IDENTIFIERS,
    )
    assert sniff_format(data) == "dicom"
    record = load_image(data)
    assert record.source_format == "dicom" and record.modality == "US" and record.frames == 1
    assert record.spacing_mm == (0.1, 0.12)
    assert record.metadata == {
        "age": 45,
        "sex": "F",
        "manufacturer": "Acme Ultrasound",
        "study_date": "2024-01-31",
        "body_part": "BREAST",
        "view": "CC",
    }
    np.testing.assert_array_equal(record.pixels, gray.astype(np.float32))
    np.testing.assert_array_equal(record.display, gray)  # 8-bit without window: shown as stored
    flat = repr(record.metadata)
    for value in (*IDENTIFIERS.values(), "Synthetic", "SYN-0001", "Doe", "1979"):
        assert value not in flat


def test_monochrome1_is_inverted_for_display_only():
    gray = gradient()
    mono2 = load_image(dicom_bytes(gray))
    mono1 = load_image(dicom_bytes(gray, photometric="MONOCHROME1"))
    np.testing.assert_array_equal(mono1.pixels, mono2.pixels)
    np.testing.assert_array_equal(mono1.display, 255 - mono2.display)


def test_rescale_slope_intercept_gives_modality_units_and_window_drives_display():
    stored = (gradient(dtype=np.uint16) // 16).astype(np.uint16)  # 0..4095, like CT
    data = dicom_bytes(
        stored,
        modality="CT",
        RescaleSlope="1",
        RescaleIntercept="-1024",
        WindowCenter="40",
        WindowWidth="400",
    )
    record = load_image(data)
    hu = stored.astype(np.float32) - 1024
    np.testing.assert_array_equal(record.pixels, hu)
    assert record.pixels.min() < -1000 and record.pixels.max() > 3000
    # DICOM linear window: <= c-0.5-(w-1)/2 -> black, > c-0.5+(w-1)/2 -> white
    assert np.all(record.display[hu <= 40 - 0.5 - 199.5] == 0)
    assert np.all(record.display[hu > 40 - 0.5 + 199.5] == 255)
    inside = (hu > -160) & (hu < 239)
    assert inside.any()
    assert np.all((record.display[inside] > 0) & (record.display[inside] < 255))


def test_fractional_slope_and_signed_pixels():
    stored = (gradient(dtype=np.uint16).astype(np.int32) - 32768).astype(np.int16)
    record = load_image(dicom_bytes(stored, modality="MR", RescaleSlope="0.5", RescaleIntercept="10"))
    np.testing.assert_allclose(record.pixels, stored.astype(np.float64) * 0.5 + 10, rtol=1e-6)
    assert record.display.min() == 0 and record.display.max() == 255  # percentile default


def test_voi_lut_sequence_is_used_for_display():
    gray = gradient()
    lut = Dataset()
    lut.LUTDescriptor = [256, 0, 8]
    lut.add_new(0x00283006, "US", [255 - i for i in range(256)])  # LUTData: an inverting VOI LUT
    record = load_image(dicom_bytes(gray, VOILUTSequence=Sequence([lut])))
    np.testing.assert_array_equal(record.pixels, gray.astype(np.float32))
    np.testing.assert_array_equal(record.display, 255 - gray)


def test_sigmoid_window():
    gray = gradient()
    record = load_image(
        dicom_bytes(gray, WindowCenter="128", WindowWidth="64", VOILUTFunction="SIGMOID")
    )
    assert record.display[gray < 60].max() < 20 and record.display[gray > 200].min() > 235


def _region(units: int, delta_x: float, delta_y: float, spatial: int = 1) -> Dataset:
    region = Dataset()
    region.update({"RegionSpatialFormat": spatial, "PhysicalUnitsXDirection": units, "PhysicalUnitsYDirection": units,
                   "PhysicalDeltaX": delta_x, "PhysicalDeltaY": delta_y})
    return region


def test_ultrasound_regions_give_spacing_in_mm():
    regions = Sequence([_region(3, 0.02, 0.01, spatial=3), _region(3, 0.008, 0.006, spatial=1)])
    record = load_image(dicom_bytes(gradient(), SequenceOfUltrasoundRegions=regions))
    row, col = record.spacing_mm
    assert row == pytest.approx(0.06) and col == pytest.approx(0.08)  # the 2-D tissue region
    seconds = Sequence([_region(4, 0.01, 0.01)])  # seconds, not cm: no spatial calibration
    assert load_image(dicom_bytes(gradient(), SequenceOfUltrasoundRegions=seconds)).spacing_mm is None


def test_imager_pixel_spacing_fallback_and_invalid_spacing_ignored():
    record = load_image(dicom_bytes(gradient(), modality="MG", ImagerPixelSpacing=[0.07, 0.07]))
    assert record.spacing_mm == (0.07, 0.07)
    record = load_image(dicom_bytes(gradient(), PixelSpacing=[0, -1]))
    assert record.spacing_mm is None


def test_enhanced_functional_groups_supply_spacing():
    measures = Dataset()
    measures.PixelSpacing = [0.3, 0.4]
    shared = Dataset()
    shared.PixelMeasuresSequence = Sequence([measures])
    frames = np.stack([gradient(seed=i) for i in range(3)])
    record = load_image(
        dicom_bytes(frames, multiframe=True, SharedFunctionalGroupsSequence=Sequence([shared]))
    )
    assert record.spacing_mm == (0.3, 0.4)


def test_multiframe_middle_default_and_selection():
    frames = np.stack([np.full((12, 16), 20 * i, dtype=np.uint8) for i in range(7)])
    data = dicom_bytes(frames, multiframe=True)
    record = load_image(data)
    assert record.frames == 7 and record.metadata["frame"] == 3
    assert np.all(record.pixels == 60)
    for index in (0, 6):
        assert np.all(load_image(data, frame=index).pixels == 20 * index)
    with pytest.raises(ImageLoadError, match="frame 7 does not exist: the file has 7 frames"):
        load_image(data, frame=7)


def test_rgb_dicom_becomes_luma():
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, size=(20, 30, 3), dtype=np.uint8)
    record = load_image(dicom_bytes(rgb))
    np.testing.assert_allclose(record.pixels, rgb.astype(np.float64) @ LUMA_WEIGHTS, atol=1e-3)
    assert record.display.shape == (20, 30)


def test_ybr_full_is_converted_before_grey():
    rng = np.random.default_rng(2)
    rgb = rng.integers(0, 256, size=(20, 30, 3), dtype=np.uint8)
    ybr = convert_color_space(rgb, "RGB", "YBR_FULL")
    record = load_image(dicom_bytes(ybr, photometric="YBR_FULL"))
    luma = rgb.astype(np.float64) @ LUMA_WEIGHTS
    assert np.abs(record.pixels - luma).max() <= 2.0  # 8-bit round trip of YCbCr


def test_multiframe_rgb_selection():
    frames = np.zeros((3, 8, 10, 3), dtype=np.uint8)
    for i in range(3):
        frames[i, :, :, i] = 200  # frame i is pure red / green / blue
    data = dicom_bytes(frames, multiframe=True)
    for i in range(3):
        expected = 200 * LUMA_WEIGHTS[i]
        assert np.allclose(load_image(data, frame=i).pixels, expected, atol=1e-3)


def test_dicom_without_preamble_is_sniffed_by_content():
    gray = gradient()
    data = dicom_bytes(gray, preamble=False)
    assert data[:2] == b"\x02\x00"
    assert sniff_format(data) == "dicom"
    np.testing.assert_array_equal(load_image(data).pixels, gray.astype(np.float32))


@pytest.mark.parametrize("syntax", [RLELossless, JPEG2000Lossless], ids=["rle", "j2k-lossless"])
def test_compressed_round_trip(syntax):
    gray = gradient(dtype=np.uint16)
    record = load_image(dicom_bytes(gray, compress=syntax))
    np.testing.assert_array_equal(record.pixels, gray.astype(np.float32))


def test_undecodable_transfer_syntax_is_named():
    ds = dicom_dataset(gradient())
    from pydicom.encaps import encapsulate

    ds.PixelData = encapsulate([b"\x00\x00\x01\xb3" + bytes(60)])
    ds.file_meta.TransferSyntaxUID = MPEG2MPML
    with pytest.raises(ImageLoadError, match="DICOM compressed with MPEG2 .* cannot be decoded"):
        load_image(dataset_bytes(ds))


def test_dicom_without_pixels_or_size():
    ds = dicom_dataset(gradient())
    del ds.PixelData
    with pytest.raises(ImageLoadError, match="no pixel data"):
        load_image(dataset_bytes(ds))
    ds = dicom_dataset(gradient())
    del ds.Rows
    with pytest.raises(ImageLoadError, match="Rows/Columns"):
        load_image(dataset_bytes(ds))


def test_short_pixel_data_is_corrupt():
    ds = dicom_dataset(gradient(20, 20))
    ds.PixelData = ds.PixelData[:100]
    with pytest.raises(ImageLoadError, match="truncated or corrupt"):
        load_image(dataset_bytes(ds))


@pytest.mark.parametrize(
    ("value", "years"),
    [("045Y", 45), ("006M", 0), ("018M", 1), ("010W", 0), ("060W", 1), ("003D", 0),
     ("400D", 1), ("45", 45), ("", None), ("abc", None), ("999Y", None), (None, None)],
)
def test_parse_age(value, years):
    assert parse_age(value) == years


@pytest.mark.parametrize(
    ("value", "iso"),
    [("20240131", "2024-01-31"), ("2024.01.31", "2024-01-31"), ("20241399", None), ("", None)],
)
def test_parse_date(value, iso):
    assert parse_date(value) == iso


def test_malformed_optional_fields_do_not_fail_the_image():
    record = load_image(
        dicom_bytes(gradient(), PatientAge="forty", PatientSex="X", StudyDate="yesterday")
    )
    assert record.metadata == {}
