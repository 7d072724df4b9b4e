"""Result and metadata blocks shared by the New case page and the case viewer."""

from __future__ import annotations

import math
from typing import Any

import dash_bootstrap_components as dbc
from dash import html

LABEL_TEXT = {"malignant": "Malignant", "benign": "Benign", "normal": "No lesion"}
NO_LESION_TEXT = "No lesion found"
NO_DIAGNOSIS_TEXT = "— (no lesion found: no diagnosis)"
METADATA_NAMES = {
    "age": "Age (years)",
    "sex": "Sex",
    "history": "Family history",
    "symptoms": "Symptoms / history",
    "device": "Device",
    "birads": "BI-RADS",
    "histology": "Histology",
    "study_date": "Study date",
    "body_part": "Body part",
    "view": "View",
    "side": "Side",
    "manufacturer": "Manufacturer",
    "tissue_composition": "Tissue composition",
}
HIDDEN_METADATA = {"birads_major", "spacing_mm", "window_center", "window_width", "dicom", "image", "mask",
                   "image_path", "mask_path", "path", "file", "filename"}


def format_area(area_px: int | None, area_mm2: float | None, lesion_found: bool = True) -> str:
    """Lesion area in mm² when the pixel spacing is known, else in pixels (and says so)."""
    if not lesion_found:
        return "— (no lesion segmented)"
    if area_mm2 is not None and math.isfinite(area_mm2):
        return f"{area_mm2:,.1f} mm²"
    if area_px is None:
        return "—"
    return f"{area_px:,} px (pixel spacing unknown)"


def format_probability(probability: float | None) -> str:
    return "—" if probability is None else f"{probability:.0%}"


def uncertainty_text(uncertainty: float | None) -> str:
    """Spread of ensemble members / flips (0..0.5) in words a clinician can act on."""
    if uncertainty is None:
        return "—"
    level = "low" if uncertainty < 0.05 else "moderate" if uncertainty < 0.15 else "high"
    return f"±{uncertainty:.2f} ({level})"


def no_lesion(prediction: Any) -> bool:
    """True when the model found no lesion: then nothing may be shown as a diagnosis.

    `prediction` is a summary dict, a PredictionRow or a table row (`lesion_found` key or
    attribute). Only an explicit False counts, so older rows without the field keep their label.
    Every display (New case card, case page, cohort table and CSV, PDF) goes through this one test.
    """
    if prediction is None:
        return False
    found = prediction.get("lesion_found") if isinstance(prediction, dict) else getattr(prediction, "lesion_found",
                                                                                          None)
    return found is not None and not bool(found)


def shown_label(prediction: Any) -> str | None:
    """The label a page shows: "normal" (No lesion found) for an empty mask, else the model's label."""
    if prediction is None:
        return None
    if no_lesion(prediction):
        return "normal"
    return prediction.get("label") if isinstance(prediction, dict) else getattr(prediction, "label", None)


def label_badge(label: str | None, size: str = "fs-5") -> dbc.Badge:
    color = {"malignant": "danger", "benign": "success", "normal": "secondary"}.get(label or "", "secondary")
    return dbc.Badge(LABEL_TEXT.get(label or "", label or "unknown"), color=color, className=f"{size} ll-label")


def prediction_block(summary: dict[str, Any], dice: float | None = None) -> html.Div:
    """Label, calibrated probability, uncertainty, area and model, as a definition list."""
    model = summary.get("model") or {}
    if no_lesion(summary):  # an empty mask never carries a diagnosis: no label, no P(malignant)
        rows = [
            ("Model says", html.Span(dbc.Badge(NO_LESION_TEXT, color="secondary", className="fs-5 ll-label"),
                                     className="ll-pred-label")),
            ("P(malignant), calibrated", html.Span(NO_DIAGNOSIS_TEXT, className="ll-probability ll-no-lesion")),
            ("Lesion area", format_area(summary.get("area_px"), summary.get("area_mm2"), False)),
            ("Lesion found", "no"),
            ("Model", f"{model.get('name', '?')} v{model.get('version', '?')}"),
        ]
    else:
        rows = [
            ("Model says", html.Span(label_badge(summary.get("label")), className="ll-pred-label")),
            ("P(malignant), calibrated", html.Span(format_probability(summary.get("probability")),
                                                   className="ll-big-number ll-probability")),
            ("Uncertainty", uncertainty_text(summary.get("uncertainty"))),
            ("Lesion area", format_area(summary.get("area_px"), summary.get("area_mm2"), True)),
            ("Lesion found", "yes"),
            ("Model", f"{model.get('name', '?')} v{model.get('version', '?')}"),
        ]
    if dice is not None:
        rows.append(("Dice vs ground truth", f"{dice:.2f}"))
    timings = summary.get("timings_ms") or {}
    if "cache" in timings:
        rows.append(("Model time", "none: same image seen before, answered from the cache"))
    elif "total" in timings:
        rows.append(("Model time", f"{timings['total']:.0f} ms"))
    return html.Dl(
        [item for key, value in rows for item in (html.Dt(key), html.Dd(value))],
        className="ll-kv mb-0",
    )


def _value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None or value == "":
        return "—"
    return str(value)


def metadata_list(metadata: dict[str, Any], extra: dict[str, Any] | None = None) -> html.Dl:
    items = dict(extra or {})
    for key, value in (metadata or {}).items():
        if key in HIDDEN_METADATA or value in (None, "") or key.startswith("radiologist"):
            continue
        items[METADATA_NAMES.get(key, key.replace("_", " ").capitalize())] = value
    if not items:
        return html.Dl([html.Dt("Metadata"), html.Dd("none recorded")], className="ll-kv")
    return html.Dl(
        [part for key, value in items.items() for part in (html.Dt(key), html.Dd(_value_text(value)))],
        className="ll-kv",
    )
