"""Issue 14, item 4: each gunicorn worker warms its model (and the cohort metrics) after the fork."""

from __future__ import annotations

import logging
import os
import runpy
from types import SimpleNamespace


from dashboard import warmup
from pipeline.paths import REPO_ROOT
from tests.fakes_predictor import lesion_png


def test_warm_loads_the_model_runs_one_prediction_and_fills_the_metrics_cache(app):
    services = app.server.extensions["lesionlens"]
    services.ingest.upload(lesion_png(100, 80))
    assert services.predictors.loaded() is None
    done = warmup.warm(app.server)
    loaded = services.predictors.loaded()
    assert loaded is not None and loaded["name"] == "fake"
    predictor = services.predictors.get(services.models.active_card())
    assert predictor.calls == 1  # the throw-away prediction (graph tracing for a Keras model)
    assert done["cohort_cases"] == 1
    assert any(key.startswith("ll:curves:") and services.cache.get(key) is not None for key in services.cache._local)
    assert services.store.count() == 1  # the warm-up stores nothing


def test_gunicorn_conf_hook_warms_each_worker_in_the_background(app):
    conf = runpy.run_path(str(REPO_ROOT / "gunicorn.conf.py"))
    assert "preload_app" not in conf  # TensorFlow must never load in the master
    services = app.server.extensions["lesionlens"]
    conf["post_worker_init"](SimpleNamespace(wsgi=app.server, pid=os.getpid(), log=logging.getLogger("gunicorn.error")))
    thread = next(t for t in __import__("threading").enumerate() if t.name == "lesionlens-warm-up")
    thread.join(30)
    assert services.predictors.loaded() is not None


def test_warm_up_can_be_turned_off(app, monkeypatch):
    monkeypatch.setattr(app.server.extensions["lesionlens"].settings, "warm_up", False)  # LESIONLENS_WARM_UP=0
    assert warmup.start(app.server) is None
    assert app.server.extensions["lesionlens"].predictors.loaded() is None


def test_a_broken_model_does_not_stop_the_worker(app, monkeypatch):
    services = app.server.extensions["lesionlens"]

    def broken(_card):
        raise RuntimeError("weights missing")

    monkeypatch.setattr(services.predictors, "factory", broken)
    assert "model_s" not in warmup.warm(app.server)
