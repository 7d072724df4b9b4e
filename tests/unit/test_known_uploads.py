"""Issue 14, items 4 and 6: a known image is offered, not stored again; one prediction per case across workers."""

from __future__ import annotations

import base64
import threading
import time

import pytest

from dashboard.components.upload_results import render_batch
from dashboard.factory import create_app
from dashboard.pages import new_case_batch
from dashboard.services.inference import PredictionInProgress
from dashboard.settings import Settings
from pipeline.io.sample_files import dicom_bytes, gradient
from tests.fakes_predictor import FakePredictor, lesion_png, make_fake_bundle


def data_url(data: bytes) -> str:
    return "data:application/octet-stream;base64," + base64.b64encode(data).decode()


def upload(app, services, data: bytes, patient=None):
    with app.server.app_context():
        batch = new_case_batch.ingest_files(services.ingest, [data_url(data)], ["scan"], patient or {}, max_files=5)
        results = new_case_batch.advance_batch(services, batch, budget_s=30)
        cards, done, total = render_batch(batch, results)
    assert (done, total) == (1, 1)
    return batch["items"][0], str(cards)


def test_reupload_offers_the_existing_case_without_decoding_or_predicting(app, services, monkeypatch):
    png = lesion_png(200, 160, seed=4)
    first, first_card = upload(app, services, png)
    assert not first.get("existing") and "Already in the store" not in first_card
    predictor = services.predictors.get(services.models.active_card())
    calls = predictor.calls

    def no_decoding(*_a, **_k):
        raise AssertionError("a known image must not be decoded again")

    monkeypatch.setattr(services.ingest, "prepare", no_decoding)
    started = time.perf_counter()
    again, card = upload(app, services, png, patient={"age": 50})
    elapsed = time.perf_counter() - started
    assert again["case_id"] == first["case_id"] and again["existing"]
    assert "Already in the store" in card and first["case_id"] in card and "not applied" in card
    assert "Open the existing case" in card
    assert services.store.count() == 1 and predictor.calls == calls
    assert elapsed < 1.0  # bench/bench_dashboard.py measures the real figure (repeat upload, HTTP)


def test_a_known_dicom_is_found_through_the_cache(app, services):
    dicom = dicom_bytes(gradient(64, 80))
    first, _ = upload(app, services, dicom)
    again, card = upload(app, services, dicom)
    assert again["existing"] and again["case_id"] == first["case_id"] and services.store.count() == 1
    # the cache holds a keyed hash only, never the plain sha256 of the (identifying) original file
    import hashlib

    plain = hashlib.sha256(dicom).hexdigest()
    assert not any(plain in str(p) for p in services.settings.cache_dir.rglob("*"))


def test_a_changed_image_is_a_new_case(app, services):
    upload(app, services, lesion_png(200, 160, seed=1))
    other, _ = upload(app, services, lesion_png(200, 160, seed=2))
    assert not other.get("existing") and services.store.count() == 2


class SlowPredictor(FakePredictor):
    def predict(self, record, metadata=None):
        time.sleep(0.8)
        return super().predict(record, metadata)


def test_two_workers_predict_a_new_upload_once(tmp_path):
    """Two apps on one home stand in for two gunicorn workers answering overlapping progress ticks."""
    make_fake_bundle(tmp_path / "models")
    settings = dict(home=tmp_path / "home", models_dir=tmp_path / "models")
    worker_a = create_app(Settings(**settings), SlowPredictor).server.extensions["lesionlens"]
    worker_b = create_app(Settings(**settings), SlowPredictor).server.extensions["lesionlens"]
    case_id = worker_a.ingest.upload(lesion_png(120, 90))
    loads = FakePredictor.loads
    sources = []
    first = threading.Thread(target=lambda: sources.append(worker_a.analyzer.predict_case(case_id)[1]))
    first.start()
    time.sleep(0.3)
    with pytest.raises(PredictionInProgress):  # the New case page's tick: leave it pending, try next tick
        worker_b.analyzer.predict_case(case_id, wait=False)
    sources.append(worker_b.analyzer.predict_case(case_id)[1])  # the API: wait, then read the stored row
    first.join()
    assert sorted(sources) == ["model", "store"]
    assert FakePredictor.loads - loads == 1  # worker B never even loaded the model


def test_advance_batch_shows_a_case_another_worker_is_predicting_as_pending(tmp_path):
    make_fake_bundle(tmp_path / "models")
    settings = dict(home=tmp_path / "home", models_dir=tmp_path / "models")
    app_a = create_app(Settings(**settings), SlowPredictor)
    worker_a = app_a.server.extensions["lesionlens"]
    app_b = create_app(Settings(**settings), SlowPredictor)
    worker_b = app_b.server.extensions["lesionlens"]
    case_id = worker_a.ingest.upload(lesion_png(120, 90))
    batch = {"items": [{"name": "a.png", "case_id": case_id, "error": None}]}
    first = threading.Thread(target=lambda: worker_a.analyzer.predict_case(case_id))
    first.start()
    time.sleep(0.3)
    with app_b.server.app_context():
        results = new_case_batch.advance_batch(worker_b, batch, budget_s=5)
        _cards, done, _total = render_batch(batch, results)
    assert done == 0  # pending, not predicted a second time
    first.join()
    with app_b.server.app_context():
        results = new_case_batch.advance_batch(worker_b, batch, budget_s=5)
    assert results[case_id]["row"] is not None
