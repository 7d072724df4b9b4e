"""Assemble `ImageRecord`s, from decoded files or from arrays callers already hold.

Both paths end in `make_record`, which enforces the record's contract in one
place: `pixels` finite float32 H x W, `display` uint8 of the same shape.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from pipeline.errors import ImageLoadError
from pipeline.io.intensity import direct_display, finite_float32, percentile_display, to_gray
from pipeline.types import ImageRecord


def make_record(
    gray: np.ndarray,
    display: np.ndarray,
    *,
    source_format: str,
    sha256: str,
    spacing_mm: tuple[float, float] | None = None,
    modality: str | None = None,
    frames: int = 1,
    metadata: dict[str, Any] | None = None,
) -> ImageRecord:
    pixels = finite_float32(gray)
    display = np.ascontiguousarray(display, dtype=np.uint8)
    if pixels.ndim != 2 or display.shape != pixels.shape:
        raise ImageLoadError(f"image has an unsupported pixel layout {tuple(pixels.shape)}")
    if pixels.shape[0] == 0 or pixels.shape[1] == 0:
        raise ImageLoadError("image has no pixels")
    return ImageRecord(
        pixels=np.ascontiguousarray(pixels),
        display=display,
        spacing_mm=spacing_mm,
        modality=modality,
        source_format=source_format,
        frames=int(frames),
        metadata=dict(metadata or {}),
        sha256=sha256,
    )


def record_from_array(array: Any, *, source_format: str = "array") -> ImageRecord:
    """An `ImageRecord` from pixels already in memory (synthetic data, tests, crops).

    Accepts H x W grey or H x W x 3/4 colour arrays of any numeric or bool
    dtype. uint8 and bool are shown as they are; other dtypes get the same
    percentile display window as 16-bit files. `sha256` hashes the array's
    shape, dtype and bytes, so identical arrays share a cache key.
    """
    try:
        array = np.asarray(array)
    except Exception as exc:  # ragged lists, objects numpy cannot convert
        raise ImageLoadError("array cannot be read as an image") from exc
    if array.dtype.kind not in "biuf":
        raise ImageLoadError(f"array of {array.dtype} values cannot be read as an image")
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    gray = finite_float32(to_gray(array))
    display = direct_display(gray) if array.dtype == np.uint8 else percentile_display(gray)
    digest = hashlib.sha256()
    digest.update(f"{array.shape}|{array.dtype.str}|".encode())
    digest.update(np.ascontiguousarray(array).tobytes())
    return make_record(gray, display, source_format=source_format, sha256=digest.hexdigest())
