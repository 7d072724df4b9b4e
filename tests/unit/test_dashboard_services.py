"""Analyzer, predictor pool, model registry and patient-form cleaning (fake predictor, no TensorFlow)."""

from __future__ import annotations

import os
import threading

import pytest

from dashboard.services.inference import payload_of, prediction_from_payload
from dashboard.services.ingest import clean_patient
from dashboard.services.predictor_pool import PredictorPool
from pipeline.bundle import read_bundle_card
from pipeline.errors import BundleError, ImageLoadError
from tests.fakes_predictor import FakePredictor, fake_app, lesion_png, make_fake_bundle


@pytest.fixture
def services(tmp_path):
    return fake_app(tmp_path).server.extensions["lesionlens"]


def test_clean_patient():
    assert clean_patient({"age": "54", "sex": "f", "history": ["yes"], "symptoms": "  lump "}) == {
        "age": 54, "sex": "F", "history": True, "symptoms": "lump"}
    assert clean_patient({"age": "", "sex": "", "history": [], "symptoms": None}) == {}
    assert clean_patient({"history": "no"}) == {"history": False}
    for bad in ({"age": "old"}, {"age": 150}, {"sex": "x"}, {"history": "maybe"}):
        with pytest.raises(ValueError):
            clean_patient(bad)


def test_predict_sources_model_store_cache(services):
    analyzer = services.analyzer
    first = services.ingest.upload(lesion_png(), {"age": 50})
    row, source = analyzer.predict_case(first)
    assert source == "model" and row.model_name == "fake" and row.area_px > 0
    assert analyzer.predict_case(first)[1] == "store"
    second = services.ingest.upload(lesion_png(), {"age": 50})  # same image, same patient fields: cache
    row2, source2 = analyzer.predict_case(second)
    assert source2 == "cache" and row2.probability == pytest.approx(row.probability, abs=1e-4)
    assert row2.area_px == row.area_px
    third = services.ingest.upload(lesion_png(), {"age": 70})  # metadata may change a fused prediction: no reuse
    assert analyzer.predict_case(third)[1] == "model"


def test_ingest_rejects_bad_bytes_in_words(services):
    with pytest.raises(ImageLoadError, match="not a supported image"):
        services.ingest.upload(b"this is not an image at all")
    with pytest.raises(ImageLoadError):
        services.ingest.upload(b"")


def test_stored_record_round_trip(services):
    case_id = services.ingest.upload(lesion_png(120, 80))
    record = services.analyzer.record_of(case_id)
    assert record.shape == (80, 120) and record.display.dtype.name == "uint8" and len(record.sha256) == 64


def test_payload_round_trip(services):
    case_id = services.ingest.upload(lesion_png(60, 40))
    prediction = FakePredictor(services.models.active_card().path).predict(services.analyzer.record_of(case_id))
    back = prediction_from_payload(payload_of(prediction))
    assert (back.mask == prediction.mask).all() and back.label == prediction.label
    assert abs(back.probability_map - prediction.probability_map).max() <= 1 / 255 + 1e-6


def test_pool_loads_once_per_model_and_after_fork(tmp_path):
    a = make_fake_bundle(tmp_path, "a", "1")
    b = make_fake_bundle(tmp_path, "b", "1")
    loads = []

    def factory(path):
        loads.append(path.name)
        return FakePredictor(path)

    pool = PredictorPool(factory)
    card_a, card_b = read_bundle_card(a), read_bundle_card(b)
    threads = [threading.Thread(target=pool.get, args=(card_a,)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert loads == ["a"]  # one load however many threads ask at once
    pool.get(card_b)
    assert loads == ["a", "b"] and pool.loaded()["name"] == "b"
    pool._pid = os.getpid() + 1  # as if inherited through a fork
    pool.get(card_b)
    assert loads == ["a", "b", "b"]


def test_registry_active_model_lives_in_the_store(tmp_path):
    app = fake_app(tmp_path)
    make_fake_bundle(tmp_path / "models", "second", "2.0", created="2030-01-01T00:00:00+00:00")
    services = app.server.extensions["lesionlens"]
    assert services.models.active_name() in ("fake", "second")
    services.models.activate("fake")
    assert services.store.get_setting("active_model") == "fake"
    services.models.activate("second")
    assert services.models.active_identity() == ("second", "2.0")
    with pytest.raises(BundleError):
        services.models.activate("nope")


def test_registry_lists_damaged_bundles_with_reason(tmp_path):
    app = fake_app(tmp_path)
    broken = tmp_path / "models" / "broken"
    broken.mkdir()
    (broken / "bundle.json").write_text("{not json")
    services = app.server.extensions["lesionlens"]
    cards = services.models.bundles(fresh=True)
    assert any(c.name == "broken" and "damaged" in getattr(c, "error", "") for c in cards)
    assert services.models.active_name() == "fake"


def test_no_model_is_a_readable_error(tmp_path):
    from dashboard.factory import create_app
    from dashboard.settings import Settings

    app = create_app(Settings(home=tmp_path / "h", models_dir=tmp_path / "empty"), FakePredictor)
    services = app.server.extensions["lesionlens"]
    case_id = services.ingest.upload(lesion_png(48, 40))
    with pytest.raises(BundleError, match="no model bundle"):
        services.analyzer.predict_case(case_id)
