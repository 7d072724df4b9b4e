"""Temperature scaling and operating threshold, fitted on validation data.

Temperature scaling (Guo et al. 2017) has one parameter, so it cannot overfit
a few hundred validation images the way isotonic regression can, and it keeps
the ranking (AUC) unchanged.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    logits, labels = np.asarray(logits, float), np.asarray(labels, float)
    if len(np.unique(labels)) < 2:
        return 1.0

    def nll(log_t: float) -> float:
        z = logits / np.exp(log_t)
        return float(np.mean(np.logaddexp(0, z) - labels * z))

    result = minimize_scalar(nll, bounds=(np.log(0.05), np.log(20)), method="bounded")
    return float(np.exp(result.x))


def youden_threshold(probs: np.ndarray, labels: np.ndarray) -> float:
    """Threshold maximising sensitivity + specificity - 1 (0.5 if undefined)."""
    from sklearn.metrics import roc_curve

    labels = np.asarray(labels)
    if len(np.unique(labels)) < 2:
        return 0.5
    fpr, tpr, thr = roc_curve(labels, probs)
    best = int(np.argmax(tpr - fpr))
    return float(np.clip(thr[best], 1e-4, 1 - 1e-4))
