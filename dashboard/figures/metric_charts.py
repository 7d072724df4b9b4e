"""Cohort metric figures: confusion matrix, ROC, PR, calibration, Dice/IoU.

Each builder takes the result objects of `pipeline.metrics` (never raw
DataFrames), so the numbers on screen are exactly the ones the training
reports compute. Figures are built as dicts (see `style.figure`) and carry at
most ~`MAX_CURVE_POINTS` vertices per curve: every vertex lies on the exact
curve, the AUC/AP in the legend use every case.

The current-threshold marker is always the last trace of the ROC and PR
figures (hidden when undefined), at the index `roc_marker_index` /
`pr_marker_index` give, so the threshold slider can move it with a small
patch instead of resending the figures.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from dashboard.figures.style import (
    BLUE,
    GREY,
    LEGEND_INSIDE,
    MODEL_COLOR,
    ORANGE,
    READER_COLOR,
    SKY_BLUE,
    axis,
    empty_figure,
    figure,
    layout_dict,
)
from pipeline.metrics.fast import thin_curve

MAX_CURVE_POINTS = 200
OVERLAP_BIN = 0.05


def thin(*arrays: np.ndarray, limit: int = MAX_CURVE_POINTS) -> tuple[np.ndarray, ...]:
    """At most `limit` evenly spaced points (first and last kept): a 10,000-case ROC
    has thousands of vertices that add figure JSON but nothing visible."""
    n = len(arrays[0])
    if n <= limit:
        return arrays
    index = np.unique(np.linspace(0, n - 1, limit).round().astype(int))
    return tuple(np.asarray(a)[index] for a in arrays)


def _thin_xy(x: np.ndarray, y: np.ndarray, *others: np.ndarray) -> tuple[np.ndarray, ...]:
    """Vertices spread along the curve's length (see `pipeline.metrics.fast.thin_curve`)."""
    keep = thin_curve(x, y, MAX_CURVE_POINTS)
    return tuple(np.asarray(a)[keep] for a in (x, y, *others))


def _ci_text(value: float, ci: Sequence[float] | None) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    if ci and all(c is not None and math.isfinite(c) for c in ci):
        return f"{value:.3f} (95% CI {ci[0]:.3f}–{ci[1]:.3f})"
    return f"{value:.3f}"


def _marker_trace(point) -> dict:
    """The current-threshold marker; hidden (but present, for patching) when undefined."""
    shown = point is not None and all(v is not None and math.isfinite(v) for v in point)
    return {"type": "scatter", "mode": "markers", "name": "current threshold",
            "x": [float(point[0])] if shown else [], "y": [float(point[1])] if shown else [],
            "visible": shown,
            "marker": {"size": 14, "color": ORANGE, "line": {"color": "black", "width": 1.5}},
            "hovertemplate": "current threshold<br>%{x:.2f}, %{y:.2f}<extra></extra>"}


def marker_update(point) -> dict:
    """The keys of the marker trace that change with the threshold (for a Dash Patch)."""
    trace = _marker_trace(point)
    return {"x": trace["x"], "y": trace["y"], "visible": trace["visible"]}


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
    z = [[None if np.isnan(v) else float(v) for v in row] for row in share]
    trace = {
        "type": "heatmap", "z": z, "x": ["benign", "malignant"], "y": ["benign", "malignant"], "text": text,
        "texttemplate": "%{text}", "textfont": {"size": 20}, "colorscale": "Blues", "zmin": 0, "zmax": 1,
        "showscale": False, "hovertemplate": "truth %{y}, predicted %{x}<br>%{text}<extra></extra>",
    }
    layout = layout_dict(
        title=f"Confusion matrix at threshold {threshold:.2f}", height=380,
        xaxis=axis("Predicted label (model)", side="bottom", type="category"),
        yaxis=axis("True label (pathology)", autorange="reversed", type="category", ticklabelstandoff=6),
        margin={"l": 120, "r": 20, "t": 50, "b": 60},  # room for "malignant" beside the axis title
    )
    return figure([trace], layout)


def _finite_points(reader_points) -> list:
    return [p for p in reader_points if math.isfinite(p.fpr) and math.isfinite(p.tpr)]


def roc_marker_index(reader_points=()) -> int:
    """Index of the current-threshold trace in `roc_figure` (chance, model, [readers], marker)."""
    return 3 if _finite_points(reader_points) else 2


def pr_marker_index(prevalence: float | None = None) -> int:
    """Index of the current-threshold trace in `pr_figure` ([prevalence], model, marker)."""
    return 2 if prevalence is not None and math.isfinite(prevalence) else 1


def roc_figure(roc, auc_ci=None, reader_points=(), threshold_point=None) -> go.Figure:
    """ROC with AUC (CI in the legend), the chance line, BI-RADS reader points and the current threshold."""
    if roc.fpr.size == 0:
        return empty_figure("ROC needs both benign and malignant cases")
    fpr, tpr, thresholds = _thin_xy(roc.fpr, roc.tpr, np.where(np.isfinite(roc.thresholds), roc.thresholds, 1.0))
    data = [
        {"type": "scatter", "x": [0, 1], "y": [0, 1], "mode": "lines", "line": {"dash": "dash", "color": GREY},
         "name": "chance", "hoverinfo": "skip"},
        {"type": "scatter", "x": fpr, "y": tpr, "mode": "lines", "line": {"color": MODEL_COLOR, "width": 3},
         "name": f"model AUC {_ci_text(roc.auc, auc_ci)}", "customdata": thresholds,
         "hovertemplate": "1 − specificity %{x:.2f}<br>sensitivity %{y:.2f}<br>threshold %{customdata:.2f}"
                          "<extra></extra>"},
    ]
    points = _finite_points(reader_points)
    if points:
        data.append({
            "type": "scatter", "x": [p.fpr for p in points], "y": [p.tpr for p in points], "mode": "markers+text",
            "marker": {"symbol": "diamond", "size": 12, "color": READER_COLOR, "line": {"color": "white", "width": 1}},
            "text": [f"≥{p.label}" for p in points], "textposition": "middle right",
            "name": "radiologists (BI-RADS ≥ k)",
            "hovertemplate": "BI-RADS %{text}<br>1 − specificity %{x:.2f}<br>sensitivity %{y:.2f}<extra></extra>",
        })
    data.append(_marker_trace(threshold_point))
    layout = layout_dict(
        title="ROC curve", height=460, legend=LEGEND_INSIDE,
        xaxis=axis("1 − specificity (false positive rate)", range=[-0.01, 1.01]),
        yaxis=axis("sensitivity (true positive rate)", range=[-0.01, 1.01], scaleanchor="x", scaleratio=1),
    )
    return figure(data, layout)


def pr_figure(pr, ap_ci=None, prevalence: float | None = None, threshold_point=None) -> go.Figure:
    if pr.recall.size == 0:
        return empty_figure("Precision–recall needs malignant cases")
    data = []
    if prevalence is not None and math.isfinite(prevalence):
        data.append({"type": "scatter", "x": [0, 1], "y": [prevalence, prevalence], "mode": "lines",
                     "name": f"prevalence {prevalence:.2f}", "line": {"dash": "dash", "color": GREY},
                     "hoverinfo": "skip"})
    recall, precision = _thin_xy(pr.recall, pr.precision)
    data.append({"type": "scatter", "x": recall, "y": precision, "mode": "lines",
                 "line": {"color": MODEL_COLOR, "width": 3, "shape": "hv"},
                 "name": f"model AP {_ci_text(pr.average_precision, ap_ci)}",
                 "hovertemplate": "recall %{x:.2f}<br>precision %{y:.2f}<extra></extra>"})
    data.append(_marker_trace(threshold_point))
    # PR curves start high on the left and fall to the right: the lower-left corner is free
    layout = layout_dict(
        title="Precision–recall curve", height=460, legend={**LEGEND_INSIDE, "x": 0.02, "xanchor": "left"},
        xaxis=axis("recall (sensitivity)", range=[-0.01, 1.01]),
        yaxis=axis("precision (PPV)", range=[-0.01, 1.02]),
    )
    return figure(data, layout)


def calibration_figure(rel, brier: float | None = None) -> go.Figure:
    """Observed malignant frequency per probability bin vs the ideal diagonal; marker size ~ count."""
    filled = rel.count > 0
    if not filled.any():
        return empty_figure("Calibration needs cases with a known label")
    count = rel.count[filled]
    sizes = 8 + 22 * np.sqrt(count / count.max())
    subtitle = f"ECE {rel.ece:.3f}" + ("" if brier is None or not math.isfinite(brier) else f" · Brier {brier:.3f}")
    data = [
        {"type": "scatter", "x": [0, 1], "y": [0, 1], "mode": "lines", "line": {"dash": "dash", "color": GREY},
         "name": "perfect calibration", "hoverinfo": "skip"},
        {"type": "scatter", "x": rel.mean_predicted[filled], "y": rel.observed_frequency[filled],
         "mode": "lines+markers", "marker": {"size": sizes, "color": MODEL_COLOR}, "line": {"color": MODEL_COLOR},
         "name": "model", "customdata": count,
         "hovertemplate": "mean predicted %{x:.2f}<br>observed %{y:.2f}<br>%{customdata} cases<extra></extra>"},
    ]
    layout = layout_dict(
        title=f"Calibration ({subtitle})", height=460, legend=LEGEND_INSIDE,
        xaxis=axis("predicted P(malignant)", range=[-0.01, 1.01]),
        yaxis=axis("observed fraction malignant", range=[-0.01, 1.01], scaleanchor="x", scaleratio=1),
    )
    return figure(data, layout)


def overlap_figure(dice: np.ndarray, iou: np.ndarray) -> go.Figure:
    """Histograms of per-case Dice and IoU against the ground-truth masks.

    Binned here (20 bins of 0.05, the last one closed at 1) and drawn as
    overlaid bars: 20 counts per score travel to the browser, not one value
    per case.
    """
    dice = np.asarray(dice, dtype=float)
    iou = np.asarray(iou, dtype=float)
    dice, iou = dice[np.isfinite(dice)], iou[np.isfinite(iou)]
    if dice.size == 0:
        return empty_figure("No cases with a ground-truth mask and a prediction")
    edges = np.linspace(0.0, 1.0, int(round(1 / OVERLAP_BIN)) + 1)
    centres = (edges[:-1] + edges[1:]) / 2
    ranges = np.array([f"{lo:.2f}–{hi:.2f}" for lo, hi in zip(edges[:-1], edges[1:])], dtype=object)

    def bars(values: np.ndarray, name: str, color: str) -> dict:
        counts, _ = np.histogram(np.clip(values, 0.0, 1.0), bins=edges)
        return {"type": "bar", "x": centres, "y": counts, "width": OVERLAP_BIN, "name": name,
                "marker": {"color": color, "line": {"width": 0}}, "opacity": 0.75, "customdata": ranges,
                "hovertemplate": f"{name.split(' ')[0]} %{{customdata}}<br>%{{y}} cases<extra></extra>"}

    data = [bars(dice, f"Dice (median {np.median(dice):.2f})", ORANGE),
            bars(iou, f"IoU (median {np.median(iou):.2f})", SKY_BLUE)] if iou.size else \
        [bars(dice, f"Dice (median {np.median(dice):.2f})", ORANGE)]
    # good models pile up on the right: the upper-left corner is free for the legend
    layout = layout_dict(
        title=f"Segmentation overlap ({dice.size} cases)", height=380,
        legend={"x": 0.02, "xanchor": "left", "y": 0.98, "yanchor": "top", "orientation": "v",
                "bgcolor": "rgba(255,255,255,0.85)"},
        barmode="overlay", bargap=0,
        xaxis=axis("overlap with ground truth (0 = none, 1 = identical)", range=[0, 1]),
        yaxis=axis("cases (count)"),
    )
    return figure(data, layout)


def risk_coverage_figure(uncertainty: np.ndarray, errors: np.ndarray, threshold: float | None = None,
                         flagged: int = 0) -> go.Figure:
    """Error rate of the most certain cases as more are kept (issue 14.3): a rising curve below the
    random line means the reported uncertainty separates right calls from wrong ones."""
    from pipeline.metrics.risk_coverage import risk_coverage

    u = np.asarray(uncertainty, dtype=float)
    e = np.asarray(errors, dtype=bool)
    known = np.isfinite(u)
    if known.sum() < 2:
        return empty_figure("Risk-coverage needs labelled cases with an uncertainty")
    rc = risk_coverage(u[known], e[known])
    cov, risk, unc = thin(rc.coverage, rc.risk, rc.uncertainty)
    k = np.arange(1, rc.n + 1)
    oracle_cov, oracle = thin(k / rc.n, np.maximum(0, k - (rc.n - rc.errors)) / k)
    data = [
        {"type": "scatter", "x": [0, 1], "y": [rc.random_aurc] * 2, "mode": "lines",
         "line": {"dash": "dash", "color": GREY}, "name": f"random order ({rc.random_aurc:.3f})", "hoverinfo": "skip"},
        {"type": "scatter", "x": oracle_cov, "y": oracle, "mode": "lines", "line": {"dash": "dot", "color": BLUE},
         "name": f"errors last ({rc.oracle_aurc:.3f})", "hoverinfo": "skip"},
        {"type": "scatter", "x": cov, "y": risk, "mode": "lines", "line": {"color": MODEL_COLOR},
         "name": f"by uncertainty (AURC {rc.aurc:.3f})", "customdata": unc,
         "hovertemplate": "most certain %{x:.0%} kept<br>error rate %{y:.1%}<br>uncertainty ≤ ±%{customdata:.3f}"
                          "<extra></extra>"},
    ]
    note = f" · {flagged} flagged unlike training" if flagged else ""
    layout = layout_dict(
        title=(f"Risk-coverage of the model's calls{'' if threshold is None else f' at threshold {threshold:.2f}'}"
               f" ({rc.n} cases, error AUC {rc.error_auc:.2f}{note})"),
        height=380, legend={"x": 0.02, "xanchor": "left", "y": 0.98, "yanchor": "top", "orientation": "v",
                            "bgcolor": "rgba(255,255,255,0.85)"},
        xaxis=axis("coverage: most certain fraction of cases kept", range=[0, 1]),
        yaxis=axis("error rate of kept cases", rangemode="tozero"),
    )
    return figure(data, layout)


def warm_up() -> None:
    """Build and serialise one tiny figure of each kind.

    The first figure in a process loads plotly's validator table (~50 ms) and
    the first numpy array serialised loads narwhals' backends (~50 ms); doing
    it when a worker starts keeps both out of the first user's request.
    """
    from plotly.io.json import to_json_plotly

    from pipeline.metrics import confusion_matrix, reliability_curve
    from pipeline.metrics.fast import pr_curve_fast, roc_curve_fast

    y, p = np.array([0, 1, 0, 1]), np.array([0.1, 0.8, 0.4, 0.35])
    for fig in (confusion_matrix_figure(confusion_matrix(y, p), 0.5), roc_figure(roc_curve_fast(y, p)),
                pr_figure(pr_curve_fast(y, p), prevalence=0.5), calibration_figure(reliability_curve(y, p)),
                overlap_figure(p, p), empty_figure("warm-up")):
        to_json_plotly(fig)


__all__ = ["BLUE", "calibration_figure", "confusion_matrix_figure", "marker_update", "overlap_figure",
           "pr_figure", "pr_marker_index", "roc_figure", "roc_marker_index", "warm_up"]
