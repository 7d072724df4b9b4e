"""`load_image`: any supported file in, one `ImageRecord` out, or one readable error.

The contract callers rely on (dashboard upload, API, batch CLI) is that the
only exception is `ImageLoadError`, whose message can be shown to a
clinician as is. The format modules raise specific messages for the problems
we know about; the final `except` here turns everything else (pydicom
warnings promoted to errors, struct.error, numpy errors, MemoryError,
RecursionError, panics of native decoders) into a generic message. Messages never quote the file's
content or name, so patient identifiers cannot leak through them.
"""

from __future__ import annotations

import hashlib
import logging

from pipeline.errors import ImageLoadError
from pipeline.io import sniff
from pipeline.io.dicom_header import (
    check_sequence_depth,
    lift_functional_groups,
    read_dataset,
    read_header,
)
from pipeline.io.dicom_meta import metadata, modality, spacing_mm
from pipeline.io.dicom_pixels import decode_frame
from pipeline.io.failures import CONTROL_FLOW
from pipeline.io.limits import Limits, select_frame
from pipeline.io.raster import decode_raster
from pipeline.io.record import make_record
from pipeline.io.source import Source, read_source
from pipeline.types import ImageRecord

log = logging.getLogger(__name__)

UNSUPPORTED = "file is not a supported image: expected PNG, JPEG, BMP, TIFF or DICOM"
GENERIC = "image data is truncated or corrupt"
TOO_LARGE = "image is too large to load in the available memory"
TOO_DEEP = "file structure is nested too deeply to read"

DEFAULT_LIMITS = Limits()


def load_image(
    source: Source,
    *,
    limits: Limits = DEFAULT_LIMITS,
    frame: int | None = None,
) -> ImageRecord:
    """Decode a PNG, JPEG, BMP, TIFF or DICOM file (path or bytes) to an `ImageRecord`.

    `frame` picks a page of a multi-page TIFF or a frame of a multi-frame
    DICOM (0-based); by default the middle one. Raises `ImageLoadError` and
    nothing else for bad input; a non-`Limits` `limits` is a programming
    error and raises TypeError.
    """
    if not isinstance(limits, Limits):
        raise TypeError(f"limits must be a pipeline.io.Limits, got {type(limits).__name__}")
    try:
        return _load(source, limits, frame)
    except ImageLoadError:
        raise
    except MemoryError:
        raise ImageLoadError(TOO_LARGE) from None
    except RecursionError:
        raise ImageLoadError(TOO_DEEP) from None
    except CONTROL_FLOW:
        raise
    except BaseException as exc:  # noqa: BLE001 - the contract: only ImageLoadError escapes
        # BaseException: native decoders raise Rust panics (see `failures`).
        # Only the type is logged: exception texts from parsers can quote header values.
        log.info("image rejected after unexpected %s", type(exc).__name__)
        raise ImageLoadError(GENERIC) from None


def _load(source: Source, limits: Limits, frame: int | None) -> ImageRecord:
    data = read_source(source, limits)
    digest = hashlib.sha256(data).hexdigest()
    fmt = sniff.sniff_format(data)
    if fmt is None:
        raise ImageLoadError(UNSUPPORTED)
    if fmt == sniff.DICOM:
        return _load_dicom(data, limits, frame, digest)
    raster = decode_raster(data, fmt, limits, frame)
    fields: dict = {"frame": raster.frame} if raster.frames > 1 else {}
    if raster.colour_fraction is not None:
        fields["colour_fraction"] = raster.colour_fraction  # read by the out-of-distribution guard
    return make_record(
        raster.pixels,
        raster.display,
        source_format=fmt,
        sha256=digest,
        frames=raster.frames,
        metadata=fields,
    )


def _load_dicom(data: bytes, limits: Limits, frame: int | None, digest: str) -> ImageRecord:
    ds = read_dataset(data)
    check_sequence_depth(ds, limits.max_sequence_depth)
    header = read_header(ds, limits, data)
    index = select_frame(header.frames, frame)
    lift_functional_groups(ds, index)
    decoded = decode_frame(ds, header, index, limits)
    fields = metadata(ds)
    if header.frames > 1:
        fields["frame"] = index
    if decoded.colour_fraction is not None:
        fields["colour_fraction"] = decoded.colour_fraction
    return make_record(
        decoded.pixels,
        decoded.display,
        source_format=sniff.DICOM,
        sha256=digest,
        spacing_mm=spacing_mm(ds),
        modality=modality(ds),
        frames=header.frames,
        metadata=fields,
    )
