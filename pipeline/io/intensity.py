"""Pixel arithmetic shared by every format: grey conversion and display windows.

Two arrays leave the loader. `pixels` keep the modality's own units so models
see consistent numbers (8-bit grey levels for PNG, Hounsfield units for CT);
`display` is the uint8 picture a browser shows. Keeping the rules here means
a PNG and a DICOM of the same scan get the same grey conversion.
"""

from __future__ import annotations

import numpy as np

from pipeline.errors import ImageLoadError

# ITU-R BT.601 luma, the weights Pillow's convert("L") and most viewers use.
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float64)

DISPLAY_PERCENTILES = (0.5, 99.5)
_PERCENTILE_SAMPLE = 1_000_000  # percentiles of a 50-Mpx image from a 1-Mpx subsample

_F32_MAX = float(np.finfo(np.float32).max)


def work_dtype(array: np.ndarray) -> type[np.floating]:
    """float32 holds 8- and 16-bit integers exactly and halves memory on large
    images; wider integers and float64 data keep float64 precision."""
    if array.dtype.kind in "biu" and array.dtype.itemsize <= 2:
        return np.float32
    if array.dtype == np.float32:
        return np.float32
    return np.float64


def to_gray(array: np.ndarray) -> np.ndarray:
    """H x W grey float from H x W, H x W x 1|2|3|4 (alpha ignored).

    Alpha is dropped rather than composited: an ultrasound exported with a
    transparent border must give the same grey levels as the opaque original.
    """
    array = np.asarray(array)
    dtype = work_dtype(array)
    if array.ndim == 2:
        return array.astype(dtype, copy=False)
    if array.ndim == 3 and array.shape[2] in (1, 2):  # grey, grey + alpha
        return array[:, :, 0].astype(dtype, copy=False)
    if array.ndim == 3 and array.shape[2] in (3, 4):
        rgb = array[:, :, :3].astype(dtype, copy=False)
        return rgb @ LUMA_WEIGHTS.astype(dtype)
    raise ImageLoadError(f"image has an unsupported pixel layout {tuple(array.shape)}")


def colour_fraction(array: np.ndarray) -> float | None:
    """Fraction of clearly coloured pixels of an H x W x 3|4 array (from at most ~250k pixels);
    None for grey layouts.

    A pixel is coloured when a channel is more than 10% of full scale away from a straight-line
    fit of that channel on luma (refitted once without the coloured pixels): grey stored as RGB
    (BrEaST-Lesions-USG) and grey shown through a scanner's tint map (blue- or sepia-tinted
    B-mode) give ~0, because their colour is a function of brightness; a photograph or a colour
    Doppler box does not. The out-of-distribution guard reads it (`pipeline.ood`)."""
    array = np.asarray(array)
    if array.ndim != 3 or array.shape[2] < 3:
        return None
    step = max(1, int(np.sqrt(array.shape[0] * array.shape[1] / 250_000)))
    rgb = np.nan_to_num(array[::step, ::step, :3].astype(np.float64)).reshape(-1, 3)
    full = 255.0 if array.dtype == np.uint8 else max(float(np.abs(rgb).max(initial=0.0)), 1e-12)
    design = np.stack([rgb @ LUMA_WEIGHTS, np.ones(len(rgb))], axis=1)
    keep = np.ones(len(rgb), bool)
    for _ in range(2):
        coef = np.linalg.lstsq(design[keep], rgb[keep], rcond=None)[0] if keep.sum() >= 2 else np.zeros((2, 3))
        coloured = np.abs(rgb - design @ coef).max(axis=1) > 0.1 * full
        keep = ~coloured
    return round(float(np.mean(coloured)), 4)


def finite_float32(gray: np.ndarray) -> np.ndarray:
    """float32 copy with NaN/inf replaced, so models and statistics never see them.

    Float DICOMs (parametric maps) use NaN for "no value"; it becomes the
    lowest finite value of the image, infinities the extremes.
    """
    gray = np.asarray(gray)
    if gray.dtype.kind not in "f":
        gray = gray.astype(work_dtype(gray))
    finite = np.isfinite(gray)
    if gray.dtype == np.float32 and finite.all():
        return gray
    if not finite.all():
        if not finite.any():
            raise ImageLoadError("image has no valid pixel values")
        values = gray[finite]
        low, high = float(values.min()), float(values.max())
        gray = np.nan_to_num(gray, nan=low, posinf=high, neginf=low)
    return np.clip(gray, -_F32_MAX, _F32_MAX).astype(np.float32)


def direct_display(gray: np.ndarray) -> np.ndarray:
    """uint8 of values already on a 0..255 scale (8-bit sources): no stretching."""
    return np.clip(np.rint(gray), 0, 255).astype(np.uint8)


def scaled_display(gray: np.ndarray, max_value: float) -> np.ndarray:
    """uint8 of values on a 0..max_value scale (e.g. 16-bit colour)."""
    if not max_value > 0:
        return percentile_display(gray)
    return direct_display(np.asarray(gray) * (255.0 / max_value))


def linear_window(gray: np.ndarray, low: float, high: float) -> np.ndarray:
    """Map [low, high] linearly to 0..255, clipping outside."""
    gray = np.asarray(gray)
    if not (np.isfinite(low) and np.isfinite(high)) or high <= low:
        return np.zeros(gray.shape, dtype=np.uint8)
    out = (gray - low) * (255.0 / (high - low))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def percentile_window(gray: np.ndarray) -> tuple[float, float]:
    """The 0.5th-99.5th percentile range, the default when a file gives no window.

    Clipping the extreme 0.5 % keeps a few saturated or dead pixels (text
    overlays, calibration marks) from flattening the contrast of the tissue.
    Falls back to min-max when the percentiles coincide (mostly flat images).
    """
    flat = np.asarray(gray).ravel()
    if flat.size > _PERCENTILE_SAMPLE:
        flat = flat[:: flat.size // _PERCENTILE_SAMPLE + 1]
    flat = flat[np.isfinite(flat)]
    if flat.size == 0:
        return 0.0, 0.0
    low, high = np.percentile(flat, DISPLAY_PERCENTILES)
    if high <= low:
        low, high = float(flat.min()), float(flat.max())
    return float(low), float(high)


def percentile_display(gray: np.ndarray) -> np.ndarray:
    low, high = percentile_window(gray)
    if high <= low:  # constant image: mid-grey would invent contrast, black does not
        return np.zeros(np.shape(gray), dtype=np.uint8)
    return linear_window(gray, low, high)
