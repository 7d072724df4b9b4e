"""Export builders without a web request: overlay PNG, PDF report, DICOM SEG, case JSON, static figures."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file

from dashboard.cohort.curves import cohort_curves
from dashboard.exports.case_data import CaseExport, export_metadata
from dashboard.exports.case_json import SCHEMA_NAME, case_document, case_json_bytes, schema_errors
from dashboard.exports.overlay import overlay_image, overlay_png
from dashboard.exports.pdf import case_report_pdf
from dashboard.exports.seg import SegUnavailable, seg_bytes
from dashboard.figures.static import FIGURES, FORMATS, cohort_figure, figure_bytes
from dashboard.figures.style import PREDICTION_COLOR, hex_to_rgb
from pipeline.deid import deidentify_bytes
from pipeline.io.sample_files import dicom_bytes

ORANGE = np.array(hex_to_rgb(PREDICTION_COLOR))
SALT = b"exports-test-salt-0123456789"
BELOW_BANNER = 90  # page rows (72 dpi) under the orange-bordered disclaimer banner


def synthetic_export(**changes) -> CaseExport:
    rng = np.random.default_rng(0)
    display = rng.normal(140, 25, (400, 500)).clip(0, 255).astype(np.uint8)
    mask = np.zeros((400, 500), bool)
    mask[150:250, 150:260] = True
    fields = dict(
        case_id="cabc123def45", dataset="upload", width=500, height=400, source_format="dicom", modality="US",
        spacing_mm=(0.1, 0.1), metadata={"age": 54, "sex": "F", "history": True, "device": "Synth-X"},
        prediction={"label": "malignant", "probability": 0.734, "uncertainty": 0.06, "lesion_found": True,
                    "box": [150, 150, 250, 260], "area_px": 11000, "area_mm2": 110.0,
                    "model": {"name": "demo", "version": "1.0"}, "dice": 0.83},
        model={"name": "demo", "version": "1.0", "created": "2025-01-01T00:00:00", "threshold_malignant": 0.5},
        review={"user": "j.doe", "verdict": "disagree", "corrected_label": "benign",
                "note": "Smooth margin, likely fibroadenoma.", "created_utc": "2025-05-01T10:00:00+00:00"},
        display=display, mask=mask,
    )
    fields.update(changes)
    return CaseExport(**fields)


def near(pixels: np.ndarray, colour, tolerance: int = 40) -> np.ndarray:
    return np.abs(pixels[..., :3].astype(int) - np.asarray(colour)).max(axis=-1) <= tolerance


# ----------------------------------------------------------------- overlay
def test_overlay_keeps_the_original_resolution_and_draws_the_mask():
    export = synthetic_export()
    image = overlay_image(export.display, export.mask)
    assert image.shape == (400, 500, 3) and image.dtype == np.uint8
    assert (image[200, 150] == ORANGE).all()  # the outline is opaque
    inside, outside = image[200, 200], image[20, 20]
    assert inside[0] > inside[2] and (outside == export.display[20, 20]).all()  # tinted inside, untouched outside
    decoded = np.asarray(Image.open(io.BytesIO(overlay_png(export.display, export.mask, "contour"))))
    assert decoded.shape == (400, 500, 3) and not near(decoded[200:201, 200:201], ORANGE, 5).any()
    with pytest.raises(ValueError):
        overlay_image(export.display, np.zeros((10, 10), bool))
    with pytest.raises(ValueError):
        overlay_image(export.display, export.mask, "glow")


# --------------------------------------------------------------------- PDF
def render_first_page(pdf: bytes, scale: float = 1.0) -> tuple[int, np.ndarray, str]:
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(pdf)
    try:
        page = document[0]
        pixels = np.asarray(page.render(scale=scale).to_pil().convert("RGB"))
        text = page.get_textpage().get_text_range()
        return len(document), pixels, text
    finally:
        document.close()


def test_pdf_report_is_one_page_with_image_overlay_result_and_disclaimer():
    pages, pixels, text = render_first_page(case_report_pdf(synthetic_export()))
    assert pages == 1
    assert abs(pixels.shape[0] - 842) <= 1 and abs(pixels.shape[1] - 595) <= 1  # A4 at 72 dpi
    assert pixels.std() > 20 and (pixels < 128).mean() > 0.05  # not blank: image and text
    assert near(pixels[BELOW_BANNER:], ORANGE).sum() > 300  # the lesion outline is on the page, in colour
    flat = " ".join(text.split())
    for expected in ("Research use only, not a medical device", "Malignant", "73%", "±0.06", "110.0 mm²",
                     "demo v1.0", "j.doe disagrees", "Benign", "fibroadenoma", "Age (years)", "Synth-X",
                     "cabc123def45", "Generated"):
        assert expected in flat, expected


def test_pdf_stays_one_page_with_a_long_note_and_without_a_prediction():
    long_note = {"user": "r", "verdict": "note", "corrected_label": None, "note": "word " * 3000,
                 "created_utc": None}
    pages, _pixels, text = render_first_page(case_report_pdf(synthetic_export(review=long_note)))
    assert pages == 1 and "shortened" in " ".join(text.split())
    pages, pixels, text = render_first_page(case_report_pdf(synthetic_export(prediction=None, model=None, mask=None,
                                                                             review=None)))
    flat = " ".join(text.split())
    assert pages == 1 and "not analysed yet" in flat and "Not reviewed yet" in flat
    assert near(pixels[BELOW_BANNER:], ORANGE).sum() < 20  # no overlay drawn


# ---------------------------------------------------------------- DICOM SEG
def test_seg_from_a_deidentified_ct_round_trips_with_highdicom():
    import highdicom as hd

    raw = open(get_testdata_file("CT_small.dcm"), "rb").read()
    clean = deidentify_bytes(raw, pseudonym="cseg0001", salt=SALT)
    source = pydicom.dcmread(io.BytesIO(clean))
    mask = np.zeros((source.Rows, source.Columns), bool)
    mask[20:60, 30:70] = True
    data = seg_bytes(clean, mask, "demo", "1.2")
    seg = hd.seg.segread(io.BytesIO(data))
    assert seg.Modality == "SEG" and seg.ContentQualification == "RESEARCH"
    assert seg.StudyInstanceUID == source.StudyInstanceUID and str(seg.PatientName) == "cseg0001"
    assert seg.get_segment_description(1).SegmentLabel == "Lesion (predicted)"
    pixels = seg.get_pixels_by_source_instance([source.SOPInstanceUID])
    assert pixels.shape == (1, source.Rows, source.Columns, 1)
    assert np.array_equal(pixels[0, :, :, 0].astype(bool), mask)
    again = pydicom.dcmread(io.BytesIO(seg_bytes(clean, mask, "demo", "1.2")))
    assert again.SOPInstanceUID == seg.SOPInstanceUID and again.SeriesInstanceUID == seg.SeriesInstanceUID
    other = mask.copy()
    other[0, 0] = True
    assert pydicom.dcmread(io.BytesIO(seg_bytes(clean, other, "demo", "1.2"))).SOPInstanceUID != seg.SOPInstanceUID


def test_seg_of_a_single_frame_ultrasound_references_its_source():
    pixels = np.random.default_rng(1).integers(0, 255, (60, 80), dtype=np.uint8)
    raw = dicom_bytes(pixels, PixelSpacing=[0.2, 0.2], PatientName="Doe^Jane", PatientID="MRN-77")
    clean = deidentify_bytes(raw, pseudonym="cseg0002", salt=SALT)
    source = pydicom.dcmread(io.BytesIO(clean))
    mask = np.zeros((60, 80), bool)
    mask[10:30, 20:50] = True
    seg = pydicom.dcmread(io.BytesIO(seg_bytes(clean, mask, "demo", "1.2")))
    # highdicom 0.28 cannot read back a SEG without a frame of reference (no SliceThickness), so pydicom does
    assert np.array_equal(seg.pixel_array.astype(bool), mask)
    reference = seg.ReferencedSeriesSequence[0]
    assert reference.SeriesInstanceUID == source.SeriesInstanceUID
    assert reference.ReferencedInstanceSequence[0].ReferencedSOPInstanceUID == source.SOPInstanceUID
    assert "Doe" not in str(seg.PatientName) and "MRN" not in str(seg.PatientID)


def test_seg_refuses_what_it_cannot_reference():
    cine = dicom_bytes(np.zeros((3, 60, 80), np.uint8), multiframe=True)
    with pytest.raises(SegUnavailable, match="multi-frame"):
        seg_bytes(cine, np.zeros((60, 80), bool), "demo", "1", frame=1)
    single = dicom_bytes(np.zeros((60, 80), np.uint8))
    with pytest.raises(SegUnavailable, match="80 x 60"):
        seg_bytes(single, np.zeros((10, 10), bool), "demo", "1")
    with pytest.raises(SegUnavailable, match="cannot be read"):
        seg_bytes(b"not a dicom file at all", np.zeros((10, 10), bool), "demo", "1")


# -------------------------------------------------------------------- JSON
def test_case_json_follows_its_schema_and_carries_allow_listed_metadata_only():
    export = synthetic_export()
    document = json.loads(case_json_bytes(export))
    assert schema_errors(document) == [] and document["schema"] == SCHEMA_NAME
    assert document["prediction"]["probability"] == 0.734 and document["model"]["version"] == "1.0"
    assert document["case"]["image"]["spacing_mm"] == [0.1, 0.1] and document["review"]["verdict"] == "disagree"
    bare = case_document(synthetic_export(prediction=None, model=None, review=None, spacing_mm=None))
    assert schema_errors(bare) == [] and bare["prediction"] is None
    assert schema_errors({"schema": 1}) and schema_errors({**document, "case": {**document["case"], "id": None}})
    leaky = {"age": 61, "sex": "F", "patient_id": "MRN-1", "image_path": "/data/jane_doe.png", "symptoms": "Jane",
             "radiologist_shape": "oval", "history": False, "device": ""}
    assert export_metadata(leaky) == {"age": 61, "sex": "F", "history": False}


# ---------------------------------------------------------- static figures
def test_every_cohort_figure_renders_as_png_and_svg():
    rng = np.random.default_rng(3)
    n = 60
    y = rng.integers(0, 2, n)
    frame = pd.DataFrame({
        "id": [f"c{i:05d}" for i in range(n)], "patient_key": [f"p{i // 2}" for i in range(n)],
        "true_label": np.where(y == 1, "malignant", "benign"),
        "probability": np.clip(0.3 * y + rng.random(n) * 0.7, 0, 1),
        "age": rng.integers(30, 80, n), "sex": "F", "device": "A", "birads": rng.choice(["3", "4a", "5"], n),
        "dice": rng.random(n), "iou": rng.random(n) * 0.8, "predicted": "benign", "dataset": "s", "history": None,
        "has_truth_mask": True,
    })
    curves = cohort_curves(frame, auc_boot=50)
    for name in FIGURES:
        figure = cohort_figure(name, curves, 0.5, ((0.2, 0.8), (0.8, 0.6)))
        png, svg = figure_bytes(figure, "png"), figure_bytes(figure, "svg")
        assert png.startswith(b"\x89PNG") and b"<svg" in svg[:2000], name
        assert Image.open(io.BytesIO(png)).size[0] >= 800  # 200 dpi
    empty = cohort_curves(frame.iloc[:0], auc_boot=0)
    assert all(figure_bytes(cohort_figure(n_, empty, 0.5), "svg") for n_ in FIGURES)
    assert set(FORMATS) == {"png", "svg"}
    with pytest.raises(ValueError):
        cohort_figure("violin", curves, 0.5)
