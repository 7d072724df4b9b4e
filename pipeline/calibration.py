"""Probability calibration of the classifier's logits.

Platt scaling, p = sigmoid(scale * logit + bias): the scale is a temperature
(1/T) and the bias undoes the prior shift that class weighting and label
smoothing put into the raw logits — temperature alone cannot, and left the
first BUS-BRA fold's probabilities squashed into 0.37-0.79 (ECE 0.30). Two
parameters cannot overfit a few hundred validation images the way isotonic
regression can, and the ranking (AUC) is unchanged.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Calibration:
    scale: float = 1.0
    bias: float = 0.0
    fitted_on: str = "identity"

    def probability(self, logits: np.ndarray) -> np.ndarray:
        z = self.scale * np.asarray(logits, dtype=np.float64) + self.bias
        return 1.0 / (1.0 + np.exp(-z))

    def logit_from_probability(self, probability: np.ndarray) -> np.ndarray:
        """Invert `probability` (recovers raw logits from stored predictions)."""
        p = np.clip(np.asarray(probability, dtype=np.float64), 1e-7, 1 - 1e-7)
        return (np.log(p / (1 - p)) - self.bias) / self.scale

    def to_card(self) -> dict[str, Any]:
        """The card's `calibration` record (read back by `pipeline.card_parts.calibration_from_json`)."""
        return {"method": "platt", **asdict(self)}


def fit_platt(logits: np.ndarray, labels: np.ndarray, fitted_on: str) -> Calibration:
    """Maximum-likelihood (scale, bias) with a weak prior towards identity."""
    from scipy.optimize import minimize

    x, y = np.asarray(logits, float), np.asarray(labels, float)
    if len(np.unique(y)) < 2 or len(x) < 4:
        return Calibration(fitted_on=f"{fitted_on} (too few labels: identity)")

    def loss(params: np.ndarray) -> float:
        z = params[0] * x + params[1]
        nll = np.mean(np.logaddexp(0, z) - y * z)
        return float(nll + 1e-3 * ((params[0] - 1) ** 2 + params[1] ** 2))

    result = minimize(loss, x0=np.array([1.0, 0.0]), method="L-BFGS-B", bounds=[(1e-3, 20.0), (-20.0, 20.0)])
    return Calibration(float(result.x[0]), float(result.x[1]), fitted_on)
