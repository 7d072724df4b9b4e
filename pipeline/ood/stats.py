"""Image statistics the out-of-distribution guard compares with the training images.

Pure numpy (Pillow only to shrink large images exactly as the predictor's work
image is made). Every statistic is scale-free (fractions, ratios, moments) so
scanner gain alone does not move an image out of distribution, while the
things that do change what the model sees — big black or white areas, flat
graphics instead of speckle, a CT's or X-ray's smooth anatomy — do.
"""

from __future__ import annotations

import numpy as np

STAT_NAMES = ("mean", "std", "skew", "log_kurtosis", "entropy", "black", "white",
              "speckle", "flat", "gradient")

# plain-language description of what an unusual value of each statistic means
STAT_WORDS = {
    "mean": "brightness unlike the training images",
    "std": "contrast unlike the training images",
    "skew": "grey-level distribution unlike the training images",
    "log_kurtosis": "grey-level distribution unlike the training images",
    "entropy": "grey-level distribution unlike the training images",
    "black": "black or empty area unlike the training images",
    "white": "saturated white area unlike the training images",
    "speckle": "texture unlike ultrasound speckle",
    "flat": "smooth, noise-free regions unlike ultrasound speckle",
    "gradient": "edge texture unlike the training images",
}

_TISSUE = 16.0  # grey level above which a pixel counts as imaged tissue (not background)


def shrink(gray: np.ndarray, max_side: int) -> np.ndarray:
    """The image with its long side at most `max_side` (Lanczos, like the predictor's work image)."""
    from pipeline.preprocess import downscale_lanczos

    gray = np.asarray(gray)
    if gray.dtype != np.uint8:
        gray = np.clip(gray, 0, 255).astype(np.uint8)
    return downscale_lanczos(gray, max_side)


def box_mean(a: np.ndarray, radius: int) -> np.ndarray:
    """Mean over a (2r+1)^2 window (edge-replicated) via summed-area tables."""
    k = 2 * radius + 1
    p = np.pad(a.astype(np.float64), radius, mode="edge")
    s = np.zeros((p.shape[0] + 1, p.shape[1] + 1))
    s[1:, 1:] = p.cumsum(0).cumsum(1)
    h, w = a.shape
    total = s[k:k + h, k:k + w] - s[:h, k:k + w] - s[k:k + h, :w] + s[:h, :w]
    return total / (k * k)


def image_stats(gray: np.ndarray, max_side: int = 256) -> np.ndarray:
    """The `STAT_NAMES` vector of one uint8 grey image (shrunk to `max_side` first)."""
    img = shrink(gray, max_side).astype(np.float64)
    v = img.ravel()
    mean, std = float(v.mean()), float(v.std())
    z = (v - mean) / std if std > 1e-6 else np.zeros_like(v)
    hist = np.bincount(np.clip(v // 4, 0, 63).astype(int), minlength=64) / v.size
    nz = hist[hist > 0]
    local_mean = box_mean(img, 2)
    local_var = np.maximum(box_mean(img * img, 2) - local_mean ** 2, 0.0)
    tissue = local_mean > _TISSUE
    local_std = np.sqrt(local_var)
    if tissue.sum() >= 16:
        speckle = float(np.median(local_std[tissue] / local_mean[tissue]))
        flat = float(np.mean(local_std[tissue] < 2.0))
        gy, gx = np.gradient(img)
        gradient = float(np.mean(np.hypot(gx, gy)[tissue]) / (std + 1.0))
    else:  # nothing imaged: every texture statistic at its "no texture" end
        speckle, flat, gradient = 0.0, 1.0, 0.0
    return np.array([
        mean / 255.0,
        std / 255.0,
        float(np.mean(z ** 3)),
        float(np.log(np.mean(z ** 4) + 1e-6)),
        float(-(nz * np.log2(nz)).sum()),
        float(np.mean(v < 8)),
        float(np.mean(v > 247)),
        speckle,
        flat,
        gradient,
    ])
