"""Small image files built in memory, for tests, demos and API examples.

Real clinical files cannot live in the repository, so tests of every layer
(loader, API upload, dashboard) build what they need here: raster files via
Pillow and DICOM files via pydicom with exactly the attributes a test is
about. Nothing here is used by the loader itself.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    UID,
    ExplicitVRLittleEndian,
    SecondaryCaptureImageStorage,
    UltrasoundImageStorage,
    UltrasoundMultiFrameImageStorage,
    generate_uid,
)

_PIL_FORMAT = {"png": "PNG", "jpeg": "JPEG", "bmp": "BMP", "tiff": "TIFF"}


def gradient(height: int = 32, width: int = 48, *, dtype: Any = np.uint8, seed: int = 0) -> np.ndarray:
    """A deterministic test pattern: a diagonal ramp plus mild noise, full range of `dtype`."""
    rng = np.random.default_rng(seed)
    ramp = np.add.outer(np.arange(height), np.arange(width)) / max(height + width - 2, 1)
    noisy = np.clip(ramp + rng.normal(0, 0.02, ramp.shape), 0, 1)
    top = np.iinfo(dtype).max if np.issubdtype(dtype, np.integer) else 1.0
    return (noisy * top).astype(dtype)


def raster_bytes(array: np.ndarray, fmt: str = "png", **save_args: Any) -> bytes:
    """Encode an H x W (grey, uint8/uint16) or H x W x 3|4 uint8 array as png/jpeg/bmp/tiff."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buffer, format=_PIL_FORMAT[fmt], **save_args)
    return buffer.getvalue()


def multipage_tiff_bytes(pages: list[np.ndarray]) -> bytes:
    images = [Image.fromarray(np.ascontiguousarray(page)) for page in pages]
    buffer = io.BytesIO()
    images[0].save(buffer, format="TIFF", save_all=True, append_images=images[1:])
    return buffer.getvalue()


def dicom_dataset(
    pixels: np.ndarray,
    *,
    multiframe: bool = False,
    photometric: str | None = None,
    modality: str = "US",
    **attributes: Any,
) -> Dataset:
    """A valid DICOM dataset around `pixels` (uint8, uint16 or int16).

    Shapes: H x W, H x W x 3 (RGB), or with `multiframe` F x H x W and
    F x H x W x 3. `attributes` are set by keyword (PatientAge="045Y", ...).
    """
    pixels = np.ascontiguousarray(pixels)
    frame_shape = pixels.shape[1:] if multiframe else pixels.shape
    samples = 3 if len(frame_shape) == 3 else 1
    if pixels.dtype not in (np.uint8, np.uint16, np.int16):
        raise ValueError(f"dicom_dataset supports uint8, uint16 and int16 pixels, got {pixels.dtype}")
    bits = pixels.dtype.itemsize * 8
    if multiframe:
        sop_class = UltrasoundMultiFrameImageStorage if modality == "US" else SecondaryCaptureImageStorage
    else:
        sop_class = UltrasoundImageStorage if modality == "US" else SecondaryCaptureImageStorage

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian

    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = modality
    ds.PatientName = "Synthetic^Patient"
    ds.PatientID = "SYN-0001"
    ds.Rows, ds.Columns = int(frame_shape[0]), int(frame_shape[1])
    ds.SamplesPerPixel = samples
    ds.PhotometricInterpretation = photometric or ("RGB" if samples == 3 else "MONOCHROME2")
    if samples == 3:
        ds.PlanarConfiguration = 0
    ds.BitsAllocated = bits
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 1 if pixels.dtype == np.int16 else 0
    if multiframe:
        ds.NumberOfFrames = int(pixels.shape[0])
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    ds.PixelData = pixels.tobytes()
    return ds


def dicom_bytes(
    pixels: np.ndarray,
    *,
    preamble: bool = True,
    compress: UID | str | None = None,
    **kwargs: Any,
) -> bytes:
    """Serialised DICOM file of `dicom_dataset(pixels, **kwargs)`.

    `preamble=False` drops the 128-byte preamble and "DICM" marker (the file
    then starts with the group 0x0002 meta elements); `compress` re-encodes
    the pixel data with pydicom's encoders (e.g. RLE Lossless).
    """
    ds = dicom_dataset(pixels, **kwargs)
    if compress is not None:
        ds.compress(UID(str(compress)))
    return dataset_bytes(ds, preamble=preamble)


def dataset_bytes(ds: Dataset, *, preamble: bool = True) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    data = buffer.getvalue()
    return data if preamble else data[132:]
