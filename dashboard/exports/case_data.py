"""One case's exportable facts, gathered once from the store for every export format.

The exports leave the system (a PDF mailed to a colleague, a JSON in a
notebook), so they carry an explicit allow-list of metadata — the structured,
non-identifying fields (age, sex, family history, device, ...) — and never
whatever else a dataset manifest put into the metadata column (free-text
columns, original file names, patient ids). Dates are left out too; the
reviewer's note is included because the report is meant to carry it.

Which prediction: the active model's, as the case page shows it; else the
newest one (labelled with its own model name and version, like the page's
"Earlier prediction").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np

from pipeline.card import BundleCard

# Structured, non-identifying metadata an export may carry (in this order).
EXPORT_METADATA = ("age", "sex", "history", "device", "manufacturer", "body_part", "view", "side", "birads")
INTENDED_USE = "Research use only, not a medical device: not for diagnosis or treatment decisions."


@dataclass
class CaseExport:
    case_id: str
    dataset: str
    width: int
    height: int
    source_format: str
    modality: str | None = None
    spacing_mm: tuple[float, float] | None = None
    true_label: str | None = None
    has_truth_mask: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)
    prediction: dict[str, Any] | None = None  # Prediction.summary() + dice, iou, created
    model: dict[str, Any] | None = None  # name, version, created, threshold, intended_use
    review: dict[str, Any] | None = None  # latest: user, verdict, corrected_label, note, created
    display: np.ndarray | None = None  # uint8 H x W (x 3) as the browser shows it
    mask: np.ndarray | None = None  # bool H x W, the predicted lesion
    generated: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    @property
    def is_dicom(self) -> bool:
        return self.source_format == "dicom"


def export_metadata(meta: dict[str, Any] | None) -> dict[str, Any]:
    """The allow-listed fields that have a value."""
    meta = meta or {}
    return {k: meta[k] for k in EXPORT_METADATA if meta.get(k) not in (None, "")}


def _iso(value) -> str | None:
    return value.replace(tzinfo=timezone.utc).isoformat() if value else None


def prediction_dict(row) -> dict[str, Any]:
    return {**(row.summary or {}), "dice": row.dice, "iou": row.iou, "created_utc": _iso(row.created)}


def review_dict(row) -> dict[str, Any]:
    verdict = {True: "agree", False: "disagree", None: "note"}[row.agree]
    return {"user": row.user, "verdict": verdict, "corrected_label": row.corrected_label, "note": row.note or "",
            "created_utc": _iso(row.created)}


def model_dict(name: str, version: str, card: BundleCard | None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "version": version}
    if card and card.version == str(version):
        out["created"] = card.created
        out["threshold_malignant"] = card.thresholds.malignant
        out["intended_use"] = card.intended_use
    return out


def chosen_prediction(stored, active: tuple[str, str] | None):
    """The active model's prediction, else the newest one (None when the case was never analysed)."""
    prediction = stored.prediction_for(*active) if active else None
    return prediction or stored.latest_prediction


def load_case_export(services, case_id: str, with_images: bool = True) -> CaseExport | None:
    """Everything the exports need about `case_id`, or None when there is no such case."""
    stored = services.store.get(case_id) if case_id else None
    if stored is None:
        return None
    row = stored.row
    prediction = chosen_prediction(stored, services.models.active_identity())
    export = CaseExport(
        case_id=row.id, dataset=row.dataset, width=row.width, height=row.height, source_format=row.source_format,
        modality=row.modality, true_label=row.true_label, has_truth_mask=bool(row.has_truth_mask),
        spacing_mm=(row.spacing_row_mm, row.spacing_col_mm) if row.spacing_row_mm else None,
        metadata=export_metadata(row.meta), review=review_dict(stored.reviews[0]) if stored.reviews else None,
    )
    if prediction is not None:
        export.prediction = prediction_dict(prediction)
        card = services.models.card_by_name(prediction.model_name)
        export.model = model_dict(prediction.model_name, prediction.model_version, card)
    if with_images:
        files = services.store.files
        export.display = files.read_display(row.id)
        if prediction is not None:
            export.mask = files.read_mask(row.id, files.prediction_name("mask", prediction.model_name,
                                                                       prediction.model_version))
    return export
