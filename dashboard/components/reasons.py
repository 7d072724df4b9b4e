""""What pushed the decision": the stacked model's log-odds per BI-RADS lexicon category, in words.

A bundle with a stacked CNN + descriptor model (pipeline.stacking_apply) stores, with every prediction,
the exact log-odds each input added relative to an average lesion. Radiologists read categories
(shape, margin, ...), not 17 feature names, so the features are summed per category; the sign says
towards which diagnosis, the size how hard. Shown on the New case card, the case page and the PDF.
"""

from __future__ import annotations

from typing import Any

from pipeline.stacking_apply import reasons_by_category

SHOWN = 3  # the strongest pushes; the rest are small by construction of the ordering
MIN_SHOWN_LOG_ODDS = 0.05  # smaller moves are not worth a line


def reason_lines(summary: dict[str, Any] | None) -> list[str]:
    """E.g. ["margin: towards malignant (+0.84 log-odds)", "image pattern (CNN): towards benign (-0.40 log-odds)"]."""
    reasons = (summary or {}).get("reasons") or {}
    if not isinstance(reasons, dict):
        return []
    lines = []
    for category, value in reasons_by_category(reasons)[:SHOWN]:
        if abs(value) < MIN_SHOWN_LOG_ODDS:
            continue
        towards = "malignant" if value > 0 else "benign"
        lines.append(f"{category}: towards {towards} ({value:+.2f} log-odds)")
    return lines


def reasons_text(summary: dict[str, Any] | None) -> str | None:
    """One line for the PDF and tooltips; None when the prediction has no stacked reasons."""
    lines = reason_lines(summary)
    return "; ".join(lines) if lines else None
