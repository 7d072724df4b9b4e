"""The Metrics page's figures drawn server-side with matplotlib, as PNG or SVG files.

The plotly figures on the page can already be saved from their modebar (an
SVG of exactly what is on screen, made in the browser). These are for what
the browser cannot give: a fixed size and resolution for slides and
manuscripts, all figures at once (a ZIP), and scripted downloads. They are
drawn from the same memoised `CohortCurves` the page uses, with the same
colours, titles and numbers (AUC/AP with their patient-bootstrap CIs, the
current-threshold marker, BI-RADS reader points).

Only `matplotlib.figure.Figure` is used, never pyplot: no global figure
registry, so concurrent requests in one worker do not share state. matplotlib
is imported on the first rendering, not with the pages that link here.
"""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING

import numpy as np

from dashboard.figures.style import GREY, MODEL_COLOR, ORANGE, READER_COLOR, SKY_BLUE
from pipeline.metrics import confusion_matrix

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FIGURES = ("confusion", "roc", "pr", "calibration", "overlap")
FORMATS = {"png": "image/png", "svg": "image/svg+xml"}
PNG_DPI = 200
SIZE_IN = (5.0, 5.0)


def _new(size=SIZE_IN):
    """(figure, axes) of `size` inches."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=size)
    return fig, fig.add_subplot()


def _ci(value: float, ci) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    if ci and all(c is not None and math.isfinite(c) for c in ci):
        return f"{value:.3f} (95% CI {ci[0]:.3f}–{ci[1]:.3f})"
    return f"{value:.3f}"


def _empty(fig: Figure, ax, message: str) -> Figure:
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True, color="#555555")
    return fig


def _square(ax, xlabel: str, ylabel: str) -> None:
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.02)
    ax.set_aspect("equal")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.spines[["top", "right"]].set_visible(False)


def _marker(ax, point) -> None:
    if point is not None and all(v is not None and math.isfinite(v) for v in point):
        ax.plot([point[0]], [point[1]], "o", markersize=10, color=ORANGE, markeredgecolor="black",
                label="current threshold", zorder=5)


def confusion_figure(curves, threshold: float) -> Figure:
    fig, ax = _new()
    cm = confusion_matrix(curves.y, curves.p, threshold)
    counts = np.array([[cm.tn, cm.fp], [cm.fn, cm.tp]])
    if counts.sum() == 0:
        return _empty(fig, ax, "No cases with both a known label and a prediction")
    totals = counts.sum(axis=1, keepdims=True)
    share = counts / np.maximum(totals, 1)
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    names = [["TN", "FP"], ["FN", "TP"]]
    for i in range(2):
        for j in range(2):
            pct = f" · {share[i, j]:.0%}" if totals[i, 0] else ""
            ax.text(j, i, f"{counts[i, j]}\n{names[i][j]}{pct}", ha="center", va="center", fontsize=13,
                    color="white" if share[i, j] > 0.6 else "black")
    ax.set_xticks([0, 1], ["benign", "malignant"])
    ax.set_yticks([0, 1], ["benign", "malignant"])
    ax.set_xlabel("Predicted label (model)")
    ax.set_ylabel("True label (pathology)")
    ax.set_title(f"Confusion matrix at threshold {threshold:.2f}")
    return fig


def roc_figure(curves, threshold_point=None) -> Figure:
    fig, ax = _new()
    if curves.roc is None or curves.roc.fpr.size == 0:
        return _empty(fig, ax, "ROC needs both benign and malignant cases")
    ax.plot([0, 1], [0, 1], "--", color=GREY, label="chance")
    ax.plot(curves.roc.fpr, curves.roc.tpr, color=MODEL_COLOR, lw=2.5,
            label=f"model AUC {_ci(curves.roc.auc, curves.auc_ci)}")
    points = [p for p in curves.reader_points if math.isfinite(p.fpr) and math.isfinite(p.tpr)]
    if points:
        ax.plot([p.fpr for p in points], [p.tpr for p in points], "D", color=READER_COLOR,
                label="radiologists (BI-RADS ≥ k)")
        for p in points:
            ax.annotate(f"≥{p.label}", (p.fpr, p.tpr), xytext=(5, -3), textcoords="offset points", fontsize=8)
    _marker(ax, threshold_point)
    _square(ax, "1 − specificity (false positive rate)", "sensitivity (true positive rate)")
    ax.set_title("ROC curve")
    ax.legend(loc="lower right", fontsize=8)
    return fig


def pr_figure(curves, threshold_point=None) -> Figure:
    fig, ax = _new()
    if curves.pr is None or curves.pr.recall.size == 0:
        return _empty(fig, ax, "Precision–recall needs malignant cases")
    if math.isfinite(curves.prevalence):
        ax.axhline(curves.prevalence, ls="--", color=GREY, label=f"prevalence {curves.prevalence:.2f}")
    ax.step(curves.pr.recall, curves.pr.precision, where="post", color=MODEL_COLOR, lw=2.5,
            label=f"model AP {_ci(curves.pr.average_precision, curves.ap_ci)}")
    _marker(ax, threshold_point)
    _square(ax, "recall (sensitivity)", "precision (PPV)")
    ax.set_title("Precision–recall curve")
    ax.legend(loc="lower left", fontsize=8)
    return fig


def calibration_figure(curves) -> Figure:
    fig, ax = _new()
    rel = curves.reliability
    if rel is None or not (rel.count > 0).any():
        return _empty(fig, ax, "Calibration needs cases with a known label")
    filled = rel.count > 0
    count = rel.count[filled]
    ax.plot([0, 1], [0, 1], "--", color=GREY, label="perfect calibration")
    ax.plot(rel.mean_predicted[filled], rel.observed_frequency[filled], "-", color=MODEL_COLOR, label="model")
    ax.scatter(rel.mean_predicted[filled], rel.observed_frequency[filled], s=30 + 250 * np.sqrt(count / count.max()),
               color=MODEL_COLOR, zorder=3)
    brier = "" if not math.isfinite(curves.brier) else f" · Brier {curves.brier:.3f}"
    _square(ax, "predicted P(malignant)", "observed fraction malignant")
    ax.set_title(f"Calibration (ECE {rel.ece:.3f}{brier})")
    ax.legend(loc="upper left", fontsize=8)
    return fig


def overlap_figure(curves) -> Figure:
    fig, ax = _new((6.0, 4.0))
    dice, iou = np.asarray(curves.dice, dtype=float), np.asarray(curves.iou, dtype=float)
    if dice.size == 0:
        return _empty(fig, ax, "No cases with a ground-truth mask and a prediction")
    edges = np.linspace(0, 1, 21)
    ax.hist(np.clip(dice, 0, 1), bins=edges, color=ORANGE, alpha=0.75, label=f"Dice (median {np.median(dice):.2f})")
    if iou.size:
        ax.hist(np.clip(iou, 0, 1), bins=edges, color=SKY_BLUE, alpha=0.75,
                label=f"IoU (median {np.median(iou):.2f})")
    ax.set_xlim(0, 1)
    ax.set_xlabel("overlap with ground truth (0 = none, 1 = identical)")
    ax.set_ylabel("cases (count)")
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_title(f"Segmentation overlap ({dice.size} cases)")
    ax.legend(loc="upper left", fontsize=8)
    return fig


def cohort_figure(name: str, curves, threshold: float, points=(None, None)) -> Figure:
    """Figure `name` (one of FIGURES); `points` = (ROC point, PR point) of the threshold."""
    if name == "confusion":
        return confusion_figure(curves, threshold)
    if name == "roc":
        return roc_figure(curves, points[0])
    if name == "pr":
        return pr_figure(curves, points[1])
    if name == "calibration":
        return calibration_figure(curves)
    if name == "overlap":
        return overlap_figure(curves)
    raise ValueError(f"unknown figure {name!r}; one of {', '.join(FIGURES)}")


def figure_bytes(fig: Figure, fmt: str) -> bytes:
    """PNG (PNG_DPI) or SVG bytes; the SVG carries no creation date, so equal figures give equal files."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    fig.set_layout_engine("tight")
    buffer = io.BytesIO()
    metadata = {"Date": None} if fmt == "svg" else None
    fig.savefig(buffer, format=fmt, dpi=PNG_DPI, metadata=metadata, facecolor="white")
    return buffer.getvalue()
