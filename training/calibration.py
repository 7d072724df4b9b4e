"""Operating threshold chosen on validation data (calibration: pipeline.calibration)."""

from __future__ import annotations

import numpy as np


def youden_threshold(probs: np.ndarray, labels: np.ndarray) -> float:
    """Threshold maximising sensitivity + specificity - 1 (0.5 if undefined)."""
    from sklearn.metrics import roc_curve

    labels = np.asarray(labels)
    if len(np.unique(labels)) < 2:
        return 0.5
    fpr, tpr, thr = roc_curve(labels, probs)
    best = int(np.argmax(tpr - fpr))
    return float(np.clip(thr[best], 1e-4, 1 - 1e-4))
