"""Non-identifying facts from a DICOM header: spacing, modality, age, sex, ...

This is the only module that reads descriptive DICOM attributes, and it reads
an explicit allow-list (`metadata` below), so PatientName, PatientID,
PatientBirthDate, accession numbers and UIDs can never reach an
`ImageRecord`. Every field is optional: a malformed value drops that field
instead of failing the whole image, because a damaged StudyDate should not
stop a clinician from seeing the scan.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable
from typing import Any

from pydicom.dataset import Dataset

_AGE = re.compile(r"^\s*(\d{1,3})\s*([DWMY]?)\s*$", re.IGNORECASE)
_DATE = re.compile(r"^\s*(\d{4})[.\-]?(\d{2})[.\-]?(\d{2})\s*$")  # DA, and old ACR-NEMA "YYYY.MM.DD"
_CENTIMETRE = 3  # PhysicalUnitsX/YDirection code for cm (PS3.3 C.8.5.5.1.15)
_TISSUE_2D = 1  # RegionSpatialFormat of a 2-D B-mode region
_MAX_TEXT = 64


def _get(ds: Dataset, keyword: str) -> Any:
    """Attribute value, or None when absent or unreadable."""
    try:
        value = ds.get(keyword)
    except Exception:  # a malformed element raises on conversion
        return None
    if value is None or value == "":
        return None
    return value


def _first(value: Any) -> Any:
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return value[0] if len(value) else None
    return value


def _text(ds: Dataset, keyword: str) -> str | None:
    value = _first(_get(ds, keyword))
    if value is None:
        return None
    text = str(value).strip().strip("\x00").strip()
    return text[:_MAX_TEXT] or None


def _positive_pair(values: Any) -> tuple[float, float] | None:
    if isinstance(values, bytes):
        values = values.decode("ascii", "replace")
    if isinstance(values, str):
        values = values.split("\\")
    elif not isinstance(values, Iterable):
        values = [values]
    try:
        items = [float(v) for v in values]
    except (TypeError, ValueError):
        return None
    if len(items) == 1:
        items = items * 2  # some writers store a single isotropic value
    if len(items) < 2:
        return None
    row, col = items[0], items[1]
    if not all(math.isfinite(v) and v > 0 for v in (row, col)):
        return None
    return row, col


def spacing_mm(ds: Dataset) -> tuple[float, float] | None:
    """(row, column) pixel spacing in millimetres, or None when unknown.

    PixelSpacing is calibrated in the patient; ImagerPixelSpacing (X-ray,
    mammography) is at the detector but still the best size estimate;
    ultrasound usually gives neither and states calibration per region in
    centimetres, preferring a 2-D tissue region when there are several.
    """
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        pair = _positive_pair(_get(ds, keyword))
        if pair:
            return pair
    return _ultrasound_spacing(ds)


def _ultrasound_spacing(ds: Dataset) -> tuple[float, float] | None:
    regions = _get(ds, "SequenceOfUltrasoundRegions")
    if not regions:
        return None
    candidates: list[tuple[int, tuple[float, float]]] = []
    for region in regions:
        try:
            if int(region.PhysicalUnitsXDirection) != _CENTIMETRE:
                continue
            if int(region.PhysicalUnitsYDirection) != _CENTIMETRE:
                continue
            pair = _positive_pair([abs(float(region.PhysicalDeltaY)) * 10.0,
                                   abs(float(region.PhysicalDeltaX)) * 10.0])
            spatial = int(region.get("RegionSpatialFormat", 0) or 0)
        except Exception:  # missing or malformed attributes: skip the region
            continue
        if pair:
            candidates.append((0 if spatial == _TISSUE_2D else 1, pair))
    if not candidates:
        return None
    candidates.sort(key=lambda c: c[0])  # stable: first 2-D region, else first region
    return candidates[0][1]


def _match(pattern: re.Pattern[str], value: Any) -> re.Match[str] | None:
    """`pattern` matched against a DICOM value as text; None for a missing value or no match."""
    return None if value is None else pattern.match(str(value))


def parse_age(value: Any) -> int | None:
    """Whole years from a DICOM AS value: "045Y" -> 45, "006M" -> 0, "010W" -> 0."""
    match = _match(_AGE, value)
    if not match:
        return None
    number, unit = int(match.group(1)), match.group(2).upper() or "Y"
    years = {"Y": number, "M": number // 12, "W": number * 7 // 365, "D": number // 365}[unit]
    return years if 0 <= years <= 150 else None


def parse_date(value: Any) -> str | None:
    """ISO yyyy-mm-dd from a DICOM DA value, None when it is not a real date."""
    match = _match(_DATE, value)
    if not match:
        return None
    try:
        return dt.date(*(int(g) for g in match.groups())).isoformat()
    except ValueError:
        return None


def modality(ds: Dataset) -> str | None:
    text = _text(ds, "Modality")
    return text.upper() if text else None


def metadata(ds: Dataset) -> dict[str, Any]:
    """The allow-listed, non-identifying fields present in `ds`."""
    fields: dict[str, Any] = {}
    age = parse_age(_text(ds, "PatientAge"))
    if age is not None:
        fields["age"] = age
    sex = (_text(ds, "PatientSex") or "").upper()
    if sex in ("F", "M", "O"):
        fields["sex"] = sex
    study_date = parse_date(_text(ds, "StudyDate"))
    if study_date:
        fields["study_date"] = study_date
    for key, keyword in (
        ("manufacturer", "Manufacturer"),
        ("body_part", "BodyPartExamined"),
        ("view", "ViewPosition"),
    ):
        text = _text(ds, keyword)
        if text:
            fields[key] = text
    return fields
