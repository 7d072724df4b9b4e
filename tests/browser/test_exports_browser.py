"""The case page's download row in chromium: every export link points at its route, SEG controls follow the case.

Only the links are under test here (the routes have unit tests), so this
module serves the fake-predictor app from a thread in the test process
instead of the session's gunicorn + trained tiny bundle + imported cohort:
that keeps it at a few seconds and independent of model training.
"""

from __future__ import annotations

import io
import threading

import numpy as np
import pytest
from PIL import Image

from dashboard import ids
from pipeline.io.sample_files import dicom_bytes
from tests.auth_helpers import PASSWORD, add_user
from tests.browser.conftest import shot, sign_in
from tests.browser.support import new_page
from tests.fakes_predictor import fake_app, lesion_png

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CASE_LINKS = {ids.CASE_EXPORT_PDF: ".pdf", ids.CASE_EXPORT_PNG: ".png", ids.CASE_EXPORT_JSON: ".json",
              ids.CASE_EXPORT_SEG: ".seg.dcm", ids.CASE_EXPORT_SEG_ZIP: ".seg.zip"}
SEG_CONTROLS = (ids.CASE_EXPORT_SEG, ids.CASE_EXPORT_SEG_ZIP)


@pytest.fixture(scope="module")
def fake_server(tmp_path_factory, chromium_path):
    """The fake-predictor app on a loopback port (werkzeug, threaded) with a DICOM and a PNG case, both predicted."""
    from werkzeug.serving import make_server

    app = fake_app(tmp_path_factory.mktemp("exports-browser"))
    services = app.server.extensions["lesionlens"]
    pixels = np.asarray(Image.open(io.BytesIO(lesion_png(100, 80, seed=4))))
    with app.server.app_context():
        cases = {"dicom": services.ingest.upload(dicom_bytes(pixels, PatientName="Doe^Jane")),
                 "png": services.ingest.upload(lesion_png(120, 90))}
        for case_id in cases.values():
            services.analyzer.predict_case(case_id)
    user = add_user(app, "viewer")
    server = make_server("127.0.0.1", 0, app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True, name="exports-browser-server")
    thread.start()
    try:
        yield {"url": f"http://127.0.0.1:{server.server_port}", "cases": cases, "username": user.username}
    finally:
        server.shutdown()
        thread.join(10)


def test_case_page_download_links_point_at_the_export_routes(browser, fake_server):
    context, page = new_page(browser, timeout_ms=20_000, accept_downloads=True)
    errors = page.errors
    try:
        url, cases = fake_server["url"], fake_server["cases"]
        sign_in(page, url, fake_server["username"], PASSWORD)

        page.goto(f"{url}/case/{cases['dicom']}")
        page.wait_for_selector(f"#{ids.CASE_EXPORTS}")
        for id_, suffix in CASE_LINKS.items():
            link = page.locator(f"#{id_}")
            assert link.get_attribute("href") == f"/export/case/{cases['dicom']}{suffix}", id_
            assert link.is_enabled(), id_
        # dbc drops an empty `download` attribute; the routes' Content-Disposition makes a click a download anyway
        with page.expect_download() as download:  # and it carries the session cookie
            page.locator(f"#{ids.CASE_EXPORT_SEG_ZIP}").click()
        assert download.value.suggested_filename == f"lesionlens-{cases['dicom']}-seg.zip"
        shot(page, "case-exports-dicom")

        page.goto(f"{url}/case/{cases['png']}")
        page.wait_for_selector(f"#{ids.CASE_EXPORTS}")
        for id_ in SEG_CONTROLS:
            control = page.locator(f"#{id_}")
            assert control.get_attribute("href") is None and not control.is_enabled(), id_
            assert "Only for DICOM cases" in (control.get_attribute("title") or ""), id_
        assert page.locator(f"#{ids.CASE_EXPORT_PDF}").get_attribute("href") == f"/export/case/{cases['png']}.pdf"
        shot(page, "case-exports-png")
        assert not errors
    finally:
        context.close()
