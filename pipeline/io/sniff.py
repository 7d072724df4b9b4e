"""Recognise an image format from its first bytes, never from its file name.

Browsers, PACS exports and e-mail attachments rename files freely ("IM0001",
"scan.png" that is really a JPEG, DICOM files without extension), so the name
is ignored and only the content decides. Each test is a cheap check of a magic
number; nothing is decoded here.
"""

from __future__ import annotations

import struct

PNG = "png"
JPEG = "jpeg"
BMP = "bmp"
TIFF = "tiff"
DICOM = "dicom"

FORMATS = (PNG, JPEG, BMP, TIFF, DICOM)

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_BMP_DIB_HEADER_SIZES = {12, 16, 40, 52, 56, 64, 108, 124}  # OS/2 1.x/2.x, Windows v1..v5
_DICOM_GROUPS = {0x0002, 0x0008}  # file meta / identifying group start a bare dataset
_UPPER = frozenset(range(ord("A"), ord("Z") + 1))


def sniff_format(data: bytes) -> str | None:
    """Return "png", "jpeg", "bmp", "tiff" or "dicom", or None when unrecognised."""
    head = bytes(data[:256])
    if head.startswith(_PNG_SIGNATURE):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if len(head) >= 132 and head[128:132] == b"DICM":
        return DICOM  # before TIFF: DICOM preambles often hold a TIFF header (dual files)
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return TIFF
    if _looks_like_bmp(head):
        return BMP
    if _looks_like_bare_dicom(head):
        return DICOM
    return None


def _looks_like_bmp(head: bytes) -> bool:
    """"BM" alone matches plenty of text, so also require a known DIB header size."""
    if len(head) < 18 or head[:2] != b"BM":
        return False
    (dib_size,) = struct.unpack_from("<I", head, 14)
    return dib_size in _BMP_DIB_HEADER_SIZES


def _looks_like_bare_dicom(head: bytes) -> bool:
    """A DICOM dataset written without the 128-byte preamble and "DICM" marker.

    Old modalities and some anonymisers write these. The first element must be
    in group 0x0002 or 0x0008 (little or big endian), followed either by an
    explicit two-letter VR or by a plausible implicit-VR length. This keeps
    pydicom's permissive `force=True` mode away from arbitrary bytes.
    """
    if len(head) < 8:
        return False
    little_group = struct.unpack_from("<H", head, 0)[0]
    big_group = struct.unpack_from(">H", head, 0)[0]
    if little_group in _DICOM_GROUPS:
        order = "<"
    elif big_group in _DICOM_GROUPS:
        order = ">"
    else:
        return False
    if head[4] in _UPPER and head[5] in _UPPER:  # explicit VR, e.g. "UL", "CS"
        return True
    (length,) = struct.unpack_from(order + "I", head, 4)  # implicit VR: 32-bit length
    return length < 1024 or length == 0xFFFFFFFF
