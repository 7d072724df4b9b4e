"""Cohort metric figures: confusion matrix, ROC, PR, calibration, Dice/IoU.

Each builder takes the result objects of `pipeline.metrics` (never raw
DataFrames), so the numbers on screen are exactly the ones the training
reports compute.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from dashboard.figures.style import (
    BLUE,
    GREY,
    MODEL_COLOR,
    ORANGE,
    READER_COLOR,
    SKY_BLUE,
    base_layout,
    empty_figure,
    legend_inside,
)


MAX_CURVE_POINTS = 600


def thin(*arrays: np.ndarray, limit: int = MAX_CURVE_POINTS) -> tuple[np.ndarray, ...]:
    """At most `limit` evenly spaced points (first and last kept): a 10,000-case ROC
    has thousands of vertices that add figure JSON but nothing visible."""
    n = len(arrays[0])
    if n <= limit:
        return arrays
    index = np.unique(np.linspace(0, n - 1, limit).round().astype(int))
    return tuple(np.asarray(a)[index] for a in arrays)


def _ci_text(value: float, ci: Sequence[float] | None) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    if ci and all(c is not None and math.isfinite(c) for c in ci):
        return f"{value:.3f} (95% CI {ci[0]:.3f}–{ci[1]:.3f})"
    return f"{value:.3f}"


def confusion_matrix_figure(cm, threshold: float) -> go.Figure:
    """2 x 2 counts (rows: truth, columns: prediction) with row percentages."""
    counts = np.array([[cm.tn, cm.fp], [cm.fn, cm.tp]])
    if counts.sum() == 0:
        return empty_figure("No cases with both a known label and a prediction")
    row_totals = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(row_totals > 0, counts / np.maximum(row_totals, 1), np.nan)
    names = [["TN", "FP"], ["FN", "TP"]]
    text = [
        [f"<b>{counts[i, j]}</b><br>{names[i][j]}" + ("" if np.isnan(share[i, j]) else f" · {share[i, j]:.0%}")
         for j in range(2)]
        for i in range(2)
    ]
    fig = go.Figure(
        go.Heatmap(
            z=share, x=["benign", "malignant"], y=["benign", "malignant"], text=text, texttemplate="%{text}",
            textfont={"size": 20}, colorscale="Blues", zmin=0, zmax=1, showscale=False,
            hovertemplate="truth %{y}, predicted %{x}<br>%{text}<extra></extra>",
        )
    )
    fig.update_xaxes(title="Predicted label (model)", side="bottom", type="category")
    fig.update_yaxes(title="True label (pathology)", autorange="reversed", type="category")
    return base_layout(fig, title=f"Confusion matrix at threshold {threshold:.2f}", height=380)


def roc_figure(roc, auc_ci=None, reader_points=(), threshold_point=None) -> go.Figure:
    """ROC with AUC (CI in the legend), the chance line, BI-RADS reader points and the current threshold."""
    if roc.fpr.size == 0:
        return empty_figure("ROC needs both benign and malignant cases")
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dash", "color": GREY},
                             name="chance", hoverinfo="skip"))
    fpr, tpr, thresholds = thin(roc.fpr, roc.tpr, np.where(np.isfinite(roc.thresholds), roc.thresholds, 1.0))
    fig.add_trace(
        go.Scatter(
            x=fpr, y=tpr, mode="lines", line={"color": MODEL_COLOR, "width": 3},
            name=f"model AUC {_ci_text(roc.auc, auc_ci)}",
            customdata=thresholds,
            hovertemplate="1 − specificity %{x:.2f}<br>sensitivity %{y:.2f}<br>threshold %{customdata:.2f}<extra></extra>",
        )
    )
    points = [p for p in reader_points if math.isfinite(p.fpr) and math.isfinite(p.tpr)]
    if points:
        fig.add_trace(
            go.Scatter(
                x=[p.fpr for p in points], y=[p.tpr for p in points], mode="markers+text",
                marker={"symbol": "diamond", "size": 12, "color": READER_COLOR, "line": {"color": "white", "width": 1}},
                text=[f"≥{p.label}" for p in points], textposition="middle right",
                name="radiologists (BI-RADS ≥ k)",
                hovertemplate="BI-RADS %{text}<br>1 − specificity %{x:.2f}<br>sensitivity %{y:.2f}<extra></extra>",
            )
        )
    if threshold_point is not None:
        fig.add_trace(
            go.Scatter(x=[threshold_point[0]], y=[threshold_point[1]], mode="markers", name="current threshold",
                       marker={"size": 14, "color": ORANGE, "line": {"color": "black", "width": 1.5}})
        )
    fig.update_xaxes(title="1 − specificity (false positive rate)", range=[-0.01, 1.01])
    fig.update_yaxes(title="sensitivity (true positive rate)", range=[-0.01, 1.01], scaleanchor="x", scaleratio=1)
    return legend_inside(base_layout(fig, title="ROC curve", height=460))


def pr_figure(pr, ap_ci=None, prevalence: float | None = None, threshold_point=None) -> go.Figure:
    if pr.recall.size == 0:
        return empty_figure("Precision–recall needs malignant cases")
    fig = go.Figure()
    if prevalence is not None and math.isfinite(prevalence):
        fig.add_trace(go.Scatter(x=[0, 1], y=[prevalence, prevalence], mode="lines", name=f"prevalence {prevalence:.2f}",
                                 line={"dash": "dash", "color": GREY}, hoverinfo="skip"))
    recall, precision = thin(pr.recall, pr.precision)
    fig.add_trace(
        go.Scatter(x=recall, y=precision, mode="lines", line={"color": MODEL_COLOR, "width": 3, "shape": "hv"},
                   name=f"model AP {_ci_text(pr.average_precision, ap_ci)}",
                   hovertemplate="recall %{x:.2f}<br>precision %{y:.2f}<extra></extra>")
    )
    if threshold_point is not None and all(math.isfinite(v) for v in threshold_point):
        fig.add_trace(go.Scatter(x=[threshold_point[0]], y=[threshold_point[1]], mode="markers",
                                 name="current threshold",
                                 marker={"size": 14, "color": ORANGE, "line": {"color": "black", "width": 1.5}}))
    fig.update_xaxes(title="recall (sensitivity)", range=[-0.01, 1.01])
    fig.update_yaxes(title="precision (PPV)", range=[-0.01, 1.02])
    # PR curves start high on the left and fall to the right: the lower-left corner is free
    return legend_inside(base_layout(fig, title="Precision–recall curve", height=460)).update_layout(
        legend={"x": 0.02, "xanchor": "left"})


def calibration_figure(rel, brier: float | None = None) -> go.Figure:
    """Observed malignant frequency per probability bin vs the ideal diagonal; marker size ~ count."""
    filled = rel.count > 0
    if not filled.any():
        return empty_figure("Calibration needs cases with a known label")
    count = rel.count[filled]
    sizes = 8 + 22 * np.sqrt(count / count.max())
    subtitle = f"ECE {rel.ece:.3f}" + ("" if brier is None or not math.isfinite(brier) else f" · Brier {brier:.3f}")
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dash", "color": GREY},
                             name="perfect calibration", hoverinfo="skip"))
    fig.add_trace(
        go.Scatter(
            x=rel.mean_predicted[filled], y=rel.observed_frequency[filled], mode="lines+markers",
            marker={"size": sizes, "color": MODEL_COLOR}, line={"color": MODEL_COLOR}, name="model",
            customdata=count, hovertemplate="mean predicted %{x:.2f}<br>observed %{y:.2f}<br>%{customdata} cases<extra></extra>",
        )
    )
    fig.update_xaxes(title="predicted P(malignant)", range=[-0.01, 1.01])
    fig.update_yaxes(title="observed fraction malignant", range=[-0.01, 1.01], scaleanchor="x", scaleratio=1)
    return legend_inside(base_layout(fig, title=f"Calibration ({subtitle})", height=460))


def overlap_figure(dice: np.ndarray, iou: np.ndarray) -> go.Figure:
    """Histograms of per-case Dice and IoU against the ground-truth masks."""
    dice = np.asarray(dice, dtype=float)
    iou = np.asarray(iou, dtype=float)
    dice, iou = dice[np.isfinite(dice)], iou[np.isfinite(iou)]
    if dice.size == 0:
        return empty_figure("No cases with a ground-truth mask and a prediction")
    bins = {"start": 0.0, "end": 1.0001, "size": 0.05}
    fig = go.Figure()
    fig.add_trace(go.Histogram(x=dice, xbins=bins, name=f"Dice (median {np.median(dice):.2f})",
                               marker_color=ORANGE, opacity=0.75))
    fig.add_trace(go.Histogram(x=iou, xbins=bins, name=f"IoU (median {np.median(iou):.2f})",
                               marker_color=SKY_BLUE, opacity=0.75))
    fig.update_xaxes(title="overlap with ground truth (0 = none, 1 = identical)", range=[0, 1])
    fig.update_yaxes(title="cases (count)")
    base_layout(fig, title=f"Segmentation overlap ({dice.size} cases)", height=380)
    # good models pile up on the right: the upper-left corner is free for the legend
    return fig.update_layout(barmode="overlay", legend={"x": 0.02, "xanchor": "left", "y": 0.98, "yanchor": "top",
                                                        "orientation": "v", "bgcolor": "rgba(255,255,255,0.85)"})


__all__ = ["BLUE", "calibration_figure", "confusion_matrix_figure", "overlap_figure", "pr_figure", "roc_figure"]
