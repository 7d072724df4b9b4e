"""Clinical-evidence figures: model vs radiologists, subgroups, external calibration.

Kept apart from `training.figures` (the per-report basics) because these take
the JSON-ready results of `pipeline.metrics.reader_comparison`, `subgroups`
and `calibration_fit` rather than raw arrays alone, so a figure always shows
exactly the numbers written beside it. matplotlib Agg: offline PNGs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from pipeline.metrics.reader_comparison import roc_points  # noqa: E402
from training.figures import PRED_COLOUR, _save  # noqa: E402

READER_COLOUR, MATCH_COLOUR = "#0072B2", "#009E73"  # Okabe-Ito blue / green


def _ci_text(ci) -> str:
    return f" [{ci[0]:.3f}-{ci[1]:.3f}]" if ci and None not in ci else ""


def roc_radiologists_figure(y: np.ndarray, p: np.ndarray, result: dict[str, Any], path: Path) -> Path:
    """Model ROC, the BI-RADS ROC (one point per category cut) and the
    radiologists' operating point with its 95% CIs as error bars; green
    markers show the model at the radiologists' sensitivity and specificity."""
    path.parent.mkdir(parents=True, exist_ok=True)
    reader, model = result["radiologists"], result["model"]
    fpr, tpr = roc_points(np.asarray(y, bool), np.asarray(p, float))
    fig, ax = plt.subplots(figsize=(5.4, 5.2))
    ax.plot(fpr, tpr, color=PRED_COLOUR, label=f"model, AUC {model['auc']:.3f}{_ci_text(model.get('auc_ci95'))}")
    levels = sorted(reader["operating_points"], key=lambda r: -(r["specificity"] or 0))
    bx = [0.0] + [1 - r["specificity"] for r in levels if r["specificity"] is not None] + [1.0]
    by = [0.0] + [r["sensitivity"] for r in levels if r["specificity"] is not None] + [1.0]
    birads_auc = reader["birads_auc"]
    ax.plot(bx, by, "--", color=READER_COLOUR, alpha=0.7, marker=".",
            label=f"radiologists' BI-RADS, AUC {birads_auc:.3f}{_ci_text(reader.get('birads_auc_ci95'))}")
    for r in levels:
        if r["specificity"] is not None and 0 < r["specificity"] < 1:
            ax.annotate(r["positive_from"], (1 - r["specificity"], r["sensitivity"]), textcoords="offset points",
                        xytext=(4, -10), fontsize=7, color=READER_COLOUR)
    sens, spec = reader["sensitivity"], reader["specificity"]
    s_ci, sp_ci = reader.get("sensitivity_ci95"), reader.get("specificity_ci95")
    xerr = [[sp_ci[1] - spec], [spec - sp_ci[0]]] if sp_ci and None not in sp_ci else None  # 1-spec flips the CI
    yerr = [[sens - s_ci[0]], [s_ci[1] - sens]] if s_ci and None not in s_ci else None
    ax.errorbar([1 - spec], [sens], xerr=xerr, yerr=yerr, fmt="s", color=READER_COLOUR, capsize=3, ms=7,
                label=f"radiologists, BI-RADS >= {result['threshold']}: sens {sens:.2f}, spec {spec:.2f}")
    m_spec = model.get("specificity_at_radiologist_sensitivity")
    m_sens = model.get("sensitivity_at_radiologist_specificity")
    if m_spec is not None:
        ax.plot([1 - m_spec], [sens], "o", color=MATCH_COLOUR, ms=6,
                label=f"model at their sensitivity: spec {m_spec:.2f}")
    if m_sens is not None:
        ax.plot([1 - spec], [m_sens], "D", color=MATCH_COLOUR, ms=5,
                label=f"model at their specificity: sens {m_sens:.2f}")
    if model.get("sensitivity") is not None:
        ax.plot([1 - model["specificity"]], [model["sensitivity"]], "^", color=PRED_COLOUR, ms=7,
                label=f"model, own threshold: sens {model['sensitivity']:.2f}, spec {model['specificity']:.2f}")
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set(xlim=(-0.02, 1.02), ylim=(-0.02, 1.02), xlabel="1 - specificity", ylabel="sensitivity",
           title=f"Model vs radiologists (n = {result['n']} images)")
    ax.legend(loc="lower right", fontsize=7)
    return _save(fig, path)


def subgroup_forest_figure(rows: list[dict[str, Any]], path: Path, title: str = "Subgroups") -> Path:
    """Forest plot: one line per subgroup, AUC / sensitivity / specificity with 95% CIs and n."""
    path.parent.mkdir(parents=True, exist_ok=True)
    metrics = ("auc", "sensitivity", "specificity")
    labels = [f"{r['column']}: {r['subgroup']}  (n={r['n']}, {r['n_positive']} malig.)" for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(11, 0.9 + 0.32 * max(len(rows), 3)), sharey=True)
    ys = np.arange(len(rows))[::-1]
    for ax, metric in zip(axes, metrics):
        overall = next((r.get(metric) for r in rows if r["column"] == "all"), None)
        for yy, r in zip(ys, rows):
            value, ci = r.get(metric), r.get(f"{metric}_ci95") or [None, None]
            if value is None:
                ax.text(0.5, yy, "n/a", va="center", ha="center", fontsize=7, color="grey")
                continue
            err = None if None in ci else [[value - ci[0]], [ci[1] - value]]
            colour = "black" if r["column"] == "all" else PRED_COLOUR
            ax.errorbar([value], [yy], xerr=err, fmt="s" if r["column"] == "all" else "o", color=colour,
                        capsize=2, ms=4)
        if overall is not None:
            ax.axvline(overall, ls=":", color="grey")
        ax.set(xlim=(0, 1.02), title=metric if metric != "auc" else "AUC")
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(ys, labels, fontsize=7)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def calibration_external_figure(y: np.ndarray, p: np.ndarray, stats: dict[str, Any], path: Path,
                                bins: int = 10) -> Path:
    """Reliability diagram (equal-width bins, marker size ~ count) with slope,
    intercept, ECE and Brier in the legend, plus the probability histogram."""
    path.parent.mkdir(parents=True, exist_ok=True)
    y, p = np.asarray(y, float), np.asarray(p, float)
    idx = np.minimum((p * bins).astype(int), bins - 1)
    count = np.bincount(idx, minlength=bins)
    filled = count > 0
    mean_p = np.bincount(idx, weights=p, minlength=bins)[filled] / count[filled]
    freq = np.bincount(idx, weights=y, minlength=bins)[filled] / count[filled]
    fig, (ax, hist) = plt.subplots(2, 1, figsize=(4.8, 5.6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    ax.plot([0, 1], [0, 1], ":", color="grey", label="perfect calibration")
    text = ", ".join(f"{name} {stats[key]:.2f}" for name, key in (("slope", "calibration_slope"),
                     ("intercept", "calibration_intercept"), ("ECE", "ece"), ("Brier", "brier"))
                     if stats.get(key) is not None)
    ax.plot(mean_p, freq, "-", color=PRED_COLOUR, label=text)
    ax.scatter(mean_p, freq, s=12 + 120 * count[filled] / count.max(), color=PRED_COLOUR, zorder=3)
    ax.set(ylabel="observed fraction malignant", ylim=(-0.02, 1.02), title=stats.get("title", "Calibration"))
    ax.legend(loc="upper left", fontsize=8)
    hist.hist([p[y == 0], p[y == 1]], bins=np.linspace(0, 1, bins + 1), stacked=True,
              color=["#56B4E9", PRED_COLOUR], label=["benign", "malignant"])
    hist.set(xlabel="predicted probability of malignancy", ylabel="images", xlim=(0, 1))
    hist.legend(fontsize=7)
    return _save(fig, path)
