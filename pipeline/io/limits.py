"""Size limits applied to every image before it is decoded.

Uploads come from browsers and PACS exports we do not control. A 200-byte PNG
can declare a 40000 x 40000 canvas and a DICOM header can claim 60000 rows, so
every limit here is checked from the *header* (or the file size) before any
pixel buffer is allocated: a hostile or damaged file costs a few kilobytes of
parsing, never gigabytes of memory.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

from pipeline.errors import ImageLoadError

MB = 1024 * 1024
# Smallest image side the dashboard ingests (uploads, imports, batch jobs): the model letterboxes every
# image to 128 px and a lesion needs a few dozen pixels to be told from speckle, so anything narrower than
# 32 px (a 1 x 1 tracking pixel, an icon, a thumbnail strip) cannot carry a diagnosis. The library
# default (`Limits.min_side`) stays 1 so code reading small test arrays is unaffected.
UPLOAD_MIN_SIDE = 32


@dataclass(frozen=True)
class Limits:
    """What one call to `load_image` may consume.

    Frozen so a shared default instance can never be changed by one caller for
    everybody else.
    """

    max_bytes: int = 64 * MB  # size of the encoded file
    max_pixels: int = 50_000_000  # rows x columns (x frames x samples for DICOM)
    max_frames: int = 1000  # pages of a TIFF / frames of a DICOM
    max_sequence_depth: int = 8  # nesting of DICOM sequences
    min_side: int = 1  # smallest width and height accepted (uploads: UPLOAD_MIN_SIDE)

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_pixels", "max_frames", "max_sequence_depth", "min_side"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"Limits.{name} must be a positive integer, got {value!r}")


def _megabytes(n_bytes: int) -> str:
    return f"{n_bytes / MB:.1f} MB"


def _limit_megabytes(n_bytes: int) -> str:
    return f"{n_bytes / MB:g} MB"


def _megapixels(n_pixels: int) -> str:
    return f"{n_pixels / 1_000_000:g} megapixels"


def check_file_size(n_bytes: int, limits: Limits) -> None:
    """Reject empty files and files over `max_bytes`."""
    if n_bytes == 0:
        raise ImageLoadError("file is empty")
    if n_bytes > limits.max_bytes:
        raise ImageLoadError(
            f"file is {_megabytes(n_bytes)}, the limit is {_limit_megabytes(limits.max_bytes)}"
        )


def check_dimensions(
    width: int,
    height: int,
    limits: Limits,
    *,
    frames: int = 1,
    samples: int = 1,
) -> None:
    """Reject zero-sized images and images whose pixel count exceeds the limit.

    `frames` and `samples` multiply the count for DICOM, where the whole pixel
    buffer (all frames, all colour samples) may be decoded at once.
    """
    if width <= 0 or height <= 0:
        raise ImageLoadError(f"image is {width} x {height} pixels: it has no pixels to show")
    if min(width, height) < limits.min_side:
        raise ImageLoadError(
            f"image is {width} x {height} pixels: too small to analyse, each side must be at least "
            f"{limits.min_side} pixels"
        )
    total = width * height * max(frames, 1) * max(samples, 1)
    if total <= limits.max_pixels:
        return
    extra = ""
    if frames > 1:
        extra += f" x {frames} frames"
    if samples > 1:
        extra += f" x {samples} colour samples"
    raise ImageLoadError(
        f"image is {width} x {height} pixels{extra}, the limit is {_megapixels(limits.max_pixels)}"
    )


def check_not_blank(pixels) -> None:
    """Reject an image whose pixels all have one value: there is nothing in it to segment or classify.

    Checked after decoding (a blank image is cheap to decode once its size passed the header checks).
    """
    import numpy as np

    array = np.asarray(pixels)
    if array.size == 0:
        raise ImageLoadError("image has no pixels to show")
    first = array.flat[0]
    if not np.any(array != first):
        value = first.item() if hasattr(first, "item") else first
        raise ImageLoadError(
            f"image is blank: every pixel has the same value ({value:g}), so there is nothing to analyse"
            if isinstance(value, (int, float)) else
            "image is blank: every pixel has the same value, so there is nothing to analyse"
        )


def check_frame_count(frames: int, limits: Limits) -> None:
    if frames > limits.max_frames:
        raise ImageLoadError(f"file has {frames} frames, the limit is {limits.max_frames}")


def select_frame(frames: int, frame: int | None) -> int:
    """Index of the frame to decode: the middle one unless the caller asked.

    The middle frame of an ultrasound cine loop or a CT stack is usually the
    most representative single image; the first is often a blank run-in.
    """
    if frame is None:
        return frames // 2
    try:
        if isinstance(frame, bool):
            raise TypeError
        frame = operator.index(frame)  # accepts numpy integers too
    except TypeError:
        raise ImageLoadError(f"frame must be a whole number, got {frame!r}") from None
    if not 0 <= frame < frames:
        noun = "frame" if frames == 1 else "frames"
        raise ImageLoadError(
            f"frame {frame} does not exist: the file has {frames} {noun} "
            f"(numbered 0 to {frames - 1})"
        )
    return frame
