"""Fitting a `pipeline.stacking.StackedModel` with scikit-learn (imported on use).

Kept apart from `pipeline.stacking` so that inference (the dashboard, the
Predictor) never imports scikit-learn: a fitted model is only numbers.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence

import numpy as np

from pipeline.stacking import FINAL_FEATURES, LogisticPart, StackedModel, StackingError


def _matrix(rows: Sequence[Mapping[str, float]] | np.ndarray, names: Sequence[str]) -> np.ndarray:
    if isinstance(rows, np.ndarray):
        x = np.asarray(rows, dtype=float)
        if x.ndim != 2 or x.shape[1] != len(names):
            raise StackingError(f"feature matrix must be n x {len(names)}, got {x.shape}")
        return x
    return np.array([[float(np.nan if r.get(n) is None else r.get(n, np.nan)) for n in names] for r in rows],
                    dtype=float).reshape(len(rows), len(names))


def fit_logistic(x: np.ndarray, y: Sequence[int], names: Sequence[str], c: float = 1.0) -> LogisticPart:
    """Standardised, median-imputed L2 logistic regression (C = `c`) as a `LogisticPart`.

    A column with no finite value is imputed 0; a constant column gets scale 1
    (its coefficient is then 0 by the penalty and it contributes nothing).
    """
    from sklearn.linear_model import LogisticRegression

    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=int)
    if x.shape[0] != y.shape[0] or x.shape[0] < 4:
        raise StackingError(f"need at least 4 labelled images with features (got {x.shape[0]} rows, {y.shape[0]} labels)")
    if y.min() == y.max():
        raise StackingError("need both benign and malignant images to fit a logistic model")
    impute = np.array([float(np.median(col[np.isfinite(col)])) if np.isfinite(col).any() else 0.0 for col in x.T])
    filled = np.where(np.isfinite(x), x, impute)
    mean, scale = filled.mean(axis=0), filled.std(axis=0)
    scale = np.where(scale > 1e-12, scale, 1.0)
    model = LogisticRegression(C=c, max_iter=5000)
    model.fit((filled - mean) / scale, y)
    return LogisticPart(tuple(names), tuple(map(float, impute)), tuple(map(float, mean)), tuple(map(float, scale)),
                        tuple(map(float, model.coef_[0])), float(model.intercept_[0]))


def fit_stacked(
    train_features: Sequence[Mapping[str, float]] | np.ndarray, train_labels: Sequence[int],
    val_cnn_logits: Sequence[float], val_features: Sequence[Mapping[str, float]] | np.ndarray,
    val_labels: Sequence[int], *, feature_names: Sequence[str] | None = None, fitted_on: str = "",
    c_descriptor: float = 1.0, c_final: float = 1.0,
) -> StackedModel:
    """Fit level (a) on the training images' descriptors and level (b) on the validation images.

    `val_features` are the descriptors of the validation images' PREDICTED
    masks (what the model will see in use); the per-part AUCs stored with the
    model are measured on those validation images.
    """
    import sklearn

    from pipeline.descriptors import DESCRIPTOR_FEATURES
    from pipeline.metrics import roc_auc

    names = tuple(feature_names or DESCRIPTOR_FEATURES)
    descriptor = fit_logistic(_matrix(train_features, names), train_labels, names, c_descriptor)
    val_x = _matrix(val_features, names)
    scores = np.array([descriptor.linear(dict(zip(names, row))) for row in val_x])
    cnn = np.asarray(val_cnn_logits, dtype=float)
    if cnn.shape != scores.shape or not np.isfinite(cnn).all():
        raise StackingError("val_cnn_logits must be one finite CNN logit per validation image")
    final = fit_logistic(np.column_stack([cnn, scores]), val_labels, FINAL_FEATURES, c_final)
    y_val = np.asarray(val_labels, dtype=int)
    stacked = np.array([final.linear({"cnn_logit": a, "descriptor_score": b}) for a, b in zip(cnn, scores)])
    aucs = {"cnn_val": roc_auc(y_val, cnn), "descriptor_val": roc_auc(y_val, scores),
            "stacked_val_in_sample": roc_auc(y_val, stacked),
            "descriptor_train_in_sample": roc_auc(np.asarray(train_labels, int),
                                                  [descriptor.linear(dict(zip(names, r)))
                                                   for r in _matrix(train_features, names)])}
    return StackedModel(descriptor, final, fitted_on or "unspecified", int(len(train_labels)), int(len(y_val)),
                        aucs, sklearn.__version__, datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
