"""Pure array transforms shared by training and inference.

Everything here is numpy (+ Pillow for resampling) so the predictor, the
training data cache and the tests apply exactly the same arithmetic. The
letterbox keeps the lesion's aspect ratio — "taller than wide" is itself a
malignancy sign, so squashing images to a square would distort evidence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from pipeline.errors import BundleError


def standardize(image: np.ndarray) -> np.ndarray:
    """Per-image zero mean / unit variance: removes scanner gain differences."""
    image = image.astype(np.float32)
    std = float(image.std())
    return (image - float(image.mean())) / (std if std > 1e-6 else 1.0)


def _resize(array: np.ndarray, shape: tuple[int, int], nearest: bool = False) -> np.ndarray:
    h, w = shape
    if array.dtype == bool:
        img = Image.fromarray(array.astype(np.uint8) * 255)
        out = img.resize((w, h), Image.NEAREST if nearest else Image.BILINEAR)
        return np.asarray(out) >= 128
    img = Image.fromarray(array.astype(np.float32), mode="F")
    out = img.resize((w, h), Image.NEAREST if nearest else Image.BILINEAR)
    return np.asarray(out, dtype=np.float32)


@dataclass(frozen=True)
class Letterbox:
    """Fit an H x W image into S x S: scale by `scale`, pad bottom/right.

    Recording the transform lets `inverse` map a model-resolution map back to
    the original pixel grid, so masks and areas are reported in the image's
    own pixels.
    """

    original_shape: tuple[int, int]
    size: int

    @property
    def scale(self) -> float:
        return self.size / max(self.original_shape)

    @property
    def content_shape(self) -> tuple[int, int]:
        h, w = self.original_shape
        return max(1, round(h * self.scale)), max(1, round(w * self.scale))

    def forward(self, array: np.ndarray, nearest: bool = False, fill: float = 0.0) -> np.ndarray:
        ch, cw = self.content_shape
        resized = _resize(array, (ch, cw), nearest=nearest)
        out = np.full((self.size, self.size), fill, dtype=resized.dtype)
        out[:ch, :cw] = resized
        return out

    def inverse(self, array: np.ndarray, nearest: bool = False) -> np.ndarray:
        ch, cw = self.content_shape
        return _resize(array[:ch, :cw], self.original_shape, nearest=nearest)


def prepare_image(gray: np.ndarray, size: int) -> tuple[np.ndarray, Letterbox]:
    """uint8/float image -> standardised S x S float32 (padding = image mean = 0)."""
    box = Letterbox(tuple(int(v) for v in gray.shape[:2]), size)
    return box.forward(standardize(gray)), box


def mask_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(row0, col0, row1, col1) with exclusive ends, or None for an empty mask."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1


def largest_component(mask: np.ndarray) -> np.ndarray:
    """Keep the biggest connected region: one lesion per image is reported."""
    from scipy import ndimage

    labels, n = ndimage.label(mask)
    if n <= 1:
        return mask.astype(bool)
    sizes = ndimage.sum(mask, labels, index=range(1, n + 1))
    return labels == (int(np.argmax(sizes)) + 1)


def crop_region(
    image: np.ndarray,
    mask: np.ndarray,
    size: int,
    margin: float = 0.3,
    box: tuple[int, int, int, int] | None = None,
    min_side: int = 32,
    normalise: Callable[[np.ndarray], np.ndarray] = standardize,
) -> np.ndarray:
    """Square crop around the lesion box plus `margin` of context per side,
    returned as S x S x 2 (normalised image, mask). Posterior shadowing or
    enhancement lies below the lesion, hence the generous margin."""
    h, w = mask.shape
    box = box or mask_box(mask) or (0, 0, h, w)
    r0, c0, r1, c1 = box
    side = max(r1 - r0, c1 - c0, min_side) * (1 + 2 * margin)
    cr, cc = (r0 + r1) / 2, (c0 + c1) / 2
    top, left = int(round(cr - side / 2)), int(round(cc - side / 2))
    side_i = max(int(round(side)), 2)
    img = normalise(image)
    padded_img = np.zeros((side_i, side_i), np.float32)
    padded_mask = np.zeros((side_i, side_i), bool)
    sr0, sc0 = max(top, 0), max(left, 0)
    sr1, sc1 = min(top + side_i, h), min(left + side_i, w)
    if sr1 > sr0 and sc1 > sc0:
        padded_img[sr0 - top : sr1 - top, sc0 - left : sc1 - left] = img[sr0:sr1, sc0:sc1]
        padded_mask[sr0 - top : sr1 - top, sc0 - left : sc1 - left] = mask[sr0:sr1, sc0:sc1]
    out_img = _resize(padded_img, (size, size))
    out_mask = _resize(padded_mask, (size, size)).astype(np.float32)
    return np.stack([out_img, out_mask], axis=-1)


def downscale_lanczos(gray: np.ndarray, max_side: int) -> np.ndarray:
    """Long side at most `max_side` (Lanczos); smaller images are returned as they are."""
    h, w = gray.shape
    scale = min(1.0, max_side / max(h, w))
    if scale >= 1.0:
        return gray
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(gray).resize(size, Image.LANCZOS))


# The code behind each preprocessing token a bundle card records (pipeline.card_parts lists the same
# tokens with their words): the predictor runs what the card says, and refuses what it cannot run.
DOWNSCALES: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {"lanczos": downscale_lanczos}
NORMALISATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {"per_image_zscore": standardize}
RESIZES: dict[str, Callable[[tuple[int, int], int], Letterbox]] = {"letterbox": Letterbox}


@dataclass(frozen=True)
class Steps:
    """A card's preprocessing as code: downscale(gray, max_side), normalise(image), resize(shape, size)."""

    downscale: Callable[[np.ndarray, int], np.ndarray]
    normalise: Callable[[np.ndarray], np.ndarray]
    resize: Callable[[tuple[int, int], int], Letterbox]


def steps_for(downscale: str, normalisation: str, resize: str) -> Steps:
    """The functions for a card's preprocessing tokens; a token this program lacks is a BundleError."""
    for field, token, known in (
        ("downscale", downscale, DOWNSCALES),
        ("normalisation", normalisation, NORMALISATIONS),
        ("resize", resize, RESIZES),
    ):
        if token not in known:
            raise BundleError(
                f"preprocessing.{field} {token!r} is not implemented in this program (it runs: {', '.join(known)})"
            )
    return Steps(DOWNSCALES[downscale], NORMALISATIONS[normalisation], RESIZES[resize])
