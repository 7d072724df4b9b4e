"""Per-app services (store, cache, models, predictor pool, inference) in one container.

The container is attached to the Flask server (`server.extensions`), so page
layouts, callbacks and API views reach the same objects through
`current_services()` without module-level globals: a test can build two apps
with different settings in one process.
"""

from __future__ import annotations

from dataclasses import dataclass

import flask

from dashboard.services.cache import CacheService
from dashboard.services.inference import Analyzer
from dashboard.services.models import ModelRegistry
from dashboard.services.predictor import PredictorPool
from dashboard.settings import Settings
from dashboard.store.cases import CaseStore

EXTENSION_KEY = "lesionlens"


@dataclass
class Services:
    settings: Settings
    store: CaseStore
    cache: CacheService
    models: ModelRegistry
    predictors: PredictorPool
    analyzer: Analyzer


def build_services(settings: Settings, server: flask.Flask, predictor_factory=None) -> Services:
    store = CaseStore(settings.database_url, settings.files_dir, salt=settings.secret_key)
    cache = CacheService(settings, server)
    models = ModelRegistry(settings, store)
    predictors = PredictorPool(predictor_factory)
    analyzer = Analyzer(settings, store, cache, models, predictors)
    services = Services(settings, store, cache, models, predictors, analyzer)
    server.extensions[EXTENSION_KEY] = services
    return services


def current_services() -> Services:
    return flask.current_app.extensions[EXTENSION_KEY]
