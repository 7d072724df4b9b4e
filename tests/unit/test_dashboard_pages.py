"""Page logic as plain functions, and a few callbacks through Dash's HTTP endpoint (fake predictor)."""

from __future__ import annotations

import base64
import json

import pytest

from dashboard import ids
from dashboard.cohort.filters import CohortFilter
from dashboard.cohort.curves import cohort_curves
from dashboard.cohort import queries
from dashboard.components.cards import format_area, prediction_block, uncertainty_text
from dashboard.components.cohort_table import db_sort, table_rows
from dashboard.components.upload_results import render_batch
from dashboard.pages import case as case_page
from dashboard.pages import case_review
from dashboard.pages import cohort as cohort_page
from dashboard.pages import metrics as metrics_page
from dashboard.components import model_card
from dashboard.pages import models as models_page
from dashboard.pages import new_case, new_case_batch
from pipeline.errors import ImageLoadError
from pipeline.io import record_from_array
from tests.auth_helpers import as_user, logged_in_client
from tests.fakes_predictor import lesion_png

import numpy as np


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode()


def seed_cohort(services, n: int = 40):
    """Labelled cases with truth masks and BI-RADS, predicted by the fake model."""
    rng = np.random.default_rng(3)
    for i in range(n):
        malignant = i % 3 == 0
        image = rng.normal(140, 20, (60, 80)).clip(0, 255)
        image[20:40, 20:40 + (10 if malignant else 0)] = 20
        truth = np.zeros((60, 80), bool)
        truth[20:40, 20:40] = True
        case_id, _ = services.store.add_case(
            record_from_array(image.astype(np.uint8)), dataset="seed", source_case_id=f"s{i}", patient_id=f"p{i // 2}",
            true_label="malignant" if malignant else "benign", truth_mask=truth,
            metadata={"age": 30 + i, "sex": "F", "device": "A" if i % 2 else "B",
                      "birads": "5" if malignant else ("4a" if i % 4 else "3")})
        services.analyzer.predict_case(case_id)


def test_decode_upload():
    assert new_case_batch.decode_upload(data_url(b"abc")) == b"abc"
    for bad in (None, "", "no-comma", "data:image/png,notbase64"):
        with pytest.raises(ImageLoadError):
            new_case_batch.decode_upload(bad)


def test_one_bad_file_does_not_stop_the_others(app, services):
    with app.server.app_context():
        batch = new_case_batch.ingest_files(services.ingest, [data_url(lesion_png()), data_url(b"garbage"),
                                                          data_url(lesion_png(seed=1))],
                                      ["a.png", "b.png", "c.png"], {}, max_files=10)
        items = batch["items"]
        assert [bool(i["case_id"]) for i in items] == [True, False, True]
        assert "not a supported image" in items[1]["error"]
        results = new_case_batch.advance_batch(services, batch, budget_s=30)
        cards, done, total = render_batch(batch, results)
    assert (done, total) == (3, 3)
    text = str(cards)
    assert "b.png" in text and "not a supported image" in text and "Open case" in text


def test_file_limit_is_reported_per_file(services):
    batch = new_case_batch.ingest_files(services.ingest, [data_url(lesion_png())] * 3, ["1", "2", "3"], {}, max_files=2)
    assert batch["items"][2]["error"].startswith("not analysed: at most 2 files")


def test_pending_cards_before_prediction(services):
    batch = new_case_batch.ingest_files(services.ingest, [data_url(lesion_png())], ["x.png"], {}, max_files=5)
    cards, done, total = render_batch(batch, {})
    assert (done, total) == (0, 1) and "Analysing" in str(cards)


def test_result_texts():
    assert format_area(1234, None) == "1,234 px (pixel spacing unknown)"
    assert format_area(10, 3.456) == "3.5 mm²"
    assert format_area(0, None, lesion_found=False) == "— (no lesion segmented)"
    assert "low" in uncertainty_text(0.01) and "high" in uncertainty_text(0.3)
    block = str(prediction_block({"label": "malignant", "probability": 0.87, "uncertainty": 0.02, "area_px": 10,
                                  "area_mm2": None, "lesion_found": True, "model": {"name": "m", "version": "3"}}))
    assert "87%" in block and "m v3" in block and "Malignant" in block


def test_case_figures_and_review(app, services):
    case_id = services.ingest.upload(lesion_png(100, 80))
    services.analyzer.predict_case(case_id)
    stored = services.store.get(case_id)
    model = services.models.active_identity()
    pred_fig, truth_fig = case_page.case_figures(stored.row, stored.prediction_for(*model), model, "contour", 0.6,
                                                 (0, 255))
    sources = [img.source for img in pred_fig.layout.images]
    assert "window.png" in sources[0] and "style=contour" in sources[1] and truth_fig is None
    assert not case_page.needs_window_controls(stored.row)
    assert pred_fig.layout.images[1].opacity == pytest.approx(1.0)  # outlines get a visible opacity floor
    assert case_page.fitted_height(500, 400, False) < case_page.fitted_height(400, 500, False)
    ok, message = case_review.save_review(services.store, case_id, None, None, "", "AB")
    assert not ok and "agree" in message
    ok, message = case_review.save_review(services.store, case_id, "agree", None, "", "")
    assert not ok and "initials" in message
    assert case_review.save_review(services.store, case_id, "disagree", "benign", "smooth", "AB")[0]
    assert "disagrees" in str(case_review.review_history(services.store.get(case_id).reviews))
    with as_user(app, "clinician"):
        assert "Case not found" in str(case_page.layout(case_id="cnothere00"))
        assert "Save review" in str(case_page.layout(case_id=case_id))
    with as_user(app, "viewer"):  # viewers read reviews but cannot write one
        assert "Save review" not in str(case_page.layout(case_id=case_id))


def test_cohort_table_rows_use_thumbnail_urls(services):
    seed_cohort(services, 6)
    rows, total = queries.cohort_page(services.store, CohortFilter(), services.models.active_identity())
    table = table_rows(rows)
    assert total == 6 and table[0]["thumb"] == f"![thumbnail](/files/{table[0]['id']}/thumb.png)"
    assert "base64" not in json.dumps(table)
    assert db_sort([{"column_id": "case", "direction": "desc"}]) == [
        {"column_id": "id", "direction": "desc"}]


def test_metrics_threshold_changes_the_confusion_matrix(services):
    seed_cohort(services)
    curves = cohort_curves(queries.metrics_frame(services.store, CohortFilter(), services.models.active_identity()),
                           auc_boot=50, ap_boot=20)
    assert curves.n_scored == 40 and curves.n_patients == 20 and curves.reader_points
    low = metrics_page.threshold_figures(curves, 0.1)
    high = metrics_page.threshold_figures(curves, 0.95)
    assert low[0].data[0].text != high[0].data[0].text
    assert any(t.name == "radiologists (BI-RADS ≥ k)" for t in low[1].data)
    groups = {(r["group"], r["subgroup"]) for r in low[4]}
    assert ("Device", "A") in groups and ("Sex", "F") in groups and ("All", "all") in groups
    calibration, overlap, risk = metrics_page.static_figures(curves)
    assert "Calibration" in calibration.layout.title.text and len(overlap.data) == 2
    assert "Risk-coverage of the model's calls (40 cases" in risk.layout.title.text  # issue 14.3
    assert len(curves.uncertainty) == len(curves.called) == len(curves.ood) == curves.n_scored


def test_metrics_empty_cohort(services):
    curves = cohort_curves(queries.metrics_frame(services.store, CohortFilter(), services.models.active_identity()))
    confusion, roc, pr, _rates, subgroups = metrics_page.threshold_figures(curves, 0.5)
    assert "No cases" in roc.layout.annotations[0].text and subgroups == []


def test_models_page_pieces(services):
    card = services.models.active_card()
    rows = model_card.bundle_rows(services.models.bundles(), card.name)
    assert rows[0]["status"] == "active" and rows[0]["auc"] == 0.81
    assert "research use" in str(model_card.card_view(card))


def _callback(client, app, output_id: str, inputs: list[dict], state: list[dict] | None = None):
    key = next(k for k in app.callback_map if output_id in k)
    spec = app.callback_map[key]
    outputs = [{"id": o.split(".")[0], "property": o.split(".")[1]} for o in
               (key.strip(".").split("...") if key.startswith("..") else [key])]
    body = {"output": key, "outputs": outputs if key.startswith("..") else outputs[0], "inputs": inputs,
            "state": state or [], "changedPropIds": [f"{inputs[0]['id']}.{inputs[0]['property']}"]}
    assert spec
    response = client.post("/_dash-update-component", json=body)
    assert response.status_code == 200, response.data[:500]
    return response.get_json()["response"]


def test_metrics_callback_over_http(app, services):
    seed_cohort(services, 12)
    client = logged_in_client(app, "viewer")
    client.get("/metrics")  # first request sets up the pages router
    response = _callback(client, app, f"{ids.METRICS_CONFUSION}.figure",
                         [{"id": ids.METRICS_THRESHOLD, "property": "value", "value": 0.3}],
                         [{"id": metrics_page.METRICS_FILTER, "property": "data", "value": "?device=A"}])
    figure = response[ids.METRICS_CONFUSION]["figure"]
    assert "0.30" in figure["layout"]["title"]["text"]
    assert response["metrics-threshold-value"]["children"] == "0.30"


def test_pages_render_through_the_router(app, services):
    seed_cohort(services, 3)
    client = logged_in_client(app, "clinician")
    for path in ("/", "/new", "/cohort?sex=F", "/metrics?age=30-40", "/models", "/nope"):
        response = client.get(path)
        assert response.status_code in (200, 301, 302, 308), path
    html = client.get("/").get_data(as_text=True)
    assert "cdn" not in html.lower() and "googleapis" not in html
    assert "00-bootstrap.min.css" in html
    with as_user(app, "admin"):
        assert "Drag and drop" in str(new_case.layout())
        assert "Filters" in str(cohort_page.layout(sex="F", age="30-40"))
        assert "Decision threshold" in str(metrics_page.layout(device="A"))
        assert "Switch the active model" in str(models_page.layout())
