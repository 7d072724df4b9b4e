"""Per-worker warm-up after the fork: the first user after a restart does not wait.

gunicorn forks its workers from a master that imported `dashboard.app`
without TensorFlow (never `--preload`: TensorFlow is not fork-safe). Each
worker then calls `start(server)` from the `post_worker_init` hook in
`gunicorn.conf.py` (read by gunicorn from the working directory, so the
Procfile / Makefile command lines need no flag). In a background thread, so
the worker starts answering at once, it:

1. loads the active model and runs one throw-away prediction (loading and
   the first call's graph tracing, ~2 s, no longer land on the first upload);
2. computes the Metrics page's curves for the whole cohort with the active
   model, unless the shared cache already has them (the first /metrics load
   after a restart or a new import reads them instead of computing them).

A request that needs the model meanwhile waits on the PredictorPool's lock
for this one load instead of starting another. `LESIONLENS_WARM_UP=0`
(`settings.warm_up`) turns it off (e.g. a worker that should start with the
least memory).
"""

from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)


def warm(server) -> dict:
    """Do the warm-up now (in this thread); returns what was done, for logs and tests."""
    from dashboard.services import EXTENSION_KEY

    services = server.extensions[EXTENSION_KEY]
    done: dict = {}
    try:
        card = services.models.active_card()
        if card is not None:
            done["model_s"] = round(services.predictors.warm(card), 2)
    except Exception:  # noqa: BLE001 - a broken bundle shows on /healthz and in the first request's error
        log.exception("warming the model failed; it will load on the first prediction")
    try:
        if services.store.count():
            from dashboard.cohort.filters import CohortFilter
            from dashboard.cohort.evaluation import load_curves

            with server.app_context():
                curves, _model = load_curves(services, CohortFilter())
            done["cohort_cases"] = curves.n_cases
    except Exception:  # noqa: BLE001 - only speed is at stake
        log.exception("warming the cohort metrics failed")
    return done


def start(server) -> threading.Thread | None:
    """`warm(server)` in a daemon thread (None when LESIONLENS_WARM_UP=0)."""
    from dashboard.services import EXTENSION_KEY

    if not server.extensions[EXTENSION_KEY].settings.warm_up:
        return None
    thread = threading.Thread(target=warm, args=(server,), name="lesionlens-warm-up", daemon=True)
    thread.start()
    return thread
