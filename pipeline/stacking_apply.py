"""The bundle's stacked CNN + descriptor model at inference: probability, decision and its reasons.

Why a separate step after the CNN: the stacked model (`pipeline.stacking`, fitted by
`python -m training stack`) reads the classifier's raw mean logit and the BI-RADS descriptor numbers of
the drawn outline, so it can only run once the mask and its descriptors exist. Because it is linear in
log-odds, "what pushed the decision" is exact: each lexicon category's share of the log-odds, relative
to an average lesion. A bundle without `stacking.json` predicts with the CNN alone, as before.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.errors import BundleError
from pipeline.stacking import STACKING_FILE, StackedModel, StackingError, sigmoid

# Which BI-RADS lexicon category each descriptor feature belongs to (pipeline.descriptors.MODEL_FEATURES).
CATEGORY_OF = {
    "cnn": "image pattern (CNN)",
    "log_hull_deficit": "shape",
    "log_convexity_deficit": "shape",
    "log_ellipse_mismatch": "shape",
    "log_depth_width_ratio": "orientation",
    "major_axis_angle": "orientation",
    "log_margin_roughness": "margin",
    "log_lobulation": "margin",
    "log_spiculation": "margin",
    "log_angularity": "margin",
    "log_defect_depth": "margin",
    "edge_contrast": "margin",
    "edge_sharpness": "margin",
    "edge_defined_fraction": "margin",
    "echo_ratio": "echo pattern",
    "log_echo_heterogeneity": "echo pattern",
    "posterior_contrast": "posterior features",
    "posterior_asymmetry": "posterior features",
}


@dataclass(frozen=True)
class StackedResult:
    probability: float  # stacked P(malignant) of the mean view logit
    uncertainty: float  # spread (std) of the stacked probability over the test-time views
    threshold: float  # the stacked model's own decision threshold
    contributions: dict[str, float]  # log-odds per input ("cnn" + each descriptor feature), exact


def load_stacking(bundle_dir: str | Path, declared: Mapping[str, Any] | None) -> StackedModel | None:
    """The stacked model the card declares (its `stacking` record), checked against its sha256; else None.

    Only a declared model is applied: `python -m training stack --bundle` writes stacking.json and records
    it in the card together with the threshold fitted for the stacked probability (so the bundle's version
    changes with it). A declared file that is missing, altered or unreadable refuses the bundle rather than
    silently answering with the CNN alone at a threshold meant for another probability.
    """
    if not declared:
        return None
    if not isinstance(declared, Mapping) or not declared.get("file"):
        raise BundleError(f"bundle {Path(bundle_dir).name}: card field 'stacking' must name its file")
    path = Path(bundle_dir) / str(declared["file"])
    if not path.is_file():
        raise BundleError(f"bundle {Path(bundle_dir).name} is incomplete: stacked model {path.name} is missing")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if declared.get("sha256") and declared["sha256"] != digest:
        raise BundleError(f"bundle {Path(bundle_dir).name}: {path.name} changed after the card was written")
    try:
        return StackedModel.load(path)
    except StackingError as exc:
        raise BundleError(f"bundle {Path(bundle_dir).name}: {exc}") from None


def explanation_problem(model: StackedModel) -> str | None:
    """Why this stacked model must not explain a diagnosis, or None.

    Its reasons are read as "an irregular margin pushed towards malignant". That holds only when the final
    level weighs the descriptor score positively (the descriptor model itself was fitted so that a higher
    score means more malignant-looking). A zero or negative weight, fitted on few validation images whose
    predicted outlines are smoother than the expert's, would show every malignant-looking feature pushing
    towards benign: a wrong explanation is worse than none, so such a model is not declared.
    """
    weight = float(model.final.coef[list(model.final.feature_names).index("descriptor_score")])
    if weight > 0:
        return None
    return (f"on the validation images the descriptors of the predicted outlines get a final weight of {weight:+.3f} "
            "(they add nothing in their clinical direction beyond the CNN), so their reasons would point the wrong "
            "way: no stacked model declared; the bundle keeps answering with the CNN alone")


def stacking_card(model: StackedModel, file_bytes: bytes) -> dict[str, Any]:
    """The card's record of a stacked model: file, sha256 and each part's AUC (so the gain is visible)."""
    return {"file": STACKING_FILE, "sha256": hashlib.sha256(file_bytes).hexdigest(), "aucs": dict(model.aucs),
            "threshold": float(model.threshold), "fitted_on": model.fitted_on}


def apply_stacking(model: StackedModel, view_logits: Sequence[float], features: Mapping[str, float]) -> StackedResult:
    """Stacked probability, its spread over the views, and the exact per-input log-odds."""
    logits = np.asarray(view_logits, dtype=float)
    mean_logit = float(logits.mean())
    per_view = [sigmoid(model.logit(value, features)) for value in logits]
    return StackedResult(
        probability=model.probability(mean_logit, features),
        uncertainty=float(np.std(per_view)),
        threshold=float(model.threshold),
        contributions=model.contributions(mean_logit, features),
    )


def reasons_by_category(contributions: Mapping[str, Any]) -> list[tuple[str, float]]:
    """Log-odds summed per lexicon category (and the CNN), largest push first; unknown features go to 'other'."""
    totals: dict[str, float] = {}
    for name, value in contributions.items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if not np.isfinite(number):
            continue
        category = CATEGORY_OF.get(name, "other descriptors")
        totals[category] = totals.get(category, 0.0) + number
    return sorted(totals.items(), key=lambda item: -abs(item[1]))
