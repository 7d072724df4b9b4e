"""Intensity around a lesion: echo pattern, border sharpness, posterior acoustic features.

Why relative measures: ultrasound gain, dynamic range and scanner presets
change every absolute grey level, and radiologists themselves describe
echogenicity RELATIVE to the surrounding tissue (BI-RADS compares with
subcutaneous fat; the ring of tissue around the lesion is the nearest
stand-in available from one image). So every number here is a contrast
between two regions of the same image, divided either by the reference
region's mean (echo, posterior) or by the speckle spread of the tissue
(border sharpness, in units of "noise").

Regions, all in image pixels:

* interior: the lesion mask;
* ring: along every ray of the outline, from `RING_GAP` px to a band of
  half the equivalent radius (4-30 px) beyond the outer boundary, without
  the sector pointing down (45 degrees either side), which is posterior
  tissue and would mix shadowing or enhancement into the echo pattern;
* border: samples at signed distances across the boundary along each ray;
* posterior: below the deepest lesion pixel, the lesion's central 80 % of
  width, about half the lesion height deep, versus the same depth band
  beside the lesion (one lesion width to the left and to the right).

Samples outside the image are NaN and ignored: a lesion touching the image
border gets fewer samples, not a crash; with none the result is NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from pipeline.descriptor_geometry import Outline

RING_GAP = 2.0  # px beyond the outline before the ring starts (partial-volume zone)
BORDER_OFFSETS = np.array([-4.0, -3.0, -2.0, -1.0, 1.0, 2.0, 3.0, 4.0])  # x border_scale px
NEAR_OFFSET = 1.0  # the sharpness ratio compares +-1 scale with +-4 scale
SMOOTH_SIZE = 5  # box filter (px) that suppresses speckle before judging heterogeneity


def _sample(image: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Bilinear samples, NaN outside the image."""
    values = ndimage.map_coordinates(image, [ys.ravel(), xs.ravel()], order=1, cval=np.nan)
    return values.reshape(ys.shape)


def _ray_points(outline: Outline, offsets: np.ndarray, rays: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    theta, radius = outline.theta, outline.radius
    if rays is not None:
        theta, radius = theta[rays], radius[rays]
    dist = radius[:, None] + offsets[None, :]
    ys = outline.centroid[0] - np.sin(theta)[:, None] * dist
    xs = outline.centroid[1] + np.cos(theta)[:, None] * dist
    return ys, xs


def _nanmean(values: np.ndarray) -> float:
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else math.nan


def _row_means(values: np.ndarray) -> np.ndarray:
    """Mean of the finite values of each row; NaN (without a warning) for rows with none."""
    finite = np.isfinite(values)
    count = finite.sum(axis=1)
    total = np.where(finite, values, 0.0).sum(axis=1)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _robust_spread(values: np.ndarray) -> float:
    values = values[np.isfinite(values)]
    if values.size < 4:
        return math.nan
    q25, q75 = np.percentile(values, [25, 75])
    return float((q75 - q25) / 1.349)


@dataclass(frozen=True)
class EchoMeasures:
    interior_mean: float  # grey level
    ring_mean: float
    ring_spread: float  # robust std of the ring (speckle + texture), grey levels
    echo_ratio: float  # interior mean / ring mean (1 = isoechoic, ~0 = anechoic)
    echo_heterogeneity: float  # std of the speckle-smoothed interior / ring mean
    dark_fraction: float  # share of interior (smoothed) below 35 % of the ring mean
    bright_fraction: float  # share of interior (smoothed) above 75 % of the ring mean


def echo_measures(image: np.ndarray, crop: np.ndarray, offset: tuple[int, int], outline: Outline) -> EchoMeasures:
    """Interior (`crop` of the lesion mask at `offset`) vs surrounding ring (see module docstring)."""
    image = np.asarray(image, dtype=np.float32)
    width = float(np.clip(0.5 * outline.equivalent_radius, 4.0, 30.0))
    offsets = np.linspace(RING_GAP, RING_GAP + width, 6)
    not_down = np.abs(outline.theta + math.pi / 2) > math.pi / 4
    ring = _sample(image, *_ray_points(outline, offsets, np.flatnonzero(not_down)))
    ring_mean = _nanmean(ring)
    r0, c0 = offset
    inside = crop
    crop = image[r0:r0 + inside.shape[0], c0:c0 + inside.shape[1]]
    interior_mean = float(crop[inside].mean())
    # speckle-smoothed interior: box mean over lesion pixels only (normalised convolution)
    size = SMOOTH_SIZE if min(crop.shape) >= SMOOTH_SIZE else 1
    num = ndimage.uniform_filter(np.where(inside, crop, 0.0), size, mode="constant")
    den = ndimage.uniform_filter(inside.astype(np.float32), size, mode="constant")
    smooth = (num / np.maximum(den, 1e-6))[inside]
    ref = ring_mean if math.isfinite(ring_mean) and ring_mean > 1.0 else math.nan
    return EchoMeasures(
        interior_mean=interior_mean,
        ring_mean=ring_mean,
        ring_spread=_robust_spread(ring),
        echo_ratio=interior_mean / ref if ref == ref else math.nan,
        echo_heterogeneity=float(smooth.std()) / ref if ref == ref else math.nan,
        dark_fraction=float(np.mean(smooth < 0.35 * ref)) if ref == ref else math.nan,
        bright_fraction=float(np.mean(smooth > 0.75 * ref)) if ref == ref else math.nan,
    )


@dataclass(frozen=True)
class BorderMeasures:
    edge_contrast: float  # mean (outside - inside) across the border / ring speckle spread
    edge_sharpness: float  # step over +-1 scale / step over +-4 scales (1 = abrupt, ~0.25 = blurred)
    defined_fraction: float  # share of rays whose own step exceeds one speckle spread


def border_measures(image: np.ndarray, outline: Outline, ring_spread: float) -> BorderMeasures:
    """How abruptly the grey level changes across the outline, relative to speckle.

    A circumscribed margin is a sharp, well-defined interface; an indistinct
    one fades into the tissue (small near step compared with the far step,
    and few rays with a step above the noise). The scale grows with the
    lesion (r_eq / 30, 0.75 to 2 px) so a large lesion's border is not judged
    at a finer scale than a small one's.
    """
    image = np.asarray(image, dtype=np.float32)
    scale = float(np.clip(outline.equivalent_radius / 30.0, 0.75, 2.0))
    ys, xs = _ray_points(outline, BORDER_OFFSETS * scale)
    values = _sample(image, ys, xs)
    half = BORDER_OFFSETS.size // 2
    step = _row_means(values[:, half:]) - _row_means(values[:, :half])
    near = values[:, half] - values[:, half - 1]
    far = values[:, -1] - values[:, 0]
    mean_step = _nanmean(step)
    sign = 1.0 if not mean_step < 0 else -1.0  # dark lesions step up, bright ones down
    far_sum = np.nansum(sign * far)
    noise = ring_spread if math.isfinite(ring_spread) and ring_spread > 0.5 else math.nan
    if not math.isfinite(mean_step):
        return BorderMeasures(math.nan, math.nan, math.nan)
    return BorderMeasures(
        edge_contrast=mean_step / noise if noise == noise else math.nan,
        edge_sharpness=float(np.nansum(sign * near) / far_sum) if far_sum > 1e-6 else math.nan,
        defined_fraction=float(np.mean(np.abs(step[np.isfinite(step)]) > noise)) if noise == noise else math.nan,
    )


@dataclass(frozen=True)
class PosteriorMeasures:
    posterior_contrast: float  # (below - beside) / beside, whole posterior region
    posterior_left: float  # the same for the left and right halves of the region below
    posterior_right: float


def posterior_measures(image: np.ndarray, shape: tuple[int, int], offset: tuple[int, int]) -> PosteriorMeasures:
    """Region below the lesion's bounding box (`shape` at `offset`) versus regions beside it at that depth."""
    h_img, w_img = image.shape
    height, width = shape
    top, left = offset
    bottom, right = top + height - 1, left + width - 1
    gap = max(1, round(0.05 * height))
    y0 = bottom + 1 + gap
    y1 = min(h_img, y0 + max(3, round(0.5 * height)))
    inset = int(round(0.1 * width))
    b0, b1 = left + inset, right + 1 - inset
    nan = math.nan
    if y1 - y0 < 2 or b1 - b0 < 2:
        return PosteriorMeasures(nan, nan, nan)
    band = np.asarray(image[y0:y1], dtype=np.float32)
    below = band[:, b0:b1]
    sides = [band[:, max(0, left - width):left], band[:, right + 1:min(w_img, right + 1 + width)]]
    side_values = np.concatenate([s.ravel() for s in sides])
    if side_values.size < 4:
        return PosteriorMeasures(nan, nan, nan)
    beside = float(side_values.mean())
    if beside <= 1.0:
        return PosteriorMeasures(nan, nan, nan)
    mid = below.shape[1] // 2
    return PosteriorMeasures(
        posterior_contrast=(float(below.mean()) - beside) / beside,
        posterior_left=(float(below[:, :mid].mean()) - beside) / beside if mid else nan,
        posterior_right=(float(below[:, mid:].mean()) - beside) / beside,
    )
