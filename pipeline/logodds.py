"""Scalar log-odds: the logit of a probability (clipped so 0 and 1 stay finite) and its inverse.

Shared by the fusion model (`pipeline.fusion`) and the stacked model (`pipeline.stacking`),
which each clip at their own epsilon, with the standardised logistic regression both are made of.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np


def clipped_logit(probability: float, eps: float) -> float:
    """log(p / (1 - p)) with p first clipped to [eps, 1 - eps]."""
    p = min(max(float(probability), eps), 1.0 - eps)
    return math.log(p / (1.0 - p))


def sigmoid(value: float) -> float:
    """1 / (1 + exp(-value)), without overflow for large negative values."""
    if value >= 0:
        return 1.0 / (1.0 + math.exp(-value))
    e = math.exp(value)
    return e / (1.0 + e)


@dataclass(frozen=True)
class StandardisedLogistic:
    """Median imputation -> standardisation -> logistic regression, stored as plain numbers.

    The fusion model and both levels of the stacked model are this; their explanations are exact
    because the log-odds are a sum of per-input terms coef_i * z_i (relative to the training mean).
    Subclasses validate the numbers and own their file formats.
    """

    feature_names: tuple[str, ...]
    impute: tuple[float, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float

    def standardised(self, features: Mapping[str, Any], neutral: frozenset[str] = frozenset()) -> np.ndarray:
        """z-scores of the inputs: missing or non-finite ones take the training median, those named in
        `neutral` the training mean (z = 0, no contribution); a zero scale counts as 1."""
        values = []
        for name, fill, mu in zip(self.feature_names, self.impute, self.mean):
            raw = math.nan if name in neutral else features.get(name, math.nan)
            value = math.nan if raw is None else float(raw)
            values.append(mu if name in neutral else value if math.isfinite(value) else fill)
        scale = np.asarray(self.scale, dtype=float)
        return (np.asarray(values, dtype=float) - np.asarray(self.mean, dtype=float)) / np.where(scale > 0, scale, 1.0)

    def terms(self, features: Mapping[str, Any], neutral: frozenset[str] = frozenset()) -> dict[str, float]:
        """coef_i * z_i per input: log-odds relative to the training mean; they sum to linear() - intercept."""
        z = self.standardised(features, neutral)
        return {name: float(c * zi) for name, c, zi in zip(self.feature_names, self.coef, z)}

    def linear(self, features: Mapping[str, Any], neutral: frozenset[str] = frozenset()) -> float:
        return self.intercept + float(np.dot(self.coef, self.standardised(features, neutral)))
