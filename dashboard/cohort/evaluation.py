"""How the active model does on a cohort: the memoised curves and the threshold the Metrics page starts at.

Kept out of the page module because the Metrics page, its exports (figures
as PNG, the numbers as JSON) and each worker's warm-up must read the very same
cached curves for the same filter, and neither an export nor the warm-up may
import a page.
"""

from __future__ import annotations

from dashboard.cohort import queries
from dashboard.cohort.curves import CURVES_VERSION, cohort_curves
from dashboard.cohort.filters import CohortFilter
from dashboard.cohort.training import training_data
from dashboard.services.cache import stable_key
from pipeline.card import BundleCard


def load_curves(services, f: CohortFilter):
    """Memoised CohortCurves for the filter and the active model, without the model's own training cases
    (a model's training patients are never evidence of its quality: dashboard/cohort/training.py)."""
    card = services.models.active_card()
    model = None if card is None else card.identity
    training = training_data(card)
    key = stable_key(
        "curves",
        CURVES_VERSION,
        f.to_query(),
        model,
        queries.data_version(services.store),
        "no-training",
        training.datasets if training else None,
        len(training.held_out) if training else 0,
    )
    return services.cache.memo(
        key, lambda: cohort_curves(queries.metrics_frame(services.store, f, model, training))
    ), model


def default_threshold(card: BundleCard | None) -> float:
    return 0.5 if card is None else round(card.thresholds.malignant, 2)  # the slider's step
