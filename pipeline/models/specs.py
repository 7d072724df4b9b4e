"""Architecture specs as plain dataclasses (no Keras import).

Training configs embed these directly and bundle cards record them, so a
model's shape is declared once and readable without TensorFlow.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class UNetSpec:
    input_size: int = 160
    base_filters: int = 16  # keep >= 16: oneDNN kernels crashed with 8 (README, Decisions)
    depth: int = 4  # number of down-sampling steps
    block: str = "separable"  # plain | residual | separable (separable = residual with depthwise convs)
    norm: str = "batch"  # batch | group | none
    bn_momentum: float = 0.99  # 0.9 for small datasets: moving statistics catch up within few steps
    attention: bool = False
    dropout: float = 0.1  # at the bottleneck
    encoder: str | None = None  # None = our own encoder; else "MobileNetV2", "ResNet50" or "EfficientNetB0"
    pretrained_weights: str | None = None  # local ImageNet weights file for `encoder`
    in_channels: int = 1  # 2 for the refinement stage: image crop + the coarse stage's probability

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ClassifierSpec:
    input_size: int = 96
    base_filters: int = 24
    stages: int = 4
    block: str = "residual"
    norm: str = "batch"
    bn_momentum: float = 0.99
    dropout: float = 0.3
    backbone: str = "small_resnet"  # or a keras.applications class name
    pretrained_weights: str | None = None  # local weights file for keras.applications backbones

    def to_dict(self) -> dict:
        return asdict(self)
