"""How much each factor moved a fused prediction (case viewer, beside the diagnosis).

A fused prediction stores per-input contributions in log-odds (exact for the
logistic fusion model: they sum to logit(p) - intercept, relative to a
patient at the training mean of every input). Clinicians read probability,
not log-odds, so each factor is also shown as the change it made: the fused
probability minus the probability with that factor's contribution removed
(the other factors kept). These changes do not add up to the total, because
the logistic curve is not linear; the log-odds do, and both are shown.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import dash_bootstrap_components as dbc
from dash import html

from pipeline.fusion import logit, sigmoid
from pipeline.patient_features import factor_of

MIN_SHOWN_LOG_ODDS = 0.01  # smaller moves are listed together as "other factors"


@dataclass(frozen=True)
class FactorRow:
    factor: str
    log_odds: float
    probability_change: float  # fused probability minus the probability without this factor


def fusion_factors(summary: dict[str, Any]) -> list[FactorRow]:
    """Contributions of a fused prediction summed per clinical factor, largest move first; [] if not fused."""
    contributions = summary.get("contributions") or {}
    if not summary.get("fused") or not contributions or summary.get("probability") is None:
        return []
    fused_logit = logit(float(summary["probability"]))
    per_factor: dict[str, float] = {}
    for feature, value in contributions.items():
        if value is not None and math.isfinite(float(value)):
            per_factor[factor_of(feature)] = per_factor.get(factor_of(feature), 0.0) + float(value)
    rows, rest = [], 0.0
    for factor, value in per_factor.items():
        if abs(value) < MIN_SHOWN_LOG_ODDS:
            rest += value
            continue
        rows.append(FactorRow(factor, value, sigmoid(fused_logit) - sigmoid(fused_logit - value)))
    rows.sort(key=lambda r: abs(r.log_odds), reverse=True)
    if rest:
        rows.append(FactorRow("other factors", rest, sigmoid(fused_logit) - sigmoid(fused_logit - rest)))
    return rows


def _bar(change: float) -> html.Div:
    width = min(50.0, abs(change) * 100.0)  # half the cell = 50 percentage points
    side = {"left": "50%"} if change >= 0 else {"right": "50%"}
    colour = "#D55E00" if change >= 0 else "#0072B2"  # towards malignant / benign (Okabe-Ito)
    return html.Div(html.Div(style={"position": "absolute", "top": 0, "bottom": 0, "width": f"{width}%",
                                    "background": colour, **side}),
                    style={"position": "relative", "height": "0.8rem", "background": "#f1f3f5", "minWidth": "6rem"})


def fusion_block(summary: dict[str, Any]) -> html.Div | None:
    """The factor table for a fused prediction, None for an image-only one."""
    rows = fusion_factors(summary)
    if not rows:
        return None
    image_p = summary.get("image_probability")
    head = [f"With patient data {float(summary['probability']):.0%}"]
    if image_p is not None:
        head.insert(0, f"Image model alone {float(image_p):.0%} → ")
    body = [html.Tr([html.Td(r.factor), html.Td(f"{r.probability_change * 100:+.1f} pts", className="text-end"),
                     html.Td(f"{r.log_odds:+.2f}", className="text-end text-muted"), html.Td(_bar(r.probability_change))])
            for r in rows]
    return html.Div(
        [
            html.H6("What moved the probability", className="mt-3 mb-1"),
            html.Div("".join(head), className="small mb-1 ll-fusion-headline"),
            dbc.Table([html.Thead(html.Tr([html.Th("factor"), html.Th("change", className="text-end"),
                                           html.Th("log-odds", className="text-end"), html.Th("")])),
                       html.Tbody(body)], size="sm", className="mb-1 ll-fusion-table"),
            html.Small("Change = fused probability minus the probability without that factor; relative to a "
                       "patient at the training average. Fusion model: image probability, lesion shape and "
                       "patient data (never BI-RADS).", className="text-muted"),
        ],
        className="ll-fusion",
    )
