"""Issue 14, item 6: the cohort page's age boxes apply while typing, not only on blur."""

from __future__ import annotations

import dash
import pytest

from dashboard import ids
from dashboard.cohort.filters import CohortFilter
from dashboard.pages import cohort as cohort_page
from tests.auth_helpers import as_user, logged_in_client
from tests.fakes_predictor import fake_app


@pytest.fixture
def app(tmp_path):
    return fake_app(tmp_path)


def test_sync_age():
    no = dash.no_update
    assert cohort_page.sync_age(ids.COHORT_AGE, [30, 70], 0, 100) == (no, 30, 70)  # slider -> boxes
    assert cohort_page.sync_age(ids.COHORT_AGE_MIN, [0, 100], 45, 100) == ([45, 100], no, no)  # box -> slider
    assert cohort_page.sync_age(ids.COHORT_AGE_MAX, [45, 100], 45, 60) == ([45, 60], no, no)
    assert cohort_page.sync_age(ids.COHORT_AGE_MIN, [45, 60], 45, 60) == (no, no, no)  # nothing changed
    assert cohort_page.sync_age(ids.COHORT_AGE_MIN, [0, 100], None, "") == (no, no, no)  # cleared: any age
    assert cohort_page.sync_age(ids.COHORT_AGE_MIN, [0, 100], -5, 400) == (no, no, no)  # clamped to 0-100
    assert cohort_page.sync_age(ids.COHORT_AGE_MIN, [0, 100], 80, 60) == ([80, 80], no, no)
    assert cohort_page.sync_age(ids.COHORT_AGE_MAX, [0, 100], 80, 60) == ([60, 80], no, no)


def test_layout_has_debounced_boxes_and_no_blur_only_boxes(app):
    with as_user(app, "viewer"):
        layout = cohort_page.layout(**{"age": "40-70"})
    slider, low, high = layout[ids.COHORT_AGE], layout[ids.COHORT_AGE_MIN], layout[ids.COHORT_AGE_MAX]
    assert slider.allow_direct_input is False  # Dash's own boxes commit on blur only with updatemode=mouseup
    assert (low.value, high.value) == (40, 70)
    assert low.debounce == high.debounce == cohort_page.AGE_DEBOUNCE_MS  # a number: ms after typing, not blur


def test_typing_an_age_moves_the_slider_over_http(app):
    client = logged_in_client(app, "viewer")
    client.get("/cohort")
    key = next(k for k in app.callback_map if k.startswith(f"..{ids.COHORT_AGE}.value..."))
    outputs = [{"id": i, "property": "value"} for i in (ids.COHORT_AGE, ids.COHORT_AGE_MIN, ids.COHORT_AGE_MAX)]
    body = {"output": key, "outputs": outputs, "state": [], "changedPropIds": [f"{ids.COHORT_AGE_MIN}.value"],
            "inputs": [{"id": ids.COHORT_AGE, "property": "value", "value": [0, 100]},
                       {"id": ids.COHORT_AGE_MIN, "property": "value", "value": 52},
                       {"id": ids.COHORT_AGE_MAX, "property": "value", "value": 100}]}
    response = client.post("/_dash-update-component", json=body)
    assert response.status_code == 200, response.data[:300]
    assert response.get_json()["response"][ids.COHORT_AGE]["value"] == [52, 100]
    # ... and the table's filter follows the slider as before
    f = cohort_page.filter_from_controls({"age": [52, 100]}, (None, None))
    assert f == CohortFilter(age_min=52)
