"""Is there a lesion at all? A small logistic model on the segmenter's probability map.

Why a separate decision: a radiologist uploading a normal follow-up scan must hear "no
lesion found", not a made-up lesion with a diagnosis. The segmenter is trained with
lesion-free crops as explicit negatives, so on a lesion-free image its map stays low; this
model turns three summaries of the map into P(lesion present), and a threshold chosen on
validation patients to miss at most ~1% of lesions decides. Stored as plain numbers in the
bundle card (no pickle), applied without scikit-learn.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

PRESENCE_FEATURES = ("peak_logit", "log_area_fraction", "mean_inside")


def presence_features(prob_map: np.ndarray, seg_threshold: float = 0.5) -> dict[str, float]:
    """Summaries of a lesion probability map: how sure at its peak, how big the region above
    threshold (largest component), how sure inside it."""
    from pipeline.preprocess import largest_component

    prob_map = np.asarray(prob_map, np.float32)
    peak = float(np.clip(prob_map.max(), 1e-4, 1 - 1e-4)) if prob_map.size else 1e-4
    region = largest_component(prob_map >= seg_threshold)
    area = float(region.sum()) / max(prob_map.size, 1)
    inside = float(prob_map[region].mean()) if region.any() else 0.0
    return {
        "peak_logit": math.log(peak / (1 - peak)),
        "log_area_fraction": math.log(area + 1e-4),
        "mean_inside": inside,
    }


@dataclass(frozen=True)
class PresenceModel:
    """P(lesion) = sigmoid(intercept + sum(coef * (x - mean) / scale)); `threshold` on it."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    threshold: float
    fitted_on: str = ""
    features: tuple[str, ...] = PRESENCE_FEATURES

    def probability(self, features: dict[str, float]) -> float:
        z = self.intercept
        for name, m, s, c in zip(self.features, self.mean, self.scale, self.coef):
            value = features.get(name, m)
            z += c * ((value if math.isfinite(value) else m) - m) / (s or 1.0)
        return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))



def fit_presence(positives: list[dict[str, float]], negatives: list[dict[str, float]],
                 max_missed: float = 0.01, fitted_on: str = "") -> PresenceModel:
    """Logistic regression on positive (lesion) and negative (lesion-free) map summaries; the
    threshold is the highest that still keeps at least 1 - `max_missed` of the positives."""
    from sklearn.linear_model import LogisticRegression

    rows = [[f[name] for name in PRESENCE_FEATURES] for f in positives + negatives]
    x = np.nan_to_num(np.asarray(rows, np.float64), nan=0.0)
    y = np.r_[np.ones(len(positives)), np.zeros(len(negatives))]
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    if len(set(y)) < 2:  # no negatives to learn from: a lesion is always reported
        return PresenceModel(tuple(mean), tuple(scale), (0.0,) * len(mean), 10.0, 0.0, fitted_on + " (no negatives)")
    lr = LogisticRegression(C=1.0, max_iter=1000).fit((x - mean) / scale, y)
    model = PresenceModel(tuple(mean), tuple(scale), tuple(float(c) for c in lr.coef_[0]), float(lr.intercept_[0]), 0.5, fitted_on)
    scores = np.sort([model.probability(f) for f in positives])
    k = int(math.floor(max_missed * len(scores)))
    threshold = float(scores[k]) * 0.999 if len(scores) else 0.5  # just below the k-th lowest positive
    return PresenceModel(model.mean, model.scale, model.coef, model.intercept, min(threshold, 0.5), fitted_on)
