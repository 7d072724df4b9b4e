"""Mask overlays and display windows as arrays (served as PNGs by the files route).

Overlays are rendered server-side into RGBA images rather than drawn as
plotly shapes: a lesion outline has thousands of vertices and a filled mask
hundreds of thousands of pixels, which as figure JSON would be megabytes;
as a PNG it is a few kilobytes the browser caches.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from dashboard.figures.style import hex_to_rgb
from pipeline.io.intensity import linear_window
from pipeline.metrics.segmentation import boundary


def contour_width(shape: tuple[int, int]) -> int:
    """Outline thickness in pixels: about 0.5 % of the image side, at least 2 (visible on a projector)."""
    return max(2, round(max(shape) / 200))


def overlay_rgba(mask: np.ndarray, color: str, style: str = "fill") -> np.ndarray:
    """H x W x 4 uint8: `color` where the mask (fill) or its outline (contour) is, transparent elsewhere."""
    mask = np.asarray(mask, dtype=bool)
    if style == "contour":
        edge = boundary(mask) if mask.any() else mask
        width = contour_width(mask.shape)
        if width > 1 and edge.any():
            edge = ndimage.binary_dilation(edge, iterations=width - 1)
        shown = edge
    else:
        shown = mask
    out = np.zeros(mask.shape + (4,), dtype=np.uint8)
    out[shown, :3] = hex_to_rgb(color)
    out[shown, 3] = 255
    return out


def windowed(pixels: np.ndarray, low: float, high: float) -> np.ndarray:
    """Display uint8 of modality pixels under window [low, high] (window/level)."""
    return linear_window(pixels, float(low), float(high))


def level_width_to_window(level: float, width: float) -> tuple[float, float]:
    width = max(float(width), 1e-6)
    return float(level) - width / 2.0, float(level) + width / 2.0


def downsample(array: np.ndarray, max_side: int = 160) -> tuple[np.ndarray, int]:
    """Block-mean downsampling for heatmaps; returns (array, step)."""
    step = max(1, int(np.ceil(max(array.shape) / max_side)))
    if step == 1:
        return array, 1
    h, w = (array.shape[0] // step) * step, (array.shape[1] // step) * step
    trimmed = array[:h, :w]
    return trimmed.reshape(h // step, step, w // step, step).mean(axis=(1, 3)), step
