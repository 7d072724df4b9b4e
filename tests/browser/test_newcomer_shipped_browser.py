"""Issue 14.5: the newcomer's path end to end, on the model shipped with the repository.

gunicorn serves `shipped/` (the BUS-BRA bundle `make run` installs) with an empty case store. In
Debian's chromium a clinician signs in through the real form, uploads a real breast ultrasound image
from another hospital (BrEaST-Lesions-USG, never seen in training), sees the diagnosis with its
probability and the BI-RADS words of the outline, opens the case and downloads its PDF. The same
image through the API (`POST /api/v1/predict`) gives the mask, which must
overlap the expert's (Dice > 0.5). Then a CT slice from pydicom's samples: the guard's warning shows.

The BrEaST image is case107: among the BrEaST images the out-of-distribution guard passes, its Dice
with the fold-1 CV model of the same recipe (0.84, results/ood-busbra-fold1/breast_dice_vs_flag.csv)
was that set's median, so the test asks for a typical image, not the easiest one.
"""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pytest
import requests
from PIL import Image

from dashboard import ids
from pipeline.paths import REPO_ROOT, shared_data_dir
from tests.browser.conftest import PASSWORD, shot, sign_in
from tests.browser.support import Gunicorn, add_user, api_token, new_page, server_env

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.realdata]
SHIPPED = REPO_ROOT / "shipped"
CASE = "case107"


def _breast_files():
    folder = shared_data_dir() / "breast-lesions-usg" / "images_and_masks"
    image, mask = folder / f"{CASE}.png", folder / f"{CASE}_tumor.png"
    if not image.is_file():
        pytest.skip(f"BrEaST-Lesions-USG not found under {folder}")
    return image, mask


@pytest.fixture(scope="module")
def shipped_server(tmp_path_factory, chromium_path):
    assert (SHIPPED / "busbra" / "bundle.json").is_file(), "the shipped model is missing from the repository"
    home = tmp_path_factory.mktemp("newcomer-home")
    env = server_env(home, SHIPPED)
    add_user(env, "newcomer", "clinician", PASSWORD)
    server = Gunicorn(env, workers=1, threads=4, log=home / "gunicorn.log")
    try:
        server.wait_ready(timeout=180)
        server.env = env
        yield server
    finally:
        server.stop()


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(2 * (a & b).sum() / max(a.sum() + b.sum(), 1))


def test_newcomer_uploads_a_real_ultrasound_and_reads_the_answer(browser, shipped_server, tmp_path):
    image, expert = _breast_files()
    context, page = new_page(browser, timeout_ms=120_000, accept_downloads=True)
    errors = page.errors
    try:
        sign_in(page, shipped_server.url, "newcomer")
        page.goto(shipped_server.url + "/")
        page.set_input_files("#new-upload input[type=file]", [str(image)])
        page.wait_for_selector("text=1 of 1 analysed", timeout=180_000)
        page.wait_for_load_state("networkidle")
        shot(page, "newcomer-result")
        card = page.locator(".ll-result-card").first
        assert card.locator(".ll-pred-label").inner_text().strip() in ("Benign", "Malignant")
        assert "%" in card.locator(".ll-probability").inner_text()
        words = card.locator(".ll-lexicon").inner_text()
        assert re.search(r"(oval|round|irregular), (parallel|not parallel) mass; margin ", words, re.I), words
        assert "busbra" in card.inner_text()

        card.locator(".ll-open-case").click()
        page.wait_for_url(re.compile(r"/case/c[0-9a-f]+"))
        page.wait_for_selector(".ll-lexicon")
        with page.expect_download() as download:
            page.locator(f"#{ids.CASE_EXPORT_PDF}").click()
        pdf = tmp_path / "report.pdf"
        download.value.save_as(pdf)
        assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 10_000
        assert not errors, errors
    finally:
        context.close()

    token = api_token(shipped_server.env, "newcomer")
    with open(image, "rb") as handle:
        answer = requests.post(shipped_server.url + "/api/v1/predict", headers={"Authorization": f"Bearer {token}"},
                               files={"file": (image.name, handle, "image/png")}, timeout=180)
    assert answer.status_code == 200, answer.text[:500]
    body = answer.json()
    assert body["prediction"]["model"]["name"] == "busbra" and body["case_id"].startswith("c")
    assert body["prediction"]["lexicon"]["sentence"] and body["prediction"]["out_of_distribution"] is False
    predicted = np.asarray(Image.open(io.BytesIO(base64.b64decode(body["mask_png_base64"])))) > 127
    truth = np.asarray(Image.open(expert).convert("L")) > 127
    assert predicted.shape == truth.shape
    assert _dice(predicted, truth) > 0.5


def test_a_ct_slice_gets_the_guards_warning(browser, shipped_server):
    pydicom_data = pytest.importorskip("pydicom.data")
    ct = pydicom_data.get_testdata_file("CT_small.dcm")
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(120_000)
    try:
        sign_in(page, shipped_server.url, "newcomer")
        page.goto(shipped_server.url + "/")
        page.set_input_files("#new-upload input[type=file]", [ct])
        page.wait_for_selector("text=1 of 1 analysed", timeout=180_000)
        page.wait_for_selector(".ll-ood-warning")
        warning = page.locator(".ll-ood-warning").first.inner_text()
        assert "breast ultrasound" in warning and "unreliable" in warning, warning
        shot(page, "newcomer-ct-warning")
    finally:
        context.close()
