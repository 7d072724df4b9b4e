"""SQL for the cohort views: one filtered join of cases and the active model's predictions.

Paging and sorting happen in the database (LIMIT/OFFSET, ORDER BY on indexed
columns), so the table costs the same for 100 or 10,000 cases; the metrics
page pulls only the handful of columns the metrics need into one DataFrame.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import Select, and_, func, not_, or_, select

from dashboard.cohort.filters import CohortFilter
from dashboard.store.deletion import DELETIONS_KEY
from dashboard.store.tables import CaseRow, PredictionRow, ReviewRow, SettingRow

SORTABLE = {
    "id": CaseRow.id,
    "dataset": CaseRow.dataset,
    "date": CaseRow.case_date,
    "age": CaseRow.age,
    "sex": CaseRow.sex,
    "device": CaseRow.device,
    "birads": CaseRow.birads,
    "truth": CaseRow.true_label,
    "predicted": PredictionRow.label,
    "probability": PredictionRow.probability,
    "uncertainty": PredictionRow.uncertainty,
    "dice": PredictionRow.dice,
    "review": CaseRow.review_status,
    "ood": PredictionRow.ood_score,
}


def joined(model: tuple[str, str] | None, columns) -> Select:
    """SELECT `columns` over every case, outer-joined to its prediction by `model` (name, version) if any.

    The base of every cohort query (table, counts, metrics, CSV export,
    re-score jobs), so they all see the same cases for the same filter.
    """
    name, version = model if model else ("", "")
    on = and_(
        PredictionRow.case_id == CaseRow.id,
        PredictionRow.model_name == name,
        PredictionRow.model_version == version,
    )
    return select(*columns).select_from(CaseRow).outerjoin(PredictionRow, on)


def _with_missing(column, values: tuple[str, ...], missing_token: str):
    wanted = [v for v in values if v != missing_token]
    clauses = [column.in_(wanted)] if wanted else []
    if missing_token in values:
        clauses.append(column.is_(None))
    return or_(*clauses)


def apply_filter(query: Select, f: CohortFilter) -> Select:
    if f.age_min is not None:
        query = query.where(CaseRow.age >= f.age_min)
    if f.age_max is not None:
        query = query.where(CaseRow.age <= f.age_max)
    if f.sex:
        query = query.where(CaseRow.sex.in_(f.sex))
    if f.truth:
        query = query.where(_with_missing(CaseRow.true_label, f.truth, "unknown"))
    if f.predicted:
        query = query.where(_with_missing(PredictionRow.label, f.predicted, "none"))
    if f.device:
        query = query.where(CaseRow.device.in_(f.device))
    if f.birads:
        query = query.where(CaseRow.birads.in_(f.birads))
    if f.history:
        clauses = []
        if "yes" in f.history:
            clauses.append(CaseRow.history.is_(True))
        if "no" in f.history:
            clauses.append(CaseRow.history.is_(False))
        if "unknown" in f.history:
            clauses.append(CaseRow.history.is_(None))
        query = query.where(or_(*clauses))
    if f.dataset:
        query = query.where(CaseRow.dataset.in_(f.dataset))
    if f.review:
        query = query.where(_with_missing(CaseRow.review_status, f.review, "none"))
    if f.date_from:
        query = query.where(CaseRow.case_date >= f.date_from)
    if f.date_to:
        query = query.where(CaseRow.case_date <= f.date_to)
    return query


def training_clause(training):
    """SQL for "a case `training` (dashboard.cohort.training.TrainingData) says the model was trained on"."""
    clause = CaseRow.dataset.in_(training.datasets)
    if training.held_out:
        clause = and_(clause, or_(CaseRow.source_case_id.is_(None),
                                  CaseRow.source_case_id.not_in(sorted(training.held_out))))
    return clause


def without_training(query: Select, training) -> Select:
    return query if training is None or not training.datasets else query.where(not_(training_clause(training)))


def training_count(store, f: CohortFilter, model: tuple[str, str] | None, training) -> int:
    """How many cases of the filtered cohort are the model's own training cases."""
    if training is None or not training.datasets:
        return 0
    query = apply_filter(joined(model, (func.count(CaseRow.id),)), f).where(training_clause(training))
    with store.sessions() as session:
        return int(session.execute(query).scalar() or 0)


TABLE_COLUMNS = (
    CaseRow.id,
    CaseRow.dataset,
    CaseRow.case_date,
    CaseRow.age,
    CaseRow.sex,
    CaseRow.device,
    CaseRow.birads,
    CaseRow.true_label,
    CaseRow.review_status,
    CaseRow.reviewed_label,
    PredictionRow.label.label("predicted"),
    PredictionRow.probability,
    PredictionRow.uncertainty,
    PredictionRow.dice,
    PredictionRow.lesion_found,
    PredictionRow.out_of_distribution,
    PredictionRow.ood_score,
)


def cohort_page(
    store,
    f: CohortFilter,
    model: tuple[str, str] | None,
    sort_by: list[dict[str, str]] | None = None,
    page: int = 0,
    page_size: int = 25,
) -> tuple[list[dict[str, Any]], int]:
    """One page of the filtered cohort as dicts, and the total count."""
    page_size = max(1, min(int(page_size), 200))
    page = max(0, int(page))
    query = apply_filter(joined(model, TABLE_COLUMNS), f)
    order = []
    for spec in sort_by or []:
        column = SORTABLE.get(spec.get("column_id", ""))
        if column is not None:
            direction = column.desc() if spec.get("direction") == "desc" else column.asc()
            order.append(direction.nulls_last())
    order.append(CaseRow.created.desc())
    order.append(CaseRow.id.asc())
    count_query = apply_filter(joined(model, (func.count(CaseRow.id),)), f)
    with store.sessions() as session:
        total = int(session.execute(count_query).scalar() or 0)
        rows = session.execute(query.order_by(*order).offset(page * page_size).limit(page_size)).mappings().all()
    return [dict(r) for r in rows], total


METRIC_COLUMNS = (
    CaseRow.id,
    CaseRow.patient_key,
    CaseRow.dataset,
    CaseRow.true_label,
    CaseRow.age,
    CaseRow.sex,
    CaseRow.device,
    CaseRow.birads,
    CaseRow.history,
    CaseRow.has_truth_mask,
    PredictionRow.label.label("predicted"),
    PredictionRow.probability,
    PredictionRow.dice,
    PredictionRow.iou,
    PredictionRow.uncertainty,
    PredictionRow.out_of_distribution,
)


def metrics_frame(store, f: CohortFilter, model: tuple[str, str] | None, training=None) -> pd.DataFrame:
    """Per-case rows of the filtered cohort with the active model's prediction (NaN when none).

    `training` (TrainingData): the model's own training cases are left out.
    """
    query = without_training(apply_filter(joined(model, METRIC_COLUMNS), f), training)
    with store.sessions() as session:
        rows = session.connection().execute(query).all()  # Core rows: no ORM row processing (~1/3 faster)
    columns = [c.key if hasattr(c, "key") else c.name for c in METRIC_COLUMNS]
    if not rows:
        return pd.DataFrame(rows, columns=columns)
    # column by column: ~5x faster than DataFrame(list of Row) at 10,000 rows, same dtypes
    return pd.DataFrame(dict(zip(columns, (list(values) for values in zip(*rows)))), columns=columns)


def cohort_count(store, f: CohortFilter, model: tuple[str, str] | None) -> int:
    with store.sessions() as session:
        return int(session.execute(apply_filter(joined(model, (func.count(CaseRow.id),)), f)).scalar() or 0)


def facets(store) -> dict[str, list[str]]:
    """Distinct values for the filter dropdowns (devices, datasets, BI-RADS)."""
    out: dict[str, list[str]] = {}
    with store.sessions() as session:
        for name, column in (("device", CaseRow.device), ("dataset", CaseRow.dataset), ("birads", CaseRow.birads)):
            values = session.execute(select(column).where(column.is_not(None)).distinct()).scalars().all()
            out[name] = sorted(str(v) for v in values)
    return out


def data_version(store) -> str:
    """Changes whenever a case, prediction or review is added or a case deleted: part of every cohort cache key."""
    with store.sessions() as session:
        row = session.execute(
            select(
                select(func.count(CaseRow.id)).scalar_subquery(),
                select(func.max(PredictionRow.id)).scalar_subquery(),
                select(func.max(PredictionRow.created)).scalar_subquery(),
                select(func.max(ReviewRow.id)).scalar_subquery(),
                select(SettingRow.value).where(SettingRow.key == DELETIONS_KEY).scalar_subquery(),
            )
        ).one()
    return "-".join(str(v) for v in row)
