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


def lexicon_text(summary: dict[str, Any] | None) -> str | None:
    """The BI-RADS lexicon sentence of the drawn mask (shape, orientation, margin, echo, posterior), or None.

    The words come from documented rules on the mask's descriptors (`pipeline.descriptor_words`), so a
    radiologist can check them against the image; they describe the model's outline, not the tissue.
    """
    lexicon = (summary or {}).get("lexicon") or {}
    sentence = lexicon.get("sentence") if isinstance(lexicon, dict) else None
    return str(sentence) if sentence else None


def format_probability(probability: float | None) -> str:
    return "—" if probability is None else f"{probability:.0%}"


def uncertainty_text(uncertainty: float | None, out_of_distribution: bool = False) -> str:
    """Spread of ensemble members / test-time views (0..0.5) in words a clinician can act on.

    Never "low" for an image the out-of-distribution guard flagged: the spread of models that
    never saw such an image says nothing about how right they are."""
    if uncertainty is None:
        return "—"
    if out_of_distribution:
        return f"±{uncertainty:.2f} (not meaningful: image unlike the training data)"
    level = "low" if uncertainty < 0.05 else "moderate" if uncertainty < 0.15 else "high"
    return f"±{uncertainty:.2f} ({level})"


def out_of_distribution(prediction: Any) -> bool:
    """True when the guard flagged the image (summary dict, PredictionRow or table row);
    predictions stored before the guard existed count as not flagged."""
    if prediction is None:
        return False
    flag = (prediction.get("out_of_distribution") if isinstance(prediction, dict)
            else getattr(prediction, "out_of_distribution", None))
    return bool(flag)


def ood_warning_text(summary: dict[str, Any]) -> str:
    """The plain-language warning for a flagged image (pipeline.ood.ood_message)."""
    from pipeline.ood import ood_message

    return ood_message(list(summary.get("ood_reasons") or ()), summary.get("ood_trained_on"))


def ood_score_text(summary: dict[str, Any]) -> str:
    score = summary.get("ood_score")
    verdict = "unlike the training images" if out_of_distribution(summary) else "like the training images"
    if score is None:
        return verdict if "out_of_distribution" in summary else "not checked (model without a data fingerprint)"
    return f"{verdict} (score {float(score):.2f}; 1.00 = threshold)"


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


def _reason_rows(summary: dict[str, Any]) -> list[tuple[str, Any]]:
    """With a stacked CNN + descriptor model: what pushed the decision, and the CNN's own probability."""
    from dashboard.components.reasons import reason_lines

    lines = reason_lines(summary)
    if not lines:
        return []
    rows: list[tuple[str, Any]] = [("What pushed the decision", html.Ul([html.Li(line) for line in lines],
                                                                         className="ll-reasons mb-0 ps-3"))]
    if summary.get("cnn_probability") is not None:
        rows.append(("Image model (CNN) alone", format_probability(summary["cnn_probability"])))
    return rows


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
        ood = out_of_distribution(summary)  # flagged: the probability is greyed, uncertainty never "low"
        rows = [
            ("Model says", html.Span(label_badge(summary.get("label")), className="ll-pred-label")),
            ("P(malignant), calibrated", html.Span(format_probability(summary.get("probability")),
                                                   className="ll-big-number ll-probability"
                                                   + (" ll-ood-greyed" if ood else ""),
                                                   title="unreliable: image unlike the training data" if ood else None)),
            ("Uncertainty", uncertainty_text(summary.get("uncertainty"), ood)),
            ("BI-RADS descriptors of the outline", html.Span(lexicon_text(summary) or "— (not assessable)",
                                                             className="ll-lexicon")),
            *_reason_rows(summary),
            ("Lesion area", format_area(summary.get("area_px"), summary.get("area_mm2"), True)),
            ("Lesion found", "yes"),
            ("Model", f"{model.get('name', '?')} v{model.get('version', '?')}"),
        ]
    if "out_of_distribution" in summary or summary.get("ood_score") is not None:
        rows.append(("Image vs training data", ood_score_text(summary)))
    if dice is not None:
        rows.append(("Dice vs ground truth", f"{dice:.2f}"))
    timings = summary.get("timings_ms") or {}
    if "cache" in timings:
        rows.append(("Model time", "none: same image seen before, answered from the cache"))
    elif "total" in timings:
        rows.append(("Model time", f"{timings['total']:.0f} ms"))
    listing = html.Dl(
        [item for key, value in rows for item in (html.Dt(key), html.Dd(value))],
        className="ll-kv mb-0",
    )
    if not out_of_distribution(summary):
        return listing
    warning = dbc.Alert(ood_warning_text(summary), color="warning", className="ll-ood-warning py-2 mb-2")
    return html.Div([warning, listing])


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
