"""The model against the radiologists' BI-RADS read of the same images.

A model's AUC means little to a clinician without the reader's own
performance beside it. The radiologists' BI-RADS category is a test in its own
right: "positive" (biopsy recommended) from category 4 (4a on the subdivided
scale) upwards. This module measures that test and the model on exactly the
same images, and asks the two questions a reader study asks:

* at the radiologists' sensitivity, how specific is the model?
* at the radiologists' specificity, how sensitive is the model?

Both are read off the model's empirical ROC curve (the best achievable point,
no interpolation). Every interval is a patient-level bootstrap in which the
radiologists' operating point is re-measured in each replicate, so the
intervals carry the uncertainty of both sides; the paired differences use the
same replicates.

Scales: BrEaST uses 2, 3, 4a, 4b, 4c, 5 ("4a" scale); BUS-BRA only 2-5 ("4"
scale). On the "4" scale, 4a/4b/4c collapse to 4. A plain "4" on the "4a"
scale sorts with 4a, the lowest suspicious level. BI-RADS 0 (incomplete) and
missing values are excluded, and counted.
"""

from __future__ import annotations

import math
import re
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.metrics.bootstrap import resample_indices
from pipeline.metrics.classification import BIRADS_ORDINAL, _birads_key, labels_and_scores, roc_auc
from pipeline.metrics.jsonable import to_jsonable
from pipeline.metrics.fast import binary_counts

__all__ = [
    "SCALES",
    "ReaderComparisonConfig",
    "birads_scores",
    "category_labels",
    "compare_with_readers",
    "detect_scale",
    "positive_cut",
    "roc_points",
    "sensitivity_at_specificity",
    "specificity_at_sensitivity",
]

SCALES = ("4a", "4")
_SUBDIVIDED = re.compile(r"^4[abc]$")
_ORDINAL_NAMES = {v: k for k, v in BIRADS_ORDINAL.items() if k != "4"}  # 4 -> "4a"


@dataclass(frozen=True)
class ReaderComparisonConfig:
    """How the BI-RADS test is read and how intervals are drawn.

    `scale` "auto" picks "4a" when any value is subdivided (4a/4b/4c), else
    "4". `positive_from` is the lowest category called positive; None means
    the clinical default, 4a (or 4 on the coarse scale).
    """

    scale: str = "auto"
    positive_from: str | None = None
    n_boot: int = 1000
    seed: int = 0
    alpha: float = 0.05
    min_valid_fraction: float = 0.5

    def __post_init__(self) -> None:
        if self.scale not in ("auto", *SCALES):
            raise ValueError(f"BI-RADS scale must be auto, 4a or 4; got {self.scale!r}")


def _key(value: Any) -> str | None:
    """Normalised category text, or None when missing / incomplete (0)."""
    if value is None or (isinstance(value, (float, np.floating)) and math.isnan(value)):
        return None
    key = _birads_key(value)
    return None if key in ("", "0", "nan", "none", "<na>") else key  # "<na>": pandas.NA


def detect_scale(values: Sequence[Any]) -> str:
    """"4a" when any value is 4a/4b/4c, else "4" (BUS-BRA's unsubdivided scale)."""
    return "4a" if any(_SUBDIVIDED.match(k or "") for k in map(_key, values)) else "4"


def birads_scores(values: Sequence[Any], scale: str) -> np.ndarray:
    """Ordinal score per value on `scale`; NaN where missing or BI-RADS 0.

    "4a" scale: 1, 2, 3, 4 = 4a (or plain 4), 5 = 4b, 6 = 4c, 7 = 5, 8 = 6.
    "4" scale: the major category 1-6. Unknown text raises ValueError, since
    it means the column is not what we think it is.
    """
    if scale not in SCALES:
        raise ValueError(f"BI-RADS scale must be 4a or 4; got {scale!r}")
    out = np.full(len(values), np.nan)
    for i, value in enumerate(values):
        key = _key(value)
        if key is None:
            continue
        if key not in BIRADS_ORDINAL:
            raise ValueError(f"unknown BI-RADS category {value!r}")
        out[i] = BIRADS_ORDINAL[key] if scale == "4a" else int(key[0])
    return out


def positive_cut(scale: str, positive_from: str | None = None) -> tuple[float, str]:
    """(ordinal cut, its label): the test is positive when score >= cut."""
    label = positive_from or ("4a" if scale == "4a" else "4")
    key = _birads_key(label)
    if key not in BIRADS_ORDINAL or key == "0":
        raise ValueError(f"unknown BI-RADS threshold {positive_from!r}")
    if scale == "4" and _SUBDIVIDED.match(key):
        raise ValueError(f"threshold {key} needs the subdivided (4a) scale")
    return float(BIRADS_ORDINAL[key] if scale == "4a" else int(key[0])), key


def category_labels(scale: str) -> dict[float, str]:
    """Ordinal score -> category name on `scale` (for tables and plots)."""
    if scale == "4a":
        return {float(v): k for v, k in _ORDINAL_NAMES.items()}
    return {float(k): str(k) for k in range(1, 7)}


def roc_points(y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(fpr, tpr) of every achievable "score >= t" rule, from (0, 0) to (1, 1).

    Ties share one point (a threshold cannot split them); the counts come
    from `fast.binary_counts` (one sort, no sklearn: the bootstrap calls this
    thousands of times).
    """
    counts = binary_counts(y, score)
    n_pos, n_neg = int(counts.tps[-1]), int(counts.fps[-1])
    return np.r_[0.0, counts.fps / n_neg], np.r_[0.0, counts.tps / n_pos]


def _roc_for_target(y, score, target: float) -> tuple[np.ndarray, np.ndarray] | None:
    """The ROC points, or None when one class is absent or the target is undefined."""
    y, s = labels_and_scores(y, score)
    if y.all() or not y.any() or not math.isfinite(target):
        return None
    return roc_points(y, s)


def specificity_at_sensitivity(y, score, target: float) -> float:
    """Best specificity among thresholds whose sensitivity is >= `target`."""
    roc = _roc_for_target(y, score, target)
    if roc is None:
        return math.nan
    fpr, tpr = roc
    return float(np.max(1.0 - fpr[tpr >= target - 1e-12]))


def sensitivity_at_specificity(y, score, target: float) -> float:
    """Best sensitivity among thresholds whose specificity is >= `target`."""
    roc = _roc_for_target(y, score, target)
    if roc is None:
        return math.nan
    fpr, tpr = roc
    return float(np.max(tpr[1.0 - fpr >= target - 1e-12]))


def _rates(y: np.ndarray, called: np.ndarray) -> tuple[float, float]:
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    sens = float((called & y).sum() / n_pos) if n_pos else math.nan
    spec = float((~called & ~y).sum() / n_neg) if n_neg else math.nan
    return sens, spec


# Names of the bootstrapped quantities, in the order `_all_metrics` returns them.
_NAMES = (
    "radiologist_sensitivity",
    "radiologist_specificity",
    "birads_auc",
    "model_auc",
    "model_specificity_at_radiologist_sensitivity",
    "model_sensitivity_at_radiologist_specificity",
    "model_sensitivity",
    "model_specificity",
)


def _all_metrics(y, prob, ordinal, cut, called) -> np.ndarray:
    r_sens, r_spec = _rates(y, ordinal >= cut)
    m_sens, m_spec = _rates(y, called) if called is not None else (math.nan, math.nan)
    return np.array([
        r_sens,
        r_spec,
        roc_auc(y, ordinal),
        roc_auc(y, prob),
        specificity_at_sensitivity(y, prob, r_sens),
        sensitivity_at_specificity(y, prob, r_spec),
        m_sens,
        m_spec,
    ])


def _intervals(values: np.ndarray, config: ReaderComparisonConfig) -> list[list[float]]:
    """Percentile interval per column; NaN when too few replicates were defined."""
    out = []
    needed = max(2, math.ceil(config.min_valid_fraction * values.shape[0]))
    for column in values.T:
        valid = column[np.isfinite(column)]
        if valid.size < needed:
            out.append([math.nan, math.nan])
        else:
            q = np.quantile(valid, [config.alpha / 2, 1 - config.alpha / 2])
            out.append([float(q[0]), float(q[1])])
    return out


def compare_with_readers(
    y_true,
    prob,
    birads: Sequence[Any],
    *,
    patients: Sequence[Hashable] | None = None,
    called: Sequence[bool] | None = None,
    config: ReaderComparisonConfig = ReaderComparisonConfig(),
) -> dict[str, Any]:
    """JSON-ready comparison of the model with the radiologists' BI-RADS.

    Rows without a usable BI-RADS are dropped from both sides (so the model
    is scored on the radiologists' images only) and counted in
    `n_excluded_no_birads`. `called` (optional) is the model's own decision
    per image, e.g. from its bundle threshold, reported as its operating point.
    """
    y_all, p_all = labels_and_scores(y_true, prob)
    scale = detect_scale(birads) if config.scale == "auto" else config.scale
    ordinal_all = birads_scores(birads, scale)
    keep = np.isfinite(ordinal_all)
    y, p, ordinal = y_all[keep], p_all[keep], ordinal_all[keep]
    own = None if called is None else np.asarray(called, dtype=bool)[keep]
    groups = None if patients is None else np.asarray(list(patients), dtype=object)[keep]
    cut, cut_label = positive_cut(scale, config.positive_from)

    point = _all_metrics(y, p, ordinal, cut, own)
    reps = np.full((config.n_boot, len(_NAMES)), np.nan)
    if config.n_boot and y.size:
        rng = np.random.default_rng(config.seed)
        for b, idx in enumerate(resample_indices(y.shape[0], groups, n_boot=config.n_boot, rng=rng)):
            yb = y[idx]
            if yb.all() or not yb.any():
                continue  # one class only: nothing is defined
            reps[b] = _all_metrics(yb, p[idx], ordinal[idx], cut, None if own is None else own[idx])
    # Paired differences on the same replicates: model minus radiologists.
    diffs_point = np.array([point[4] - point[1], point[5] - point[0], point[3] - point[2]])
    diffs_reps = np.stack([reps[:, 4] - reps[:, 1], reps[:, 5] - reps[:, 0], reps[:, 3] - reps[:, 2]], axis=1)
    ci = dict(zip(_NAMES, _intervals(reps, config)))
    diff_ci = _intervals(diffs_reps, config)
    value = dict(zip(_NAMES, point.tolist()))

    names = category_labels(scale)
    levels = []
    for level in np.unique(ordinal):
        sens, spec = _rates(y, ordinal >= level)
        levels.append({"positive_from": names.get(float(level), f"{level:g}"), "sensitivity": sens,
                       "specificity": spec, "n_called_positive": int((ordinal >= level).sum())})
    model = {
        "auc": value["model_auc"], "auc_ci95": ci["model_auc"],
        "specificity_at_radiologist_sensitivity": value["model_specificity_at_radiologist_sensitivity"],
        "specificity_at_radiologist_sensitivity_ci95": ci["model_specificity_at_radiologist_sensitivity"],
        "sensitivity_at_radiologist_specificity": value["model_sensitivity_at_radiologist_specificity"],
        "sensitivity_at_radiologist_specificity_ci95": ci["model_sensitivity_at_radiologist_specificity"],
    }
    if own is not None:
        model.update({"sensitivity": value["model_sensitivity"], "sensitivity_ci95": ci["model_sensitivity"],
                      "specificity": value["model_specificity"], "specificity_ci95": ci["model_specificity"]})
    result = {
        "n": int(y.size),
        "n_positive": int(y.sum()),
        "n_patients": int(len(set(groups.tolist()))) if groups is not None else int(y.size),
        "n_excluded_no_birads": int((~keep).sum()),
        "scale": scale,
        "threshold": cut_label,
        "radiologists": {
            "sensitivity": value["radiologist_sensitivity"], "sensitivity_ci95": ci["radiologist_sensitivity"],
            "specificity": value["radiologist_specificity"], "specificity_ci95": ci["radiologist_specificity"],
            "birads_auc": value["birads_auc"], "birads_auc_ci95": ci["birads_auc"],
            "operating_points": levels,
        },
        "model": model,
        "differences_model_minus_radiologists": {
            "specificity_at_radiologist_sensitivity": diffs_point[0], "specificity_at_radiologist_sensitivity_ci95": diff_ci[0],
            "sensitivity_at_radiologist_specificity": diffs_point[1], "sensitivity_at_radiologist_specificity_ci95": diff_ci[1],
            "auc_vs_birads_auc": diffs_point[2], "auc_vs_birads_auc_ci95": diff_ci[2],
        },
        "bootstrap": {"n_boot": config.n_boot, "unit": "patient" if groups is not None else "image",
                      "seed": config.seed, "radiologist_point_resampled": True},
    }
    return to_jsonable(result)
