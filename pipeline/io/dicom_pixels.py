"""Decode one DICOM frame into modality-unit pixels and a windowed display image.

`pixels` follow the DICOM grey pipeline up to the modality LUT (Hounsfield
units for CT), because that is what the models are trained on. `display`
continues with the VOI stage the way a PACS viewer would: the VOI LUT, else
the stored window, else a percentile window; MONOCHROME1 is inverted last so
bone is white whatever the photometric interpretation. Colour images become
grey by luma after any YBR -> RGB conversion.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset
from pydicom.encaps import get_frame
from pydicom.pixels import (
    apply_color_lut,
    apply_modality_lut,
    apply_voi_lut,
    as_pixel_options,
    convert_color_space,
    get_decoder,
)

from pipeline.errors import ImageLoadError
from pipeline.io.codestream import declared_size
from pipeline.io.dicom_header import DicomHeader
from pipeline.io.failures import PASS_THROUGH
from pipeline.io.intensity import (
    colour_fraction,
    direct_display,
    finite_float32,
    linear_window,
    percentile_display,
    scaled_display,
    to_gray,
)
from pipeline.io.limits import Limits, check_dimensions

_CORRUPT = "DICOM pixel data is truncated or corrupt"


@dataclass(frozen=True)
class DicomPixels:
    pixels: np.ndarray  # float32 H x W, modality units (grey) or luma (colour)
    display: np.ndarray  # uint8 H x W
    colour_fraction: float | None = None  # coloured pixels of a colour frame (None: grey)


def decode_frame(ds: Dataset, header: DicomHeader, index: int, limits: Limits) -> DicomPixels:
    """Decode frame `index` only (not the whole multi-frame buffer)."""
    _check_codestream(ds, header, index, limits)
    array, photometric = _decode(ds, header, index)
    if header.samples == 3:
        return _colour(array, photometric, ds)
    if photometric == "PALETTE COLOR":
        return _palette(array, ds)
    return _grey(array, ds, photometric)


def _check_codestream(ds: Dataset, header: DicomHeader, index: int, limits: Limits) -> None:
    """Apply the pixel limit to the size the compressed frame itself declares."""
    if not header.transfer_syntax.is_encapsulated or "PixelData" not in ds:
        return
    try:
        frame = get_frame(ds.PixelData, index, number_of_frames=header.frames)
    except PASS_THROUGH:
        raise
    except Exception:  # unreadable fragments: the decoder reports them as corrupt
        return
    size = declared_size(frame)
    if size is not None:
        check_dimensions(size[0], size[1], limits, samples=header.samples)


def _decode(ds: Dataset, header: DicomHeader, index: int) -> tuple[np.ndarray, str]:
    try:
        decoder = get_decoder(header.transfer_syntax)
        array, properties = decoder.as_array(
            ds, index=index, validate=True, **as_pixel_options(ds)
        )
    except PASS_THROUGH:
        raise
    except BaseException:  # noqa: BLE001 - includes Rust panics from native decoders
        raise ImageLoadError(_CORRUPT) from None
    photometric = str(properties.get("photometric_interpretation", header.photometric)).upper()
    array = np.asarray(array)
    expected_ndim = 2 if header.samples == 1 else 3
    while array.ndim > expected_ndim and array.shape[0] == 1:
        array = array[0]
    if array.ndim != expected_ndim or array.shape[:2] != (header.rows, header.columns):
        raise ImageLoadError(_CORRUPT)
    return array, photometric


def _apply_lut(lut: Callable[[np.ndarray, Dataset], np.ndarray], array: np.ndarray, ds: Dataset,
               problem: str) -> np.ndarray:
    """A pydicom LUT (modality, palette) applied; the file's attributes drive it, so any failure but
    the pass-through ones is the file's fault and becomes an ImageLoadError saying `problem`."""
    try:
        return np.asarray(lut(array, ds))
    except PASS_THROUGH:
        raise
    except Exception:
        raise ImageLoadError(problem) from None


def _grey(stored: np.ndarray, ds: Dataset, photometric: str) -> DicomPixels:
    values = _apply_lut(apply_modality_lut, stored, ds, "DICOM rescale (modality LUT) values are invalid")
    pixels = finite_float32(values)
    display = _voi_display(pixels, ds)
    if display is None:
        display = _default_display(pixels, stored, ds)
    if photometric == "MONOCHROME1":  # low values are white in MONOCHROME1
        display = 255 - display
    return DicomPixels(pixels, display)


def _voi_display(pixels: np.ndarray, ds: Dataset) -> np.ndarray | None:
    """The file's own VOI: a VOI LUT, else its first window; None if absent or unusable."""
    try:
        lut_items = ds.get("VOILUTSequence")
        if lut_items and "LUTData" in lut_items[0]:
            indices = np.rint(pixels).astype(np.int64)  # LUTs are indexed by integers
            out = np.asarray(apply_voi_lut(indices, ds, index=0, prefer_lut=True), dtype=np.float64)
            lut = np.asarray(lut_items[0].LUTData, dtype=np.float64).ravel()
            if lut.size and lut.max() > lut.min():
                return linear_window(out, float(lut.min()), float(lut.max()))
        return _window_display(pixels, ds)
    except PASS_THROUGH:
        raise
    except Exception:  # malformed VOI attributes: fall back to the default window
        return None


def _window_display(pixels: np.ndarray, ds: Dataset) -> np.ndarray | None:
    """WindowCenter/WindowWidth per PS3.3 C.11.2.1.2 (LINEAR, LINEAR_EXACT, SIGMOID)."""
    center, width = _first_float(ds.get("WindowCenter")), _first_float(ds.get("WindowWidth"))
    if center is None or width is None:
        return None
    function = str(ds.get("VOILUTFunction") or "LINEAR").strip().upper()
    if function == "SIGMOID" and width > 0:
        exponent = np.clip(-4.0 * (pixels.astype(np.float64) - center) / width, -700, 700)
        return direct_display(255.0 / (1.0 + np.exp(exponent)))
    if function == "LINEAR_EXACT" and width > 0:
        return linear_window(pixels, center - width / 2, center + width / 2)
    if width >= 1:  # LINEAR, and anything unrecognised
        half = (width - 1) / 2
        return linear_window(pixels, center - 0.5 - half, center - 0.5 + half)
    return None


def _default_display(pixels: np.ndarray, stored: np.ndarray, ds: Dataset) -> np.ndarray:
    """No stored window: data of 8 bits or fewer shown on its full stored scale
    (typical ultrasound, 1-bit masks), everything else by percentiles."""
    bits = _int(ds.get("BitsStored"))
    if bits is not None and 1 <= bits <= 8 and stored.dtype.kind in "bui" and pixels.size:
        top = float(2**bits - 1)
        if float(pixels.min()) >= 0 and float(pixels.max()) <= top:
            return scaled_display(pixels, top)
    return percentile_display(pixels)


def _colour(array: np.ndarray, photometric: str, ds: Dataset) -> DicomPixels:
    if photometric.startswith("YBR"):
        try:  # pydicom converts YBR_FULL(_422) already; this catches the rest it knows
            array = convert_color_space(array, photometric, "RGB")
        except PASS_THROUGH:
            raise
        except Exception:
            array = array[:, :, 0]  # Y is the luma: exactly the grey we want
    pixels = finite_float32(to_gray(array))
    bits = _int(ds.get("BitsStored")) or 8
    if array.dtype.kind == "f" or bits > 32:
        display = percentile_display(pixels)
    elif bits <= 8:
        display = direct_display(pixels)
    else:
        display = scaled_display(pixels, float(2**bits - 1))
    return DicomPixels(pixels, display, colour_fraction(array))


def _palette(array: np.ndarray, ds: Dataset) -> DicomPixels:
    rgb = _apply_lut(apply_color_lut, array, ds, "DICOM colour palette is missing or damaged")
    pixels = finite_float32(to_gray(rgb))
    if rgb.dtype.itemsize > 1:
        display = scaled_display(pixels, 65535.0)
    else:
        display = direct_display(pixels)
    return DicomPixels(pixels, display, colour_fraction(rgb))


def _first_float(value: object) -> float | None:
    if value is None or value == "":
        return None
    try:
        if not isinstance(value, (str, bytes)) and hasattr(value, "__len__"):
            value = value[0] if len(value) else None  # type: ignore[index]
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, IndexError):
        return None
    return number if np.isfinite(number) else None


def _int(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None
