"""The /export/… routes over HTTP (fake predictor): sign-in and roles, audit, each format, the cohort CSV."""

from __future__ import annotations

import csv
import io
import json
import zipfile

import numpy as np
import pydicom
import pytest
from PIL import Image

from dashboard import ids
from dashboard.auth import roles
from dashboard.auth.audit_log import AuditFilter
from dashboard.cohort import queries
from dashboard.exports.case_json import schema_errors
from dashboard.cohort.controls import shown_filter
from dashboard.exports.cohort_csv import HEADER
from dashboard.pages import case as case_page
from dashboard.pages import cohort as cohort_page
from dashboard.pages import metrics as metrics_page
from pipeline.io import record_from_array
from pipeline.io.sample_files import dicom_bytes
from tests.auth_helpers import as_user, auth_of, logged_in_client
from tests.dash_tree import find_component
from tests.fakes_predictor import lesion_png, module_app

IDENTIFYING = ("Doe", "Jane", "MRN-4411")


app = module_app("exports")


@pytest.fixture(scope="module")
def cases(app):
    """A PNG upload, a DICOM upload (identifying header), and imported cases for the cohort filters."""
    services = app.server.extensions["lesionlens"]
    with app.server.app_context():
        png = services.ingest.upload(lesion_png(120, 90), {"age": 50, "sex": "F"})
        services.analyzer.predict_case(png)
        pixels = np.asarray(Image.open(io.BytesIO(lesion_png(100, 80, seed=2))))
        dicom = services.ingest.upload(dicom_bytes(pixels, PixelSpacing=[0.1, 0.1], PatientName="Doe^Jane",
                                                     PatientID="MRN-4411", PatientAge="045Y", PatientSex="F"))
        services.analyzer.predict_case(dicom)
        rng = np.random.default_rng(5)
        for i in range(6):
            image = rng.normal(140, 20, (60, 80)).clip(0, 255)
            image[20:40, 20:40] = 20
            case_id, _ = services.store.add_case(
                record_from_array(image.astype(np.uint8)), dataset="seed", source_case_id=f"s{i}",
                true_label="malignant" if i % 2 else "benign",
                metadata={"age": None if i == 5 else 40 + i, "sex": "M" if i % 3 == 0 else "F",
                          "device": "=HYPERLINK(1)" if i == 4 else "A"})
            services.analyzer.predict_case(case_id)
        services.store.add_review(png, "dr.who", False, "benign", "irregular? no: smooth")
    return {"png": png, "dicom": dicom}


@pytest.fixture(scope="module")
def viewer(app, cases):
    return logged_in_client(app, "viewer")


def audit_rows(app, action):
    rows, _ = auth_of(app).audit.page(AuditFilter.parse(action=action), limit=500)
    return rows


def test_every_export_needs_a_signed_in_viewer(app, cases):
    case = cases["dicom"]
    urls = [f"/export/case/{case}.{kind}" for kind in ("pdf", "png", "json", "seg.dcm")] + [
        "/export/cohort.csv?sex=F", "/export/cohort/figure.png?figure=roc", "/export/cohort/figure.svg?figure=pr",
        "/export/cohort/figures.zip"]
    endpoints = {r.endpoint for r in app.server.url_map.iter_rules() if r.rule.startswith("/export/")}
    assert endpoints == roles.EXPORT_ENDPOINTS and all(roles.ENDPOINT_ROLES[e] == roles.VIEWER for e in endpoints)
    assert endpoints <= roles.BROWSER_ENDPOINTS
    anonymous, forged = app.server.test_client(), app.server.test_client()
    forged.set_cookie("ll_session", "forged-session-token")
    for url in urls:
        for client in (anonymous, forged):
            response = client.get(url)
            assert response.status_code == 302 and response.headers["Location"].startswith("/login?next="), url
    bearer = app.server.test_client()  # the API's tokens do not open the browser routes
    token = auth_of(app).store.create_token(logged_in_client(app, "admin").user.username, "t")[1]
    assert bearer.get(urls[0], headers={"Authorization": f"Bearer {token}"}).status_code == 302
    viewer = logged_in_client(app, "viewer")
    for url in urls:
        response = viewer.get(url)
        assert response.status_code == 200, url
        assert response.headers["Cache-Control"] == "no-store"
        assert "attachment" in response.headers["Content-Disposition"]
    removed = logged_in_client(app, "viewer")
    auth_of(app).store.remove(removed.user.username)
    assert removed.get(urls[0]).status_code == 302  # the session ended with the account


def test_case_exports_and_their_audit_trail(app, cases, viewer):
    case = cases["png"]
    pdf = viewer.get(f"/export/case/{case}.pdf")
    assert pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")
    png = viewer.get(f"/export/case/{case}.png?style=contour")
    assert png.mimetype == "image/png" and Image.open(io.BytesIO(png.data)).size == (120, 90)
    assert viewer.get(f"/export/case/{case}.png?style=glow").status_code == 400
    document = json.loads(viewer.get(f"/export/case/{case}.json").data)
    assert schema_errors(document) == [] and document["case"]["id"] == case
    assert document["model"] == {**document["model"], "name": "fake", "version": "1.0"}
    assert document["prediction"]["label"] in ("benign", "malignant") and document["review"]["user"] == "dr.who"
    assert document["case"]["metadata"] == {"age": 50, "sex": "F"}
    missing = viewer.get("/export/case/cnothere00.pdf")
    assert missing.status_code == 404 and missing.mimetype == "text/plain"
    exported = [r for r in audit_rows(app, "case.export") if r["target"] == case]
    assert {json.loads(r["detail"])["format"] if isinstance(r["detail"], str) else r["detail"]["format"]
            for r in exported} >= {"pdf", "png", "json"}
    assert exported[0]["actor"] == viewer.user.username and exported[0]["role"] == "viewer"


def test_dicom_seg_for_a_dicom_case_and_a_plain_refusal_for_a_png_case(app, cases, viewer):
    response = viewer.get(f"/export/case/{cases['dicom']}.seg.dcm")
    assert response.status_code == 200 and response.mimetype == "application/dicom"
    seg = pydicom.dcmread(io.BytesIO(response.data))
    services = app.server.extensions["lesionlens"]
    source = pydicom.dcmread(io.BytesIO(services.store.files.read_bytes(cases["dicom"], "source.dcm")))
    assert seg.Modality == "SEG" and seg.StudyInstanceUID == source.StudyInstanceUID
    assert seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence[0].ReferencedSOPInstanceUID == \
        source.SOPInstanceUID
    stored = services.store.get(cases["dicom"])
    prediction = stored.predictions[0]
    mask = services.store.files.read_mask(cases["dicom"], services.store.files.prediction_name(
        "mask", prediction.model_name, prediction.model_version))
    assert np.array_equal(seg.pixel_array.astype(bool), mask)
    text = response.data.decode("latin-1")
    assert not any(word in text for word in IDENTIFYING)  # the de-identified header only
    refused = viewer.get(f"/export/case/{cases['png']}.seg.dcm")
    assert refused.status_code == 404 and refused.mimetype == "text/plain"
    assert "not DICOM" in refused.get_data(as_text=True)
    everything = str(audit_rows(app, "case.export")) + str(audit_rows(app, "cohort.export"))
    assert not any(word in everything for word in IDENTIFYING)


def test_case_page_shows_the_download_row_with_seg_only_for_dicom(app, cases):
    with as_user(app, "viewer"):
        dicom_page = str(case_page.layout(case_id=cases["dicom"]))
        png_page = str(case_page.layout(case_id=cases["png"]))
    for page in (dicom_page, png_page):
        assert ids.CASE_EXPORTS in page and "/export/case/" in page and "PDF report" in page
    assert "disabled=True" not in dicom_page.split(ids.CASE_EXPORT_SEG)[1][:400]
    assert f"/export/case/{cases['dicom']}.seg.dcm" in dicom_page
    assert "Only for DICOM cases" in png_page and f"/export/case/{cases['png']}.seg.dcm" not in png_page


def read_csv(response) -> list[dict]:
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert tuple(rows[0]) == HEADER
    return [dict(zip(HEADER, r)) for r in rows[1:]]


def test_cohort_csv_lists_what_the_cohort_page_shows(app, cases, viewer):
    services = app.server.extensions["lesionlens"]
    model = services.models.active_identity()
    for query in ("", "?sex=F", "?sex=M&truth=benign", "?age=0-100", "?age=41-43", "?dataset=seed&review=none"):
        rows = read_csv(viewer.get(f"/export/cohort.csv{query}"))
        with as_user(app, "viewer"):  # the table the Cohort page renders for the same URL (first page: 25 rows)
            table = find_component(cohort_page.layout(**dict(p.split("=") for p in query.lstrip("?").split("&") if p)),
                         ids.COHORT_TABLE)
        assert [r["case_id"] for r in rows] == [r["id"] for r in table.data], query
        total = queries.cohort_count(services.store, shown_filter(query), model)
        assert len(rows) == total, query
    assert len(read_csv(viewer.get("/export/cohort.csv?age=0-100"))) == 8  # unknown ages too, as on the page
    everyone = {r["case_id"]: r for r in read_csv(viewer.get("/export/cohort.csv"))}
    reviewed = everyone[cases["png"]]
    assert reviewed["review_user"] == "dr.who" and reviewed["review_note"] == "irregular? no: smooth"
    assert reviewed["review_status"] == "disagree" and reviewed["reviewed_label"] == "benign"
    assert reviewed["model_name"] == "fake" and float(reviewed["probability_malignant"]) >= 0
    assert "'=HYPERLINK(1)" in {r["device"] for r in everyone.values()}  # a formula stays text
    exported = audit_rows(app, "cohort.export")
    assert any(r["target"] == "cohort.csv" and "sex=F" in str(r["detail"]) for r in exported)


def test_cohort_figures_and_page_links(app, cases, viewer):
    svg = viewer.get("/export/cohort/figure.svg?figure=roc&threshold=0.4&dataset=seed")
    assert svg.mimetype == "image/svg+xml" and b"<svg" in svg.data[:2000]
    png = viewer.get("/export/cohort/figure.png?figure=calibration")
    assert png.data.startswith(b"\x89PNG")
    assert viewer.get("/export/cohort/figure.png?figure=violin").status_code == 400
    archive = zipfile.ZipFile(io.BytesIO(viewer.get("/export/cohort/figures.zip?threshold=0.3").data))
    assert len(archive.namelist()) == 10 and "lesionlens-roc.svg" in archive.namelist()
    with as_user(app, "viewer"):
        cohort = str(cohort_page.layout(sex="F"))
        metrics = str(metrics_page.layout(sex="F"))
    assert ids.COHORT_EXPORT_CSV in cohort and "/export/cohort.csv?sex=F" in cohort
    assert "/export/cohort/figure.svg?sex=F&figure=roc&threshold=0.50" in metrics
    assert "/export/cohort/figures.zip?sex=F&threshold=0.50" in metrics and "'format': 'svg'" in metrics
    outputs = {o for key in app.callback_map for o in roles.callback_output_ids(key)}
    assert ids.COHORT_EXPORT_CSV in outputs and ids.metrics_export_link("roc", "png") in outputs
