"""The image with the predicted lesion drawn on it, at the image's original resolution.

The case page layers a transparent overlay PNG over the image in the
browser; an export has to be one self-contained picture (for a slide, a
report, a message to a colleague), so the same overlay (`overlay_rgba`, same
colour, same outline width) is alpha-blended into the display image here: a
translucent fill so the tissue under the lesion stays visible, plus an
opaque outline so the border reads at any zoom.
"""

from __future__ import annotations

import numpy as np

from dashboard.figures.overlay import overlay_rgba
from dashboard.figures.style import PREDICTION_COLOR
from dashboard.store.files import png_bytes

STYLES = ("both", "contour", "fill")
FILL_ALPHA = 0.35


def as_rgb(display: np.ndarray) -> np.ndarray:
    """uint8 H x W x 3 from a grey, grey+alpha, RGB or RGBA display image."""
    image = np.asarray(display)
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2).astype(np.uint8)
    if image.shape[2] == 2:
        return np.repeat(image[:, :, :1], 3, axis=2).astype(np.uint8)
    return image[:, :, :3].astype(np.uint8)


def blend(base: np.ndarray, rgba: np.ndarray, alpha: float) -> np.ndarray:
    """`base` with the opaque pixels of `rgba` mixed in at `alpha`."""
    out = base.astype(np.float32)
    shown = rgba[:, :, 3] > 0
    out[shown] = (1 - alpha) * out[shown] + alpha * rgba[shown, :3].astype(np.float32)
    return np.round(out).astype(np.uint8)


def overlay_image(display: np.ndarray, mask: np.ndarray | None, style: str = "both",
                  color: str = PREDICTION_COLOR) -> np.ndarray:
    """uint8 H x W x 3: the display image with `mask` filled and/or outlined (`style` in STYLES).

    A mask of another shape than the image (never expected: both are stored
    at the original resolution) is refused rather than silently misplaced.
    """
    if style not in STYLES:
        raise ValueError(f"style must be one of {STYLES}, not {style!r}")
    image = as_rgb(display)
    if mask is None:
        return image
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != image.shape[:2]:
        raise ValueError(f"mask {mask.shape} does not match the image {image.shape[:2]}")
    if style in ("both", "fill"):
        image = blend(image, overlay_rgba(mask, color, "fill"), FILL_ALPHA)
    if style in ("both", "contour"):
        image = blend(image, overlay_rgba(mask, color, "contour"), 1.0)
    return image


def overlay_png(display: np.ndarray, mask: np.ndarray | None, style: str = "both") -> bytes:
    return png_bytes(overlay_image(display, mask, style))
