"""Report figures (matplotlib, Agg backend: no display, no network)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import auc, confusion_matrix, precision_recall_curve, roc_curve  # noqa: E402

PRED_COLOUR, TRUTH_COLOUR = "#E69F00", "#56B4E9"  # Okabe-Ito: colour-blind safe


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def roc_figure(y, p, path: Path, auc_ci=None) -> Path:
    fpr, tpr, _ = roc_curve(y, p)
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    label = f"AUC {auc(fpr, tpr):.3f}" + (f" (95% CI {auc_ci[0]:.3f}-{auc_ci[1]:.3f})" if auc_ci else "")
    ax.plot(fpr, tpr, color=PRED_COLOUR, label=label)
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set(xlabel="1 - specificity (false positive rate)", ylabel="sensitivity (true positive rate)", title="ROC")
    ax.legend(loc="lower right")
    return _save(fig, path)


def pr_figure(y, p, path: Path) -> Path:
    precision, recall, _ = precision_recall_curve(y, p)
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot(recall, precision, color=PRED_COLOUR, label=f"AP {auc(recall, precision):.3f}")
    ax.axhline(np.mean(y), ls=":", color="grey", label="prevalence")
    ax.set(xlabel="recall (sensitivity)", ylabel="precision (PPV)", title="Precision-recall")
    ax.legend(loc="lower left")
    return _save(fig, path)


def calibration_figure(y, p, path: Path, bins: int = 10) -> Path:
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(p, edges) - 1, 0, bins - 1)
    xs, ys, ns = [], [], []
    for b in range(bins):
        sel = idx == b
        if sel.any():
            xs.append(p[sel].mean()), ys.append(y[sel].mean()), ns.append(sel.sum())
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], ":", color="grey", label="perfect calibration")
    ax.plot(xs, ys, "o-", color=PRED_COLOUR, label="model")
    ax.set(xlabel="predicted probability of malignancy", ylabel="observed fraction malignant", title="Calibration")
    ax.legend(loc="upper left")
    return _save(fig, path)


def confusion_figure(y, p, threshold: float, path: Path) -> Path:
    cm = confusion_matrix(y, (p >= threshold).astype(int), labels=[0, 1])
    fig, ax = plt.subplots(figsize=(4, 3.6))
    ax.imshow(cm, cmap="Blues")
    for (i, j), v in np.ndenumerate(cm):
        ax.text(j, i, str(v), ha="center", va="center", color="black", fontsize=14)
    ax.set(xticks=[0, 1], yticks=[0, 1], xticklabels=["benign", "malignant"], yticklabels=["benign", "malignant"],
           xlabel="predicted", ylabel="truth", title=f"Confusion matrix (threshold {threshold:.2f})")
    return _save(fig, path)


def overlay_grid(panels: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]], path: Path) -> Path:
    """panels: (title, gray image, predicted mask, true mask); contours only."""
    cols = 3
    rows = int(np.ceil(len(panels) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.4 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (title, img, pred, truth) in zip(axes.flat, panels):
        ax.imshow(img, cmap="gray")
        if truth.any():
            ax.contour(truth, levels=[0.5], colors=[TRUTH_COLOUR], linewidths=1.5)
        if pred.any():
            ax.contour(pred, levels=[0.5], colors=[PRED_COLOUR], linewidths=1.5, linestyles="--")
        ax.set_title(title, fontsize=9)
    fig.suptitle("expert (blue, solid) vs model (orange, dashed)")
    return _save(fig, path)
