"""Pretrained `keras.applications` encoders for the U-Net and the classifier.

ImageNet weights are read from a local file (`pretrained_weights`); nothing
is downloaded. A user with internet obtains the file once, for example with
`python -c "import keras; keras.applications.MobileNetV2(include_top=False)"`,
then copies it from `~/.keras/models/`. The one-channel ultrasound image is
repeated to three channels so the first-layer filters apply unchanged.
"""

from __future__ import annotations

import keras
from keras import layers

# skip-connection layer names at strides 2, 4, 8, 16 and the stride-32 output
SKIPS: dict[str, tuple[str, ...]] = {
    "MobileNetV2": ("block_1_expand_relu", "block_3_expand_relu", "block_6_expand_relu", "block_13_expand_relu", "out_relu"),
    "ResNet50": ("conv1_relu", "conv2_block3_out", "conv3_block4_out", "conv4_block6_out", "conv5_block3_out"),
    "EfficientNetB0": ("block2a_expand_activation", "block3a_expand_activation", "block4a_expand_activation",
                       "block6a_expand_activation", "top_activation"),
}


def applications_model(name: str, input_size: int, weights_path: str | None) -> keras.Model:
    try:
        constructor = getattr(keras.applications, name)
    except AttributeError as exc:
        raise ValueError(f"unknown encoder {name!r}: not in keras.applications") from exc
    net = constructor(include_top=False, weights=None, input_shape=(input_size, input_size, 3))
    if weights_path:
        net.load_weights(weights_path, skip_mismatch=True)
    return net


def encoder_features(name: str, image, input_size: int, weights_path: str | None):
    """Skip tensors (strides 2..16) and the stride-32 bottleneck for `image` (S x S x 1)."""
    if name not in SKIPS:
        raise ValueError(f"encoder {name!r} has no U-Net skip map; choose one of {', '.join(SKIPS)}")
    net = applications_model(name, input_size, weights_path)
    outputs = [net.get_layer(layer).output for layer in SKIPS[name]]
    multi = keras.Model(net.input, outputs, name=f"{name}_encoder")
    three = layers.Concatenate()([image, image, image])
    features = multi(three)
    return features[:-1], features[-1]
