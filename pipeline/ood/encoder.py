"""Encoder features of the segmentation U-Net: the feature space the OOD guard's density lives in.

`encoder_features(unet, batch)` runs the U-Net from its input to its bottleneck
(the input of the first decoder upsampling) and global-average-pools it: one
vector per image (base_filters * 2**depth values, 256 for the default recipe).
The sub-model is built once per U-Net and cached. The batch is what the U-Net
reads: `encoder_input(work, size)` = the letterboxed, standardised work image,
exactly as `Predictor.segment_work` prepares it.
"""

from __future__ import annotations

import weakref

import numpy as np

from pipeline.preprocess import Letterbox, standardize

_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_BY_ID: dict[int, tuple] = {}  # fallback for models that refuse weak references


def encoder_input(work: np.ndarray, size: int) -> np.ndarray:
    """S x S x 1 float32: the U-Net's input for one work-resolution grey image."""
    return Letterbox(tuple(int(v) for v in work.shape[:2]), size).forward(standardize(work))[..., None].astype(np.float32)


def _bottleneck_model(unet):
    import keras
    import tensorflow as tf

    up = next((layer for layer in unet.layers if isinstance(layer, keras.layers.UpSampling2D)), None)
    if up is None:
        raise ValueError(f"model {unet.name!r} has no decoder upsampling: not a Lesion Lens U-Net")
    pooled = keras.layers.GlobalAveragePooling2D(name="ood_pool")(up.input)
    sub = keras.Model(unet.inputs, pooled, name=f"{unet.name}_encoder")
    shape = [None, *unet.inputs[0].shape[1:]]

    @tf.function(input_signature=[tf.TensorSpec(shape, tf.float32)], reduce_retracing=True)
    def run(batch):
        return sub(batch, training=False)

    return sub, run


def _runner(unet):
    try:
        entry = _CACHE.get(unet)
        if entry is None:
            entry = _CACHE[unet] = _bottleneck_model(unet)
    except TypeError:
        entry = _BY_ID.get(id(unet))
        if entry is None or entry[0] is not unet:
            entry = _BY_ID[id(unet)] = (unet, *_bottleneck_model(unet))
        entry = entry[1:]
    return entry[1]


def encoder_features(unet, batch: np.ndarray) -> np.ndarray:
    """N x D float32 pooled bottleneck features of a batch of U-Net inputs (N x S x S x C)."""
    batch = np.asarray(batch, dtype=np.float32)
    if batch.ndim == 3:
        batch = batch[..., None]
    return np.asarray(_runner(unet)(batch)).astype(np.float32)
