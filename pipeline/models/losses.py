"""Segmentation losses and metrics on logits.

Soft Dice tackles the class imbalance of small lesions; BCE (or focal) keeps
per-pixel gradients well behaved early in training. Both take logits.
"""

from __future__ import annotations

import keras
from keras import ops


def soft_dice_loss(y_true, logits, smooth: float = 1.0):
    prob = ops.sigmoid(logits)
    axes = (1, 2, 3)
    inter = ops.sum(y_true * prob, axis=axes)
    denom = ops.sum(y_true, axis=axes) + ops.sum(prob, axis=axes)
    return 1.0 - (2.0 * inter + smooth) / (denom + smooth)


def make_seg_loss(bce_weight: float = 1.0, focal: bool = False):
    bce = (
        keras.losses.BinaryFocalCrossentropy(from_logits=True, gamma=2.0, reduction=None)
        if focal
        else keras.losses.BinaryCrossentropy(from_logits=True, reduction=None)
    )

    def seg_loss(y_true, logits):
        pixel = ops.mean(bce(y_true, logits), axis=(1, 2))
        return soft_dice_loss(y_true, logits) + bce_weight * pixel

    return seg_loss


def hard_dice(y_true, logits):
    """Per-image Dice at p > 0.5; an image with empty truth and empty
    prediction scores 1 (the convention used across the project)."""
    pred = ops.cast(logits > 0.0, "float32")
    axes = (1, 2, 3)
    inter = ops.sum(y_true * pred, axis=axes)
    denom = ops.sum(y_true, axis=axes) + ops.sum(pred, axis=axes)
    return ops.where(denom > 0, 2.0 * inter / ops.maximum(denom, 1e-6), 1.0)


def make_boundary_loss(bce_weight: float = 1.0):
    """Soft Dice + BCE weighted toward the expert border, for the refinement stage.

    `y_true` carries two channels: the mask and a per-pixel weight that is high within a
    few pixels of the expert border (`training.batches.border_weights`). Soft Dice alone
    rewards getting the bulk of a lesion right and barely notices a rounded-off lobule;
    the weighted BCE puts the gradient where the margin descriptors are measured.
    """
    bce = keras.losses.BinaryCrossentropy(from_logits=True, reduction=None)

    def boundary_loss(y_true, logits):
        mask, weight = y_true[..., 0:1], y_true[..., 1]
        pixel = bce(mask, logits)  # B x H x W
        weighted = ops.sum(pixel * weight, axis=(1, 2)) / ops.maximum(ops.sum(weight, axis=(1, 2)), 1e-6)
        return soft_dice_loss(mask, logits) + bce_weight * weighted

    return boundary_loss


def mask_hard_dice(y_true, logits):
    """`hard_dice` on the mask channel of a (mask, weight) target."""
    return hard_dice(y_true[..., 0:1], logits)
