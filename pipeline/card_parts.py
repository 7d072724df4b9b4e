"""The parts of a bundle card: preprocessing, thresholds, calibration, presence, members, training, metrics.

Each part reads itself from bundle.json (`from_json`, errors name the field) and writes itself
back (`to_json`); `pipeline.card.BundleCard` puts them together.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.calibration import Calibration
from pipeline.card_fields import (
    CardError,
    as_float,
    as_int,
    as_list,
    as_object,
    as_str,
    as_token,
    extra_keys,
    obj,
    opt_int,
    opt_str,
    raw_value,
    req_str,
    where,
)
from pipeline.presence import PRESENCE_FEATURES, PresenceModel

# Preprocessing tokens this program executes (`pipeline.preprocess` maps each to its code), with
# the words the report shows for them.
INPUTS = {"uint8_gray": "the display image as 8-bit grayscale (DICOM windowing applied when the file is read)"}
DOWNSCALES = {"lanczos": "Lanczos resampling, only ever down, to the long side given (work / detail image)"}
NORMALISATIONS = {
    "per_image_zscore": "per-image standardisation: zero mean, unit variance (standard deviation floored at 1e-6); "
    "the classifier's crop is cut from the standardised detail image, the refiner standardises its window"
}
RESIZES = {"letterbox": "letterbox: keep the aspect ratio, pad bottom/right with 0 after standardisation"}
# the prose schema-1 cards recorded (matched by prefix) -> token
LEGACY_PROSE = {
    "input": {"display image": "uint8_gray"},
    "normalisation": {"per-image standardisation": "per_image_zscore"},
    "resize": {"letterbox": "letterbox"},
}


PREPROCESSING_KEYS = (
    "input",
    "downscale",
    "work_max_side",
    "seg_input_size",
    "cls_input_size",
    "margin",
    "detail_max_side",
    "refine_input_size",
    "refine_margin",
    "normalisation",
    "resize",
)


@dataclass(frozen=True)
class Preprocessing:
    """What the predictor does to an image before the models see it (each field is executed).

    The uint8 gray input is downscaled (`downscale`, only ever down) to `work_max_side` for the
    whole-image segmenter and to `detail_max_side` (0: no detail image) for the refiner and the
    classifier; `normalisation` and `resize` turn the work image into the segmenter's
    `seg_input_size` square; the classifier reads a `cls_input_size` square crop of the lesion box
    plus `margin` of its size per side; the refiner a `refine_input_size` window (0: no refiner)
    around the coarse box plus `refine_margin`.
    """

    work_max_side: int
    seg_input_size: int
    cls_input_size: int
    margin: float = 0.3
    detail_max_side: int = 0
    refine_input_size: int = 0
    refine_margin: float = 0.25
    input: str = "uint8_gray"
    downscale: str = "lanczos"
    normalisation: str = "per_image_zscore"
    resize: str = "letterbox"

    @classmethod
    def from_json(cls, data: Any, prefix: str = "preprocessing") -> "Preprocessing":
        raw = as_object(data, prefix)
        unknown = [key for key in raw if key not in PREPROCESSING_KEYS]
        if unknown:  # a step this program would silently skip: refuse rather than predict differently
            raise CardError(where(prefix, unknown[0]), "is not a preprocessing step this program knows")

        def size(key: str, required: bool = True, default: int = 0) -> int:
            value = raw_value(raw, key, prefix, required)
            return default if value is None else as_int(value, where(prefix, key), minimum=0 if not required else 8)

        def fraction(key: str, default: float) -> float:
            value = raw_value(raw, key, prefix, False)
            return default if value is None else as_float(value, where(prefix, key), 0.0, 5.0)

        def named(key: str, choices: Mapping[str, str], default: str) -> str:
            value = raw_value(raw, key, prefix, False)
            return default if value is None else as_token(value, where(prefix, key), choices, LEGACY_PROSE.get(key, {}))

        return cls(
            work_max_side=size("work_max_side"),
            seg_input_size=size("seg_input_size"),
            cls_input_size=size("cls_input_size"),
            margin=fraction("margin", 0.3),
            detail_max_side=size("detail_max_side", required=False),
            refine_input_size=size("refine_input_size", required=False),
            refine_margin=fraction("refine_margin", 0.25),
            input=named("input", INPUTS, "uint8_gray"),
            downscale=named("downscale", DOWNSCALES, "lanczos"),
            normalisation=named("normalisation", NORMALISATIONS, "per_image_zscore"),
            resize=named("resize", RESIZES, "letterbox"),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "input": self.input,
            "downscale": self.downscale,
            "work_max_side": self.work_max_side,
            "seg_input_size": self.seg_input_size,
            "cls_input_size": self.cls_input_size,
            "margin": self.margin,
            "detail_max_side": self.detail_max_side,
            "refine_input_size": self.refine_input_size,
            "refine_margin": self.refine_margin,
            "normalisation": self.normalisation,
            "resize": self.resize,
        }

    def described(self) -> list[tuple[str, str]]:
        """(setting, words) rows for reports: the tokens spelled out."""
        rows = [
            ("input", INPUTS[self.input]),
            (
                "downscale",
                f"{DOWNSCALES[self.downscale]}: work image {self.work_max_side} px"
                + (f", detail image {self.detail_max_side} px" if self.detail_max_side else ", no detail image"),
            ),
            ("normalisation", NORMALISATIONS[self.normalisation]),
            ("resize", f"{RESIZES[self.resize]}; segmenter input {self.seg_input_size} px"),
            (
                "classifier input",
                f"{self.cls_input_size} px crop of the lesion box + {self.margin:g} of its size per side",
            ),
        ]
        if self.refine_input_size:
            rows.append(
                (
                    "refiner input",
                    f"{self.refine_input_size} px window around the coarse box "
                    f"+ {self.refine_margin:g} of its longest side per side",
                )
            )
        return rows


@dataclass(frozen=True)
class Thresholds:
    """Decision thresholds: P(malignant) (calibrated), the segmentation map, the smallest lesion (area fraction)."""

    malignant: float
    segmentation: float = 0.5
    min_lesion_fraction: float = 0.0005
    extra: Mapping[str, float] = field(default_factory=dict)  # other recorded thresholds (e.g. malignant_cnn_only)

    @classmethod
    def from_json(cls, data: Any, prefix: str = "thresholds") -> "Thresholds":
        raw = as_object(data, prefix)

        def prob(key: str, default: float | None = None) -> float:
            value = raw_value(raw, key, prefix, default is None)
            if value is None and default is not None:
                return default
            return as_float(value, where(prefix, key), 0.0, 1.0)

        known = ("malignant", "segmentation", "min_lesion_fraction")
        others = {k: as_float(v, where(prefix, k)) for k, v in extra_keys(raw, known).items()}
        return cls(prob("malignant"), prob("segmentation", 0.5), prob("min_lesion_fraction", 0.0005), others)

    def to_json(self) -> dict[str, Any]:
        return {
            "segmentation": self.segmentation,
            "malignant": self.malignant,
            "min_lesion_fraction": self.min_lesion_fraction,
            **self.extra,
        }


def calibration_from_json(data: Any, prefix: str = "calibration") -> Calibration:
    """Platt (`method: platt`, scale + bias; no bias: 0) or a schema-1 temperature (`method: temperature`).

    Hand-written cards without a `method` are read by their keys (temperature, or scale + bias)."""
    raw = as_object(data, prefix)
    method = opt_str(raw, "method", prefix)
    if method is None:
        method = "temperature" if "temperature" in raw else "platt" if "scale" in raw else None
    fitted_on = opt_str(raw, "fitted_on", prefix) or ""
    if method == "temperature":
        temperature = as_float(raw_value(raw, "temperature", prefix, True), f"{prefix}.temperature", 1e-6, None)
        return Calibration(scale=1.0 / temperature, bias=0.0, fitted_on=fitted_on)
    if method == "platt":
        return Calibration(
            as_float(raw_value(raw, "scale", prefix, True), f"{prefix}.scale"),
            as_float(raw.get("bias", 0.0), f"{prefix}.bias"),
            fitted_on,
        )
    raise CardError(f"{prefix}.method", f"is {method!r}; expected 'platt' or 'temperature'")


def presence_from_json(data: Any, prefix: str = "presence") -> PresenceModel:
    raw = as_object(data, prefix)
    features = tuple(as_str(f, f"{prefix}.features") for f in as_list(raw, "features", prefix, list(PRESENCE_FEATURES)))

    def numbers(key: str) -> tuple[float, ...]:
        values = tuple(as_float(v, f"{prefix}.{key}") for v in as_list(raw, key, prefix, None))
        if len(values) != len(features):
            raise CardError(f"{prefix}.{key}", f"has {len(values)} numbers for {len(features)} features")
        return values

    return PresenceModel(
        mean=numbers("mean"),
        scale=numbers("scale"),
        coef=numbers("coef"),
        intercept=as_float(raw_value(raw, "intercept", prefix, True), f"{prefix}.intercept"),
        threshold=as_float(raw_value(raw, "threshold", prefix, True), f"{prefix}.threshold", 0.0, 1.0),
        fitted_on=opt_str(raw, "fitted_on", prefix) or "",
        features=features,
    )


def presence_to_json(model: PresenceModel) -> dict[str, Any]:
    return {
        "mean": list(model.mean),
        "scale": list(model.scale),
        "coef": list(model.coef),
        "intercept": model.intercept,
        "threshold": model.threshold,
        "fitted_on": model.fitted_on,
        "features": list(model.features),
    }


MEMBER_KEYS = ("seg", "cls", "refine", "from")


@dataclass(frozen=True)
class Member:
    """One model of the ensemble: its weight files, relative to the bundle folder."""

    seg: str
    cls: str
    refine: str | None = None
    source: str | None = None  # "from": the CV fold an ensemble member was copied from
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Any, prefix: str) -> "Member":
        raw = as_object(data, prefix)
        files = {}
        for key in ("seg", "cls", "refine"):
            value = opt_str(raw, key, prefix) if key == "refine" else req_str(raw, key, prefix)
            if value is not None and (not value or Path(value).is_absolute() or ".." in Path(value).parts):
                raise CardError(where(prefix, key), f"must be a path inside the bundle folder, not {value!r}")
            files[key] = value
        return cls(
            seg=str(files["seg"]),
            cls=str(files["cls"]),
            refine=files["refine"] or None,
            source=opt_str(raw, "from", prefix),
            extra=extra_keys(raw, MEMBER_KEYS),
        )

    @property
    def weight_files(self) -> dict[str, str]:
        """stage -> relative path of every weights file this member names."""
        out = {"seg": self.seg, "cls": self.cls}
        if self.refine:
            out["refine"] = self.refine
        return out

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.weight_files)
        if self.source is not None:
            out["from"] = self.source
        return {**out, **self.extra}


@dataclass(frozen=True)
class Split:
    """How the bundle's patients were split: `kind` train/val, cv (with `fold`), cv-ensemble (`folds`)."""

    kind: str | None = None
    fold: int | None = None
    n_test: int | None = None
    folds: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)  # seed, holdout_fold, test_fraction, ...

    @classmethod
    def from_json(cls, data: Any, prefix: str = "training.split") -> "Split":
        raw = as_object(data, prefix)
        return cls(
            kind=opt_str(raw, "kind", prefix),
            fold=opt_int(raw, "fold", prefix),
            n_test=opt_int(raw, "n_test", prefix, minimum=0),
            folds=tuple(as_str(f, f"{prefix}.folds") for f in as_list(raw, "folds", prefix, [])),
            extra=extra_keys(raw, ("kind", "fold", "n_test", "folds")),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind} if self.kind is not None else {}
        for key, value in (("fold", self.fold), ("n_test", self.n_test)):
            if value is not None:
                out[key] = value
        if self.folds:
            out["folds"] = list(self.folds)
        return {**out, **self.extra}


@dataclass(frozen=True)
class Training:
    """What the bundle was trained on and how (free-form `config`: the TrainConfig as a dict)."""

    dataset: str | None = None
    split: Split = Split()
    n_train: int | None = None
    n_val: int | None = None
    config: Mapping[str, Any] = field(default_factory=dict)
    adaptation: Mapping[str, Any] | None = None
    seed: int | None = None
    epochs: Mapping[str, int] = field(default_factory=dict)
    minutes: Mapping[str, float] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)

    KEYS = ("dataset", "split", "n_train", "n_val", "config", "adaptation", "seed", "epochs", "minutes")

    @classmethod
    def from_json(cls, data: Any, prefix: str = "training") -> "Training":
        raw = as_object(data, prefix)
        epochs = obj(raw, "epochs", prefix) or {}
        minutes = obj(raw, "minutes", prefix) or {}
        return cls(
            dataset=opt_str(raw, "dataset", prefix),
            split=Split.from_json(raw.get("split") or {}, f"{prefix}.split"),
            n_train=opt_int(raw, "n_train", prefix, minimum=0),
            n_val=opt_int(raw, "n_val", prefix, minimum=0),
            config=obj(raw, "config", prefix) or {},
            adaptation=obj(raw, "adaptation", prefix),
            seed=opt_int(raw, "seed", prefix),
            epochs={k: as_int(v, f"{prefix}.epochs.{k}", 0) for k, v in epochs.items()},
            minutes={k: as_float(v, f"{prefix}.minutes.{k}", 0.0) for k, v in minutes.items()},
            extra=extra_keys(raw, cls.KEYS),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "dataset": self.dataset,
            "split": self.split.to_json(),
            "n_train": self.n_train,
            "n_val": self.n_val,
            "config": dict(self.config),
        }
        if self.adaptation is not None:
            out["adaptation"] = dict(self.adaptation)
        out.update({"seed": self.seed, "epochs": dict(self.epochs), "minutes": dict(self.minutes)})
        return {**out, **self.extra}

    def init_weights(self) -> dict[str, str]:
        """stage -> weights file this run started from (`--init-from`), for every stage that did."""
        out = {}
        for stage in ("seg", "refine", "cls"):
            section = self.config.get(stage)
            weights = section.get("init_weights") if isinstance(section, Mapping) else None
            if isinstance(weights, str) and weights:
                out[stage] = weights
        return out


@dataclass(frozen=True)
class Metrics:
    """Evaluations recorded in the card; each section is a metrics document (free-form JSON)."""

    validation: Mapping[str, Any] | None = None  # `train`: validation patients, with CIs and warnings
    holdout: Mapping[str, Any] | None = None  # `train --test-fraction / --holdout-fold`
    cross_validation: Mapping[str, Any] | None = None  # the CV table (ensembles, `train --cv-summary`)
    pooled_oof: Mapping[str, Any] | None = None  # ensembles: pooled out-of-fold predictions
    extra: Mapping[str, Any] = field(default_factory=dict)  # schema-1 flat numbers (auc, dice, ...)

    SECTIONS = ("validation", "holdout", "cross_validation", "pooled_oof")

    @classmethod
    def from_json(cls, data: Any, prefix: str = "metrics") -> "Metrics":
        raw = as_object(data, prefix)
        return cls(**{k: obj(raw, k, prefix) for k in cls.SECTIONS}, extra=extra_keys(raw, cls.SECTIONS))

    def to_json(self) -> dict[str, Any]:
        out = {k: dict(v) for k in self.SECTIONS if (v := getattr(self, k)) is not None}
        return {**out, **self.extra}
