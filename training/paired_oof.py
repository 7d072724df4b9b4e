"""Pooled paired differences of two CV runs over the same held-out images.

Why: the per-fold table of `compare` says whether a recipe wins fold by fold
(5 numbers), but not by how much over all patients with a CI. Two CV runs on
the same official folds scored the same images, so the honest interval is a
paired one (each image's difference) resampled by patient (a patient's images
move together): a difference whose CI excludes 0 is a real gain, however the
runs' own CIs overlap. Both runs' `oof_predictions.csv` are joined on
`case_id`; only images scored by both enter.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.metrics import bootstrap_ci, roc_auc
from training.fusion_stats import paired_bootstrap


@dataclass(frozen=True)
class PairedDelta:
    """One metric of `other` minus the same of `reference`, on the images both scored."""

    metric: str
    reference: float
    other: float
    ci95: tuple[float, float]
    n: int

    @property
    def delta(self) -> float:
        return self.other - self.reference

    def cell(self) -> str:
        return (f"{self.reference:.3f} → {self.other:.3f}: {self.delta:+.3f} "
                f"[{self.ci95[0]:+.3f}, {self.ci95[1]:+.3f}] (n={self.n})")


def oof_beside(source: str | Path) -> Path | None:
    """The `oof_predictions.csv` next to a run's `cv_summary.json`, if it is there."""
    path = Path(source)
    path = (path if path.is_dir() else path.parent) / "oof_predictions.csv"
    return path if path.is_file() else None


def _mean_difference(name: str, joined: pd.DataFrame, n_boot: int, seed: int) -> PairedDelta | None:
    both = joined[[f"{name}_ref", f"{name}_other", "patient_id"]].dropna()
    both = both[np.isfinite(both[f"{name}_ref"]) & np.isfinite(both[f"{name}_other"])]
    if both.empty:
        return None
    diff = (both[f"{name}_other"] - both[f"{name}_ref"]).to_numpy(float)
    ci = bootstrap_ci(np.mean, diff, groups=both["patient_id"].astype(str).to_numpy(), n_boot=n_boot, seed=seed)
    return PairedDelta(name, float(both[f"{name}_ref"].mean()), float(both[f"{name}_other"].mean()), ci, len(both))


def paired_oof(reference: pd.DataFrame, other: pd.DataFrame, n_boot: int = 1000, seed: int = 0) -> list[PairedDelta]:
    """Dice, HD95 (px, lower is better) and AUC of `other` minus `reference`, patient-bootstrap CIs."""
    cols = ["case_id", "patient_id", "malignant", "probability", "dice", "hd95_px"]
    joined = reference[cols].merge(other[["case_id", "probability", "dice", "hd95_px"]], on="case_id",
                                   suffixes=("_ref", "_other"))
    deltas = [d for name in ("dice", "hd95_px") if (d := _mean_difference(name, joined, n_boot, seed))]
    labelled = joined.dropna(subset=["malignant", "probability_ref", "probability_other"])
    y = labelled["malignant"].to_numpy(int)
    if labelled.empty or y.min() == y.max():
        return deltas
    a, b = labelled["probability_ref"].to_numpy(float), labelled["probability_other"].to_numpy(float)
    (low, high), _ = paired_bootstrap(y, b, a, labelled["patient_id"].astype(str).to_numpy(), n_boot, seed)
    deltas.append(PairedDelta("auc", roc_auc(y, a), roc_auc(y, b), (low, high), len(labelled)))
    return deltas


def markdown_lines(label_ref: str, label_other: str, deltas: list[PairedDelta]) -> list[str]:
    by_name = {d.metric: d.cell() for d in deltas}
    return [f"| {label_other} − {label_ref} | " + " | ".join(by_name.get(m, "–") for m in ("dice", "hd95_px", "auc")) + " |"]
