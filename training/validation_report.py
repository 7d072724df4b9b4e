"""How good is the model `train` just wrote? Validation metrics with CIs, and warnings in plain words.

Why: a run that ends by printing `"metrics": {}` leaves the user to guess, and a weak model
would be activated in the dashboard like any other. The validation patients were used to pick
the best epoch, calibrate and set the threshold, so these figures are mildly optimistic; they
are still the only honest check a single `train` can offer, and the warnings flag the cases
where even an optimistic figure is weak or where the set is too small to tell.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

MIN_IMAGES = 30  # below: too few validation images to judge anything
MIN_PER_CLASS = 10  # below: the AUC's CI is too wide to mean much
WEAK_DICE = 0.6
OVERFIT_GAP = 0.15  # training Dice minus validation Dice


def _num(value) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return math.nan
    return out


def quality_warnings(metrics: dict[str, Any], train_dice: float | None = None) -> list[str]:
    """Plain-language warnings about one validation result (`metrics_json` layout)."""
    warnings = []
    seg, cls = metrics.get("segmentation", {}), metrics.get("classification", {})
    n_images = int(metrics.get("n_images", 0))
    n_mal = int(cls.get("n_positive", 0) or 0)
    n_ben = int(cls.get("n", 0) or 0) - n_mal
    if n_images < MIN_IMAGES or min(n_mal, n_ben) < MIN_PER_CLASS:
        warnings.append(f"The validation set is too small to judge the model ({n_images} images, {n_mal} malignant, "
                        f"{n_ben} benign): treat every figure below as a rough guess.")
    ci = cls.get("auc_ci95") or [math.nan, math.nan]
    if math.isfinite(_num(ci[0])) and _num(ci[0]) <= 0.5:
        warnings.append(f"The diagnosis is not reliably better than chance: AUC {_num(cls.get('auc')):.2f}, "
                        f"95% CI reaching {_num(ci[0]):.2f}.")
    dice = _num(seg.get("dice"))
    if math.isfinite(dice) and dice < WEAK_DICE:
        warnings.append(f"Lesion outlines are weak: validation Dice {dice:.2f} (below {WEAK_DICE}).")
    if train_dice is not None and math.isfinite(dice) and train_dice - dice > OVERFIT_GAP:
        warnings.append(f"The segmenter fits its training images far better than new patients (Dice {train_dice:.2f} "
                        f"vs {dice:.2f}): it has memorised rather than learnt; more images or a smaller model help.")
    return warnings


def _rate_ci(predictions: pd.DataFrame, threshold: float, positive: int, n_boot: int) -> list[float]:
    """Patient-bootstrap CI of sensitivity (positive=1) or specificity (positive=0)."""
    import numpy as np

    from pipeline.metrics.bootstrap import bootstrap_ci

    rows = predictions[predictions["malignant"] == positive]
    if rows.empty:
        return [math.nan, math.nan]
    hits = (rows["probability"].to_numpy(float) >= threshold) == bool(positive)
    return list(bootstrap_ci(np.mean, hits.astype(float), groups=rows["patient_id"].astype(str).to_numpy(), n_boot=n_boot))


def _iou_ci(predictions: pd.DataFrame, n_boot: int) -> list[float]:
    import numpy as np

    from pipeline.metrics.bootstrap import bootstrap_ci

    rows = predictions[predictions["iou"].notna()]
    if rows.empty:
        return [math.nan, math.nan]
    return list(bootstrap_ci(np.mean, rows["iou"].to_numpy(float), groups=rows["patient_id"].astype(str).to_numpy(),
                             n_boot=n_boot))


def validation_summary(metrics: dict[str, Any], predictions: pd.DataFrame, train_dice: float | None,
                       n_boot: int = 1000) -> dict[str, Any]:
    """The card's `metrics.validation`: headline figures, sizes, the training Dice and warnings."""
    seg, cls = metrics.get("segmentation", {}), metrics.get("classification", {})
    threshold = float(cls.get("threshold", 0.5))
    labelled = predictions[predictions["malignant"].notna()]
    return {
        "n_images": int(len(predictions)),
        "n_patients": int(predictions["patient_id"].nunique()) if len(predictions) else 0,
        "dice": seg.get("dice"), "dice_ci95": seg.get("dice_ci95"),
        "iou": seg.get("iou"), "iou_ci95": _iou_ci(predictions, n_boot),
        "auc": cls.get("auc"), "auc_ci95": cls.get("auc_ci95"),
        "sensitivity": cls.get("sensitivity"), "sensitivity_ci95": _rate_ci(labelled, threshold, 1, n_boot),
        "specificity": cls.get("specificity"), "specificity_ci95": _rate_ci(labelled, threshold, 0, n_boot),
        "training_dice": train_dice,
        "note": "validation patients also chose the epoch, calibration and threshold: mildly optimistic",
        "warnings": quality_warnings(metrics, train_dice),
        "full": metrics,
    }


def _ci(values) -> str:
    if not values or any(not math.isfinite(_num(v)) for v in values):
        return ""
    return f" [{_num(values[0]):.3f}-{_num(values[1]):.3f}]"


def format_summary(summary: dict[str, Any]) -> str:
    """A few readable lines for the terminal."""
    lines = [f"Validation: {summary['n_images']} images of {summary['n_patients']} patients ({summary['note']})"]
    for key, label in (("dice", "Dice"), ("iou", "IoU"), ("auc", "AUC"), ("sensitivity", "sensitivity"),
                       ("specificity", "specificity")):
        value = _num(summary.get(key))
        if math.isfinite(value):
            lines.append(f"  {label:<12} {value:.3f}{_ci(summary.get(key + '_ci95'))}")
    if summary.get("training_dice") is not None:
        lines.append(f"  {'training Dice':<12} {summary['training_dice']:.3f}")
    lines += [f"WARNING: {w}" for w in summary["warnings"]] or ["No warnings."]
    return "\n".join(lines)
