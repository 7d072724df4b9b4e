"""What the border stage adds: every held-out image segmented twice by one fold bundle (issue 12.4).

The refiner's gain cannot be read off two CV runs of different recipes (other seeds, other epochs,
other coarse models). Here the same weights segment each held-out image with the refinement stage
on and off (`Predictor.without_refinement`: the coarse map upsampled, as the clinic would get it
without the second stage), so the paired per-image difference is the refiner's alone. CIs resample
patients, the unit of the split.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from pipeline.datasets import load_mask, read_gray
from pipeline.metrics import bootstrap_ci
from pipeline.metrics.segmentation import dice, hd95

log = logging.getLogger(__name__)
ARMS = ("coarse", "refined")


def measure_fold(fold_dir: Path, cases: list, desc: str = "refine gain") -> pd.DataFrame:
    """Per held-out lesion: Dice and HD95 (original pixels) of the refined and of the coarse mask."""
    from pipeline.predictor import Predictor

    refined = Predictor(fold_dir)
    if refined.settings.refine_size == 0:
        raise ValueError(f"{fold_dir.name}: the bundle has no refinement stage")
    arms = {"coarse": refined.without_refinement(), "refined": refined}
    rows = []
    for case in tqdm(cases, desc=desc, unit="img", mininterval=5):
        truth = load_mask(case)
        if not truth.any():
            continue
        gray = read_gray(case.image_path)
        row = {"case_id": case.case_id, "patient_id": case.patient_id}
        for arm, predictor in arms.items():
            mask = predictor.predict_gray(gray).mask
            row[f"dice_{arm}"] = dice(mask, truth)
            row[f"hd95_{arm}"] = hd95(mask, truth) if mask.any() else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class Gain:
    """One row of the table: a fold, or all folds pooled."""

    scope: str
    images: int
    dice_coarse: float
    dice_refined: float
    dice_gain: float
    dice_gain_ci: tuple[float, float]
    dice_better_share: float
    hd95_coarse: float
    hd95_refined: float
    hd95_gain: float  # refined - coarse: negative is better
    hd95_gain_ci: tuple[float, float]


def _mean_ci(values: np.ndarray, patients: np.ndarray, n_boot: int) -> tuple[float, float]:
    return bootstrap_ci(lambda v: float(np.mean(v)), values, groups=patients, n_boot=n_boot)


def gain_of(scope: str, df: pd.DataFrame, n_boot: int = 1000) -> Gain:
    """Paired differences, refined minus coarse; HD95 over the images where both masks are non-empty."""
    patients = df["patient_id"].astype(str).to_numpy()
    d_dice = (df["dice_refined"] - df["dice_coarse"]).to_numpy(float)
    both = np.isfinite(df["hd95_refined"].to_numpy(float)) & np.isfinite(df["hd95_coarse"].to_numpy(float))
    hd = df[both]
    d_hd = (hd["hd95_refined"] - hd["hd95_coarse"]).to_numpy(float)
    return Gain(
        scope=scope,
        images=len(df),
        dice_coarse=float(df["dice_coarse"].mean()),
        dice_refined=float(df["dice_refined"].mean()),
        dice_gain=float(d_dice.mean()),
        dice_gain_ci=_mean_ci(d_dice, patients, n_boot),
        dice_better_share=float((d_dice > 0).mean()),
        hd95_coarse=float(hd["hd95_coarse"].mean()),
        hd95_refined=float(hd["hd95_refined"].mean()),
        hd95_gain=float(d_hd.mean()) if len(d_hd) else math.nan,
        hd95_gain_ci=_mean_ci(d_hd, patients[both], n_boot) if len(d_hd) else (math.nan, math.nan),
    )


def markdown(gains: list[Gain], missing: list[str]) -> str:
    lines = [
        "| folds | images | Dice coarse | Dice refined | Δ Dice [95% CI] | Dice better | HD95 coarse (px) "
        "| HD95 refined (px) | Δ HD95 [95% CI] |",
        "|---|---:|---:|---:|---|---:|---:|---:|---|",
    ]
    for g in gains:
        lines.append(
            f"| {g.scope} | {g.images} | {g.dice_coarse:.3f} | {g.dice_refined:.3f} | {g.dice_gain:+.4f} "
            f"[{g.dice_gain_ci[0]:+.4f} – {g.dice_gain_ci[1]:+.4f}] | {g.dice_better_share:.0%} | "
            f"{g.hd95_coarse:.1f} | {g.hd95_refined:.1f} | {g.hd95_gain:+.2f} "
            f"[{g.hd95_gain_ci[0]:+.2f} – {g.hd95_gain_ci[1]:+.2f}] |"
        )
    if missing:
        lines.append("")
        lines.append("Not measured (no weights on this machine): " + ", ".join(missing))
    return "\n".join(lines) + "\n"


def run_refine_gain(cv_dir: Path, cases: list, n_boot: int = 1000) -> dict:
    """Measure every fold whose weights are here (kept per fold in `fold_K/refine_gain.csv`, so a fold
    measured on another machine and copied with the results is reused), then the table."""
    from training.ensemble import has_weights

    folds = json.loads((cv_dir / "folds.json").read_text())
    finished = [p.parent for p in cv_dir.glob("fold_*/fold_metrics.json")]
    frames, gains, missing = [], [], []
    for fold_dir in sorted(finished, key=lambda p: int(p.name.split("_")[1])):
        k = int(fold_dir.name.split("_")[1])
        out = fold_dir / "refine_gain.csv"
        if not out.exists():
            if not has_weights(fold_dir):
                missing.append(fold_dir.name)
                continue
            held_out = [c for c in cases if folds.get(c.case_id) == k]
            measure_fold(fold_dir, held_out, desc=f"fold {k} coarse vs refined").to_csv(out, index=False)
        df = pd.read_csv(out)
        frames.append(df)
        gains.append(gain_of(f"fold {k}", df, n_boot))
        log.info("fold %d: Dice %+.4f, HD95 %+.2f px", k, gains[-1].dice_gain, gains[-1].hd95_gain)
    if len(frames) > 1:
        gains.append(gain_of("pooled", pd.concat(frames, ignore_index=True), n_boot))
    summary = {
        "cv": cv_dir.name,
        "gains": [asdict(g) for g in gains],
        "not_measured": missing,
        "how": "each held-out lesion segmented by the fold bundle with the refinement stage on and off "
        "(Predictor.without_refinement); refined minus coarse; patient-bootstrap 95% CIs",
    }
    (cv_dir / "refine_gain.json").write_text(json.dumps(summary, indent=2))
    (cv_dir / "refine_gain.md").write_text(markdown(gains, missing))
    return summary
