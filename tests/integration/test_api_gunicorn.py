"""The API against a real gunicorn (2 workers, Procfile flags) and a real trained bundle."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import requests

from tests.browser.support import Gunicorn, add_user, api_token, server_env, tiny_models_dir
from tests.fakes_predictor import lesion_png

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    models = tiny_models_dir()
    home = tmp_path_factory.mktemp("gunicorn-home")
    env = server_env(home, models)
    add_user(env, "api-client", "clinician", "integration-password-1")
    headers = {"Authorization": f"Bearer {api_token(env, 'api-client')}"}  # per-user token (dashboard/auth)
    gunicorn = Gunicorn(env, workers=2, threads=2, log=home / "gunicorn.log")
    gunicorn.headers = headers
    add_user(env, "ops", "admin", "integration-password-1")
    gunicorn.admin_headers = {"Authorization": f"Bearer {api_token(env, 'ops')}"}  # /healthz details: admins only
    try:
        gunicorn.wait_ready()
        yield gunicorn
    finally:
        gunicorn.stop()


def post(server, data: bytes, name: str = "a.png", **fields):
    return requests.post(f"{server.url}/api/v1/predict", files={"file": (name, data)}, data=fields, timeout=120,
                         headers=server.headers)


def test_healthz_before_any_prediction(server):
    assert requests.get(f"{server.url}/healthz", timeout=10).json() == {"status": "ok"}  # anonymous: minimal
    body = requests.get(f"{server.url}/healthz", timeout=10, headers=server.admin_headers).json()
    assert body["status"] == "ok" and body["model"]["active"]["name"] == "tiny"
    loaded = body["model"]["loaded_in_this_worker"]  # never at import or in the master: each worker warms
    assert loaded is None or loaded["name"] == "tiny"  # its own after the fork (tests/integration/test_warmup_gunicorn.py)


def test_predict_png_then_cache(server):
    first = post(server, lesion_png(500, 400), age="58")
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["prediction"]["model"]["name"] == "tiny" and body["source"] == "model"
    assert body["prediction"]["label"] in ("benign", "malignant", "normal")
    assert base64.b64decode(body["mask_png_base64"]).startswith(b"\x89PNG")
    again = post(server, lesion_png(500, 400), age="58").json()
    assert again["source"] == "cache"  # whichever worker answers: the cache is shared
    case = requests.get(f"{server.url}/api/v1/cases/{body['case_id']}", timeout=10, headers=server.headers).json()
    assert case["predictions"][0]["probability"] == body["prediction"]["probability"]


def test_predict_dicom(server):
    pydicom_data = pytest.importorskip("pydicom.data")
    data = Path(pydicom_data.get_testdata_file("CT_small.dcm")).read_bytes()
    response = post(server, data, name="ct.dcm")
    assert response.status_code == 200, response.text
    assert response.json()["prediction"]["area_mm2"] is None or response.json()["prediction"]["area_mm2"] >= 0


def test_bad_file_is_422_with_message(server):
    response = post(server, b"GIF89a not supported", name="x.gif")
    assert response.status_code == 422
    assert "not a supported image" in response.json()["error"]


def test_workers_loaded_model_lazily(server):
    """Some worker has loaded the model (the earlier predictions), and it is the bundle asked for.

    Which worker answers /healthz is up to the kernel's accept queue, so ask
    until the loaded worker answers (a busy CI machine can route several
    requests in a row to the idle one)."""
    assert post(server, lesion_png(90, 70)).status_code == 200
    loaded = []
    for _ in range(40):
        body = requests.get(f"{server.url}/healthz", timeout=10, headers=server.admin_headers).json()
        if body["model"]["loaded_in_this_worker"]:
            loaded.append(body["model"]["loaded_in_this_worker"])
        if len(loaded) >= 2:
            break
    assert loaded and all(item["name"] == "tiny" for item in loaded)
