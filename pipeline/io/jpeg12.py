"""A pydicom decoder plugin for 12-bit 'JPEG Extended' (process 2 & 4) through GDCM.

The permissive decoders installed (python-gdcm: Apache-2.0 wrapper of BSD GDCM; Pillow;
pylibjpeg-openjpeg; pylibjpeg-rle; pyjpegls) cover every transfer syntax pydicom knows except
12-bit JPEG Extended: pydicom 3.0's GDCM plugin declines 12-bit samples and Pillow's cannot
decode them, which left the GPL-3.0 pylibjpeg-libjpeg as the only decoder. GDCM itself decodes
12-bit JPEG with its bundled 12-bit IJG codec; this plugin hands it the frame the same way
pydicom's GDCM plugin does. On pydicom's `JPGExtended.dcm` the result equals GDCM's own file
reader and differs from libjpeg's by at most 1 in 1.4% of pixels (inverse-DCT rounding, within
what the JPEG standard allows); `tests/unit/test_io_pydicom_samples.py` pins reference values.

Importing this module registers the plugin once (`register()`); 8-bit JPEG Extended stays with
pydicom's own plugins, which are tried first. GDCM's bundled IJG library tries its 8-bit codec
first and prints "Unsupported JPEG data precision 12" (and any marker error it recovers from)
straight to stderr; `gdcm.Trace` does not silence it.
"""

from __future__ import annotations

from typing import Any

from pydicom import uid
from pydicom.pixels.decoders.base import JPEGExtended12BitDecoder

try:
    import gdcm

    HAVE_GDCM = True
except ImportError:  # pragma: no cover - python-gdcm is a pinned requirement
    HAVE_GDCM = False

LABEL = "gdcm-12bit"
DECODER_DEPENDENCIES = {uid.JPEGExtended12Bit: ("python-gdcm>=3.0.10",)}


def is_available(transfer_syntax: str) -> bool:
    return HAVE_GDCM and transfer_syntax in DECODER_DEPENDENCIES


def _decode_frame(src: bytes, runner: Any) -> bytes:
    """One encoded frame to bytes (pydicom's `DecodeRunner` supplies the geometry)."""
    if runner.bits_stored <= 8:
        raise NotImplementedError("8-bit JPEG Extended is left to pydicom's plugins")
    fragment = gdcm.Fragment()
    fragment.SetByteStringValue(src)
    fragments = gdcm.SequenceOfFragments.New()
    fragments.AddFragment(fragment)
    element = gdcm.DataElement(gdcm.Tag(0x7FE0, 0x0010))
    element.SetValue(fragments.__ref__())

    image = gdcm.Image()
    image.SetNumberOfDimensions(2)
    image.SetDimensions((runner.columns, runner.rows, 1))
    image.SetDataElement(element)
    pi_type = gdcm.PhotometricInterpretation.GetPIType(runner.photometric_interpretation)
    image.SetPhotometricInterpretation(gdcm.PhotometricInterpretation(pi_type))
    if runner.samples_per_pixel > 1:
        image.SetPlanarConfiguration(runner.planar_configuration)
    ts_type = gdcm.TransferSyntax.GetTSType(str.__str__(runner.transfer_syntax))
    image.SetTransferSyntax(gdcm.TransferSyntax(ts_type))
    image.SetPixelFormat(
        gdcm.PixelFormat(
            runner.samples_per_pixel,
            runner.bits_allocated,
            runner.bits_stored,
            runner.bits_stored - 1,
            runner.pixel_representation,
        )
    )
    buffer: str = image.GetBuffer()  # char* comes back as str
    frame = buffer.encode("utf-8", "surrogateescape")
    expected = runner.rows * runner.columns * runner.samples_per_pixel * (runner.bits_allocated // 8)
    if len(frame) < expected:
        raise ValueError("GDCM could not decode the 12-bit JPEG frame")
    return frame


def register() -> None:
    if LABEL not in JPEGExtended12BitDecoder.available_plugins and HAVE_GDCM:
        try:
            JPEGExtended12BitDecoder.add_plugin(LABEL, (__name__, "_decode_frame"))
        except ValueError:  # registered concurrently, or listed as unavailable
            pass


register()
