"""Issue 15.2: bodies bounded before they are parsed, stored bytes per case bounded, large uploads
downsampled on ingest, a daily upload quota per user."""

from __future__ import annotations

import io
import json

import numpy as np
from PIL import Image

from dashboard.store.files import LEGACY_PIXELS, PIXELS, compact, npy_bytes
from tests.auth_helpers import logged_in_client
from tests.fakes_predictor import fake_app, lesion_png


def big_sparse_png(side: int = 7000) -> bytes:
    """A 7000 x 7000 RGBA PNG of about 3 MB (a dark disc on a speckled background: not too compressible)."""
    rng = np.random.default_rng(0)
    gray = np.full((side, side), 150, np.uint8)
    gray[::7, ::5] = rng.integers(100, 200, size=gray[::7, ::5].shape, dtype=np.uint8)
    yy, xx = np.ogrid[:side, :side]
    gray[(yy - side // 2) ** 2 + (xx - side // 3) ** 2 < (side // 8) ** 2] = 40
    rgba = np.dstack([gray, gray, gray, np.full_like(gray, 255)])
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, format="PNG", compress_level=9)
    return buffer.getvalue()


def folder_bytes(services, case_id: str) -> int:
    return sum(p.stat().st_size for p in services.store.files.folder(case_id).iterdir())


def test_large_upload_is_downsampled_and_stored_compactly(tmp_path):
    app = fake_app(tmp_path)
    client = logged_in_client(app, "clinician")
    data = big_sparse_png(4000)  # bench/bench_big_uploads.py does 7000 x 7000 (49 MP) through gunicorn
    response = client.post("/api/v1/predict", data={"file": (io.BytesIO(data), "big.png")},
                           content_type="multipart/form-data")
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    case_id = response.get_json()["case_id"]
    services = app.server.extensions["lesionlens"]
    row = services.store.get(case_id).row
    assert (row.width, row.height) == (1536, 1536) and row.meta["downsampled_from"] == [4000, 4000]
    stored = folder_bytes(services, case_id)
    assert stored < 4 * len(data) + 512 * 1024, (stored, len(data))  # was 64 MB of float32 pixels for this file
    assert services.store.check_case(case_id) is None
    assert services.store.files.read_pixels(case_id).shape == (1536, 1536)


def test_pixels_keep_their_values_in_the_narrowest_type_and_old_cases_still_read(tmp_path):
    assert compact(np.array([[0, 255]], np.float32)).dtype == np.uint8
    assert compact(np.array([[-1024, 3071]], np.float32)).dtype == np.int16
    assert compact(np.array([[0.5, 1]], np.float32)).dtype == np.float32
    app = fake_app(tmp_path)
    services = app.server.extensions["lesionlens"]
    case_id = services.ingest.upload(lesion_png(120, 90))
    files = services.store.files
    assert files.path(case_id, PIXELS).is_file() and not files.path(case_id, LEGACY_PIXELS).exists()
    pixels = files.read_pixels(case_id)
    assert pixels.dtype == np.float32 and pixels.shape == (90, 120)
    # a case stored before this version: float32 pixels.npy, and its row's sha256 of that file
    files.path(case_id, PIXELS).rename(files.path(case_id, LEGACY_PIXELS))
    files.path(case_id, LEGACY_PIXELS).write_bytes(npy_bytes(pixels))
    with services.store.sessions() as session:
        from dashboard.store.tables import CaseRow

        session.get(CaseRow, case_id).image_sha256 = files.image_sha256(case_id)
        session.commit()
    assert services.store.check_case(case_id) is None
    assert np.array_equal(files.read_pixels(case_id), pixels)


def test_request_bodies_are_bounded_by_role_before_parsing(tmp_path):
    app = fake_app(tmp_path)
    body = json.dumps({"output": "cohort-count.children", "pad": "a" * (3 * 1024 * 1024)})
    viewer = logged_in_client(app, "viewer")
    refused = viewer.post("/_dash-update-component", data=body, content_type="application/json")
    assert refused.status_code == 413 and "2 MB" in refused.get_data(as_text=True)
    clinician = logged_in_client(app, "clinician")
    assert clinician.post("/_dash-update-component", data=body,
                          content_type="application/json").status_code == 400  # read, then found malformed
    anonymous = app.server.test_client()
    assert anonymous.post("/login", data={"username": "x" * 100_000, "password": "y"}).status_code == 413
    from dashboard.auth import bodies

    assert bodies.limit_for("api.get_case", "admin", 256 << 20) == bodies.SMALL_BYTES
    assert bodies.limit_for("api.predict", "clinician", 256 << 20) == 256 << 20


def test_daily_upload_quota_per_user(tmp_path):
    app = fake_app(tmp_path, daily_uploads=2)
    first, second = logged_in_client(app, "clinician"), logged_in_client(app, "clinician")

    def upload(client, seed):
        return client.post("/api/v1/predict", data={"file": (io.BytesIO(lesion_png(64, 48, seed=seed)), "a.png")},
                           content_type="multipart/form-data")

    assert [upload(first, i).status_code for i in range(3)] == [200, 200, 429]
    assert "daily upload limit of 2" in upload(first, 9).get_json()["error"]
    assert upload(second, 5).status_code == 200  # per user
    services = app.server.extensions["lesionlens"]
    services.ingest.upload(lesion_png(64, 48, seed=7))  # no signed-in user (import, jobs): not counted
