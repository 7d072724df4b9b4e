"""The DICOM SEG together with the image it references, as one ZIP that OHIF or 3D Slicer can open.

A SEG names its source image only by UID, and the image it names is the
case's stored `source.dcm`: the copy de-identified on ingest (every ingest
path — upload, API, import CLI, batch job — goes through
`sandbox.prepare_upload` → `pipeline.deid.deidentify_bytes`: PS3.15 Basic
Profile + Retain Patient Characteristics, PatientName = PatientID = the case
id, UIDs keyed by the deployment salt, private and overlay groups removed,
dates emptied, a zeroed preamble). Nobody outside holds that file, so a SEG
download alone cannot be viewed; this bundle ships the stored file byte for
byte beside the SEG built from it, so the reference resolves by construction.

Serving it is a release of pixel data in a portable clinical format, so
`release_problem` re-reads the stored header first and fails closed: the file
must carry the marks `deidentify` writes (zeroed preamble, PatientIdentityRemoved
YES, our DeidentificationMethod, the case id as PatientName and PatientID, no
private elements, no other person name with a value). A header that says text is
burned into the pixels (BurnedInAnnotation YES, which the de-identifier keeps
and records as "burned-in text NOT removed") is refused as well: a person has to
check such an image, and a "de-identified" ZIP is exactly what would skip that.
Pixel text that the header does not declare cannot be detected here; the
README says so (the same pixels are already on the page and in the PNG/PDF).
"""

from __future__ import annotations

import io
import zipfile

from dashboard.exports.case_data import INTENDED_USE, CaseExport

IMAGE_NAME = "image.dcm"
SEG_NAME = "seg.dcm"
README_NAME = "README.txt"
PREAMBLE = bytes(128)


def release_problem(source: bytes, case_id: str) -> str | None:
    """Why the stored DICOM must not leave the system (None when it carries the de-identifier's marks)."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    from pipeline.deid.core import METHOD, values_of

    if source[:128] != PREAMBLE or source[128:132] != b"DICM":
        return "the stored DICOM file does not have the zeroed preamble the de-identifier writes"
    try:
        ds = pydicom.dcmread(io.BytesIO(source), stop_before_pixels=True)
    except (InvalidDicomError, ValueError, EOFError):
        return "the stored DICOM file cannot be read"
    methods = [str(v) for v in values_of(ds.get("DeidentificationMethod"))]
    if str(ds.get("PatientIdentityRemoved", "")).upper() != "YES" or METHOD not in methods:
        return "the stored DICOM file is not marked as de-identified by Lesion Lens"
    if str(ds.get("PatientName", "")) != case_id or str(ds.get("PatientID", "")) != case_id:
        return "the stored DICOM file does not name the patient by the case's pseudonym"
    if str(ds.get("BurnedInAnnotation", "")).strip().upper() == "YES" or any("burned-in" in m for m in methods):
        return ("its image has text burned into the pixels (BurnedInAnnotation YES), which de-identification "
                "does not remove; a person must check it before the image leaves the system")
    for element in ds.iterall():
        if element.tag.is_private:
            return "the stored DICOM file holds private elements"
        if element.VR == "PN" and element.tag != 0x00100010 and str(element.value or "").strip():
            return "the stored DICOM file holds a person's name"
    return None


def readme_text(export: CaseExport) -> str:
    """What the two files are, how to open them, and what they are not (a medical device)."""
    model = export.model or {}
    return "\n".join([
        f"Lesion Lens case {export.case_id}: the predicted lesion as a DICOM Segmentation, with its image.",
        "",
        f"  {IMAGE_NAME}  the de-identified image (patient = the case pseudonym {export.case_id}; UIDs replaced)",
        f"  {SEG_NAME}    the segmentation by {model.get('name', '?')} v{model.get('version', '?')}; "
        f"it references {IMAGE_NAME}",
        "",
        "To view: in 3D Slicer, drag this folder into the DICOM browser (it imports both files), then load the",
        "patient; or open both files in OHIF (e.g. its local viewer, /local).",
        "",
        INTENDED_USE,
        "The header was de-identified (DICOM PS3.15 Basic Profile, Retain Patient Characteristics Option);",
        "text burned into the pixels is not removed: look at the image before you share it further.",
        "",
    ])


def bundle_zip(export: CaseExport, source: bytes, seg: bytes) -> bytes:
    """ZIP of `<folder>/image.dcm` (the stored bytes, unchanged), `seg.dcm` and README.txt."""
    folder = f"lesionlens-{export.case_id}"
    stamp = export.generated.timetuple()[:6]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in ((IMAGE_NAME, source), (SEG_NAME, seg), (README_NAME, readme_text(export).encode())):
            info = zipfile.ZipInfo(f"{folder}/{name}", date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()
