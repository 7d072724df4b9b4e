"""Issue 14, item 6: an empty mask never carries a diagnosis, on any page or export.

A model that segments nothing but still reports P(malignant) = 99% must be shown as
"No lesion found" with no label and no probability: New case card, case page, cohort
table and CSV, PDF report. `lesion_found == False` is the one test (dashboard.components.cards.no_lesion).
"""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest

from dashboard import ids
from dashboard.components.cards import no_lesion, prediction_block, shown_label
from dashboard.components.cohort_table import table_rows
from dashboard.components.upload_results import render_batch
from dashboard.exports import cohort_csv
from dashboard.exports.case_data import load_case_export
from dashboard.exports.pdf import result_rows
from dashboard.cohort import queries
from dashboard.cohort.filters import CohortFilter
from dashboard.pages import case as case_page
from dashboard.pages import new_case_batch
from tests.auth_helpers import as_user
from tests.fakes_predictor import FakePredictor, lesion_png, make_fake_bundle


class EmptyMaskPredictor(FakePredictor):
    """Finds nothing, yet its classifier says 99% malignant (what the newcomer saw)."""

    def predict(self, record, metadata=None):
        prediction = super().predict(record, metadata)
        prediction.mask = np.zeros_like(prediction.mask)
        prediction.lesion_found, prediction.box, prediction.area_px, prediction.area_mm2 = False, None, 0, None
        prediction.probability, prediction.label = 0.99, "malignant"
        return prediction


@pytest.fixture
def app(tmp_path):
    from dashboard.factory import create_app
    from dashboard.settings import Settings

    make_fake_bundle(tmp_path / "models")
    return create_app(Settings(home=tmp_path / "home", models_dir=tmp_path / "models"), EmptyMaskPredictor)


def text_of(component) -> str:
    return str(component)


def test_no_lesion_is_an_explicit_false_only():
    assert no_lesion({"lesion_found": False}) and not no_lesion({"lesion_found": True})
    assert not no_lesion({}) and not no_lesion(None)  # older rows without the field keep their label
    assert shown_label({"lesion_found": False, "label": "malignant"}) == "normal"
    assert shown_label({"lesion_found": True, "label": "benign"}) == "benign"


def test_prediction_block_shows_no_probability_for_an_empty_mask():
    summary = {"label": "malignant", "probability": 0.99, "uncertainty": 0.01, "lesion_found": False,
               "area_px": 0, "model": {"name": "m", "version": "1"}}
    text = text_of(prediction_block(summary))
    assert "No lesion found" in text and "99%" not in text and "Malignant" not in text
    assert "no diagnosis" in text and "best guess" not in text
    shown = text_of(prediction_block({**summary, "lesion_found": True}))
    assert "99%" in shown and "Malignant" in shown


def test_every_page_and_export_of_an_empty_mask_case(app, services):
    with app.server.app_context():
        batch = new_case_batch.ingest_files(services.ingest, [new_case_data_url()], ["a.png"], {}, max_files=5)
        case_id = batch["items"][0]["case_id"]
        results = new_case_batch.advance_batch(services, batch, budget_s=30)
        cards, done, _ = render_batch(batch, results)
    assert done == 1
    card = text_of(cards)
    assert "No lesion" in card and "99%" not in card and "Malignant" not in card

    with as_user(app, "clinician"):
        layout = text_of(case_page.layout(case_id=case_id)[ids.CASE_PREDICTION])
    assert "No lesion found" in layout and "99%" not in layout and "Malignant" not in layout

    model = services.models.active_identity()
    rows, _ = queries.cohort_page(services.store, CohortFilter(), model)
    row = table_rows(rows)[0]
    assert row["predicted"] == "no lesion found" and row["probability"] is None and row["uncertainty"] is None

    export = load_case_export(services, case_id, with_images=False)
    pdf = dict(result_rows(export))
    assert pdf["Model says"] == "No lesion found" and "99" not in pdf["P(malignant), calibrated"]
    assert "Uncertainty" not in pdf

    text = "".join(cohort_csv.csv_rows(services.store, CohortFilter(), model))
    record = next(csv.DictReader(io.StringIO(text)))
    assert record["lesion_found"] == "no" and record["predicted_label"] == "normal"
    assert record["probability_malignant"] == "" and record["uncertainty"] == ""


def new_case_data_url() -> str:
    import base64

    return "data:image/png;base64," + base64.b64encode(lesion_png(120, 90)).decode()
