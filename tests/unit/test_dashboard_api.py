"""JSON API and image routes with the Flask test client (fake predictor)."""

from __future__ import annotations

import base64
import io

import pytest

from dashboard.store.files import read_png
from tests.auth_helpers import api_token, logged_in_client
from tests.fakes_predictor import fake_app, lesion_png


@pytest.fixture
def client(tmp_path):
    """Signed in as a clinician (session for /files, Bearer token for /api/v1)."""
    return logged_in_client(fake_app(tmp_path, max_request_bytes=2 * 1024 * 1024), "clinician")


def post_image(client, data: bytes, name: str = "scan.png", **fields):
    return client.post("/api/v1/predict", data={"file": (io.BytesIO(data), name), **fields},
                       content_type="multipart/form-data")


def test_predict_returns_summary_and_mask(client):
    response = post_image(client, lesion_png(), age="61", sex="F", history="no")
    assert response.status_code == 200
    body = response.get_json()
    assert body["prediction"]["label"] in ("benign", "malignant")
    assert 0 <= body["prediction"]["probability"] <= 1
    assert body["prediction"]["model"] == {"name": "fake", "version": "1.0"}
    mask = read_png(base64.b64decode(body["mask_png_base64"]))
    assert mask.shape == (400, 500)
    assert body["source"] == "model" and body["case_url"] == f"/case/{body['case_id']}"
    again = post_image(client, lesion_png(), age="61", sex="F", history="no").get_json()
    assert again["source"] == "cache" and again["case_id"] != body["case_id"]

    case = client.get(f"/api/v1/cases/{body['case_id']}").get_json()
    assert case["metadata"]["age"] == 61 and case["predictions"][0]["label"] == body["prediction"]["label"]
    assert case["width"] == 500 and case["height"] == 400


def test_bad_file_is_a_readable_422(client):
    response = post_image(client, b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)
    assert response.status_code == 422
    body = response.get_json()
    assert body["error"].startswith("cannot read the image:") and "Traceback" not in body["error"]


def test_request_errors_are_json(client):
    assert client.post("/api/v1/predict", data={}).status_code == 400
    assert post_image(client, lesion_png(), age="abc").get_json()["error"].startswith("age must be")
    missing = client.get("/api/v1/cases/cdoesnotexist")
    assert missing.status_code == 404 and "no case" in missing.get_json()["error"]
    assert client.get("/api/v1/nothing").get_json()["status"] == 404


def test_too_large_is_413_json(client):
    response = post_image(client, b"\x00" * (3 * 1024 * 1024))
    assert response.status_code == 413 and "MB limit" in response.get_json()["error"]


def test_healthz_reports_model_store_cache(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}  # not an admin: the minimal answer
    body = logged_in_client(client.application, "admin").get("/healthz").get_json()
    assert body["status"] == "ok"
    assert body["store"]["ok"] and body["store"]["backend"] == "sqlite"
    assert body["cache"]["ok"] and body["model"]["active"]["name"] == "fake"


def test_image_routes(client):
    case_id = post_image(client, lesion_png(100, 80)).get_json()["case_id"]
    for path in (f"/files/{case_id}/display.png", f"/files/{case_id}/thumb.png",
                 f"/files/{case_id}/window.png?low=10&high=200",
                 f"/files/{case_id}/overlay.png?layer=pred&style=contour&model=fake&version=1.0"):
        response = client.get(path)
        assert response.status_code == 200 and response.mimetype == "image/png", path
        assert "max-age" in response.headers.get("Cache-Control", "")
    overlay = read_png(client.get(f"/files/{case_id}/overlay.png?layer=pred&model=fake&version=1.0").data)
    assert overlay.shape == (80, 100, 4)
    assert max(read_png(client.get(f"/files/{case_id}/thumb.png").data).shape) <= 96
    assert client.get(f"/files/{case_id}/window.png?low=5&high=1").status_code == 400
    assert client.get(f"/files/{case_id}/window.png?low=nan&high=1").status_code == 400
    assert client.get(f"/files/{case_id}/overlay.png?layer=truth").status_code == 404
    assert client.get("/files/..%2F..%2Fetc/display.png").mimetype != "image/png"  # no traversal: Dash index
    assert client.get(f"/files/{case_id}/pixels.npy").status_code == 404


def test_token_auth(client):
    """Per-user Bearer tokens (tests/unit/test_auth*.py covers roles, revocation and every route)."""
    app = client.application
    anonymous = app.test_client()
    assert anonymous.post("/api/v1/predict", data={"file": (io.BytesIO(lesion_png(48, 40)), "a.png")},
                          content_type="multipart/form-data").status_code == 401
    ok = anonymous.post("/api/v1/predict", data={"file": (io.BytesIO(lesion_png(48, 40)), "a.png")},
                        headers={"Authorization": f"Bearer {api_token(app, 'clinician')}"},
                        content_type="multipart/form-data")
    assert ok.status_code == 200
    assert anonymous.get("/healthz").status_code == 200
