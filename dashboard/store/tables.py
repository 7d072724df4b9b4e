"""Tables of the case store.

Cases keep the metadata the cohort filters need as indexed columns (age, sex,
device, BI-RADS, history, label, created) and everything else in a JSON
column, so a new dataset field never needs a migration but filtering 10,000
cases stays an index scan. Arrays never live in the database: image files sit
beside it (see `files.py`) and rows hold only what a table or a metric needs.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class CaseRow(Base):
    __tablename__ = "ll_cases"
    __table_args__ = (
        UniqueConstraint("dataset", "source_case_id", name="uq_ll_cases_source"),
        Index("ix_ll_cases_sha256", "sha256"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # pseudonymous, random
    dataset: Mapped[str] = mapped_column(String(80), index=True)
    source_case_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    patient_key: Mapped[str] = mapped_column(String(32), index=True)  # pseudonymous patient group
    # content key (predictions cache): the file's sha256 for raster images, the pixels' for DICOM
    # (a hash of the identifying original DICOM file would link the case back to it)
    sha256: Mapped[str] = mapped_column(String(64))
    # sha256 of the stored pixels.npy: integrity check of the image files against the row
    image_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    spacing_row_mm: Mapped[float | None] = mapped_column(Float, nullable=True)
    spacing_col_mm: Mapped[float | None] = mapped_column(Float, nullable=True)
    modality: Mapped[str | None] = mapped_column(String(16), nullable=True)
    source_format: Mapped[str] = mapped_column(String(16))
    window_low: Mapped[float] = mapped_column(Float, default=0.0)  # default display window
    window_high: Mapped[float] = mapped_column(Float, default=255.0)
    pixel_min: Mapped[float] = mapped_column(Float, default=0.0)
    pixel_max: Mapped[float] = mapped_column(Float, default=255.0)
    true_label: Mapped[str | None] = mapped_column(String(16), nullable=True, index=True)
    has_truth_mask: Mapped[bool] = mapped_column(Boolean, default=False)
    age: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    sex: Mapped[str | None] = mapped_column(String(8), nullable=True, index=True)
    device: Mapped[str | None] = mapped_column(String(80), nullable=True, index=True)
    birads: Mapped[str | None] = mapped_column(String(8), nullable=True, index=True)
    birads_major: Mapped[int | None] = mapped_column(Integer, nullable=True)
    history: Mapped[bool | None] = mapped_column(Boolean, nullable=True, index=True)
    study_date: Mapped[str | None] = mapped_column(String(10), nullable=True)
    # study date when the file says it, else the day it was stored: what the date filter uses
    case_date: Mapped[str] = mapped_column(String(10), index=True)
    # latest review, denormalised so the cohort table filters and sorts on it without a join
    review_status: Mapped[str | None] = mapped_column(String(16), nullable=True, index=True)
    reviewed_label: Mapped[str | None] = mapped_column(String(16), nullable=True)
    created: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class PredictionRow(Base):
    __tablename__ = "ll_predictions"
    __table_args__ = (
        UniqueConstraint("case_id", "model_name", "model_version", name="uq_ll_predictions_model"),
        Index("ix_ll_predictions_model", "model_name", "model_version"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("ll_cases.id", ondelete="CASCADE"))
    model_name: Mapped[str] = mapped_column(String(80))
    model_version: Mapped[str] = mapped_column(String(40))
    label: Mapped[str] = mapped_column(String(16), index=True)
    probability: Mapped[float] = mapped_column(Float)
    uncertainty: Mapped[float] = mapped_column(Float)
    lesion_found: Mapped[bool] = mapped_column(Boolean)
    area_px: Mapped[int] = mapped_column(Integer)
    area_mm2: Mapped[float | None] = mapped_column(Float, nullable=True)
    box: Mapped[list[int] | None] = mapped_column(JSON, nullable=True)
    dice: Mapped[float | None] = mapped_column(Float, nullable=True)
    iou: Mapped[float | None] = mapped_column(Float, nullable=True)
    timings_ms: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # the out-of-distribution guard's verdict, copied from `summary` so the cohort table can show,
    # sort and filter on it; NULL for predictions made before the guard existed
    out_of_distribution: Mapped[bool | None] = mapped_column(Boolean, nullable=True, index=True)
    ood_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    created: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


@event.listens_for(PredictionRow, "before_insert")
@event.listens_for(PredictionRow, "before_update")
def _ood_from_summary(mapper, connection, row: PredictionRow) -> None:
    summary = row.summary or {}
    flag, score = summary.get("out_of_distribution"), summary.get("ood_score")
    row.out_of_distribution = None if flag is None else bool(flag)
    row.ood_score = None if score is None else float(score)


class ReviewRow(Base):
    __tablename__ = "ll_reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("ll_cases.id", ondelete="CASCADE"), index=True)
    user: Mapped[str] = mapped_column(String(80))
    agree: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    corrected_label: Mapped[str | None] = mapped_column(String(16), nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")
    created: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)


class SettingRow(Base):
    __tablename__ = "ll_settings"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class JobRow(Base):
    """A long job (cohort re-scoring, batch inference): the record every worker and page agrees on.

    The job's task (a local runner process or Celery workers, dashboard/jobs/)
    adds to `done`/`failed` after each item and reads `cancel_requested`
    between items, so progress and cancel work whichever process or machine
    runs the job, and a restart shows what happened.
    """

    __tablename__ = "ll_jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # rescore | batch
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    model_name: Mapped[str | None] = mapped_column(String(80), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str] = mapped_column(Text, default="")
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    runner: Mapped[str | None] = mapped_column(String(80), nullable=True)  # host:pid of the runner process
    owner: Mapped[str | None] = mapped_column(String(80), nullable=True)
    created: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    started: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    finished: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    heartbeat: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class JobItemRow(Base):
    """One item of a job that a chunk began: the ledger that makes a chunk safe to run twice.

    A Celery chunk whose worker is lost mid-chunk is delivered again
    (dashboard/jobs/tasks.py); its re-run finds here the items already
    finished (their outcome is reused, never counted again) and the item the
    lost worker was on (`attempts`), so an item that keeps killing its worker
    is failed instead of retried forever. Rows go when the job finishes.
    """

    __tablename__ = "ll_job_items"

    job_id: Mapped[str] = mapped_column(ForeignKey("ll_jobs.id", ondelete="CASCADE"), primary_key=True)
    item: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)  # index in the job's plan
    state: Mapped[str] = mapped_column(String(8), default="started")  # started | done | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # deliveries that began the item
    predicted: Mapped[bool] = mapped_column(Boolean, default=False)  # by the model (not cached or stored already)
    label: Mapped[str | None] = mapped_column(String(200), nullable=True)  # case id or item number, never a file name
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class UploadCountRow(Base):
    """Images one user stored on one UTC day: the upload quota's counter (dashboard/services/quota.py).

    One row per user and day, reserved with a conditional UPDATE before a
    file is stored, so every gunicorn worker and node sees the same count
    at once; older days are pruned when a user's first upload of a day makes
    the new row.
    """

    __tablename__ = "ll_upload_counts"

    username: Mapped[str] = mapped_column(String(80), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
