"""The case store: one object that writes and reads cases, predictions, reviews.

Pages, the API and the import CLI all go through `CaseStore`, so a case made
by an upload, by `python -m dashboard import` or by `POST /api/v1/predict`
looks the same everywhere. Rows hold what tables and metrics need; arrays go
to files (`CaseFiles`). Identifiers are pseudonymous: case ids are random and
patient keys are salted hashes, so nothing in the store names a patient.

A case is written in a fixed order so that a crash at any moment leaves it
either complete or invisible: files first (each atomic and fsynced), then
the row in one transaction; if the transaction fails the new files are
removed, and `sweep` deletes what a killed process could not (temp files,
case folders without a row) once they are old enough not to be a write in
progress. A listed case therefore always has its files.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from dashboard.store.db import init_schema, make_engine, make_sessionmaker
from dashboard.store.files import CASE_ID, CaseFiles, atomic_write
from dashboard.store.tables import CaseRow, PredictionRow, ReviewRow, SettingRow
from pipeline.io.intensity import percentile_window
from pipeline.metrics.segmentation import dice, iou
from pipeline.types import ImageRecord, Prediction

UPLOAD_DATASET = "upload"
INDEXED_FIELDS = ("age", "sex", "device", "birads", "birads_major", "history", "study_date")


def new_case_id() -> str:
    return "c" + secrets.token_hex(6)


def _clean_sex(value: Any) -> str | None:
    if value is None or value == "":
        return None
    text = str(value).strip().upper()[:1]
    return {"F": "F", "M": "M", "W": "F"}.get(text, "O")


def _clean_int(value: Any) -> int | None:
    try:
        return None if value is None or value == "" else int(float(value))
    except (TypeError, ValueError):
        return None


def _clean_bool(value: Any) -> bool | None:
    if isinstance(value, bool) or value is None:
        return value
    text = str(value).strip().lower()
    if text in ("yes", "y", "true", "1"):
        return True
    if text in ("no", "n", "false", "0"):
        return False
    return None


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def indexed_columns(metadata: dict[str, Any]) -> dict[str, Any]:
    """Metadata fields promoted to indexed columns, normalised for filtering."""
    birads = metadata.get("birads")
    study_date = metadata.get("study_date")
    return {
        "age": _clean_int(metadata.get("age")),
        "sex": _clean_sex(metadata.get("sex")),
        "device": (str(metadata["device"])[:80] or None) if metadata.get("device") else None,
        "birads": None if birads in (None, "") else str(birads).lower()[:8],
        "birads_major": _clean_int(metadata.get("birads_major")),
        "history": _clean_bool(metadata.get("history")),
        "study_date": str(study_date)[:10] if study_date else None,
    }


@dataclass
class StoredCase:
    """A case as pages read it: the row's fields plus its latest predictions and reviews."""

    row: CaseRow
    predictions: list[PredictionRow]
    reviews: list[ReviewRow]

    def prediction_for(self, model_name: str | None, model_version: str | None) -> PredictionRow | None:
        for p in self.predictions:
            if p.model_name == model_name and (model_version is None or p.model_version == model_version):
                return p
        return None

    @property
    def latest_prediction(self) -> PredictionRow | None:
        return max(self.predictions, key=lambda p: p.created, default=None)


ORPHAN_MIN_AGE_S = 600.0  # a folder without a row younger than this may be a write in progress


class CaseStore:
    def __init__(self, database_url: str, files_root, salt: str = "", schema: str = "upgrade") -> None:
        """`schema`: 'upgrade' (migrate to head under a lock), 'verify' (refuse an old schema) or 'none'."""
        self.engine: Engine = make_engine(database_url)
        self.sessions: sessionmaker[Session] = make_sessionmaker(self.engine)
        self.files = CaseFiles(files_root)
        self.salt = salt
        init_schema(self.engine, schema)

    # ---------------------------------------------------------------- cases
    def patient_key(self, dataset: str, patient_id: str) -> str:
        return hashlib.sha256(f"{self.salt}|{dataset}|{patient_id}".encode()).hexdigest()[:16]

    def add_case(
        self,
        record: ImageRecord,
        *,
        dataset: str = UPLOAD_DATASET,
        source_case_id: str | None = None,
        patient_id: str | None = None,
        true_label: str | None = None,
        truth_mask: np.ndarray | None = None,
        metadata: dict[str, Any] | None = None,
        case_id: str | None = None,
        extra_files: dict[str, bytes] | None = None,
    ) -> tuple[str, bool]:
        """Store an image as a case; returns (case_id, created).

        Imports are idempotent on (dataset, source_case_id): the same image
        again returns the existing id; a changed image (new sha256) replaces
        the files and drops the now stale predictions. `case_id` lets the
        caller choose the new case's id (uploads de-identify with it before
        storing); `extra_files` are written into the case folder with the
        image (the de-identified DICOM).
        """
        meta = {**(record.metadata or {}), **(metadata or {})}
        meta = _json_safe({k: v for k, v in meta.items() if k != "spacing_mm"})
        with self.sessions() as session:
            existing = None
            if source_case_id is not None:
                existing = session.scalar(
                    select(CaseRow).where(CaseRow.dataset == dataset, CaseRow.source_case_id == source_case_id)
                )
            if existing is not None and existing.sha256 == record.sha256:
                if truth_mask is not None and not existing.has_truth_mask:
                    self.files.write_mask(existing.id, "truth.png", truth_mask)
                    existing.has_truth_mask = True
                    session.commit()
                return existing.id, False
            if existing is not None:
                case_id = existing.id
            elif case_id is None:
                case_id = new_case_id()
            # 1. files, each atomic and fsynced; 2. the row, in one transaction; 3. undo 1 if 2 failed
            try:
                image_sha = self.files.write_image(case_id, record.pixels, record.display)
                if truth_mask is not None:
                    self.files.write_mask(case_id, "truth.png", truth_mask)
                for name, data in (extra_files or {}).items():
                    atomic_write(self.files.path(case_id, name), data)
            except BaseException:
                if existing is None:
                    self.files.delete(case_id)
                raise
            row = existing or CaseRow(id=case_id, dataset=dataset, source_case_id=source_case_id)
            if existing is not None:
                for old in session.scalars(select(PredictionRow).where(PredictionRow.case_id == case_id)):
                    session.delete(old)
            self._fill_row(row, record, meta, patient_id, true_label, truth_mask is not None)
            row.image_sha256 = image_sha
            session.add(row)
            try:
                session.commit()
            except IntegrityError:  # another worker imported the same source case first
                session.rollback()
                if existing is None:
                    self.files.delete(case_id)
                other = session.scalar(
                    select(CaseRow).where(CaseRow.dataset == dataset, CaseRow.source_case_id == source_case_id)
                )
                if other is None:
                    raise
                return other.id, False
            except BaseException:  # database down, disk full, interrupted: no files without a row
                session.rollback()
                if existing is None:
                    self.files.delete(case_id)
                raise
            return case_id, existing is None

    def _fill_row(self, row, record, meta, patient_id, true_label, has_truth) -> None:
        pixels = record.pixels
        low, high = window_of(record)
        spacing = record.spacing_mm
        row.patient_key = self.patient_key(row.dataset, patient_id) if patient_id else row.id
        row.sha256 = record.sha256
        row.height, row.width = record.shape
        row.spacing_row_mm, row.spacing_col_mm = (float(spacing[0]), float(spacing[1])) if spacing else (None, None)
        row.modality = record.modality
        row.source_format = record.source_format
        row.window_low, row.window_high = low, high
        row.pixel_min, row.pixel_max = float(np.min(pixels)), float(np.max(pixels))
        row.true_label = true_label
        row.has_truth_mask = has_truth
        for key, value in indexed_columns(meta).items():
            setattr(row, key, value)
        row.case_date = row.study_date or date.today().isoformat()
        row.meta = meta

    def get(self, case_id: str) -> StoredCase | None:
        if not isinstance(case_id, str) or not CASE_ID.match(case_id):  # crafted ids never reach the database
            return None
        with self.sessions() as session:
            row = session.get(CaseRow, case_id)
            if row is None:
                return None
            predictions = list(session.scalars(select(PredictionRow).where(PredictionRow.case_id == case_id)))
            reviews = list(
                session.scalars(
                    select(ReviewRow).where(ReviewRow.case_id == case_id).order_by(ReviewRow.created.desc())
                )
            )
            return StoredCase(row=row, predictions=predictions, reviews=reviews)

    def find_source(self, dataset: str, source_case_id: str) -> str | None:
        """Id of the case imported from (dataset, source case id), if any."""
        with self.sessions() as session:
            return session.scalar(
                select(CaseRow.id).where(CaseRow.dataset == dataset, CaseRow.source_case_id == source_case_id)
            )

    def exists(self, case_id: str) -> bool:
        with self.sessions() as session:
            return session.scalar(select(CaseRow.id).where(CaseRow.id == case_id)) is not None

    def first_by_sha(self, sha256: str) -> str | None:
        """The oldest case whose content key is `sha256` (the same image stored before), if any."""
        with self.sessions() as session:
            return session.scalar(select(CaseRow.id).where(CaseRow.sha256 == sha256)
                                  .order_by(CaseRow.created.asc(), CaseRow.id.asc()).limit(1))

    def find_by_sha(self, sha256: str) -> list[str]:
        with self.sessions() as session:
            return list(session.scalars(select(CaseRow.id).where(CaseRow.sha256 == sha256)))

    def count(self) -> int:
        from sqlalchemy import func

        with self.sessions() as session:
            return int(session.scalar(select(func.count()).select_from(CaseRow)) or 0)

    def case_ids(self) -> set[str]:
        with self.sessions() as session:
            return set(session.scalars(select(CaseRow.id)))

    # ------------------------------------------------------------ integrity
    def sweep(self, min_age_s: float = ORPHAN_MIN_AGE_S) -> dict[str, int]:
        """Remove what a crash leaves behind: temp files, case folders whose row was never committed.

        Only things older than `min_age_s` go, so a write in progress in
        another worker (files written, row not yet committed) is never touched.
        """
        temp = self.files.sweep_temp_files(min_age_s)
        known = self.case_ids()
        orphans = 0
        for case_id in list(self.files.case_ids()):
            if case_id not in known and self.files.folder_age_s(case_id) >= min_age_s:
                if case_id in self.case_ids():  # committed meanwhile
                    continue
                self.files.delete(case_id)
                orphans += 1
        return {"temp_files": temp, "orphan_cases": orphans}

    def check_case(self, case_id: str) -> str | None:
        """None when the case's row and image files agree, else what is wrong (for fsck-style checks)."""
        stored = self.get(case_id)
        if stored is None:
            return "no row"
        pixels = self.files.pixels_name(case_id)
        for name in (pixels, "display.png", "thumb.png"):
            if not self.files.path(case_id, name).is_file():
                return f"{name} missing"
        expected = stored.row.image_sha256
        if expected and self.files.image_sha256(case_id) != expected:
            return f"{pixels} does not match the row's image_sha256"
        return None

    # ---------------------------------------------------------- predictions
    def add_prediction(self, case_id: str, prediction: Prediction) -> PredictionRow:
        """Persist a prediction (row + mask and probability PNGs); replaces one
        from the same model version. Dice/IoU are scored when truth is known."""
        name, version = prediction.model_name, prediction.model_version
        self.files.write_mask(case_id, CaseFiles.prediction_name("mask", name, version), prediction.mask)
        self.files.write_probability(
            case_id, CaseFiles.prediction_name("prob", name, version), prediction.probability_map
        )
        truth = self.files.read_mask(case_id, "truth.png")
        scores = {"dice": None, "iou": None}
        if truth is not None and truth.shape == prediction.mask.shape:
            scores = {"dice": float(dice(prediction.mask, truth)), "iou": float(iou(prediction.mask, truth))}
        summary = _json_safe(prediction.summary())
        with self.sessions() as session:
            old = session.scalar(
                select(PredictionRow).where(
                    PredictionRow.case_id == case_id,
                    PredictionRow.model_name == name,
                    PredictionRow.model_version == version,
                )
            )
            row = old or PredictionRow(case_id=case_id, model_name=name, model_version=version)
            row.label = prediction.label
            row.probability = float(prediction.probability)
            row.uncertainty = float(prediction.uncertainty)
            row.lesion_found = bool(prediction.lesion_found)
            row.area_px = int(prediction.area_px)
            row.area_mm2 = None if prediction.area_mm2 is None else float(prediction.area_mm2)
            row.box = list(prediction.box) if prediction.box else None
            row.timings_ms = summary.get("timings_ms", {})
            row.summary = summary
            row.dice, row.iou = scores["dice"], scores["iou"]
            session.add(row)
            try:
                session.commit()
            except IntegrityError:  # a concurrent writer stored the same model version first
                session.rollback()
                return self.add_prediction(case_id, prediction)
            return row

    def has_prediction(self, case_id: str, model_name: str, model_version: str) -> bool:
        with self.sessions() as session:
            return (
                session.scalar(
                    select(PredictionRow.id).where(
                        PredictionRow.case_id == case_id,
                        PredictionRow.model_name == model_name,
                        PredictionRow.model_version == model_version,
                    )
                )
                is not None
            )

    # -------------------------------------------------------------- reviews
    def add_review(
        self, case_id: str, user: str, agree: bool | None, corrected_label: str | None, note: str
    ) -> ReviewRow:
        with self.sessions() as session:
            case = session.get(CaseRow, case_id)
            if case is None:
                raise KeyError(case_id)
            review = ReviewRow(
                case_id=case_id,
                user=(user or "anonymous").strip()[:80],
                agree=agree,
                corrected_label=corrected_label or None,
                note=(note or "").strip()[:4000],
            )
            session.add(review)
            case.review_status = {True: "agree", False: "disagree"}.get(agree, "noted")
            case.reviewed_label = corrected_label or None
            session.commit()
            return review

    # ------------------------------------------------------------- settings
    def get_setting(self, key: str) -> str | None:
        with self.sessions() as session:
            row = session.get(SettingRow, key)
            return None if row is None else row.value

    def set_setting(self, key: str, value: str) -> None:
        with self.sessions() as session:
            row = session.get(SettingRow, key)
            if row is None:
                session.add(SettingRow(key=key, value=value))
            else:
                row.value = value
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                self.set_setting(key, value)

    def ping(self) -> bool:
        from sqlalchemy import text

        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True


def window_of(record: ImageRecord) -> tuple[float, float]:
    """The display window (low, high) in pixel units that `record.display` shows.

    pipeline.io already chose the window (the DICOM's own VOI, or percentiles);
    fitting display ~ pixels on the unsaturated pixels recovers it without
    re-implementing that choice, so the window/level sliders start exactly at
    what the upload page showed. An inverted display (MONOCHROME1) falls back
    to the percentile window.
    """
    pixels = np.asarray(record.pixels, dtype=np.float64).ravel()
    display = np.asarray(record.display, dtype=np.float64).ravel()
    step = max(1, pixels.size // 20000)
    p, d = pixels[::step], display[::step]
    inside = (d > 0) & (d < 255)
    if inside.sum() >= 10 and np.ptp(p[inside]) > 0:
        slope, offset = np.polyfit(p[inside], d[inside], 1)
        if slope > 0:
            return float(-offset / slope), float((255.0 - offset) / slope)
    low, high = percentile_window(record.pixels)
    return (low, high) if high > low else (low, low + 1.0)
