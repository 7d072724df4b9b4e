"""What a radiologist and a review meeting do, in a real browser against gunicorn + a real model.

`page` is signed in as the clinician fixture user (tests/browser/conftest.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.browser.conftest import USERS, shot
from tests.fakes_predictor import lesion_png

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _dicom_file(server) -> Path:
    candidates = sorted((server.home / "cache" / "synthetic").glob("*/dicom/*.dcm"))
    if candidates:
        return candidates[0]
    pydicom_data = pytest.importorskip("pydicom.data")
    return Path(pydicom_data.get_testdata_file("CT_small.dcm"))


def test_upload_png_and_dicom_shows_overlay_and_label(page, live_server, tmp_path):
    png = tmp_path / "lesion.png"
    png.write_bytes(lesion_png(500, 400))
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not really a png")
    overlays: list[int] = []
    page.on("response", lambda r: overlays.append(r.status) if "/overlay.png" in r.url else None)

    page.goto(live_server.url + "/")
    page.fill("#new-age", "58")
    page.set_input_files("#new-upload input[type=file]", [str(png), str(_dicom_file(live_server)), str(broken)])
    page.wait_for_selector("text=3 of 3 analysed", timeout=90_000)
    page.wait_for_load_state("networkidle")
    shot(page, "upload-results")

    labels = [text.strip() for text in page.locator(".ll-pred-label").all_inner_texts()]
    assert len(labels) == 2 and all(text in ("Benign", "Malignant", "No lesion", "No lesion found") for text in labels)
    probabilities = [text.strip() for text in page.locator(".ll-probability").all_inner_texts()]
    assert len(probabilities) == 2  # a "no lesion" card says so in the probability's place, with no number
    for label, probability in zip(labels, probabilities):
        assert ("%" in probability) == (label in ("Benign", "Malignant"))
    assert "not a supported image" in page.locator(".ll-file-error").inner_text()
    assert overlays and all(status == 200 for status in overlays)
    assert page.locator(".ll-result-graph image").count() >= 4  # base image + mask overlay per result
    dicom = page.locator(".ll-result-card", has_text=".dcm")  # the browser may reorder files
    assert re.search(r"px = [0-9.]+ mm|mm²", dicom.inner_text())  # the DICOM's pixel spacing reached the page

    dicom.locator(".ll-open-case").click()  # the DICOM's case page has window/level
    page.wait_for_url(re.compile(r"/case/c[0-9a-f]+"))
    page.wait_for_selector("#case-level")
    assert page.locator("#case-level").is_visible()
    shot(page, "case-dicom")
    assert not page.errors


def _confusion_title(page) -> str:
    return page.locator("#metrics-confusion .gtitle").text_content()


def test_threshold_slider_changes_confusion_matrix(page, live_server):
    page.goto(live_server.url + "/metrics")
    page.wait_for_selector("#metrics-confusion .gtitle")
    page.wait_for_load_state("networkidle")
    before_title = _confusion_title(page)
    before_cells = page.locator("#metrics-confusion text").all_text_contents()
    thumb = page.locator("#metrics-threshold [role=slider]")
    thumb.focus()
    start = float(thumb.get_attribute("aria-valuenow"))
    key = "PageUp" if start < 0.5 else "PageDown"
    for _ in range(3):
        page.keyboard.press(key)
    page.wait_for_function("(t) => document.querySelector('#metrics-confusion .gtitle').textContent !== t",
                           arg=before_title)
    page.wait_for_load_state("networkidle")
    after_title = _confusion_title(page)
    assert re.search(r"threshold \d\.\d\d", after_title) and after_title != before_title
    assert page.locator("#metrics-confusion text").all_text_contents() != before_cells
    shot(page, "metrics-threshold")
    assert not page.errors


def _count(page) -> int:
    return int(re.sub(r"[^0-9]", "", page.locator("#cohort-count").inner_text()))


def test_cohort_filter_changes_count_and_roc(page, live_server):
    page.goto(live_server.url + "/metrics")
    page.wait_for_selector("#metrics-roc .legendtext")
    page.wait_for_load_state("networkidle")
    all_roc = page.locator("#metrics-roc .legendtext").all_text_contents()

    page.goto(live_server.url + "/cohort")
    page.wait_for_selector("#cohort-table td")
    # predicates as functions, not expressions: Playwright evals an expression, which the app's CSP forbids
    page.wait_for_function("() => document.getElementById('cohort-count').textContent.includes('case')")
    total = _count(page)
    minimum = page.locator("#cohort-age [role=slider][aria-label=Minimum]")
    minimum.focus()
    for _ in range(6):  # PageUp moves a slider thumb by a tenth of its range: 0 -> 60 years
        page.keyboard.press("PageUp")
    page.wait_for_function("(t) => !document.getElementById('cohort-count').textContent.startsWith(t + ' ')",
                           arg=str(total))
    filtered = _count(page)
    assert 0 < filtered < total
    page.wait_for_function("() => window.location.search.includes('age=60-')")
    shot(page, "cohort-filtered")

    page.locator("#cohort-metrics-link").click()
    page.wait_for_url(re.compile(r"/metrics\?age=60-"))
    page.wait_for_selector("#metrics-roc .legendtext")
    # wait for the filtered cohort's own summary: under load an intermediate render can differ from both
    expected = f"{filtered} cases in this cohort"
    page.wait_for_function("(e) => document.getElementById('metrics-summary').innerText.includes(e)", arg=expected)
    page.wait_for_load_state("networkidle")
    assert expected in page.locator("#metrics-summary").inner_text()
    assert page.locator("#metrics-roc .legendtext").all_text_contents() != all_roc
    shot(page, "metrics-filtered")
    assert not page.errors


def test_open_a_case_from_the_table(page, live_server):
    page.goto(live_server.url + "/cohort?truth=malignant")
    page.wait_for_selector("#cohort-table td")
    first_case = page.locator("#cohort-table td[data-dash-column=case] a").first.inner_text()
    page.locator("#cohort-table td[data-dash-column=dataset]").first.click()
    page.wait_for_url(re.compile(rf"/case/{first_case}$"))
    page.wait_for_selector("#case-image .main-svg")
    assert first_case in page.locator("h2").inner_text()
    assert page.locator("text=Ground truth").count() >= 1  # imported cases show truth beside prediction
    page.locator("text=Contour").click()
    page.wait_for_function("() => [...document.querySelectorAll('#case-image image')].some(i => "
                           "(i.getAttribute('href') || '').includes('style=contour'))")
    page.locator("#review-agree >> text=Disagree").click()
    page.fill("#review-note", "border irregular at 3 o'clock")
    assert page.locator("#review-user").input_value() == USERS["clinician"]  # the reviewer is who signed in
    page.locator("#review-save").click()
    page.wait_for_selector("text=Review saved.")
    history = page.locator("#review-history").inner_text()
    assert "disagrees" in history and USERS["clinician"] in history
    shot(page, "case-reviewed")
    assert not page.errors
