"""The deployable fusion model: image probability + lesion shape + patient data.

A standardised logistic regression stored as plain JSON numbers (no
pickle: nothing executable is loaded, and any reader can audit it). That
makes per-factor explanations exact rather than approximate:

    logit(p) = intercept + sum_i coef_i * z_i,   z_i = (x_i - mean_i) / scale_i

so `contributions[i] = coef_i * z_i` (log-odds, relative to a patient at the
training mean of every input) sums to `logit(p) - intercept`. Unknown inputs
are replaced by the training medians stored beside the coefficients (their
`*_missing` indicators carry the fact that they were unknown).

`python -m training fuse` writes `fusion.json`; a bundle folder holding one
makes `Predictor.predict(record, metadata)` fuse whenever patient data is
given (see `apply_fusion`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from pipeline.errors import BundleError
from pipeline.lesion_features import lesion_features
from pipeline.logodds import StandardisedLogistic, clipped_logit, sigmoid
from pipeline.patient_features import assert_allowed, has_patient_data, metadata_features, unasked_features
from pipeline.types import Prediction

FUSION_FILE = "fusion.json"
FUSION_FORMAT = 1
IMAGE_FEATURES = ("image_logit",)
PROBABILITY_EPS = 1e-4


def logit(probability: float) -> float:
    return clipped_logit(probability, PROBABILITY_EPS)


def features_from(metadata: Mapping[str, Any] | None, lesion: Mapping[str, float],
                  image_probability: float) -> dict[str, float]:
    """Every candidate input of one case (NaN = unknown); the model picks its own by name."""
    return {"image_logit": logit(image_probability), **dict(lesion), **metadata_features(metadata)}


@dataclass(frozen=True)
class FusedResult:
    probability: float
    logit: float
    contributions: dict[str, float]  # log-odds per feature; sum = logit - intercept


@dataclass(frozen=True)
class FusionModel(StandardisedLogistic):
    """Imputation -> standardisation -> logistic regression, as numbers (fields of `StandardisedLogistic` first)."""

    image_model: str
    threshold: float = 0.5  # Youden's J on the out-of-fold fused probabilities
    sklearn_version: str = ""
    created: str = ""
    dataset: str = ""
    contributions_unit: str = "log-odds relative to the training mean of each input"
    metrics: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.feature_names)
        if any(len(v) != n for v in (self.impute, self.mean, self.scale, self.coef)):
            raise ValueError("fusion model: feature_names, impute, mean, scale and coef differ in length")
        assert_allowed(self.feature_names)
        if any(not math.isfinite(v) for v in (*self.impute, *self.mean, *self.scale, *self.coef, self.intercept)):
            raise ValueError("fusion model: every number must be finite")

    def predict(self, features: Mapping[str, float], neutral: frozenset[str] = frozenset()) -> FusedResult:
        """Fused probability; inputs named in `neutral` are held at their training mean (no contribution)."""
        contributions = self.terms(features, neutral)
        total = self.intercept + sum(contributions.values())
        return FusedResult(sigmoid(total), total, contributions)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["format_version"] = FUSION_FORMAT
        data["kind"] = "logistic regression on standardised, median-imputed inputs"
        for key in ("feature_names", "impute", "mean", "scale", "coef"):
            data[key] = list(data[key])
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "FusionModel":
        if data.get("format_version") != FUSION_FORMAT:
            raise ValueError(f"fusion model format {data.get('format_version')!r} is not {FUSION_FORMAT}")
        names = [f.name for f in cls.__dataclass_fields__.values()]
        kwargs = {k: data[k] for k in names if k in data}
        for key in ("feature_names", "impute", "mean", "scale", "coef"):
            kwargs[key] = tuple(kwargs[key])
        kwargs["intercept"] = float(kwargs["intercept"])
        return cls(**kwargs)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2))
        tmp.replace(path)
        return path


def load_fusion(bundle_dir: str | Path) -> FusionModel | None:
    """The bundle's fusion model, None when it has none; a damaged file is a BundleError."""
    path = Path(bundle_dir) / FUSION_FILE
    if not path.is_file():
        return None
    try:
        return FusionModel.from_json(json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError) as exc:  # JSONDecodeError is a ValueError
        raise BundleError(f"{FUSION_FILE} in {Path(bundle_dir).name} is damaged: {exc}") from exc


def apply_fusion(prediction: Prediction, model: FusionModel, metadata: Mapping[str, Any] | None,
                 spacing_mm: tuple[float, float] | None = None) -> Prediction:
    """The prediction with the fused probability, label and contributions, when patient data is given.

    Groups of patient fields the caller never supplied (e.g. signs, tissue
    composition from a form without those fields) contribute nothing: see
    `unasked_features`. Without any patient field the image-only prediction is returned as is
    (fused=False): a "fused" answer built from imputed values alone would
    claim evidence that was never there. The image-only probability stays in
    `image_probability` either way.
    """
    image_only = replace(prediction, image_probability=prediction.probability)
    if not has_patient_data(metadata):
        return image_only
    lesion = lesion_features(prediction.mask if prediction.lesion_found else prediction.mask[:0, :0], spacing_mm)
    result = model.predict(features_from(metadata, lesion, prediction.probability), neutral=unasked_features(metadata))
    label = prediction.label
    if label != "normal":
        label = "malignant" if result.probability >= model.threshold else "benign"
    return replace(image_only, probability=result.probability, label=label, fused=True,
                   contributions=dict(result.contributions))
