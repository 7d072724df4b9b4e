"""Second segmentation stage: redraw the lesion border inside a window at higher resolution.

The whole-image U-Net sees a 256-px downscale letterboxed to 128 px, so a 1 cm lesion
spans some 30 pixels and its lobules and spicules are a pixel or two: the stage rounds
them off, and the margin descriptors (and the diagnosis) lose what the radiologist reads.
The refiner takes a square window around the coarse box from the "detail" image (the
original, downscaled only above `detail_max_side`), with the coarse probability as a
second channel (where to look), and returns the border at 3-4x the pixels per lesion.

Input conventions shared by training and inference live here (`refine_input`), so the
two can never drift apart.
"""

from __future__ import annotations

import numpy as np

from pipeline.crops import Window, cut


def refine_input(gray: np.ndarray, prior: np.ndarray, window: Window, size: int) -> np.ndarray:
    """size x size x 2 float32: the window's image standardised over its in-image pixels
    (padding outside the image = 0 after standardising), and the prior probability."""
    image = cut(np.asarray(gray, np.float32), window, size, fill=np.nan)
    valid = np.isfinite(image)
    if valid.any():
        values = image[valid]
        std = float(values.std())
        image = (image - float(values.mean())) / (std if std > 1e-6 else 1.0)
    image = np.where(valid, image, 0.0).astype(np.float32)
    prior_crop = np.clip(cut(np.asarray(prior, np.float32), window, size, fill=0.0), 0.0, 1.0)
    return np.stack([image, prior_crop], axis=-1)


def resize_map(prob: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a float map to (H, W)."""
    from PIL import Image

    if prob.shape == tuple(shape):
        return prob.astype(np.float32)
    return np.asarray(Image.fromarray(prob.astype(np.float32), mode="F").resize((shape[1], shape[0]), Image.BILINEAR), np.float32)


def downscale_gray(gray: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """Longest side at most `max_side` (`preprocess.downscale_lanczos`), with the scale applied; 0 = keep as is."""
    from pipeline.preprocess import downscale_lanczos

    h, w = gray.shape
    scale = 1.0 if max_side <= 0 else min(1.0, max_side / max(h, w))
    if scale >= 1.0:
        return gray, 1.0
    return downscale_lanczos(gray, max_side), scale
