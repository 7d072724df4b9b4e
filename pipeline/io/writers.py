"""Encode arrays for browsers: PNG bytes for the dashboard and the API.

PNG because it is lossless (a clinician must see exactly the windowed pixels
the model saw) and every browser decodes it. `compress_level` trades size
for speed; 3 encodes a 1-Mpx ultrasound in a few milliseconds.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def to_png_bytes(array: np.ndarray, *, compress_level: int = 3) -> bytes:
    """PNG bytes of a uint8 H x W (grey), H x W x 3 (RGB) or H x W x 4 (RGBA) array.

    Raises ValueError for any other dtype or shape: converting silently
    (e.g. clipping float probabilities) would hide a bug in the caller.
    """
    array = np.asarray(array)
    if array.dtype != np.uint8:
        raise ValueError(f"to_png_bytes needs a uint8 array, got {array.dtype}")
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))):
        raise ValueError(f"to_png_bytes needs H x W or H x W x 3|4, got shape {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError("to_png_bytes needs a non-empty image")
    mode = {2: "L", 3: "RGB", 4: "RGBA"}[array.ndim if array.ndim == 2 else array.shape[2]]
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array), mode=mode).save(
        buffer, format="PNG", compress_level=compress_level
    )
    return buffer.getvalue()
