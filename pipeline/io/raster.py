"""PNG, JPEG, BMP and TIFF through Pillow, with the size checked before decoding.

`Image.open` parses only the header, so the declared width and height (and
the page count of a TIFF) are checked against `Limits` before `load()`
allocates the pixel buffer. Pillow's own decompression-bomb guard stays on
as a second line (it runs inside `Image.open`, above ~179 megapixels, so it
only matters to callers who raise `max_pixels`); when it fires, the header is
re-read without it just to report the declared size in the same words.
Warning filters are not touched: they are process-global, and the loader
runs in threaded servers.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import NoReturn

import numpy as np
from PIL import BmpImagePlugin, Image, JpegImagePlugin, PngImagePlugin, TiffImagePlugin

from pipeline.errors import ImageLoadError
from pipeline.io import sniff
from pipeline.io.failures import PASS_THROUGH
from pipeline.io.intensity import colour_fraction, direct_display, finite_float32, percentile_display, to_gray
from pipeline.io.limits import Limits, check_dimensions, check_frame_count, select_frame

_PIL_FORMAT = {sniff.PNG: "PNG", sniff.JPEG: "JPEG", sniff.BMP: "BMP", sniff.TIFF: "TIFF"}
_PLUGIN_CLASS = {
    sniff.PNG: PngImagePlugin.PngImageFile,
    sniff.JPEG: JpegImagePlugin.JpegImageFile,
    sniff.BMP: BmpImagePlugin.BmpImageFile,
    sniff.TIFF: TiffImagePlugin.TiffImageFile,
}
_HIGH_DEPTH_MODES = {"I", "F"}  # plus every "I;16..." mode
_DIRECT_MODES = {"L", "LA", "RGB", "RGBA", "RGBX", "RGBa", "La"}
_CORRUPT = "image data is truncated or corrupt"


@dataclass(frozen=True)
class RasterImage:
    """What the loader needs from a decoded raster file."""

    pixels: np.ndarray  # float32 H x W grey, finite
    display: np.ndarray  # uint8 H x W
    frames: int
    frame: int
    mode: str  # Pillow mode of the decoded page, e.g. "L", "RGBA", "I;16"
    colour_fraction: float | None = None  # coloured pixels of a colour page (None: grey)


def decode_raster(data: bytes, fmt: str, limits: Limits, frame: int | None) -> RasterImage:
    """Decode one page of a PNG/JPEG/BMP/TIFF into grey pixels and a display image."""
    try:
        image = Image.open(io.BytesIO(data), formats=[_PIL_FORMAT[fmt]])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        _explain_bomb(data, fmt, limits)
    except PASS_THROUGH:
        raise
    except Exception:  # UnidentifiedImageError, OSError, SyntaxError, struct.error ...
        raise ImageLoadError(_CORRUPT) from None
    try:
        with image:
            return _decode_page(image, fmt, limits, frame)
    except (ImageLoadError, *PASS_THROUGH):
        raise
    except Exception:  # Pillow signals damaged data with many types (TypeError included)
        raise ImageLoadError(_CORRUPT) from None


def _decode_page(image: Image.Image, fmt: str, limits: Limits, frame: int | None) -> RasterImage:
    width, height = image.size
    check_dimensions(width, height, limits)
    # Only TIFF pages are treated as frames: seeking an animated PNG means
    # decoding every earlier frame, and its first frame is the still image.
    frames = int(getattr(image, "n_frames", 1)) if fmt == sniff.TIFF else 1
    check_frame_count(frames, limits)
    index = select_frame(frames, frame)
    if index:
        image.seek(index)
        width, height = image.size
        check_dimensions(width, height, limits)
    image.load()
    mode = image.mode
    array, high_depth = _to_array(image)
    gray = finite_float32(to_gray(array))
    display = percentile_display(gray) if high_depth else direct_display(gray)
    return RasterImage(pixels=gray, display=display, frames=frames, frame=index, mode=mode,
                       colour_fraction=colour_fraction(array))


def _explain_bomb(data: bytes, fmt: str, limits: Limits) -> NoReturn:
    """Pillow refused the header; say how large the image claims to be if we can."""
    try:
        with _PLUGIN_CLASS[fmt](io.BytesIO(data)) as image:  # header only, no bomb check
            width, height = image.size
    except Exception:
        width = height = 0
    if width and height:
        check_dimensions(width, height, limits)
    raise ImageLoadError(
        "image is too large to decode safely: Pillow's decompression-bomb limit is "
        f"{Image.MAX_IMAGE_PIXELS / 1e6:g} megapixels"
    ) from None


def _to_array(image: Image.Image) -> tuple[np.ndarray, bool]:
    """Numpy array of a loaded page and whether it needs a display window.

    8-bit modes map to grey directly; 16/32-bit and float modes keep their
    values in `pixels` and get a percentile window for display.
    """
    mode = image.mode
    if mode.startswith("I;16") or mode in _HIGH_DEPTH_MODES:
        return np.asarray(image), True
    if mode == "1":
        return np.asarray(image, dtype=np.uint8) * np.uint8(255), False
    if mode in _DIRECT_MODES:
        return np.asarray(image), False
    if mode in ("P", "PA"):
        return np.asarray(image.convert("RGBA")), False  # palette -> colours, alpha ignored
    return np.asarray(image.convert("RGB")), False  # CMYK, YCbCr, LAB, HSV ...
