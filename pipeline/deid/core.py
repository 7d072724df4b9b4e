"""Apply the profile to a pydicom Dataset: `deidentify`.

The walk looks at each element's tag and VR *before* converting its value,
so pixel data and harmless attributes are never decoded, and an element
pydicom cannot convert is removed rather than passed through unread: a
de-identifier must fail closed. Sequences are walked recursively to a fixed
depth; a deeper file is refused rather than half cleaned.
"""

from __future__ import annotations

import copy
import re
import uuid
from dataclasses import dataclass

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from pipeline.deid import profile
from pipeline.deid.uids import UidMapper, as_key, deployment_salt
from pipeline.errors import ImageLoadError

MAX_DEPTH = 32
METHOD = "Lesion Lens: DICOM PS3.15 Annex E Basic Profile"
BURNED_IN_WARNING = (
    "burned-in annotation present: text in the pixels was NOT removed and must be checked by a person"
)
UNDECLARED_WARNING = (
    "burned-in annotation not declared: ultrasound images often carry text in the pixels, check them"
)
_OFTEN_ANNOTATED = {"US", "IVUS", "XC", "OT"}  # modalities that usually burn text into the image
CODES = {
    "basic": ("113100", "Basic Application Confidentiality Profile"),
    "patient": ("113108", "Retain Patient Characteristics Option"),
    "uids": ("113110", "Retain UIDs Option"),
}
_DUMMY_TEXT = "ANONYMIZED"
_DUMMY = {"DA": "19000101", "TM": "000000", "DT": "19000101000000", "AS": "000D", "IS": "0", "DS": "0"}
TEXT_VRS = {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI", "UR", "UT"}
_BINARY_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "UN"}
_PSEUDONYM = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,64}$")  # printable ASCII without backslash


class DeidentificationError(ImageLoadError):
    """The file could not be de-identified safely (too deep, no SOP class, ...)."""


@dataclass
class _Context:
    mapper: UidMapper
    keep_uids: bool
    max_depth: int


def deidentify(
    ds: Dataset,
    *,
    pseudonym: str,
    keep_original_uids: bool = False,
    salt: bytes | str | None = None,
    max_depth: int = MAX_DEPTH,
) -> Dataset:
    """A de-identified copy of `ds`; `ds` itself is not changed.

    PatientName and PatientID become `pseudonym`; UIDs are replaced by the
    keyed hash of `salt` (default: the deployment's salt, see
    `uids.deployment_salt`) unless `keep_original_uids`. The result's
    `deid_warnings` attribute (a tuple of sentences; a Python attribute, so
    it does not survive copying or saving) lists what could not be done
    automatically: burned-in text declared (BurnedInAnnotation YES, also
    recorded in DeidentificationMethod) or likely (undeclared, ultrasound).
    The result's preamble is zeroed and its file meta rebuilt.
    """
    context = _Context(UidMapper(checked_salt(pseudonym, salt)), keep_original_uids, max_depth)
    declared = _text(ds, "BurnedInAnnotation").upper()
    burned_in = declared == "YES"
    out = copy.deepcopy(ds)
    _clean(out, 0, context)
    out.PatientName = pseudonym
    out.PatientID = pseudonym
    out.PatientIdentityRemoved = "YES"
    methods = [METHOD, CODES["patient"][1]]
    codes = [CODES["basic"], CODES["patient"]]
    if keep_original_uids:
        methods.append(CODES["uids"][1])
        codes.append(CODES["uids"])
    warnings: tuple[str, ...] = ()
    if burned_in:
        warnings = (BURNED_IN_WARNING,)
        methods.append("burned-in text NOT removed")
    elif not declared and _text(ds, "Modality").upper() in _OFTEN_ANNOTATED:
        warnings = (UNDECLARED_WARNING,)
    out.DeidentificationMethod = methods
    out.DeidentificationMethodCodeSequence = Sequence([_code(value, meaning) for value, meaning in codes])
    _rebuild_file_meta(ds, out, context)
    out.preamble = bytes(128)
    out.deid_warnings = warnings
    return out


def checked_salt(pseudonym: str, salt: bytes | str | None) -> bytes:
    """Validate the caller's arguments (ValueError: a programming error); the salt to use."""
    if not isinstance(pseudonym, str) or not _PSEUDONYM.match(pseudonym) or not pseudonym.strip():
        raise ValueError("pseudonym must be 1 to 64 printable ASCII characters without a backslash")
    return as_key(deployment_salt() if salt is None else salt)


def _code(value: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = "DCM"
    item.CodeMeaning = meaning
    return item


def _text(ds: Dataset, keyword: str) -> str:
    try:
        return str(ds.get(keyword) or "").strip()
    except Exception:
        return ""


def _rebuild_file_meta(original: Dataset, out: Dataset, context: _Context) -> None:
    """Fresh file meta: SOP class and instance from the cleaned dataset, same transfer syntax.

    Nothing else survives: source/sending AE titles and private information
    in the original meta group can identify the sender.
    """
    old_meta = getattr(original, "file_meta", None) or FileMetaDataset()
    sop_class = _text(out, "SOPClassUID") or _text(old_meta, "MediaStorageSOPClassUID")
    if not sop_class:
        raise DeidentificationError("DICOM file has no SOP Class UID, so it cannot be written back")
    instance = _text(out, "SOPInstanceUID")
    if not instance:
        old_instance = _text(old_meta, "MediaStorageSOPInstanceUID")
        if old_instance and context.keep_uids:
            instance = old_instance
        elif old_instance:
            instance = context.mapper(old_instance)
        else:
            instance = f"2.25.{uuid.uuid4().int}"
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = instance
    meta.TransferSyntaxUID = _text(old_meta, "TransferSyntaxUID") or _syntax_read_with(original)
    out.file_meta = meta


def _syntax_read_with(ds: Dataset) -> str:
    implicit, little = getattr(ds, "original_encoding", (None, None))
    if implicit:
        return ImplicitVRLittleEndian
    return ExplicitVRBigEndian if little is False else ExplicitVRLittleEndian


def element_vr(ds: Dataset, tag: int) -> str | None:
    """VR as read, or from the dictionary when the file does not say (implicit VR, UN)."""
    raw = ds.get_item(tag)
    vr = getattr(raw, "VR", None)
    if vr and vr != "UN":
        return vr
    known = profile.dictionary_vr(tag)
    return known if known else vr


def _clean(ds: Dataset, depth: int, context: _Context) -> None:
    if depth > context.max_depth:
        raise DeidentificationError(
            f"DICOM file has sequences nested more than {context.max_depth} levels deep"
        )
    for tag in list(ds.keys()):
        vr = element_vr(ds, tag)
        action = profile.action_for(int(tag), vr, keep_uids=context.keep_uids)
        if action == profile.KEEP and vr != "SQ":
            # Kept as read. Only an implicit-VR raw element is converted, so the
            # writer knows its VR when the output encoding differs from the input's.
            if getattr(ds.get_item(tag), "VR", "") is None:
                try:
                    ds[tag]
                except Exception:
                    del ds[tag]
            continue
        if action == profile.REMOVE:
            del ds[tag]
            continue
        try:
            element = ds[tag]
        except Exception:  # unreadable value: fail closed
            del ds[tag]
            continue
        _apply(ds, element, action, depth, context)


def _apply(ds: Dataset, element: DataElement, action: str, depth: int, context: _Context) -> None:
    tag, vr = element.tag, element.VR.split(" or ")[0]
    if vr == "SQ":
        if action in (profile.KEEP, profile.WALK):
            for item in element.value:
                _clean(item, depth + 1, context)
        else:  # zero, dummy: no generic dummy item exists, so zero items
            ds[tag] = DataElement(tag, "SQ", Sequence())
        return
    if action in (profile.UID, profile.UID_CHECK):
        values = values_of(element.value)
        if action == profile.UID_CHECK:
            mapped = [context.mapper(v) if profile.needs_replacing(str(v)) else str(v) for v in values]
        else:
            mapped = [context.mapper(v) for v in values if str(v).strip()]
        ds[tag] = DataElement(tag, "UI", mapped if len(mapped) > 1 else (mapped[0] if mapped else ""))
    elif action == profile.ZERO:
        ds[tag] = DataElement(tag, vr, b"" if vr in _BINARY_VRS else None if vr not in TEXT_VRS else "")
    elif action == profile.DUMMY:
        ds[tag] = DataElement(tag, vr, _dummy(vr, context))


def _dummy(vr: str, context: _Context) -> object:
    if vr in _BINARY_VRS:
        return b""
    if vr == "UI":
        return context.mapper("dummy")
    if vr in _DUMMY:
        return _DUMMY[vr]
    if vr in TEXT_VRS:
        return _DUMMY_TEXT
    return 0  # US, SS, UL, SL, UV, SV, FL, FD, AT


def values_of(value: object) -> list:
    """An element's values as a list: [] for empty, one item for single values."""
    if isinstance(value, (list, tuple, MultiValue)):
        return list(value)
    return [] if value is None or value == "" else [value]
