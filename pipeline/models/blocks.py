"""Convolution blocks shared by the U-Net and the classifier.

One place decides what "plain", "residual" and "separable" mean, so a config
switch changes the whole network consistently and the bundle records it.
"""

from __future__ import annotations

import keras
from keras import layers


def norm_layer(kind: str, name: str | None = None, momentum: float = 0.99) -> keras.layers.Layer:
    if kind == "batch":
        return layers.BatchNormalization(momentum=momentum, name=name)
    if kind == "group":
        return layers.GroupNormalization(groups=8, name=name)
    if kind == "none":
        return layers.Identity(name=name)
    raise ValueError(f"unknown normalisation {kind!r}: expected batch, group or none")


def conv(x, filters: int, block: str, kernel: int = 3, strides: int = 1):
    if block == "separable":
        return layers.SeparableConv2D(filters, kernel, strides=strides, padding="same", use_bias=False)(x)
    return layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False)(x)


def conv_block(x, filters: int, *, block: str = "residual", norm: str = "batch", strides: int = 1, momentum: float = 0.99):
    """Two 3x3 convolutions; `residual` adds a (projected) shortcut."""
    if block not in ("plain", "residual", "separable"):
        raise ValueError(f"unknown block type {block!r}: expected plain, residual or separable")
    shortcut = x
    y = conv(x, filters, block, strides=strides)
    y = norm_layer(norm, momentum=momentum)(y)
    y = layers.Activation("relu")(y)
    y = conv(y, filters, block)
    y = norm_layer(norm, momentum=momentum)(y)
    if block in ("residual", "separable"):
        if shortcut.shape[-1] != filters or strides != 1:
            shortcut = layers.Conv2D(filters, 1, strides=strides, padding="same", use_bias=False)(shortcut)
            shortcut = norm_layer(norm, momentum=momentum)(shortcut)
        y = layers.Add()([y, shortcut])
    return layers.Activation("relu")(y)


def attention_gate(skip, gating, inter_filters: int):
    """Additive attention (Oktay et al. 2018): lets the decoder suppress skip
    features away from the lesion, which helps on speckle-heavy ultrasound."""
    theta = layers.Conv2D(inter_filters, 1, padding="same")(skip)
    phi = layers.Conv2D(inter_filters, 1, padding="same")(gating)
    act = layers.Activation("relu")(layers.Add()([theta, phi]))
    psi = layers.Conv2D(1, 1, padding="same", activation="sigmoid")(act)
    return layers.Multiply()([skip, psi])
