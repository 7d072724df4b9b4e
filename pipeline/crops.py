"""Crop geometry shared by training and inference: refinement windows and lesion-free regions.

Two jobs, one module, because both are rectangles cut around (or away from) a lesion box:

* the **refinement window**: a square around the coarse lesion box, cut from the
  higher-resolution "detail" image, where the second-stage U-Net redraws the border. The
  lesion fills most of the window, so the border is drawn with 2-4x the pixels the
  whole-image stage had (issue: the coarse stage rounded off lobulated margins);
* **lesion-free regions**: strips of a scan away from the expert mask. They teach the
  segmenter that "nothing here" is an answer (BUS-BRA has no normal scans) and, cut from
  held-out patients only, they measure how often a lesion-free input is answered
  "no lesion". `lesion_free_box` is deterministic (evaluation); `random_lesion_free_box`
  samples inside it (training).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

Box = tuple[int, int, int, int]  # (row0, col0, row1, col1), exclusive ends


@dataclass(frozen=True)
class Window:
    """A square window (top, left, side) in some image's pixel grid; may reach outside it."""

    top: int
    left: int
    side: int

    def scaled(self, factor: float) -> "Window":
        return Window(int(round(self.top * factor)), int(round(self.left * factor)), max(2, int(round(self.side * factor))))


def refine_window(box: Box, margin: float, min_side: int = 24) -> Window:
    """Square around `box` with `margin` of its longest side added on every side."""
    r0, c0, r1, c1 = box
    side = max(r1 - r0, c1 - c0, min_side) * (1 + 2 * margin)
    cr, cc = (r0 + r1) / 2, (c0 + c1) / 2
    side_i = max(int(round(side)), 2)
    return Window(int(round(cr - side_i / 2)), int(round(cc - side_i / 2)), side_i)


def jitter_window(window: Window, rng: np.random.Generator, scale: tuple[float, float] = (0.85, 1.25),
                  shift: float = 0.1) -> Window:
    """Perturb a window the way a coarse box errs (too tight, too loose, off-centre)."""
    side = max(2, int(round(window.side * rng.uniform(*scale))))
    cr = window.top + window.side / 2 + rng.uniform(-shift, shift) * window.side
    cc = window.left + window.side / 2 + rng.uniform(-shift, shift) * window.side
    return Window(int(round(cr - side / 2)), int(round(cc - side / 2)), side)


def cut(array: np.ndarray, window: Window, size: int, fill: float = 0.0) -> np.ndarray:
    """The window's content resampled to size x size (float32; outside the image = `fill`)."""
    h, w = array.shape[:2]
    canvas = np.full((window.side, window.side), fill, np.float32)
    r0, c0 = max(window.top, 0), max(window.left, 0)
    r1, c1 = min(window.top + window.side, h), min(window.left + window.side, w)
    if r1 > r0 and c1 > c0:
        canvas[r0 - window.top : r1 - window.top, c0 - window.left : c1 - window.left] = array[r0:r1, c0:c1]
    return np.asarray(Image.fromarray(canvas, mode="F").resize((size, size), Image.BILINEAR), np.float32)


def paste(crop: np.ndarray, window: Window, shape: tuple[int, int]) -> np.ndarray:
    """Inverse of `cut`: a size x size map put back into an H x W canvas of zeros."""
    h, w = shape
    full = np.asarray(Image.fromarray(crop.astype(np.float32), mode="F").resize((window.side, window.side), Image.BILINEAR))
    out = np.zeros((h, w), np.float32)
    r0, c0 = max(window.top, 0), max(window.left, 0)
    r1, c1 = min(window.top + window.side, h), min(window.left + window.side, w)
    if r1 > r0 and c1 > c0:
        out[r0:r1, c0:c1] = full[r0 - window.top : r1 - window.top, c0 - window.left : c1 - window.left]
    return out


def _strips(shape: tuple[int, int], box: Box, gap: int) -> list[Box]:
    h, w = shape
    r0, c0, r1, c1 = box
    return [
        (0, 0, h, max(c0 - gap, 0)),  # left of the lesion, full depth
        (0, min(c1 + gap, w), h, w),  # right
        (0, 0, max(r0 - gap, 0), w),  # above
        (min(r1 + gap, h), 0, h, w),  # below
    ]


def lesion_free_box(mask: np.ndarray, min_side_fraction: float = 0.25, gap_fraction: float = 0.04) -> Box | None:
    """The largest of the four strips beside / above / below the lesion box (kept `gap_fraction`
    of the image's longer side away from it) whose shorter side is at least `min_side_fraction`
    of the image's shorter side; None when the lesion leaves no such strip.

    Why strips of the same scan: they carry the same scanner, gain and speckle as the lesion
    image, so "no lesion" must be learnt from content, not from acquisition differences.
    """
    from pipeline.preprocess import mask_box

    h, w = mask.shape
    box = mask_box(mask)
    if box is None:
        return (0, 0, h, w)
    gap = int(round(gap_fraction * max(h, w)))
    min_side = min_side_fraction * min(h, w)
    best, best_area = None, 0
    for r0, c0, r1, c1 in _strips((h, w), box, gap):
        height, width = r1 - r0, c1 - c0
        if min(height, width) >= min_side and height * width > best_area:
            best, best_area = (r0, c0, r1, c1), height * width
    return best


def random_lesion_free_box(mask: np.ndarray, rng: np.random.Generator, min_side_fraction: float = 0.25) -> Box | None:
    """A random sub-rectangle (at least 60% of each side) of `lesion_free_box`."""
    strip = lesion_free_box(mask, min_side_fraction)
    if strip is None:
        return None
    r0, c0, r1, c1 = strip
    height = int(round((r1 - r0) * rng.uniform(0.6, 1.0)))
    width = int(round((c1 - c0) * rng.uniform(0.6, 1.0)))
    top = r0 + int(rng.integers(0, (r1 - r0) - height + 1))
    left = c0 + int(rng.integers(0, (c1 - c0) - width + 1))
    return top, left, top + max(height, 1), left + max(width, 1)


def random_containing_box(mask: np.ndarray, rng: np.random.Generator) -> Box:
    """A random rectangle that contains the whole lesion box: the positive counterpart of the
    lesion-free crops, so that "this is a crop" never predicts "no lesion"."""
    from pipeline.preprocess import mask_box

    h, w = mask.shape
    box = mask_box(mask) or (0, 0, h, w)
    r0, c0, r1, c1 = box
    top = int(rng.integers(0, r0 + 1))
    left = int(rng.integers(0, c0 + 1))
    bottom = int(rng.integers(r1, h + 1))
    right = int(rng.integers(c1, w + 1))
    return top, left, max(bottom, top + 1), max(right, left + 1)


def crop_box(array: np.ndarray, box: Box) -> np.ndarray:
    r0, c0, r1, c1 = box
    return array[r0:r1, c0:c1]
