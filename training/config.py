"""Typed training configuration, readable from YAML and recorded in every run.

A config file only needs the keys it changes: everything else keeps the
documented defaults below, which are the project's best-known BUS-BRA recipe
on a 2-core CPU (see README "Training recipe").
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pipeline.augment import AugmentConfig
from pipeline.errors import LesionLensError
from pipeline.models.specs import ClassifierSpec, UNetSpec


@dataclass(frozen=True)
class StageSchedule:
    """How one network of the recipe is fitted: the same knobs in every stage (AdamW with weight decay,
    augmentation, optional transfer weights). Each stage sets its own epochs and keeps its own model
    spec and loss settings."""

    epochs: int
    batch_size: int = 16
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    init_weights: str | None = None  # transfer: start from this stage's model in another bundle


def _recipe_unet() -> UNetSpec:
    """128 px: 0.64x the pixels of 160 px for -0.01 Dice on BUS-BRA fold 1, which is what lets
    5-fold CV fit 3 h and `train` fit 60 min on 2 cores (README, Results)."""
    return UNetSpec(input_size=128)


@dataclass(frozen=True)
class SegTrainConfig(StageSchedule):
    epochs: int = 25
    model: UNetSpec = field(default_factory=_recipe_unet)
    bce_weight: float = 1.0  # loss = soft Dice + bce_weight * BCE
    focal: bool = False
    # Lesion-free crops of the training scans, as a fraction of the images per epoch, with an empty
    # target: BUS-BRA has no normal scans, and without them the model draws a lesion on every input.
    negative_fraction: float = 0.25
    # Share of lesion images shown as a random crop that still holds the lesion, so that "a crop"
    # never means "no lesion" to the model.
    positive_crop_prob: float = 0.2


def _refine_unet() -> UNetSpec:
    """The refinement U-Net: image window + coarse prior (2 channels) at 128 px."""
    return UNetSpec(input_size=128, in_channels=2)


@dataclass(frozen=True)
class RefineTrainConfig(StageSchedule):
    """Second stage: redraws the border in a window around the coarse box (pipeline.refine)."""

    epochs: int = 20
    enabled: bool = True
    model: UNetSpec = field(default_factory=_refine_unet)
    margin: float = 0.25  # window = lesion box + this share of its longest side on every side
    border_weight: float = 4.0  # extra BCE weight at the expert border (decays over ~2 px of the window)
    bce_weight: float = 1.0


def _recipe_classifier() -> ClassifierSpec:
    """128 px crops cut from the detail image: margin texture a 96-px crop of the 256-px downscale lost."""
    return ClassifierSpec(input_size=128)


@dataclass(frozen=True)
class ClsTrainConfig(StageSchedule):
    epochs: int = 12
    batch_size: int = 32
    learning_rate: float = 1e-3
    model: ClassifierSpec = field(default_factory=_recipe_classifier)
    margin: float = 0.3
    mask_jitter: float = 1.0


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 0
    work_max_side: int = 256  # images are first downscaled to this longest side
    # The refiner and the classifier read the image at this longest side (0: the work image, as
    # bundles before the refinement stage did). BUS-BRA's originals are 240-580 px.
    detail_max_side: int = 512
    adapt: bool = True  # scale epochs and batch-norm momentum to the dataset size (training.adapt)
    presence_max_missed: float = 0.01  # lesion-presence threshold: miss at most this share of validation lesions
    val_fraction: float = 0.15
    min_lesion_fraction: float = 0.0005  # predicted masks smaller than this fraction = no lesion
    tta_flip: bool = True
    tta_views: bool = True  # classifier views with the mask dilated / eroded / wider context (uncertainty)
    seg: SegTrainConfig = field(default_factory=SegTrainConfig)
    refine: RefineTrainConfig = field(default_factory=RefineTrainConfig)
    cls: ClsTrainConfig = field(default_factory=ClsTrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _build(cls, data: dict[str, Any], where: str, base=None):
    """`cls` from the keys in `data`; keys not given keep `base`'s values (a field's own default
    instance, which may differ from its class defaults, e.g. the recipe's 128 px U-Net)."""
    if not isinstance(data, dict):
        raise LesionLensError(f"config section {where or 'root'} must be a mapping")
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(data) - set(known)
    if unknown:
        raise LesionLensError(f"unknown config keys in {where or 'root'}: {', '.join(sorted(unknown))}")
    kwargs = {}
    for name, value in data.items():
        f = known[name]
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        if dataclasses.is_dataclass(default):
            kwargs[name] = _build(type(default), value, f"{where}.{name}".strip("."), default)
        elif isinstance(default, tuple) and isinstance(value, list):
            kwargs[name] = tuple(value)
        else:
            kwargs[name] = value
    return dataclasses.replace(base, **kwargs) if base is not None else cls(**kwargs)


def config_from_dict(data: dict[str, Any]) -> TrainConfig:
    return _build(TrainConfig, data or {}, "")


def load_config(path: str | Path | None, overrides: dict[str, Any] | None = None) -> TrainConfig:
    data: dict[str, Any] = {}
    if path:
        path = Path(path)
        if not path.is_file():
            raise LesionLensError(f"config file not found: {path}")
        data = yaml.safe_load(path.read_text()) or {}
    for dotted, value in (overrides or {}).items():
        node = data
        *parents, leaf = dotted.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return config_from_dict(data)
