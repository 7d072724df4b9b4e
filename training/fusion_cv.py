"""Cross-validated fusion models: out-of-fold probabilities only, one shared set of patient folds.

Every model (metadata only, image only, image + lesion, fused logistic,
fused gradient boosting) is fitted on the same k-1 folds and predicts the
held-out fold, so the comparison is paired case by case and no case is ever
scored by a model that saw it. Imputation medians and standardisation are
fitted inside each fold (they are steps of the sklearn Pipeline), so not
even those statistics leak from the held-out patients.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from pipeline.fusion import FusionModel
from pipeline.patient_features import assert_allowed


@dataclass(frozen=True)
class FusionConfig:
    """Model settings. Small on purpose: 250 cases cannot support much tuning, and
    tuning inside the CV would need a nested loop to stay honest."""

    folds: int = 5
    seed: int = 0
    logistic_c: float = 1.0  # L2 strength on standardised inputs
    gbm_max_iter: int = 150
    gbm_learning_rate: float = 0.05
    gbm_max_depth: int = 3
    gbm_min_samples_leaf: int = 15
    gbm_l2: float = 1.0
    n_boot: int = 2000


@dataclass(frozen=True)
class ModelSpec:
    """One row of the comparison table."""

    name: str
    inputs: str
    groups: tuple[str, ...]  # feature groups: "image", "lesion", "metadata"
    kind: str  # "logistic", "gbm" or "identity" (the image probability as it is)


MODEL_SPECS = (
    ModelSpec("metadata only (logistic)", "age, symptoms/history, signs, tissue composition (+ missing indicators)",
              ("metadata",), "logistic"),
    ModelSpec("image only (as is)", "image model's calibrated probability, unchanged", ("image",), "identity"),
    ModelSpec("image only (recalibrated, logistic)", "logit of the image probability", ("image",), "logistic"),
    ModelSpec("image + lesion features (logistic)", "image logit + area, aspect ratio, solidity, perimeter",
              ("image", "lesion"), "logistic"),
    ModelSpec("fused (logistic)", "image + lesion + metadata", ("image", "lesion", "metadata"), "logistic"),
    ModelSpec("fused (gradient boosting)", "image + lesion + metadata", ("image", "lesion", "metadata"), "gbm"),
)
DEPLOYED = "fused (logistic)"


def make_logistic(cfg: FusionConfig):
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return Pipeline([
        ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
        ("scale", StandardScaler()),
        ("model", LogisticRegression(C=cfg.logistic_c, max_iter=2000)),
    ])


def make_gbm(cfg: FusionConfig):
    """Histogram gradient boosting: handles NaN natively (missing goes to the learned side)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(
        max_iter=cfg.gbm_max_iter, learning_rate=cfg.gbm_learning_rate, max_depth=cfg.gbm_max_depth,
        min_samples_leaf=cfg.gbm_min_samples_leaf, l2_regularization=cfg.gbm_l2, early_stopping=False,
        random_state=cfg.seed)


def fold_assignment(y: np.ndarray, groups: np.ndarray, k: int, seed: int) -> np.ndarray:
    """1-based fold of every row: stratified by label, grouped by patient."""
    from sklearn.model_selection import StratifiedGroupKFold

    folds = np.zeros(len(y), dtype=int)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning)
        splits = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed).split(np.zeros(len(y)), y, groups)
        for index, (_, test) in enumerate(splits, start=1):
            folds[test] = index
    return folds


def out_of_fold(x: pd.DataFrame, y: np.ndarray, folds: np.ndarray, make_model: Callable[[], object]) -> np.ndarray:
    """P(malignant) of every row from the model fitted on the other folds only."""
    from threadpoolctl import threadpool_limits

    oof = np.full(len(y), np.nan)
    with threadpool_limits(1):  # a few hundred rows: OpenMP threads only add overhead on a shared CPU
        for k in np.unique(folds):
            train, test = folds != k, folds == k
            model = make_model()
            model.fit(x[train], y[train])
            oof[test] = model.predict_proba(x[test])[:, 1]
    return oof


def features_of(spec: ModelSpec, groups: dict[str, list[str]]) -> list[str]:
    names = [n for g in spec.groups for n in groups[g]]
    assert_allowed(names)
    return names


def cross_validate(table: pd.DataFrame, groups: dict[str, list[str]], cfg: FusionConfig,
                   specs: tuple[ModelSpec, ...] = MODEL_SPECS) -> tuple[pd.DataFrame, np.ndarray]:
    """(oof table: case_id, patient_id, y, fold, one column per model; folds)."""
    y = table["y"].to_numpy(int)
    folds = fold_assignment(y, table["patient_id"].astype(str).to_numpy(), cfg.folds, cfg.seed)
    out = table[["case_id", "patient_id", "y"]].copy()
    out["fold"] = folds
    for spec in specs:
        if spec.kind == "identity":
            out[spec.name] = table["image_probability"].to_numpy(float)
            continue
        names = features_of(spec, groups)
        factory = (lambda: make_logistic(cfg)) if spec.kind == "logistic" else (lambda: make_gbm(cfg))
        out[spec.name] = out_of_fold(table[names], y, folds, factory)
    return out, folds


def fit_deployable(table: pd.DataFrame, names: list[str], cfg: FusionConfig, image_model: str,
                   threshold: float, dataset: str) -> FusionModel:
    """The fused logistic model refitted on every case, exported as plain numbers.

    Checked against sklearn's own predict_proba, so the JSON model is the
    fitted model and not an approximation of it.
    """
    import sklearn

    assert_allowed(names)
    pipe = make_logistic(cfg)
    x, y = table[names], table["y"].to_numpy(int)
    pipe.fit(x, y)
    imputer, scaler, lr = pipe.named_steps["impute"], pipe.named_steps["scale"], pipe.named_steps["model"]
    model = FusionModel(
        feature_names=tuple(names), impute=tuple(float(v) for v in imputer.statistics_),
        mean=tuple(float(v) for v in scaler.mean_), scale=tuple(float(v) for v in scaler.scale_),
        coef=tuple(float(v) for v in lr.coef_[0]), intercept=float(lr.intercept_[0]), image_model=image_model,
        threshold=float(threshold), sklearn_version=sklearn.__version__, dataset=dataset,
        created=datetime.now(timezone.utc).replace(microsecond=0).isoformat())
    ours = np.array([model.predict(row).probability for row in x.to_dict("records")])
    theirs = pipe.predict_proba(x)[:, 1]
    if not np.allclose(ours, theirs, atol=1e-6):
        raise RuntimeError(f"exported fusion model differs from sklearn by {np.abs(ours - theirs).max():.2e}")
    return model
