"""Calibration slope and intercept (Cox 1958), the external-validation pair.

ECE says how far probabilities are off on average; slope and intercept say
how: on another hospital's images a slope below 1 means the model is
over-confident (its probabilities too extreme), and an intercept away from 0
means it systematically over- or under-estimates the risk of malignancy
there. Both come from logistic regressions of the outcome on the model's
logit, logit P(y=1) = a + b * logit(p):

* slope = b (with a free);
* intercept = a with b fixed at 1 ("calibration-in-the-large").

Fitted by Newton-Raphson without any penalty (unlike `pipeline.calibration`,
which fits with a weak prior for use at inference), since these are
descriptive statistics that must match textbook definitions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pipeline.metrics.classification import as_labels, as_scores

__all__ = ["CalibrationFit", "calibration_slope_intercept"]

_EPS = 1e-6


@dataclass(frozen=True)
class CalibrationFit:
    """Cox calibration: perfect is slope 1, intercept 0; NaN if undefined."""

    slope: float
    intercept: float


def _newton(x: np.ndarray, y: np.ndarray, offset: np.ndarray, iterations: int = 50) -> np.ndarray:
    """Maximum-likelihood logistic coefficients for design `x` plus a fixed `offset`."""
    beta = np.zeros(x.shape[1])
    for _ in range(iterations):
        z = np.clip(x @ beta + offset, -35, 35)
        mu = 1.0 / (1.0 + np.exp(-z))
        w = mu * (1 - mu)
        hessian = x.T @ (x * w[:, None])
        step = np.linalg.solve(hessian + 1e-10 * np.eye(x.shape[1]), x.T @ (y - mu))
        beta = beta + step
        if np.max(np.abs(step)) < 1e-10:
            break
    return beta


def calibration_slope_intercept(y_true, prob) -> CalibrationFit:
    """Calibration slope and intercept of probabilities `prob` for outcomes `y_true`.

    Probabilities are clipped to [1e-6, 1 - 1e-6] before taking logits. NaN
    unless both classes occur; a perfectly separating model has no finite
    slope (the fit diverges) and also gives NaN.
    """
    y = as_labels(y_true).astype(float)
    p = as_scores(prob, y.shape[0], probability=True)
    if y.size < 2 or y.min() == y.max():
        return CalibrationFit(math.nan, math.nan)
    p = np.clip(p, _EPS, 1 - _EPS)
    logit = np.log(p / (1 - p))
    ones = np.ones_like(logit)
    try:
        with np.errstate(all="ignore"):
            slope = _newton(np.column_stack([ones, logit]), y, np.zeros_like(logit))[1]
            intercept = _newton(ones[:, None], y, logit)[0]
    except np.linalg.LinAlgError:
        return CalibrationFit(math.nan, math.nan)
    if not (math.isfinite(slope) and abs(slope) < 1e3):
        slope = math.nan
    return CalibrationFit(float(slope), float(intercept) if math.isfinite(intercept) else math.nan)
