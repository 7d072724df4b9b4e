"""A CNN and the radiologist's descriptors combined: a two-level stacked logistic model, as JSON numbers.

Why two levels: the final combination must be fitted on images the CNN did
not train on (validation patients), and there are few of them per fold
(~300 in BUS-BRA). Fitting 17 descriptor weights and the CNN's weight there
would overfit. So:

(a) the DESCRIPTOR model is a logistic regression of malignancy on the
    `pipeline.descriptors.DESCRIPTOR_FEATURES`, fitted on many images (the
    training patients' expert masks, optionally jittered); its linear
    predictor is the "descriptor score" (log-odds);
(b) the FINAL model is a 3-parameter logistic regression on the validation
    patients' [CNN logit, descriptor score] (from predicted masks).

Both are standardised logistic regressions fitted with scikit-learn
(modest L2; `pipeline.stacking_train.fit_stacked`) but STORED AS PLAIN JSON NUMBERS (`to_json` / `from_json`): no
pickle, nothing executable is loaded, any reader can audit them, and
inference needs neither sklearn nor TensorFlow. Because everything is
linear in log-odds, the explanation is exact, not approximate:

    logit(p) = baseline_logit + contributions["cnn"] + sum(contributions[descriptor])

where each descriptor's contribution is w_score * coef_i * z_i (log-odds,
relative to an image at the training mean of that descriptor) and the CNN's
is relative to the validation mean CNN logit. Missing descriptors (NaN,
e.g. no region below a lesion at the image's bottom) get the training
median and so contribute (median - mean) * ..., close to nothing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.errors import LesionLensError
from pipeline.logodds import StandardisedLogistic, clipped_logit, sigmoid

STACKING_FILE = "stacking.json"
STACKING_SCHEMA = "lesionlens.stacked-logistic"
STACKING_VERSION = 1
FINAL_FEATURES = ("cnn_logit", "descriptor_score")
PROBABILITY_EPS = 1e-6


class StackingError(LesionLensError):
    """A stacked model that cannot be built, read or applied, in words."""


def logit(probability: float) -> float:
    """log(p / (1 - p)), clipped so a CNN's 0 or 1 stays finite."""
    return clipped_logit(probability, PROBABILITY_EPS)


def _finite_tuple(values: Any, what: str, n: int | None = None) -> tuple[float, ...]:
    if not isinstance(values, (list, tuple)):
        raise StackingError(f"{what} must be a list of numbers")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise StackingError(f"{what} holds {v!r}: every value must be a finite number")
        out.append(float(v))
    if n is not None and len(out) != n:
        raise StackingError(f"{what} has {len(out)} values for {n} features")
    return tuple(out)


def _threshold(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise StackingError(f"stacked model: threshold must be a number, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class LogisticPart(StandardisedLogistic):
    """One level of the stacked model: a `StandardisedLogistic` whose numbers are checked on construction."""

    def __post_init__(self) -> None:
        names = self.feature_names
        if not names or len(set(names)) != len(names) or not all(isinstance(x, str) and x for x in names):
            raise StackingError("feature_names must be distinct, non-empty strings")
        for what in ("impute", "mean", "scale", "coef"):
            _finite_tuple(list(getattr(self, what)), what, len(names))
        if any(s <= 0 for s in self.scale):
            raise StackingError("every scale must be positive")
        _finite_tuple([self.intercept], "intercept")

    def to_dict(self) -> dict[str, Any]:
        return {"feature_names": list(self.feature_names), "impute": list(self.impute), "mean": list(self.mean),
                "scale": list(self.scale), "coef": list(self.coef), "intercept": self.intercept}

    @classmethod
    def from_dict(cls, data: Any, what: str) -> "LogisticPart":
        if not isinstance(data, Mapping):
            raise StackingError(f"{what}: expected an object")
        missing = [k for k in ("feature_names", "impute", "mean", "scale", "coef", "intercept") if k not in data]
        if missing:
            raise StackingError(f"{what}: missing {', '.join(missing)}")
        names = data["feature_names"]
        if not isinstance(names, list):
            raise StackingError(f"{what}: feature_names must be a list of strings")
        try:
            return cls(tuple(names), *(_finite_tuple(data[k], f"{what}.{k}", len(names))
                                       for k in ("impute", "mean", "scale", "coef")),
                       _finite_tuple([data["intercept"]], f"{what}.intercept")[0])
        except StackingError as exc:
            raise StackingError(f"{what}: {exc}") from None


@dataclass(frozen=True)
class StackedModel:
    """P(malignant) from a CNN logit and the descriptor features; see the module docstring."""

    descriptor: LogisticPart  # level (a): descriptor features -> descriptor score (log-odds)
    final: LogisticPart  # level (b): [cnn_logit, descriptor_score] -> log-odds
    fitted_on: str  # what each level was fitted on, in words
    n_descriptor: int  # images behind level (a)
    n_final: int  # images behind level (b)
    aucs: dict[str, float] = field(default_factory=dict)  # per part, e.g. cnn/descriptor/stacked on validation
    sklearn_version: str = ""
    created: str = ""
    # decision threshold on the stacked probability (Youden on the validation images); `training stack
    # --bundle` also makes it the card's `thresholds.malignant` and keeps the CNN's as `malignant_cnn_only`
    threshold: float = 0.5

    def __post_init__(self) -> None:
        if not (isinstance(self.threshold, (int, float)) and 0.0 < float(self.threshold) < 1.0):
            raise StackingError(f"stacked model: threshold must be a number in (0, 1), got {self.threshold!r}")
        if self.final.feature_names != FINAL_FEATURES:
            raise StackingError(f"final model inputs must be {list(FINAL_FEATURES)}, "
                                f"got {list(self.final.feature_names)}")
        if int(self.n_descriptor) < 1 or int(self.n_final) < 1:
            raise StackingError("n_descriptor and n_final must be positive image counts")

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The descriptor features the model reads (a subset of DESCRIPTOR_FEATURES, in its order)."""
        return self.descriptor.feature_names

    def descriptor_score(self, features: Mapping[str, float]) -> float:
        """Log-odds of malignancy from the descriptors alone (level a)."""
        return self.descriptor.linear(features)

    def logit(self, cnn_logit: float, features: Mapping[str, float]) -> float:
        cnn_logit = float(cnn_logit)
        if not math.isfinite(cnn_logit):
            raise StackingError(f"cnn_logit must be a finite number, got {cnn_logit!r}")
        return self.final.linear({"cnn_logit": cnn_logit, "descriptor_score": self.descriptor_score(features)})

    def probability(self, cnn_logit: float, features: Mapping[str, float]) -> float:
        """Stacked P(malignant) of one image."""
        return sigmoid(self.logit(cnn_logit, features))

    @property
    def baseline_logit(self) -> float:
        """Log-odds of an image at the validation mean CNN logit and the training mean of every descriptor."""
        (_, w_score), (_, m_score), (_, s_score) = self.final.coef, self.final.mean, self.final.scale
        return self.final.intercept + w_score * (self.descriptor.intercept - m_score) / s_score

    def contributions(self, cnn_logit: float, features: Mapping[str, float]) -> dict[str, float]:
        """Log-odds each input adds to `baseline_logit`: "cnn" first, then every descriptor feature.

        baseline_logit + sum(contributions) == logit(cnn_logit, features), exactly.
        Positive values pushed towards malignant, negative towards benign.
        """
        cnn_logit = float(cnn_logit)
        if not math.isfinite(cnn_logit):
            raise StackingError(f"cnn_logit must be a finite number, got {cnn_logit!r}")
        (w_cnn, w_score), (m_cnn, _), (s_cnn, s_score) = self.final.coef, self.final.mean, self.final.scale
        out = {"cnn": w_cnn * (cnn_logit - m_cnn) / s_cnn}
        for name, term in self.descriptor.terms(features).items():
            out[name] = w_score / s_score * term
        return out

    # ------------------------------------------------------------------ JSON

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": STACKING_SCHEMA, "schema_version": STACKING_VERSION,
            "kind": "two-level logistic regression on standardised, median-imputed inputs",
            "formula": "logit = final.intercept + sum(final.coef * (x - final.mean) / final.scale), "
                       "x = [cnn_logit, descriptor_score], descriptor_score = descriptor.intercept + "
                       "sum(descriptor.coef * (f - descriptor.mean) / descriptor.scale), missing f -> descriptor.impute",
            "fitted_on": self.fitted_on, "n_descriptor": int(self.n_descriptor), "n_final": int(self.n_final),
            "aucs": {k: (None if v is None or not math.isfinite(v) else float(v)) for k, v in self.aucs.items()},
            "sklearn_version": self.sklearn_version, "created": self.created, "threshold": float(self.threshold),
            "descriptor": self.descriptor.to_dict(), "final": self.final.to_dict(),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: Any) -> "StackedModel":
        if not isinstance(data, Mapping):
            raise StackingError("a stacked model must be a JSON object")
        if data.get("schema") != STACKING_SCHEMA:
            raise StackingError(f"not a stacked model: schema is {data.get('schema')!r}, expected {STACKING_SCHEMA!r}")
        if data.get("schema_version") != STACKING_VERSION:
            raise StackingError(f"stacked model schema_version {data.get('schema_version')!r} is not supported "
                                f"(this code reads version {STACKING_VERSION})")
        for key in ("descriptor", "final", "fitted_on", "n_descriptor", "n_final"):
            if key not in data:
                raise StackingError(f"stacked model: missing {key!r}")
        aucs = data.get("aucs") or {}
        if not isinstance(aucs, Mapping):
            raise StackingError("stacked model: aucs must be an object")
        for key in ("n_descriptor", "n_final"):
            if isinstance(data[key], bool) or not isinstance(data[key], int):
                raise StackingError(f"stacked model: {key} must be an integer")
        return cls(
            descriptor=LogisticPart.from_dict(data["descriptor"], "descriptor"),
            final=LogisticPart.from_dict(data["final"], "final"),
            fitted_on=str(data["fitted_on"]), n_descriptor=data["n_descriptor"], n_final=data["n_final"],
            aucs={str(k): (math.nan if v is None else float(v)) for k, v in aucs.items()},
            sklearn_version=str(data.get("sklearn_version", "")), created=str(data.get("created", "")),
            threshold=_threshold(data.get("threshold", 0.5)),
        )

    @classmethod
    def from_json(cls, text: str) -> "StackedModel":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise StackingError(f"stacked model is not valid JSON: {exc}") from None
        return cls.from_dict(data)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(self.to_json())
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "StackedModel":
        path = Path(path)
        if not path.is_file():
            raise StackingError(f"stacked model file not found: {path}")
        try:
            return cls.from_json(path.read_text())
        except StackingError as exc:
            raise StackingError(f"{path.name}: {exc}") from None
