"""Benign/malignant classifier on the lesion region.

Input: a crop around the (predicted) lesion box with a context margin, two
channels — the standardised image and the lesion mask — because the lesion
border carries much of the diagnosis (DESIGN.md). Output: one logit for
P(malignant); calibration (temperature) is applied by the predictor.

`backbone="small_resnet"` is ours and trains from scratch on a CPU; any
`keras.applications` name (e.g. "EfficientNetB0", "ResNet50", "MobileNetV3Small")
can be used instead, with ImageNet weights read from a local file
(`pretrained_weights`): nothing is ever downloaded.
"""

from __future__ import annotations

import keras
from keras import layers

from pipeline.models.blocks import conv_block
from pipeline.models.specs import ClassifierSpec


def _small_resnet(x, spec: ClassifierSpec):
    # stride-2 stem: full-resolution stages cost 4x the FLOPs for little gain on a CPU
    x = layers.Conv2D(spec.base_filters, 3, strides=2, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization(momentum=spec.bn_momentum)(x) if spec.norm == "batch" else x
    x = layers.Activation("relu")(x)
    for stage in range(spec.stages):
        filters = spec.base_filters * 2**stage
        x = conv_block(x, filters, block=spec.block, norm=spec.norm, strides=1 if stage == 0 else 2, momentum=spec.bn_momentum)
    return x


def _applications_backbone(x, spec: ClassifierSpec):
    """The 2 input channels become 3 (image, mask, image) so ImageNet
    first-layer filters still see texture."""
    from pipeline.models.encoders import applications_model

    three = layers.Concatenate()([x[..., 0:1], x[..., 1:2], x[..., 0:1]])
    return applications_model(spec.backbone, spec.input_size, spec.pretrained_weights)(three)


def build_classifier(spec: ClassifierSpec) -> keras.Model:
    inputs = keras.Input((spec.input_size, spec.input_size, 2), name="region")
    if spec.backbone == "small_resnet":
        features = _small_resnet(inputs, spec)
    else:
        features = _applications_backbone(inputs, spec)
    x = layers.GlobalAveragePooling2D()(features)
    if spec.dropout:
        x = layers.Dropout(spec.dropout)(x)
    logit = layers.Dense(1, dtype="float32", name="malignant_logit")(x)
    return keras.Model(inputs, logit, name="lesion_classifier")
