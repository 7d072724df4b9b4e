"""Scalar log-odds: the logit of a probability (clipped so 0 and 1 stay finite) and its inverse.

Shared by the fusion model (`pipeline.fusion`) and the stacked model (`pipeline.stacking`),
which each clip at their own epsilon.
"""

from __future__ import annotations

import math


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
