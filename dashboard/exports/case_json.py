"""The prediction of one case as a self-describing JSON document.

Same fields as `Prediction.summary()` (what the API and the store keep),
wrapped with the case's allow-listed metadata, the model's name and version
and the latest review, under a versioned `schema` name so a script reading
exported files can tell what it holds. `SCHEMA` lists the top-level keys and
their types; the tests hold the builder to it.
"""

from __future__ import annotations

import json
from typing import Any

from dashboard.exports.case_data import INTENDED_USE, CaseExport

SCHEMA_NAME = "lesionlens.case-export/1"
SCHEMA: dict[str, Any] = {
    "schema": str,
    "generated_utc": str,
    "intended_use": str,
    "case": {
        "id": str, "dataset": str, "true_label": (str, type(None)), "has_truth_mask": bool, "metadata": dict,
        "image": {"width": int, "height": int, "source_format": str, "modality": (str, type(None)),
                  "spacing_mm": (list, type(None))},
    },
    "model": (dict, type(None)),
    "prediction": (dict, type(None)),
    "review": (dict, type(None)),
}
PREDICTION_KEYS = ("label", "probability", "uncertainty", "lesion_found", "box", "area_px", "area_mm2", "model")


def case_document(export: CaseExport) -> dict[str, Any]:
    return {
        "schema": SCHEMA_NAME,
        "generated_utc": export.generated.isoformat(timespec="seconds"),
        "intended_use": INTENDED_USE,
        "case": {
            "id": export.case_id,
            "dataset": export.dataset,
            "true_label": export.true_label,
            "has_truth_mask": export.has_truth_mask,
            "metadata": dict(export.metadata),
            "image": {"width": export.width, "height": export.height, "source_format": export.source_format,
                      "modality": export.modality,
                      "spacing_mm": list(export.spacing_mm) if export.spacing_mm else None},
        },
        "model": export.model,
        "prediction": export.prediction,
        "review": export.review,
    }


def case_json_bytes(export: CaseExport) -> bytes:
    return (json.dumps(case_document(export), indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def schema_errors(document: Any, schema: Any = None, where: str = "$") -> list[str]:
    """Where `document` departs from SCHEMA (an empty list when it conforms); no jsonschema needed."""
    schema = SCHEMA if schema is None else schema
    if isinstance(schema, dict):
        if not isinstance(document, dict):
            return [f"{where}: expected an object"]
        errors = [f"{where}.{key}: missing" for key in schema if key not in document]
        for key, sub in schema.items():
            if key in document:
                errors += schema_errors(document[key], sub, f"{where}.{key}")
        return errors
    types = schema if isinstance(schema, tuple) else (schema,)
    if isinstance(document, bool) and bool not in types:
        return [f"{where}: expected {types}, got bool"]
    return [] if isinstance(document, types) else [f"{where}: expected {types}, got {type(document).__name__}"]
