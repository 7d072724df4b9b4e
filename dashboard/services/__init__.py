"""Per-app services (store, cache, models, predictor pool, ingest, inference) in one container.

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
from dashboard.services.ingest import Ingest
from dashboard.services.registry import ModelRegistry
from dashboard.services.predictor_pool import PredictorPool
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
    ingest: Ingest  # file -> stored case (decoded, de-identified)
    analyzer: Analyzer  # stored case -> prediction


FILE_ROUTE_CSP = "default-src 'none'; img-src 'self'; sandbox"
API_CSP = "default-src 'none'; frame-ancestors 'none'; sandbox"


def security_headers(response: flask.Response) -> flask.Response:
    """Every response: no MIME sniffing. File routes and the API: a CSP that runs nothing.

    The file routes only ever send PNG renderings (stored DICOMs are never
    served), and a browser told `nosniff` + `sandbox` will not reinterpret one
    as HTML or script even if its bytes were crafted to look like both.
    Headers already set by another layer (the access guard) are kept.
    """
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    path = flask.request.path
    if path.startswith("/files/"):
        response.headers.setdefault("Content-Security-Policy", FILE_ROUTE_CSP)
        response.headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
    elif path.startswith("/api/"):
        response.headers.setdefault("Content-Security-Policy", API_CSP)
    return response


def _sweep_in_background(store: CaseStore) -> None:
    """Remove what crashed writers left (old temp files, case folders without a row), off the startup path."""
    import logging
    import threading

    def sweep():
        try:
            swept = store.sweep()
            if any(swept.values()):
                logging.getLogger(__name__).info("store sweep removed %s", swept)
        except Exception:  # noqa: BLE001 - housekeeping must never take a worker down
            logging.getLogger(__name__).exception("store sweep failed")

    threading.Thread(target=sweep, name="lesionlens-sweep", daemon=True).start()


def build_services(settings: Settings, server: flask.Flask, predictor_factory=None) -> Services:
    store = CaseStore(settings.database_url, settings.files_dir, salt=settings.secret_key,
                      schema=settings.schema_mode)
    server.after_request(security_headers)
    _sweep_in_background(store)
    cache = CacheService(settings, server)
    models = ModelRegistry(settings, store)
    predictors = PredictorPool(predictor_factory)
    ingest = Ingest(settings, store, cache)
    analyzer = Analyzer(settings, store, cache, models, predictors)
    services = Services(settings, store, cache, models, predictors, ingest, analyzer)
    server.extensions[EXTENSION_KEY] = services
    return services


def current_services() -> Services:
    return flask.current_app.extensions[EXTENSION_KEY]
