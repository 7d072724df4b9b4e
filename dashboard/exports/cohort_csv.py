"""The filtered cohort as CSV: one row per case with the active model's prediction and the latest review.

It has to list exactly the cases the Cohort page shows for the same URL, so
it does not re-implement anything: the URL query goes through the page's own
control normalisation (`cohort.controls.shown_filter`: "?age=0-100"
means any age there, unknown ages included) and the rows come from the same
join and WHERE clauses (`cohort.queries.joined` + `apply_filter`), in the
table's default order (newest first). The latest review is joined on as one
more outer join (max review id per case).

Rows are streamed from a server-side cursor in batches (`yield_per`), so
10,000 cases never sit in memory as one list or one string. Text cells that
a spreadsheet would run as a formula (= + - @ at the start) get a leading
apostrophe; numbers are written as numbers.
"""

from __future__ import annotations

import csv
import io
from typing import Any, Iterator

from sqlalchemy import func, select

from dashboard.cohort import queries
from dashboard.cohort.filters import CohortFilter
from dashboard.store.tables import CaseRow, PredictionRow, ReviewRow

COLUMNS = (
    ("case_id", CaseRow.id), ("dataset", CaseRow.dataset), ("date", CaseRow.case_date), ("age", CaseRow.age),
    ("sex", CaseRow.sex), ("family_history", CaseRow.history), ("device", CaseRow.device),
    ("birads", CaseRow.birads), ("true_label", CaseRow.true_label), ("has_truth_mask", CaseRow.has_truth_mask),
    ("model_name", PredictionRow.model_name), ("model_version", PredictionRow.model_version),
    ("predicted_label", PredictionRow.label), ("probability_malignant", PredictionRow.probability),
    ("uncertainty", PredictionRow.uncertainty), ("out_of_distribution", PredictionRow.out_of_distribution),
    ("ood_score", PredictionRow.ood_score), ("lesion_found", PredictionRow.lesion_found),
    ("area_px", PredictionRow.area_px), ("area_mm2", PredictionRow.area_mm2), ("dice", PredictionRow.dice),
    ("iou", PredictionRow.iou), ("review_status", CaseRow.review_status),
    ("reviewed_label", CaseRow.reviewed_label), ("review_user", ReviewRow.user), ("review_note", ReviewRow.note),
    ("review_utc", ReviewRow.created),
)
HEADER = tuple(name for name, _ in COLUMNS)
BATCH = 500
_FOUND, _LABEL, _PROB, _UNC = (HEADER.index(n) for n in ("lesion_found", "predicted_label", "probability_malignant",
                                                          "uncertainty"))


def cohort_query(f: CohortFilter, model: tuple[str, str] | None):
    latest = select(ReviewRow.case_id, func.max(ReviewRow.id).label("review_id")).group_by(ReviewRow.case_id)
    latest = latest.subquery()
    query = queries.joined(model, [column.label(name) for name, column in COLUMNS])
    query = query.outerjoin(latest, latest.c.case_id == CaseRow.id).outerjoin(ReviewRow,
                                                                              ReviewRow.id == latest.c.review_id)
    return queries.apply_filter(query, f).order_by(CaseRow.created.desc(), CaseRow.id.asc())


def cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return round(value, 6)
    if hasattr(value, "isoformat"):
        return value.isoformat(timespec="seconds")
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def shown_row(row) -> list[Any]:
    """A row as the Cohort table shows it: an empty mask carries no diagnosis ("normal", no probability)."""
    values = list(row)
    if values[_FOUND] is False:
        values[_LABEL], values[_PROB], values[_UNC] = "normal", None, None
    return values


def csv_rows(store, f: CohortFilter, model: tuple[str, str] | None) -> Iterator[str]:
    """CSV text in chunks: the header, then about BATCH rows per chunk."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    yield buffer.getvalue()
    query = cohort_query(f, model).execution_options(yield_per=BATCH)
    with store.sessions() as session:
        for partition in session.execute(query).partitions():
            buffer.seek(0)
            buffer.truncate()
            writer.writerows([cell(v) for v in shown_row(row)] for row in partition)
            yield buffer.getvalue()
