"""Parse a DICOM file and vet its header before any pixel is decoded.

pydicom reads the whole dataset into memory but keeps Pixel Data as raw
bytes, so everything here is cheap: structural checks (sequence nesting,
presence of pixel data), the size limits from Rows x Columns x frames x
samples, and whether a decoder exists for the transfer syntax. Only when all
pass does `dicom_pixels` touch the pixel data.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import pydicom
from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.pixels import get_decoder
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from pipeline.errors import ImageLoadError
from pipeline.io import jpeg12  # noqa: F401 - registers the permissive 12-bit JPEG decoder
from pipeline.io.limits import Limits, check_dimensions, check_frame_count

PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
_PIXEL_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})
# (7FE0,0010) as it appears on disk, little and big endian
_PIXEL_TAG_BYTES = (b"\xe0\x7f\x10\x00", b"\x7f\xe0\x00\x10")
_TOO_DEEP = "DICOM file has sequences nested more than {limit} levels deep"
# what a reader says when Python's own recursion limit stops it (de-identification reads the same way)
NESTED_TOO_DEEPLY = "DICOM file has sequences nested too deeply to read"
_UNDEFINED_LENGTH = 0xFFFFFFFF

# Enhanced (multi-frame) objects keep per-frame attributes in functional groups
# rather than at the top level; these are copied up for the frame we decode.
_FUNCTIONAL_GROUPS = (
    ("PixelMeasuresSequence", ("PixelSpacing",)),
    ("PixelValueTransformationSequence", ("RescaleSlope", "RescaleIntercept", "RescaleType")),
    ("FrameVOILUTSequence", ("WindowCenter", "WindowWidth", "VOILUTFunction")),
)


@dataclass(frozen=True)
class DicomHeader:
    """Image geometry read from the header, already checked against `Limits`."""

    rows: int
    columns: int
    frames: int
    samples: int
    photometric: str
    transfer_syntax: UID


def read_dataset(data: bytes) -> Dataset:
    """Parse bytes with a preamble normally, bare datasets with `force=True`.

    `force` is only used after `sniff` saw a group 0x0002/0x0008 tag at offset
    0, so pydicom's permissive mode never runs on arbitrary bytes.
    """
    has_preamble = len(data) >= 132 and data[128:132] == b"DICM"
    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=not has_preamble)
    except RecursionError:
        raise ImageLoadError(NESTED_TOO_DEEPLY) from None
    except InvalidDicomError:
        raise ImageLoadError("file is not a valid DICOM file") from None
    except MemoryError:
        raise
    except Exception:
        raise ImageLoadError("DICOM file is truncated or corrupt") from None
    _ensure_transfer_syntax(ds)
    return ds


def _ensure_transfer_syntax(ds: Dataset) -> None:
    """Files without meta information get the transfer syntax they were read with."""
    meta = getattr(ds, "file_meta", None)
    if meta is None:
        meta = ds.file_meta = FileMetaDataset()
    if meta.get("TransferSyntaxUID"):
        return
    implicit, little = getattr(ds, "original_encoding", (None, None))
    if implicit:
        meta.TransferSyntaxUID = ImplicitVRLittleEndian
    elif little is False:
        meta.TransferSyntaxUID = ExplicitVRBigEndian
    else:
        meta.TransferSyntaxUID = ExplicitVRLittleEndian


def check_sequence_depth(ds: Dataset, limit: int) -> None:
    """Reject datasets whose sequences nest deeper than `limit`.

    Walks iteratively (no recursion of our own), parsing each sequence as it
    is reached. An element pydicom cannot convert is dropped: it is never a
    pixel attribute we need (those are checked separately) and a damaged
    private tag should not cost the clinician the image.
    """
    stack: list[tuple[Dataset, int]] = [(ds, 0)]
    while stack:
        current, depth = stack.pop()
        for tag in list(current.keys()):
            if tag in _PIXEL_TAGS:  # never a sequence; the decoder vets it
                continue
            try:
                if not _may_be_sequence(current, tag):
                    continue
                element = current[tag]
            except RecursionError:
                raise ImageLoadError(_TOO_DEEP.format(limit=limit)) from None
            except Exception:
                del current[tag]
                continue
            if element.VR != "SQ":
                continue
            if depth + 1 > limit:
                raise ImageLoadError(_TOO_DEEP.format(limit=limit))
            stack.extend((item, depth + 1) for item in element.value if isinstance(item, Dataset))


def _may_be_sequence(ds: Dataset, tag: int) -> bool:
    raw = ds.get_item(tag)
    if raw is None:
        return False
    vr = raw.VR
    if vr is None:  # implicit VR: the dictionary decides; private tags are unknown
        try:
            vr = dictionary_VR(tag)
        except KeyError:
            vr = "UN"
    return vr in ("SQ", "UN") or getattr(raw, "length", 0) == _UNDEFINED_LENGTH


def lift_functional_groups(ds: Dataset, frame: int) -> None:
    """Copy spacing, rescale and window of `frame` from functional groups to the top.

    Top-level values win; then the frame's own group; then the shared group.
    The rest of the loader then treats enhanced and classic objects alike.
    """
    groups: list[Dataset] = []
    try:
        per_frame = ds.get("PerFrameFunctionalGroupsSequence")
        if per_frame and 0 <= frame < len(per_frame):
            groups.append(per_frame[frame])
        shared = ds.get("SharedFunctionalGroupsSequence")
        if shared:
            groups.append(shared[0])
    except Exception:
        return
    for group in groups:
        for sequence, keywords in _FUNCTIONAL_GROUPS:
            try:
                items = group.get(sequence)
                if not items:
                    continue
                for keyword in keywords:
                    if keyword not in ds and keyword in items[0]:
                        setattr(ds, keyword, items[0][keyword].value)
            except Exception:  # a malformed group adds nothing
                continue


def read_header(ds: Dataset, limits: Limits, data: bytes = b"") -> DicomHeader:
    """Geometry and decodability, checked before Pixel Data is decoded.

    `data` (the file's bytes) tells a truncated image, whose Pixel Data tag is
    in the bytes but was not parsed, from a file that never had pixels.
    """
    if not any(keyword in ds for keyword in PIXEL_KEYWORDS):
        if any(marker in data for marker in _PIXEL_TAG_BYTES):
            raise ImageLoadError("DICOM file is truncated or corrupt: its pixel data cannot be read")
        raise ImageLoadError(
            "DICOM file has no pixel data: it may be a report, structure set or treatment plan"
        )
    rows = _int(ds, "Rows")
    columns = _int(ds, "Columns")
    if rows is None or columns is None:
        raise ImageLoadError("DICOM image has no Rows/Columns size in its header")
    samples = _int(ds, "SamplesPerPixel") or 1
    frames = _int(ds, "NumberOfFrames") or 1
    if frames < 1:
        frames = 1
    check_frame_count(frames, limits)
    check_dimensions(columns, rows, limits, frames=frames, samples=samples)
    if samples not in (1, 3):
        raise ImageLoadError(f"DICOM image with {samples} samples per pixel is not supported")
    photometric = (_str(ds, "PhotometricInterpretation") or "").upper()
    if not photometric:  # required, but often missing in old files
        photometric = "MONOCHROME2" if samples == 1 else "RGB"
        ds.PhotometricInterpretation = photometric
    transfer_syntax = UID(str(ds.file_meta.TransferSyntaxUID))
    _check_decoder(transfer_syntax, ds)
    return DicomHeader(rows, columns, frames, samples, photometric, transfer_syntax)


def _check_decoder(transfer_syntax: UID, ds: Dataset) -> None:
    if "PixelData" not in ds:  # float pixel data is always native
        return
    name = transfer_syntax.name if transfer_syntax.is_transfer_syntax else ""
    try:
        decoder = get_decoder(transfer_syntax)
    except NotImplementedError:
        if name:
            raise ImageLoadError(f"DICOM compressed with {name} cannot be decoded") from None
        raise ImageLoadError("DICOM uses an unknown transfer syntax and cannot be decoded") from None
    if not decoder.is_available:
        raise ImageLoadError(
            f"DICOM compressed with {name or 'an unknown method'} cannot be decoded: "
            "the decoder is not installed"
        )


def _int(ds: Dataset, keyword: str) -> int | None:
    try:
        value = ds.get(keyword)
        if value is None or value == "":
            return None
        return int(value)
    except Exception:
        return None


def _str(ds: Dataset, keyword: str) -> str | None:
    try:
        value = ds.get(keyword)
    except Exception:
        return None
    return None if value is None else str(value).strip()
