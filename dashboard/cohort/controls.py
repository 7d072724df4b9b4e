"""The Cohort page's filter panel as data: which control sets which filter field, and back.

Kept out of the page module because the cohort CSV export must apply exactly
the filter the page shows for the same URL (its controls normalise the query:
"?age=0-100" means any age there, unknown ages included), and an export must
not import a page.
"""

from __future__ import annotations

from dashboard import ids
from dashboard.cohort.filters import AGE_LIMITS, CohortFilter

FILTER_INPUTS = (
    ("age", ids.COHORT_AGE),
    ("sex", ids.COHORT_SEX),
    ("truth", ids.COHORT_TRUTH),
    ("predicted", ids.COHORT_PREDICTED),
    ("device", ids.COHORT_DEVICE),
    ("birads", ids.COHORT_BIRADS),
    ("history", ids.COHORT_HISTORY),
    ("dataset", ids.COHORT_DATASET),
    ("review", ids.COHORT_REVIEW),
)


def filter_from_controls(values: dict, dates: tuple[str | None, str | None]) -> CohortFilter:
    return CohortFilter.from_controls(**values, date_from=dates[0], date_to=dates[1])


def panel_value(f: CohortFilter, name: str):
    """The value the filter panel's control `name` (see FILTER_INPUTS) starts with for `f`."""
    if name == "age":
        return [
            f.age_min if f.age_min is not None else AGE_LIMITS[0],
            f.age_max if f.age_max is not None else AGE_LIMITS[1],
        ]
    return list(getattr(f, name))


def as_shown(f: CohortFilter) -> CohortFilter:
    """`f` read back through the filter panel's controls: what the Cohort page applies."""
    return filter_from_controls({name: panel_value(f, name) for name, _ in FILTER_INPUTS}, (f.date_from, f.date_to))


def shown_filter(query: str | dict | None) -> CohortFilter:
    """The filter the Cohort page applies for this URL query."""
    return as_shown(CohortFilter.from_query(query))
