"""Issue 14, item 6: the Metrics page never counts the active model's own training cases."""

from __future__ import annotations

import numpy as np
import pytest

from dashboard.cohort import queries
from dashboard.cohort.filters import CohortFilter
from dashboard.cohort.training import store_dataset_name, training_data, training_specs
from dashboard.factory import create_app
from dashboard.pages import metrics as metrics_page
from dashboard.settings import Settings
from pipeline.io import record_from_array
from tests.cards import make_card
from tests.fakes_predictor import FakePredictor, make_fake_bundle

SPEC = "synthetic:12:7"


@pytest.fixture
def app(tmp_path):
    bundle = make_fake_bundle(tmp_path / "models", training={"dataset": SPEC, "split": {"kind": "train/val"}})
    (bundle / "test_predictions.csv").write_text("case_id,patient_id,probability\nsyn0001,p1,0.2\nsyn0002,p2,0.7\n")
    return create_app(Settings(home=tmp_path / "home", models_dir=tmp_path / "models"), FakePredictor)


def add(services, dataset: str, source: str, malignant: bool, seed: int):
    rng = np.random.default_rng(seed)
    image = rng.normal(140, 20, (60, 80)).clip(0, 255)
    image[20:40, 20:40] = 20
    case_id, _ = services.store.add_case(record_from_array(image.astype(np.uint8)), dataset=dataset,
                                         source_case_id=source, patient_id=source,
                                         true_label="malignant" if malignant else "benign")
    services.analyzer.predict_case(case_id)
    return case_id


def test_store_names_and_specs():
    assert store_dataset_name("synthetic:200:0") == "synthetic:200:0"
    assert store_dataset_name("busbra:../shared/data/bus-bra") == "busbra"
    assert store_dataset_name("breast-lesions-usg:/x") == "breast-lesions-usg"
    card = make_card(training={"dataset": "busbra:/a", "members": [{"training": {"dataset": "busbra:/a"}}]})
    assert training_specs(card.training) == ["busbra:/a"]
    assert training_data(None) is None and training_data(make_card(training={})) is None


def test_training_cases_are_left_out_and_counted(app, services):
    for i in range(6):  # syn0000..syn0005 of the training dataset; 0001 and 0002 were held out
        add(services, SPEC, f"syn{i:04d}", i % 2 == 0, i)
    for i in range(4):
        add(services, "busi", f"b{i}", i % 2 == 1, 10 + i)
    card = services.models.active_card()
    training = training_data(card)
    assert training.datasets == (SPEC,) and training.held_out == {"syn0001", "syn0002"}
    model = services.models.active_identity()
    frame = queries.metrics_frame(services.store, CohortFilter(), model, training)
    assert len(frame) == 4 + 2  # the other dataset + the two held-out test cases
    assert queries.training_count(services.store, CohortFilter(), model, training) == 4
    with app.server.app_context():
        curves, _ = metrics_page.load_curves(services, CohortFilter())
        note = str(metrics_page.training_note(services, CohortFilter(), model))
    assert curves.n_cases == 6
    assert "4 cases left out" in note and SPEC in note and "2 held-out test cases are kept" in note
    # the same cohort filtered to the other dataset has nothing to leave out
    with app.server.app_context():
        only_busi = CohortFilter(dataset=("busi",))
        assert metrics_page.training_note(services, only_busi, model) == []
        assert metrics_page.load_curves(services, only_busi)[0].n_cases == 4
