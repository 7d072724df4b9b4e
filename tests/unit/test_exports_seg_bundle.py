"""`/export/case/<id>.seg.zip`: the DICOM SEG with the de-identified image it references, over HTTP (fake predictor).

The point of the bundle is that the SEG inside resolves to the image inside,
and that the image is the stored de-identified copy and nothing of the upload's
identity; the refusals (PNG case, declared burned-in text, a stored file
without the de-identifier's marks) are plain sentences.
"""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file

from dashboard import ids
from dashboard.auth.audit_log import AuditFilter
from dashboard.exports.seg_bundle import IMAGE_NAME, README_NAME, SEG_NAME, release_problem
from dashboard.pages import case as case_page
from pipeline.deid import deidentify_bytes, identifying_values
from pipeline.io.sample_files import dicom_bytes
from tests.auth_helpers import as_user, auth_of, logged_in_client
from tests.fakes_predictor import lesion_png, module_app

SALT = b"bundle-test-salt-0123456789"
IDENTITY = {"PatientName": "Doe^Jane", "PatientID": "MRN-4411", "PatientBirthDate": "19610412",
            "InstitutionName": "St Elsewhere Breast Centre", "ReferringPhysicianName": "Kildare^James",
            "AccessionNumber": "ACC-99812", "StudyDescription": "Jane Doe left breast"}


def ct_with_identity() -> bytes:
    """pydicom's CT_small sample, its patient renamed to values the test can search for."""
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    for keyword, value in IDENTITY.items():
        setattr(ds, keyword, value)
    buffer = io.BytesIO()
    ds.save_as(buffer)
    return buffer.getvalue()


app = module_app("seg-bundle")


@pytest.fixture(scope="module")
def cases(app):
    services = app.server.extensions["lesionlens"]
    pixels = np.asarray(Image.open(io.BytesIO(lesion_png(100, 80, seed=3))))
    with app.server.app_context():
        uploads = {
            "ct": services.ingest.upload(ct_with_identity()),
            "burned": services.ingest.upload(dicom_bytes(pixels, PatientName="Roe^Richard", PatientID="MRN-5",
                                                           BurnedInAnnotation="YES")),
            "png": services.ingest.upload(lesion_png(120, 90)),
        }
        for case_id in uploads.values():
            services.analyzer.predict_case(case_id)
    return uploads


@pytest.fixture(scope="module")
def viewer(app, cases):
    return logged_in_client(app, "viewer")


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def element_values(ds: pydicom.Dataset) -> list[str]:
    """Every non-UID, non-binary value as text, at any depth."""
    values = []
    for element in ds.iterall():
        if element.VR in ("UI", "OB", "OW", "OF", "OD", "UN", "SQ") or element.value is None:
            continue
        values.append(str(element.value))
    return values


def stored_source(app, case_id: str) -> bytes:
    return app.server.extensions["lesionlens"].store.files.read_bytes(case_id, "source.dcm")


def test_zip_holds_the_stored_image_and_a_seg_that_references_it(app, cases, viewer):
    case = cases["ct"]
    response = viewer.get(f"/export/case/{case}.seg.zip")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert f'filename="lesionlens-{case}-seg.zip"' in response.headers["Content-Disposition"]
    assert response.headers["Cache-Control"] == "no-store"
    files = members(response.data)
    folder = f"lesionlens-{case}/"
    assert list(files) == [folder + IMAGE_NAME, folder + SEG_NAME, folder + README_NAME]
    assert files[folder + IMAGE_NAME] == stored_source(app, case)  # the stored copy, byte for byte
    image = pydicom.dcmread(io.BytesIO(files[folder + IMAGE_NAME]))
    seg = pydicom.dcmread(io.BytesIO(files[folder + SEG_NAME]))
    assert seg.Modality == "SEG" and seg.StudyInstanceUID == image.StudyInstanceUID
    assert str(seg.PatientName) == str(image.PatientName) == case
    series = seg.ReferencedSeriesSequence[0]
    assert series.SeriesInstanceUID == image.SeriesInstanceUID
    assert series.ReferencedInstanceSequence[0].ReferencedSOPInstanceUID == image.SOPInstanceUID
    assert series.ReferencedInstanceSequence[0].ReferencedSOPClassUID == image.SOPClassUID
    assert seg.SOPInstanceUID == pydicom.dcmread(io.BytesIO(viewer.get(f"/export/case/{case}.seg.dcm").data)) \
        .SOPInstanceUID  # the same SEG as the plain SEG download
    readme = files[folder + README_NAME].decode()
    assert "3D Slicer" in readme and "OHIF" in readme and "not a medical device" in readme
    exported = [r for r in auth_of(app).audit.page(AuditFilter.parse(action="case.export"), limit=500)[0]
                if r["target"] == case]
    assert any("seg.zip" in str(r["detail"]) for r in exported)
    assert exported[0]["actor"] == viewer.user.username


def test_image_in_the_zip_carries_no_identifiers_from_the_upload(app, cases, viewer):
    case = cases["ct"]
    original = pydicom.dcmread(io.BytesIO(ct_with_identity()))
    secrets = identifying_values(original)  # every value the profile removes or replaces, UIDs included
    assert {"Doe^Jane", "MRN-4411", "St Elsewhere Breast Centre", str(original.StudyInstanceUID)} <= secrets
    response = viewer.get(f"/export/case/{case}.seg.zip")
    # Secrets with letters are searched in the raw bytes; digit-only ones (times, dates) would
    # match by chance inside freshly generated numeric UIDs or pixel bytes, so they are compared
    # with every element value instead.
    worded = {s for s in secrets if any(ch.isalpha() for ch in s)}
    numeric = secrets - worded
    for name, data in members(response.data).items():
        text = data.decode("latin-1")
        assert not [s for s in worded if s in text], name
        if name.endswith(".dcm"):
            values = element_values(pydicom.dcmread(io.BytesIO(data)))
            assert not [s for s in numeric if any(s in v for v in values)], name
        else:
            assert not [s for s in numeric if s in text], name
        assert "Doe" not in text and "Kildare" not in text and "Elsewhere" not in text, name
    image = pydicom.dcmread(io.BytesIO(members(response.data)[f"lesionlens-{case}/{IMAGE_NAME}"]))
    assert image.PatientIdentityRemoved == "YES" and image.PatientID == case
    assert "PatientBirthDate" not in image or not image.PatientBirthDate
    audit_text = str(auth_of(app).audit.page(AuditFilter.parse(action="case.export"), limit=500)[0])
    assert "Doe" not in audit_text and "MRN-4411" not in audit_text


def test_declared_burned_in_text_is_refused_and_the_seg_alone_still_served(app, cases, viewer):
    case = cases["burned"]
    refused = viewer.get(f"/export/case/{case}.seg.zip")
    assert refused.status_code == 422 and refused.mimetype == "text/plain"
    assert "burned into the pixels" in refused.get_data(as_text=True)
    assert viewer.get(f"/export/case/{case}.seg.dcm").status_code == 200
    exported = auth_of(app).audit.page(AuditFilter.parse(action="case.export"), limit=500)[0]
    assert not [r for r in exported if r["target"] == case and "seg.zip" in str(r["detail"])]


def test_a_stored_file_without_the_deidentifier_marks_is_not_released():
    raw = ct_with_identity()
    clean = deidentify_bytes(raw, pseudonym="cbundle01", salt=SALT)
    assert release_problem(clean, "cbundle01") is None
    assert "preamble" in release_problem(raw, "cbundle01")  # the identifying original
    assert "pseudonym" in release_problem(clean, "cother0001")
    ds = pydicom.dcmread(io.BytesIO(clean))
    ds.private_block(0x0011, "ACME", create=True).add_new(0x01, "LO", "Doe^Jane")
    buffer = io.BytesIO()
    ds.save_as(buffer)
    assert "private" in release_problem(buffer.getvalue(), "cbundle01")
    ds = pydicom.dcmread(io.BytesIO(clean))
    del ds.PatientIdentityRemoved
    buffer = io.BytesIO()
    ds.save_as(buffer)
    assert "not marked" in release_problem(buffer.getvalue(), "cbundle01")


def test_png_case_gets_the_plain_404_and_anonymous_goes_to_sign_in(app, cases, viewer):
    refused = viewer.get(f"/export/case/{cases['png']}.seg.zip")
    assert refused.status_code == 404 and refused.mimetype == "text/plain"
    assert "not DICOM" in refused.get_data(as_text=True)
    missing = viewer.get("/export/case/cnothere00.seg.zip")
    assert missing.status_code == 404 and missing.get_data(as_text=True).strip() == "There is no such case."
    anonymous = app.server.test_client().get(f"/export/case/{cases['ct']}.seg.zip")
    assert anonymous.status_code == 302 and anonymous.headers["Location"].startswith("/login?next=")


def test_case_page_offers_the_zip_beside_the_seg_with_the_same_rule(app, cases):
    with as_user(app, "viewer"):
        dicom_page = str(case_page.layout(case_id=cases["ct"]))
        png_page = str(case_page.layout(case_id=cases["png"]))
    assert f"/export/case/{cases['ct']}.seg.zip" in dicom_page
    assert "disabled=True" not in dicom_page.split(ids.CASE_EXPORT_SEG_ZIP)[1][:400]
    assert ids.CASE_EXPORT_SEG_ZIP in png_page and f"/export/case/{cases['png']}.seg.zip" not in png_page
    assert "disabled=True" in png_page.split(ids.CASE_EXPORT_SEG_ZIP)[1][:400]
