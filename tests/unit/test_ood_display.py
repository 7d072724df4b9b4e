"""Issue 14.2: an image the out-of-distribution guard flags says so in plain words everywhere.

Case page / New case card (prediction_block), API JSON, PDF, cohort table: the warning,
the probability greyed, the uncertainty never "low". Predictions stored before the guard
existed (no `out_of_distribution` key) still display, as "not checked".
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from dashboard import ids
from dashboard.components.cards import ood_score_text, out_of_distribution, prediction_block, uncertainty_text
from dashboard.components.cohort_table import OOD_FLAG, ood_cell, table_rows
from dashboard.exports.pdf import case_report_pdf, result_rows
from dashboard.cohort import queries
from dashboard.cohort.filters import CohortFilter
from dashboard.pages import case as case_page
from pipeline.types import Prediction
from tests.auth_helpers import as_user
from tests.fakes_predictor import FakePredictor, lesion_png, make_fake_bundle
from tests.unit.test_exports_builders import render_first_page, synthetic_export

REASON = "colour image (40% of pixels coloured)"
FLAGGED = {"label": "malignant", "probability": 0.91, "uncertainty": 0.01, "lesion_found": True, "area_px": 50,
           "model": {"name": "m", "version": "1"}, "out_of_distribution": True, "ood_score": 2.5,
           "ood_reasons": [REASON]}


@dataclass
class OODPrediction(Prediction):
    """A Prediction with the guard's fields (the ones pipeline.types.Prediction carries from issue 14.2)."""

    out_of_distribution: bool = False
    ood_score: float | None = None
    ood_reasons: tuple[str, ...] = ()

    def summary(self):
        out = super().summary()
        out.setdefault("out_of_distribution", bool(self.out_of_distribution))
        out.setdefault("ood_score", self.ood_score)
        out.setdefault("ood_reasons", list(self.ood_reasons))
        return out


class FlaggingPredictor(FakePredictor):
    def predict(self, record, metadata=None):
        p = super().predict(record, metadata)
        fields = {k: getattr(p, k) for k in Prediction.__dataclass_fields__}
        fields.update(probability=0.91, label="malignant", uncertainty=0.01,
                      out_of_distribution=True, ood_score=2.5, ood_reasons=(REASON,))
        return OODPrediction(**fields)


def test_uncertainty_is_never_low_when_flagged():
    assert "low" in uncertainty_text(0.01)
    assert "low" not in uncertainty_text(0.01, True) and "unlike the training data" in uncertainty_text(0.01, True)
    assert out_of_distribution({"out_of_distribution": True}) and not out_of_distribution({})
    assert not out_of_distribution(None) and not out_of_distribution({"out_of_distribution": None})


def test_prediction_block_warns_in_words_and_greys_the_probability():
    text = str(prediction_block(FLAGGED))
    assert "This model was trained on breast ultrasound; this image looks different (" + REASON in text
    assert "treat the result as unreliable" in text and "ll-ood-greyed" in text and "(low)" not in text
    assert "score 2.50" in text
    trained = str(prediction_block({**FLAGGED, "ood_trained_on": "breast ultrasound from 4 scanners (BUS-BRA)"}))
    assert "trained on breast ultrasound from 4 scanners (BUS-BRA)" in trained
    ok = str(prediction_block({**FLAGGED, "out_of_distribution": False, "ood_score": 0.4, "ood_reasons": []}))
    assert "unreliable" not in ok and "ll-ood-greyed" not in ok and "like the training images (score 0.40" in ok
    old = {k: v for k, v in FLAGGED.items() if not k.startswith("ood") and k != "out_of_distribution"}
    shown = str(prediction_block(old))
    assert "unreliable" not in shown and "Image vs training data" not in shown and "(low)" in shown
    assert ood_score_text({}) == "not checked (model without a data fingerprint)"


def test_pdf_says_it_and_keeps_one_page():
    export = synthetic_export(prediction={**FLAGGED, "dice": None})
    rows = dict(result_rows(export))
    assert "unreliable" in rows["P(malignant), calibrated"] and "low" not in rows["Uncertainty"]
    assert rows["Image vs training data"].startswith("unlike the training images")
    pages, _pixels, text = render_first_page(case_report_pdf(export))
    flat = " ".join(text.split())
    assert pages == 1 and "this image looks different" in flat and "treat the result as unreliable" in flat
    plain = " ".join(render_first_page(case_report_pdf(synthetic_export()))[2].split())
    assert "looks different" not in plain


@pytest.fixture
def app(tmp_path):
    from dashboard.factory import create_app
    from dashboard.settings import Settings

    make_fake_bundle(tmp_path / "models")
    return create_app(Settings(home=tmp_path / "home", models_dir=tmp_path / "models"), FlaggingPredictor)


def test_stored_flag_reaches_case_page_api_and_cohort_table(app):
    from dashboard.api import prediction_json

    services = app.server.extensions["lesionlens"]
    with app.server.app_context():
        case_id = services.ingest.upload(lesion_png(120, 90), {})
        row, _source = services.analyzer.predict_case(case_id)
    assert row.out_of_distribution is True and row.ood_score == pytest.approx(2.5)
    body = prediction_json(row)
    assert body["out_of_distribution"] is True and body["ood_score"] == 2.5 and body["ood_reasons"] == [REASON]

    with as_user(app, "clinician"):
        page = str(case_page.layout(case_id=case_id)[ids.CASE_PREDICTION])
    assert "this image looks different" in page and "ll-ood-greyed" in page and "(low)" not in page

    rows, _ = queries.cohort_page(services.store, CohortFilter(), services.models.active_identity())
    table = table_rows(rows)[0]
    assert table["ood"] == OOD_FLAG and table["probability"] == pytest.approx(0.91)
    import csv
    import io

    from dashboard.exports import cohort_csv

    text = "".join(cohort_csv.csv_rows(services.store, CohortFilter(), services.models.active_identity()))
    record = next(csv.DictReader(io.StringIO(text)))
    assert record["out_of_distribution"] == "yes" and float(record["ood_score"]) == pytest.approx(2.5)
    by_score, _ = queries.cohort_page(services.store, CohortFilter(), services.models.active_identity(),
                                      sort_by=[{"column_id": "ood", "direction": "desc"}])
    assert by_score[0]["ood_score"] == pytest.approx(2.5)


def test_old_rows_without_the_guard_default_to_not_flagged():
    class Row:
        summary = {"label": "benign", "probability": 0.2}
        dice = iou = created = None

    from dashboard.api import prediction_json

    body = prediction_json(Row())
    assert body["out_of_distribution"] is False and body["ood_score"] is None and body["ood_reasons"] == []
    assert ood_cell({}) == "—" and ood_cell({"out_of_distribution": False}) == "ok"
