"""Read the width and height a compressed DICOM frame declares, without decoding it.

The DICOM header may say 512 x 512 while the embedded JPEG or JPEG 2000
codestream says 60000 x 60000; the decoder allocates what the codestream
says. Reading the codestream's own frame header (JPEG SOFn, JPEG-LS SOF55,
JPEG 2000 SIZ, JP2 ihdr) lets `dicom_pixels` apply the pixel limit to the
size that will actually be allocated.
"""

from __future__ import annotations

import struct

_SCAN_BYTES = 1 << 16  # frame headers sit in the first few hundred bytes
# JPEG start-of-frame markers: SOF0..SOF15 except DHT (C4), JPG (C8), DAC (CC); JPEG-LS SOF55 (F7)
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF, 0xF7}
_JPEG_STANDALONE = {0x01, *range(0xD0, 0xD8)}  # TEM, RST0..7: no length field


def declared_size(frame: bytes) -> tuple[int, int] | None:
    """(width, height) from a JPEG, JPEG-LS, J2K or JP2 frame; None if not recognised."""
    head = bytes(frame[:_SCAN_BYTES])
    try:
        if head.startswith(b"\xff\xd8"):
            return _jpeg_size(head)
        if head.startswith(b"\xff\x4f\xff\x51"):
            return _j2k_size(head, 2)
        if head[4:12] == b"jP  \r\n\x87\n":
            return _jp2_size(head)
    except struct.error:  # header cut short: the decoder will report it
        return None
    return None


def _jpeg_size(head: bytes) -> tuple[int, int] | None:
    offset = 2
    while offset + 4 <= len(head):
        if head[offset] != 0xFF:
            return None
        marker = head[offset + 1]
        if marker == 0xFF:  # fill byte
            offset += 1
            continue
        if marker in _JPEG_STANDALONE:
            offset += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image / start of scan before any frame header
            return None
        (length,) = struct.unpack_from(">H", head, offset + 2)
        if marker in _JPEG_SOF:
            height, width = struct.unpack_from(">HH", head, offset + 5)
            return width, height
        offset += 2 + length
    return None


def _j2k_size(head: bytes, siz_marker_offset: int) -> tuple[int, int]:
    # SIZ: marker(2) Lsiz(2) Rsiz(2) Xsiz(4) Ysiz(4) XOsiz(4) YOsiz(4)
    xsiz, ysiz, xosiz, yosiz = struct.unpack_from(">IIII", head, siz_marker_offset + 6)
    return max(xsiz - xosiz, 0), max(ysiz - yosiz, 0)


def _jp2_size(head: bytes) -> tuple[int, int] | None:
    index = head.find(b"ihdr")
    if index < 4:
        return None
    height, width = struct.unpack_from(">II", head, index + 4)
    return width, height
