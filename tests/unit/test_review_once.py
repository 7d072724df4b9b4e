"""Issue 14, item 6: "Save review" cannot store the same review twice."""

from __future__ import annotations

import re


from dashboard import ids
from dashboard.pages import case_review
from tests.auth_helpers import logged_in_client
from tests.fakes_predictor import lesion_png


def test_the_same_review_twice_is_stored_once(services):
    case_id = services.ingest.upload(lesion_png(100, 80))
    assert case_review.save_review(services.store, case_id, "agree", None, "round, smooth", "dr-a")[0]
    ok, message = case_review.save_review(services.store, case_id, "agree", None, "round, smooth ", "dr-a")
    assert not ok and message == case_review.ALREADY_SAVED
    assert len(services.store.get(case_id).reviews) == 1
    # a changed review, or another reviewer's identical one, is a new review
    assert case_review.save_review(services.store, case_id, "disagree", "benign", "round, smooth", "dr-a")[0]
    assert case_review.save_review(services.store, case_id, "agree", None, "round, smooth", "dr-b")[0]
    assert len(services.store.get(case_id).reviews) == 3


def save_key(app) -> str:
    return next(k for k in app.callback_map if f"{ids.REVIEW_STATUS}.children" in k)


def click_save(client, app, case_id: str, note: str):
    key = save_key(app)
    parts = key[2:-2].split("...")
    outputs = [{"id": p.rsplit(".", 1)[0], "property": p.rsplit(".", 1)[1].split("@")[0]} for p in parts]
    body = {"output": key, "outputs": outputs, "changedPropIds": [f"{ids.REVIEW_SAVE}.n_clicks"],
            "inputs": [{"id": ids.REVIEW_SAVE, "property": "n_clicks", "value": 1}],
            "state": [{"id": ids.CASE_ID, "property": "data", "value": case_id},
                      {"id": ids.REVIEW_AGREE, "property": "value", "value": "agree"},
                      {"id": ids.REVIEW_LABEL, "property": "value", "value": None},
                      {"id": ids.REVIEW_NOTE, "property": "value", "value": note},
                      {"id": ids.REVIEW_USER, "property": "value", "value": "ignored"}]}
    response = client.post("/_dash-update-component", json=body)
    assert response.status_code == 200, response.data[:300]
    return response.get_json()["response"]


def test_save_button_is_disabled_on_click_after_saving_and_re_enabled_by_an_edit(app, services):
    case_id = services.ingest.upload(lesion_png(100, 80))
    client = logged_in_client(app, "clinician")
    client.get(f"/case/{case_id}")
    first = click_save(client, app, case_id, "looks benign")
    assert first[ids.REVIEW_SAVE]["disabled"] is True and "Review saved" in str(first[ids.REVIEW_STATUS])
    second = click_save(client, app, case_id, "looks benign")  # e.g. a second tab, or a replayed request
    assert second[ids.REVIEW_SAVE]["disabled"] is True and "Already saved" in str(second[ids.REVIEW_STATUS])
    assert len(services.store.get(case_id).reviews) == 1
    # the browser side: disabled the moment it is clicked; enabled again when the form changes
    clientside = [c for c in app._callback_list if c.get("clientside_function")
                  and c["output"].startswith(f"{ids.REVIEW_SAVE}.disabled")]
    triggers = {tuple(i["id"] for i in c["inputs"]) for c in clientside}
    assert (ids.REVIEW_SAVE,) in triggers and (ids.REVIEW_AGREE, ids.REVIEW_LABEL, ids.REVIEW_NOTE) in triggers
    assert any(re.search(r"return clicks \? true", str(app._inline_scripts)) for _ in [0])
