"""Joint image + mask augmentation for training (pure numpy / scipy).

Geometry (flips, small rotation and scale) is applied to image and mask with
one transform; intensity changes (gain, contrast, gamma, speckle, blur) only to
the image. The scanner-like perturbations target the domain shift that costs
far more than architecture choices (DESIGN.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class AugmentConfig:
    flip_prob: float = 0.5
    max_rotation_deg: float = 10.0
    scale_range: tuple[float, float] = (0.85, 1.15)
    shift_fraction: float = 0.08
    contrast_range: tuple[float, float] = (0.75, 1.3)
    brightness: float = 0.2  # in standard deviations (images are standardised)
    gamma_range: tuple[float, float] = (0.8, 1.25)
    speckle_prob: float = 0.3
    blur_prob: float = 0.2
    strength: float = 1.0  # scales every range; 0 disables augmentation


def _affine(image, mask, rng, cfg: AugmentConfig):
    s = cfg.strength
    angle = np.deg2rad(rng.uniform(-1, 1) * cfg.max_rotation_deg * s)
    lo, hi = cfg.scale_range
    scale = 1 + (rng.uniform(lo, hi) - 1) * s
    h, w = image.shape
    shift = rng.uniform(-1, 1, size=2) * cfg.shift_fraction * s * np.array([h, w])
    cos, sin = np.cos(angle) / scale, np.sin(angle) / scale
    matrix = np.array([[cos, -sin], [sin, cos]])
    centre = np.array([h / 2, w / 2])
    offset = centre - matrix @ centre - shift
    img = ndimage.affine_transform(image, matrix, offset=offset, order=1, mode="constant", cval=0.0)
    msk = ndimage.affine_transform(mask.astype(np.float32), matrix, offset=offset, order=1, mode="constant") > 0.5
    return img.astype(np.float32), msk


def _intensity(image, rng, cfg: AugmentConfig):
    s = cfg.strength
    x = image
    lo, hi = cfg.gamma_range
    if s > 0:
        # gamma on a 0..1 rescaled copy, then back to standardised units
        mn, mx = float(x.min()), float(x.max())
        if mx - mn > 1e-6:
            u = (x - mn) / (mx - mn)
            u = u ** (1 + (rng.uniform(lo, hi) - 1) * s)
            x = u * (mx - mn) + mn
    clo, chi = cfg.contrast_range
    x = x * (1 + (rng.uniform(clo, chi) - 1) * s) + rng.uniform(-1, 1) * cfg.brightness * s
    if rng.random() < cfg.speckle_prob * min(s, 1):
        x = x * rng.gamma(8.0, 1 / 8.0, size=x.shape).astype(np.float32)
    if rng.random() < cfg.blur_prob * min(s, 1):
        x = ndimage.gaussian_filter(x, sigma=rng.uniform(0.5, 1.2))
    return x.astype(np.float32)


def augment_pair(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig = AugmentConfig()):
    """Return an augmented (image, mask) pair with the same shapes."""
    if cfg.strength <= 0:
        return image, mask
    if rng.random() < cfg.flip_prob:
        image, mask = image[:, ::-1], mask[:, ::-1]
    image, mask = _affine(np.ascontiguousarray(image), np.ascontiguousarray(mask), rng, cfg)
    return _intensity(image, rng, cfg), mask


def jitter_mask(mask: np.ndarray, rng: np.random.Generator, strength: float = 1.0) -> np.ndarray:
    """Perturb an expert mask the way a segmentation model errs (dilate,
    erode, wobble the border) so the classifier does not over-trust borders."""
    if strength <= 0 or not mask.any():
        return mask
    out = mask
    r = int(rng.integers(0, 1 + round(3 * strength)))
    if r:
        op = ndimage.binary_dilation if rng.random() < 0.5 else ndimage.binary_erosion
        out = op(out, iterations=r)
        if not out.any():
            out = mask
    if rng.random() < 0.5 * strength:
        noise = ndimage.gaussian_filter(rng.standard_normal(mask.shape).astype(np.float32), sigma=4)
        dist_in = ndimage.distance_transform_edt(out)
        dist_out = ndimage.distance_transform_edt(~out)
        signed = np.where(out, dist_in, -dist_out)
        out = signed + noise * 6 * strength > 0.5
        if not out.any():
            out = mask
    return out
