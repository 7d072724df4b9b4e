"""Image input: PNG, JPEG, BMP, TIFF and DICOM files to `ImageRecord`s.

    from pipeline.io import load_image, Limits, sniff_format
    record = load_image(path_or_bytes, limits=Limits(max_pixels=20_000_000))

One module per job: `source` (path/bytes, size), `sniff` (format from magic
bytes), `raster` (Pillow formats), `dicom_header` / `dicom_pixels` /
`dicom_meta` (DICOM parsing, decoding, non-identifying metadata), `intensity`
(grey conversion and display windows), `record` (assembly), `loader` (the
public entry point and its catch-all), `writers` (PNG out), `synthetic`
(small sample files for tests and demos). Every failure is an
`ImageLoadError` with a message meant for clinicians.

Records of multi-frame files (TIFF pages, DICOM frames) carry the decoded
frame's 0-based index as `metadata["frame"]` next to `frames`.
"""

from pipeline.errors import ImageLoadError
from pipeline.io.limits import Limits
from pipeline.io.loader import load_image
from pipeline.io.record import record_from_array
from pipeline.io.sniff import sniff_format
from pipeline.io.writers import to_png_bytes

__all__ = [
    "ImageLoadError",
    "Limits",
    "load_image",
    "record_from_array",
    "sniff_format",
    "to_png_bytes",
]
