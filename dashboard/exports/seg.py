"""The predicted lesion mask as a DICOM Segmentation (SEG) that references the case's source image.

Only a case uploaded as DICOM has a DICOM image to reference: the store keeps
its de-identified file (`source.dcm`; served only beside the SEG, `seg_bundle`). The SEG copies the
patient/study attributes from that de-identified header (so it carries the
case's pseudonym, never the original name or ID), joins its study, and names
the source instance (and frame) it segments, which is what lets OHIF or 3D
Slicer open it on top of the image. Raster cases (PNG, JPEG, ...) have no
such image: `SegUnavailable` says so in words the route passes on.

Choices: a BINARY segment "Lesion" (SCT Morphologically abnormal structure /
Lesion), algorithm type AUTOMATIC named after the model and its version,
Content Qualification RESEARCH; UIDs derived from the source instance, the
model and the mask, so downloading the same result twice gives the same
instance UID (a PACS does not collect duplicates) and a changed mask a new one.
The pseudonym is a one-part name (`c…`); highdicom's warning about that is muted.

Source files lacking Type 2 attributes that highdicom copies (e.g. a
de-identified file without PatientBirthDate) get them as empty values on an
in-memory copy; the stored file is never changed. A multi-frame source
without a frame of reference (an ultrasound cine) cannot have one of its
frames referenced by highdicom 0.28, and is refused with that reason.
"""

from __future__ import annotations

import hashlib
import io
import warnings

import numpy as np

SERIES_NUMBER = 9901  # high, so the SEG sorts after the acquired series in a viewer
CONTENT_DESCRIPTION = "Research use only, not a medical device"  # LO: at most 64 characters
TYPE2_BLANKS = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
                "ReferringPhysicianName", "StudyID", "AccessionNumber")


class SegUnavailable(Exception):
    """No DICOM SEG can be made for this case; the message says why, in plain words."""


def _lo(text: str) -> str:
    """A value fit for a DICOM LO element (64 characters, no backslash)."""
    return str(text).replace("\\", "/")[:64] or "unknown"


def _readable_source(data: bytes):
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(io.BytesIO(data))
    except (InvalidDicomError, ValueError, EOFError) as exc:
        raise SegUnavailable("the stored DICOM file of this case cannot be read") from exc
    for keyword in TYPE2_BLANKS:
        if keyword not in ds:
            setattr(ds, keyword, "")
    for keyword in ("SeriesNumber", "InstanceNumber"):
        if keyword not in ds:
            setattr(ds, keyword, None)
    return ds


def seg_pixels(ds, mask: np.ndarray, frame: int | None) -> np.ndarray:
    """The pixel array highdicom expects for `ds`: the 2-D mask, or a stack with it at `frame`."""
    mask = np.asarray(mask, dtype=bool)
    rows, columns = int(ds.Rows), int(ds.Columns)
    if mask.shape != (rows, columns):
        raise SegUnavailable(f"the mask is {mask.shape[1]} x {mask.shape[0]} pixels but the DICOM image is "
                             f"{columns} x {rows}")
    frames = int(ds.get("NumberOfFrames") or 1)
    if frames == 1:
        return mask[None].astype(np.uint8)
    if "FrameOfReferenceUID" not in ds:
        raise SegUnavailable("the source is a multi-frame DICOM without a frame of reference (e.g. an "
                             "ultrasound cine); a DICOM SEG cannot reference one of its frames")
    index = int(frame or 0)
    if not 0 <= index < frames:
        raise SegUnavailable(f"frame {index} is not in the {frames}-frame source")
    stack = np.zeros((frames, rows, columns), dtype=np.uint8)
    stack[index] = mask
    return stack


def seg_bytes(source_dicom: bytes, mask: np.ndarray, model_name: str, model_version: str,
              frame: int | None = None) -> bytes:
    """A DICOM SEG (Part 10 file bytes) of `mask` over the image in `source_dicom`."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    ds = _readable_source(source_dicom)
    pixels = seg_pixels(ds, mask, frame)
    description = hd.seg.SegmentDescription(
        segment_number=1,
        segment_label="Lesion (predicted)",
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=codes.SCT.Lesion,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
        algorithm_identification=hd.AlgorithmIdentificationSequence(
            name=_lo(model_name), version=_lo(model_version), family=codes.cid7162.ArtificialIntelligence),
    )
    digest = hashlib.sha256(np.packbits(pixels.astype(bool)).tobytes()).hexdigest()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*unlikely to represent the intended person name.*")
        seg = _segmentation(hd, ds, pixels, description, str(model_name), str(model_version), digest)
    buffer = io.BytesIO()
    seg.save_as(buffer)
    return buffer.getvalue()


def _segmentation(hd, ds, pixels, description, model_name: str, model_version: str, digest: str):
    from pydicom.uid import generate_uid

    identity = [str(ds.SOPInstanceUID), model_name, model_version]
    return hd.seg.Segmentation(
        source_images=[ds],
        pixel_array=pixels,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[description],
        series_instance_uid=generate_uid(entropy_srcs=[*identity, "lesionlens-seg-series"]),
        series_number=SERIES_NUMBER,
        sop_instance_uid=generate_uid(entropy_srcs=[*identity, digest, "lesionlens-seg-instance"]),
        instance_number=1,
        manufacturer="Lesion Lens",
        manufacturer_model_name=_lo(model_name),
        software_versions=_lo(model_version),
        device_serial_number="not applicable",
        content_description=CONTENT_DESCRIPTION,
        content_label="LESION",
        content_qualification=hd.ContentQualificationValues.RESEARCH,
        series_description=_lo(f"Lesion Lens {model_name} v{model_version} (research)"),
        omit_empty_frames=bool(pixels.shape[0] > 1 and pixels.any()),
    )
