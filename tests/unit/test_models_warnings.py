"""Issue 19, item 2 (dashboard): the Models page shows each bundle's validation figures and warnings, and
activating a bundle with warnings asks the administrator to confirm first (audited either way)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dashboard import ids
from dashboard.auth.audit_log import AuditFilter
from dashboard.components import model_card
from dashboard.pages import models as models_page
from pipeline.bundle import BrokenBundle
from tests.auth_helpers import as_user, auth_of, logged_in_client
from tests.cards import make_card
from tests.fakes_predictor import fake_app, make_fake_bundle

WARNINGS = ["The validation set is too small to judge the model (24 images, 6 malignant, 18 benign): treat every "
            "figure below as a rough guess.",
            "Lesion outlines are weak: validation Dice 0.41 (below 0.6)."]
VALIDATION = {"n_images": 24, "n_patients": 20, "dice": 0.4123, "dice_ci95": [0.31, 0.52], "iou": 0.3,
              "iou_ci95": [0.2, 0.4], "auc": 0.7, "auc_ci95": [0.45, 0.93], "sensitivity": 0.5,
              "sensitivity_ci95": [0.1, 0.9], "specificity": 0.8, "specificity_ci95": [0.6, 0.95],
              "training_dice": 0.93, "note": "validation patients also chose the epoch, calibration and threshold: "
                                             "mildly optimistic", "warnings": WARNINGS,
              "full": {"classification": {"ece": 0.12}}}
WEAK = make_card(name="weak", version="7", metrics={"validation": VALIDATION})
GOOD = make_card(name="good", version="8", metrics={"validation": {**VALIDATION, "warnings": []}})


def test_card_warnings_reads_the_validation_report_only():
    assert model_card.card_warnings(WEAK) == WARNINGS
    assert model_card.card_warnings(GOOD) == []
    assert model_card.card_warnings(make_card(metrics={"auc": 0.8})) == [] and model_card.card_warnings(None) == []
    garbage = make_card(metrics={"validation": {"warnings": ["  ", 3, None, " Real one. "]}})
    assert model_card.card_warnings(garbage) == ["Real one."]
    assert model_card.card_warnings(make_card(metrics={"validation": {"warnings": "not a list"}})) == []


def test_validation_figures_and_warnings_on_the_card():
    assert model_card.validation_lines(WEAK) == [
        "24 images of 20 patients", "Dice 0.412 [0.31–0.52]", "IoU 0.300 [0.20–0.40]", "AUC 0.700 [0.45–0.93]",
        "sensitivity 0.50 [0.10–0.90]", "specificity 0.80 [0.60–0.95]", "training Dice 0.930"]
    assert model_card.validation_lines(make_card()) == []
    text = str(model_card.card_view(WEAK))
    assert "This model has 2 validation warnings" in text and "Lesion outlines are weak" in text
    assert "validation patients (mildly optimistic)" in text and "0.700 [0.45–0.93]" in text
    assert "Dice 0.930 on training images vs 0.412 on validation" in text
    good = str(model_card.card_view(GOOD))
    assert "validation warning" not in good and "validation patients (mildly optimistic)" in good


def test_bundle_table_counts_warnings_and_headline_falls_back_to_validation():
    rows = model_card.bundle_rows([WEAK, GOOD, make_card(name="old", metrics={"auc": 0.8}),
                                    BrokenBundle(Path("broken"), "broken", "bad card")], "good")
    assert [r["warnings"] for r in rows] == [2, 0, 0, None]
    assert (rows[0]["auc"], rows[0]["dice"]) == (0.7, 0.412)  # a plain `train` bundle: its validation figures
    holdout = make_card(name="weak", metrics={"validation": VALIDATION, "holdout": {"classification": {"auc": 0.9}}})
    assert model_card.headline(holdout)[0] == 0.9  # a held-out test comes first
    listed = str(model_card.other_warnings([WEAK, GOOD], "good"))
    assert "weak v7: 2 warnings" in listed and "Lesion outlines are weak" in listed
    assert model_card.other_warnings([WEAK, GOOD], "weak") == ""  # the active one's are on its card


def test_preview_and_confirmation_text_name_the_warnings():
    preview = str(model_card.bundle_preview(WEAK))
    assert "Validation: 24 images of 20 patients" in preview and "2 validation warnings" in preview
    assert "No validation report" in str(model_card.bundle_preview(make_card(name="old")))
    body = str(model_card.confirm_body(WEAK, WARNINGS))
    assert "weak v7" in body and "2 warnings" in body and "too small to judge" in body


# ------------------------------------------------------------ the callbacks, through Dash's HTTP endpoint
@pytest.fixture
def app(tmp_path):
    app = fake_app(tmp_path)
    services = app.server.extensions["lesionlens"]
    make_fake_bundle(services.settings.models_dir, name="weak", version="7",
                     metrics={"validation": VALIDATION})
    services.models.bundles(fresh=True)
    return app


def post(client, app, input_id: str, inputs: list[tuple[str, str, object]], state: list[tuple[str, str, object]],
         trigger: int = 0):
    """POST the callback whose inputs include `input_id`; returns (status code, response JSON or None)."""
    key = next(k for k, v in app.callback_map.items() if any(i["id"] == input_id for i in v["inputs"]))
    parts = key[2:-2].split("...") if key.startswith("..") else [key]
    outputs = [{"id": p.rsplit(".", 1)[0], "property": p.rsplit(".", 1)[1].split("@")[0]} for p in parts]
    as_dicts = lambda items: [{"id": i, "property": p, "value": v} for i, p, v in items]  # noqa: E731
    body = {"output": key, "outputs": outputs if key.startswith("..") else outputs[0], "inputs": as_dicts(inputs),
            "state": as_dicts(state), "changedPropIds": [f"{inputs[trigger][0]}.{inputs[trigger][1]}"]}
    response = client.post("/_dash-update-component", json=body)
    return response.status_code, (response.get_json() or {}).get("response") if response.status_code == 200 else None


def activate(client, app, name):
    return post(client, app, ids.MODELS_ACTIVATE, [(ids.MODELS_ACTIVATE, "n_clicks", 1)],
                [(ids.MODELS_SELECT, "value", name)])


def answer(client, app, name, yes: bool):
    return post(client, app, ids.MODELS_CONFIRM_YES,
                [(ids.MODELS_CONFIRM_YES, "n_clicks", 1 if yes else None),
                 (ids.MODELS_CONFIRM_NO, "n_clicks", None if yes else 1)],
                [(ids.MODELS_SELECT, "value", name)], trigger=0 if yes else 1)


def switches(app) -> list[dict]:
    rows, _ = auth_of(app).audit.page(AuditFilter.parse(action="model.switch"), limit=50)
    return [{"target": r["target"], **json.loads(r["detail"] or "{}")} for r in rows]


def test_a_bundle_without_warnings_activates_at_once(app):
    services = app.server.extensions["lesionlens"]
    client = logged_in_client(app, "admin")
    client.get("/models")
    make_fake_bundle(services.settings.models_dir, name="fake2", version="2")  # no validation report
    services.models.bundles(fresh=True)
    status, response = activate(client, app, "fake2")
    assert status == 200 and response[ids.MODELS_CONFIRM]["is_open"] is False
    assert "is now the active model" in str(response[ids.MODELS_STATUS]["children"])
    assert services.models.active_name() == "fake2"
    assert switches(app) == [{"target": "fake2", "version": "2", "previous": "fake", "via": "web"}]


def test_a_bundle_with_warnings_asks_first_then_activates_on_confirmation(app):
    services = app.server.extensions["lesionlens"]
    client = logged_in_client(app, "admin")
    client.get("/models")
    status, response = activate(client, app, "weak")
    assert status == 200 and response[ids.MODELS_CONFIRM]["is_open"] is True
    dialog = json.dumps(response[ids.MODELS_CONFIRM_TEXT]["children"])
    assert "weak v7" in dialog and "Lesion outlines are weak" in dialog and "too small to judge" in dialog
    assert ids.MODELS_CARD not in response  # nothing switched yet
    assert services.models.active_name() == "fake" and switches(app) == []

    status, response = answer(client, app, "weak", yes=False)  # Cancel
    assert status == 200 and response[ids.MODELS_CONFIRM]["is_open"] is False
    assert "Not activated" in str(response[ids.MODELS_STATUS]["children"])
    assert services.models.active_name() == "fake" and switches(app) == []

    status, response = answer(client, app, "weak", yes=True)  # Activate anyway
    assert status == 200 and response[ids.MODELS_CONFIRM]["is_open"] is False
    assert "despite 2 validation warnings" in str(response[ids.MODELS_STATUS]["children"])
    assert services.models.active_name() == "weak"
    assert switches(app) == [{"target": "weak", "version": "7", "previous": "fake", "warnings_confirmed": 2,
                             "via": "web"}]
    assert "This model has 2 validation warnings" in json.dumps(response[ids.MODELS_CARD]["children"])


def test_only_admins_confirm_and_viewers_see_the_warnings(app):
    services = app.server.extensions["lesionlens"]
    viewer = logged_in_client(app, "viewer")
    viewer.get("/models")
    assert answer(viewer, app, "weak", yes=True)[0] == 403
    assert services.models.active_name() == "fake"
    with as_user(app, "viewer"):
        page = str(models_page.layout())
    assert "weak v7: 2 warnings" in page and "Switch the active model" not in page
    with as_user(app, "admin"):
        page = str(models_page.layout())
    assert "weak v7 — ⚠ 2 warnings" in page and "Activate a model with warnings?" in page
