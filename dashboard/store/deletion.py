"""Deleting cases from the store: the rows first, then the files.

Why this order: the store promises that a listed case always has its files
(`cases.py`). Deleting the rows (case, predictions, reviews) in one
transaction makes the case invisible at once, everywhere; its folder is
removed right after. A crash between the two leaves a folder without a row,
which `CaseStore.sweep` removes once it is older than ten minutes, exactly as
after a crashed upload. A prediction finishing for the case in another
process at the same moment cannot bring it back: its row needs the case row
(foreign key), and the mask files it may have written are a folder without a
row again.

Why a marker in `ll_settings`: cached cohort figures are keyed by the
store's data version (counts and latest ids), which a deletion followed by an
upload could leave unchanged; a new random marker after every deletion makes
it a new version (a random value, not a counter: two deletions at once need
no read-modify-write).

Retention selects by `created` (when the case entered this store), not by
the study date: the study date is often missing (de-identification removes
it) and is patient data; the storage date is what a retention rule counts.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Iterable

from sqlalchemy import delete, func, select

from dashboard.store.files import CASE_ID
from dashboard.store.tables import CaseRow, PredictionRow, ReviewRow, utcnow

DELETIONS_KEY = "store_deletion"  # ll_settings: a new random value after every deletion (in the data version)


@dataclass(frozen=True)
class DeletedCase:
    """What was removed, in non-identifying terms (the audit row's detail is built from this)."""

    case_id: str
    dataset: str
    predictions: int
    reviews: int
    files: int
    bytes: int
    predicted_by: tuple[tuple[str, str], ...]  # (model name, version) of each stored prediction
    content_sha256: str  # with `metadata`: the prediction cache's content key (services/deletion.py)
    metadata: dict = field(repr=False)  # patient fields: never printed or logged

    def audit_detail(self) -> dict:
        """Counts and the dataset name only: no source ids, dates, file names or metadata values."""
        return {
            "dataset": self.dataset,
            "predictions": self.predictions,
            "reviews": self.reviews,
            "files": self.files,
            "bytes": self.bytes,
        }


def _folder_size(store, case_id: str) -> tuple[int, int]:
    folder = store.files.folder(case_id)
    files = [p for p in folder.rglob("*") if p.is_file()] if folder.is_dir() else []
    return len(files), sum(p.stat().st_size for p in files)


def delete_case(store, case_id: str) -> DeletedCase | None:
    """Remove one case's rows and files; None when there is no such case (nothing is touched)."""
    if not isinstance(case_id, str) or not CASE_ID.match(case_id):
        return None
    with store.sessions() as session:
        row = session.get(CaseRow, case_id)
        if row is None:
            return None
        predicted_by = tuple(
            (str(name), str(version))
            for name, version in session.execute(
                select(PredictionRow.model_name, PredictionRow.model_version).where(PredictionRow.case_id == case_id)
            )
        )
        reviews = session.scalar(select(func.count()).select_from(ReviewRow).where(ReviewRow.case_id == case_id))
        dataset, sha, meta = row.dataset, row.sha256, dict(row.meta or {})
        files, size = _folder_size(store, case_id)
        # explicit deletes: the ON DELETE CASCADE of the foreign keys would do, but not on a SQLite
        # connection opened without PRAGMA foreign_keys (e.g. by a maintenance tool)
        session.execute(delete(PredictionRow).where(PredictionRow.case_id == case_id))
        session.execute(delete(ReviewRow).where(ReviewRow.case_id == case_id))
        session.execute(delete(CaseRow).where(CaseRow.id == case_id))
        session.commit()
    store.set_setting(DELETIONS_KEY, secrets.token_hex(8))
    store.files.delete(case_id)
    return DeletedCase(
        case_id=case_id,
        dataset=dataset,
        predictions=len(predicted_by),
        reviews=int(reviews or 0),
        files=files,
        bytes=size,
        predicted_by=predicted_by,
        content_sha256=sha,
        metadata=meta,
    )


def cases_older_than(store, days: float, datasets: Iterable[str] = (), now: datetime | None = None) -> list[str]:
    """Ids of the cases stored more than `days` days ago (optionally only of these datasets), oldest first."""
    if not days >= 0:
        raise ValueError(f"days must be zero or more, got {days!r}")
    cutoff = (now or utcnow()) - timedelta(days=float(days))
    query = select(CaseRow.id).where(CaseRow.created < cutoff)
    chosen = [d for d in datasets if d]
    if chosen:
        query = query.where(CaseRow.dataset.in_(chosen))
    with store.sessions() as session:
        return list(session.scalars(query.order_by(CaseRow.created.asc(), CaseRow.id.asc())))
