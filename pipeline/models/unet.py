"""A compact, configurable U-Net for lesion segmentation on a 2-core CPU.

Width and depth are the main speed levers (FLOPs grow with base_filters^2);
the defaults were chosen by measuring throughput on this class of machine
(see bench/ and the README), not copied from GPU papers.
"""

from __future__ import annotations

import keras
from keras import layers

from pipeline.models.blocks import attention_gate, conv_block
from pipeline.models.specs import UNetSpec


def _decoder(x, skips, spec: UNetSpec, widths):
    for skip, filters in zip(reversed(skips), reversed(widths)):
        x = layers.UpSampling2D(2, interpolation="bilinear")(x)
        x = layers.Conv2D(filters, 1, padding="same")(x)
        if spec.attention:
            skip = attention_gate(skip, x, max(filters // 2, 4))
        x = layers.Concatenate()([x, skip])
        x = conv_block(x, filters, block=spec.block, norm=spec.norm, momentum=spec.bn_momentum)
    return x


def build_unet(spec: UNetSpec) -> keras.Model:
    """Image (S x S x 1, standardised) -> lesion logits (S x S x 1).

    The model returns logits, not probabilities: the losses are numerically
    stabler on logits and the predictor applies the sigmoid itself.
    """
    depth = 5 if spec.encoder else spec.depth
    if spec.input_size % (2**depth):
        raise ValueError(f"input_size {spec.input_size} must be divisible by {2**depth}")
    inputs = keras.Input((spec.input_size, spec.input_size, spec.in_channels), name="image")
    widths = [spec.base_filters * 2**level for level in range(depth)]
    if spec.encoder:
        from pipeline.models.encoders import encoder_features

        skips, x = encoder_features(spec.encoder, inputs, spec.input_size, spec.pretrained_weights)
        skips = [inputs] + list(skips)  # full-resolution skip from the image itself
    else:
        x, skips = inputs, []
        for filters in widths:
            x = conv_block(x, filters, block=spec.block, norm=spec.norm, momentum=spec.bn_momentum)
            skips.append(x)
            x = layers.MaxPooling2D(2)(x)
        x = conv_block(x, spec.base_filters * 2**depth, block=spec.block, norm=spec.norm, momentum=spec.bn_momentum)
    if spec.dropout:
        x = layers.SpatialDropout2D(spec.dropout)(x)
    x = _decoder(x, skips, spec, widths)
    logits = layers.Conv2D(1, 1, padding="same", dtype="float32", name="lesion_logits")(x)
    return keras.Model(inputs, logits, name="unet")
