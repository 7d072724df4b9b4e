"""Downsample a decoded upload whose long side exceeds the deployment's limit, before it leaves the sandbox.

Why: the pixel limit (50 megapixels, checked from the header) stops
decompression bombs, but a legal 7000 x 7000 PNG of 215 kB still decodes to
196 MB of float32 pixels; stored as such it cost 900x its file size on disk,
and handed to the web worker it lifted the worker from 0.84 to 1.85 GB. The
model works at 256 px and the browser shows at most a few thousand, so
nothing is lost by keeping at most `LESIONLENS_MAX_IMAGE_SIDE` (1536) pixels
on the long side: the decoding child (which has its own memory cap) shrinks
the image, and only the small arrays travel to the worker and the store.
Area averaging (PIL's BOX filter) keeps intensities faithful; the pixel
spacing is scaled so areas in mm² stay right. The stored case records the
original size in its metadata (`downsampled_from`). A de-identified DICOM
is still stored whole, but its SEG export then refuses (the mask no longer
has the DICOM's size).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

DEFAULT_MAX_SIDE = 1536


def target_size(width: int, height: int, max_side: int) -> tuple[int, int] | None:
    """(width, height) after downsampling, or None when the image is small enough."""
    longest = max(width, height)
    if longest <= max_side:
        return None
    scale = max_side / longest
    return max(1, round(width * scale)), max(1, round(height * scale))


def _resize(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if array.dtype == np.uint8 and array.ndim == 2:
        return np.asarray(Image.fromarray(array, mode="L").resize(size, Image.BOX))
    if array.ndim == 2:
        return np.asarray(Image.fromarray(np.asarray(array, dtype=np.float32), mode="F").resize(size, Image.BOX))
    channels = [_resize(array[..., c], size) for c in range(array.shape[-1])]
    return np.stack(channels, axis=-1).astype(array.dtype)


def downsample(record, max_side: int = DEFAULT_MAX_SIDE):
    """Shrink `record` (pipeline.types.ImageRecord) in place when its long side exceeds `max_side`."""
    height, width = record.shape
    size = target_size(width, height, max_side)
    if size is None:
        return record
    record.pixels = _resize(record.pixels, size).astype(np.float32)
    record.display = _resize(record.display, size).astype(np.uint8)
    if record.spacing_mm:
        row_mm, col_mm = record.spacing_mm
        record.spacing_mm = (row_mm * height / size[1], col_mm * width / size[0])
    record.metadata = {**(record.metadata or {}), "downsampled_from": [int(width), int(height)]}
    return record
