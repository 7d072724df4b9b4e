"""The fusion comparison as a markdown table and a ROC figure (outputs of `training fuse`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd


def _ci(ci: list[float], sep: str = "–") -> str:
    return "–" if ci is None or any(v is None or v != v for v in ci) else f"{ci[0]:.3f}{sep}{ci[1]:.3f}"


def _p(p: float | None) -> str:
    if p is None or p != p:
        return "–"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def markdown_table(metrics: dict[str, Any]) -> str:
    """Rows with AUC [95% CI], Brier and ECE, then the paired tests; numbers as measured."""
    head = (f"Fusion on {metrics['dataset']} — {metrics['n']} cases ({metrics['n_malignant']} malignant), "
            f"{metrics['folds']}-fold patient-level CV, out-of-fold predictions only; image model "
            f"`{metrics['image_model']}`. AUC 95% CI: bootstrap over patients.\n")
    lines = [head, "| model | inputs | AUC [95% CI] | Brier | ECE |", "|---|---|---|---:|---:|"]
    for row in metrics["rows"]:
        name = f"**{row['model']}**" if row["model"] == metrics.get("deployed") else row["model"]
        lines.append(f"| {name} | {row['inputs']} | {row['auc']:.3f} [{_ci(row['auc_ci95'])}] | "
                     f"{row['brier']:.3f} | {row['ece']:.3f} |")
    if metrics.get("paired_tests"):
        lines += ["", "| paired comparison | ΔAUC [95% CI, patient bootstrap] | p | test |", "|---|---|---:|---|"]
        for t in metrics["paired_tests"]:
            lines.append(f"| {t['a']} − {t['b']} | {t['delta_auc']:+.3f} [{_ci(t['delta_auc_ci95'], ', ')}] | "
                         f"{_p(t['p_value'])} | {t['method']} |")
    feats = metrics["features"]
    lines += ["", f"Inputs — image: {', '.join(feats.get('image', [])) or 'none'}; lesion: "
              f"{', '.join(feats['lesion']) or 'none'}; metadata: {', '.join(feats['metadata']) or 'none'}. "
              "Never inputs: BI-RADS, radiologist descriptors, histology, verification."]
    return "\n".join(lines) + "\n"


def roc_figure(oof: pd.DataFrame, metrics: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pipeline.metrics import roc_curve

    y = oof["y"].to_numpy(int)
    fig, ax = plt.subplots(figsize=(6, 5.5))
    colours = ["#999999", "#56B4E9", "#0072B2", "#009E73", "#E69F00", "#D55E00", "#CC79A7"]
    for colour, row in zip(colours, metrics["rows"]):
        curve = roc_curve(y, oof[row["model"]].to_numpy(float))
        lo, hi = row["auc_ci95"]
        ax.plot(curve.fpr, curve.tpr, color=colour, lw=2 if row["model"] == metrics.get("deployed") else 1.3,
                label=f"{row['model']}: {row['auc']:.3f} [{lo:.2f}–{hi:.2f}]")
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set(xlabel="1 − specificity", ylabel="sensitivity", xlim=(0, 1), ylim=(0, 1.01),
           title=f"Out-of-fold ROC, {metrics['n']} cases")
    ax.legend(loc="lower right", fontsize=7.5, title="AUC [95% CI]", title_fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
