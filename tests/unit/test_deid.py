"""De-identification: no identifying value survives anywhere in the output bytes.

The main fixture fills every attribute of Table E.1-1 that the profile does
not keep with a distinctive value (plus the classic ones by hand, nested in
sequences and private tags), so a row missed by the code, a sequence not
walked or a private block left behind shows up as a byte-level match.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import pydicom
import pytest
from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from pipeline.deid import (
    BURNED_IN_WARNING,
    UNDECLARED_WARNING,
    DeidentificationError,
    deidentify,
    deidentify_bytes,
    deployment_salt,
    identifying_values,
)
from pipeline.deid import profile
from pipeline.io import ImageLoadError, load_image
from pipeline.io.dicom_header import read_dataset
from pipeline.io.sample_files import dataset_bytes, dicom_dataset, gradient

SALT = b"test-salt-0123456789"
PSEUDONYM = "LL-000042"
SECRETS = (
    "JOHN^DOE-SECRET", "MRN-998877", "19700101", "St Secret Hospital", "1 Secret Road^Springfield",
    "555-0199-SECRET", "ACC-5551212", "DR^REFERRER-SECRET", "DR^PERFORMER-SECRET", "OP^OPERATOR-SECRET",
    "STATION-SECRET", "SN-SECRET-42", "STUDY-SECRET", "OTHER-MRN-4242", "REQ-PROC-SECRET",
    "NESTED-MRN-7373", "PRIVATE-SECRET-VALUE", "NESTED-PRIVATE-SECRET", "OVERLAY-SECRET-NOTE",
    "DR^NESTED-SECRET", "Nested Secret Clinic", "AE-SECRET",
)
KEPT = {"PatientAge": "045Y", "PatientSex": "F", "PatientSize": "1.68", "PatientWeight": "61.5",
        "EthnicGroup": "GROUP-KEPT", "SmokingStatus": "NO", "PregnancyStatus": 4, "PatientSexNeutered": "UNALTERED"}
SKIP_GROUPS = {0x0000, 0x0002, 0x0004, 0xFFFA, 0xFFFC}


def _distinctive(tag: int, vr: str) -> object | None:
    """A value of `vr` that names its own tag, so a leak says which row failed."""
    year = 1901 + tag % 97
    return {
        "PN": f"SECRET^P{tag:08X}", "LO": f"S{tag:08X}X", "SH": f"S{tag:08X}X", "LT": f"S{tag:08X}X",
        "ST": f"S{tag:08X}X", "UT": f"S{tag:08X}X", "UC": f"S{tag:08X}X", "CS": f"S{tag:08X}",
        "AE": f"AE{tag:08X}", "DA": f"{year}0{1 + tag % 9}1{tag % 9}", "TM": f"{tag % 24:02d}1{tag % 10}5{tag % 10}",
        "DT": f"{year}0{1 + tag % 9}1{tag % 9}0{tag % 10}1112", "UI": f"1.2.999.{tag}.7",
        "OB": f"BINARY-SECRET-{tag:08X}".encode(), "UN": f"BINARY-SECRET-{tag:08X}".encode(),
    }.get(vr)


def _code_item(meaning: str, scheme: str = "99SECRET") -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = "C-1", scheme, meaning
    return item


def _reference_item(tag: int) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID = "1.2.840.10008.5.1.4.1.1.6.1", f"1.2.999.{tag}.9"
    return item


def everything_dataset() -> Dataset:
    """A small US image with every identifying attribute we can fill, nested and private ones too."""
    ds = dicom_dataset(gradient(32, 40), PatientAge="045Y", PatientSex="F")
    for rule in profile.table().values():
        if rule.tag >> 16 in SKIP_GROUPS or rule.option == "K":
            continue
        vr = dictionary_VR(rule.tag)
        if vr == "SQ":
            walked = profile.resolve(rule.basic, is_sequence=True) == profile.WALK
            item = _reference_item(rule.tag) if walked else _code_item(f"SEQ-SECRET-{rule.tag:08X}")
            ds[rule.tag] = pydicom.DataElement(rule.tag, "SQ", Sequence([item]))
        elif (value := _distinctive(rule.tag, vr)) is not None:
            ds.add_new(rule.tag, vr, value)
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = "JOHN^DOE-SECRET", "MRN-998877", "19700101"
    ds.InstitutionName, ds.PatientAddress = "St Secret Hospital", "1 Secret Road^Springfield"
    ds.PatientTelephoneNumbers, ds.AccessionNumber = "555-0199-SECRET", "ACC-5551212"
    ds.ReferringPhysicianName, ds.PerformingPhysicianName = "DR^REFERRER-SECRET", "DR^PERFORMER-SECRET"
    ds.OperatorsName, ds.StationName, ds.DeviceSerialNumber = "OP^OPERATOR-SECRET", "STATION-SECRET", "SN-SECRET-42"
    ds.StudyID, ds.OtherPatientIDs, ds.RetrieveAETitle = "STUDY-SECRET", "OTHER-MRN-4242", "AE-SECRET"
    for keyword, value in KEPT.items():
        setattr(ds, keyword, value)
    request = Dataset()
    request.RequestedProcedureID, request.AccessionNumber = "REQ-PROC-SECRET", "NESTED-MRN-7373"
    ds.RequestAttributesSequence = Sequence([request])
    region = _code_item("Breast", "SCT")  # a kept sequence: its items are cleaned, not dropped
    region.InstitutionName, region.ContentCreatorName = "Nested Secret Clinic", "DR^NESTED-SECRET"
    region.private_block(0x0011, "ACME NESTED", create=True).add_new(0x01, "LO", "NESTED-PRIVATE-SECRET")
    ds.AnatomicRegionSequence = Sequence([region])
    ds.private_block(0x0009, "ACME 1.0", create=True).add_new(0x01, "LO", "PRIVATE-SECRET-VALUE")
    ds.add_new(0x60004000, "LT", "OVERLAY-SECRET-NOTE")
    ds.add_new(0x50003000, "OW", b"CURVE-SECRET-DATA-")
    return ds


@pytest.fixture(scope="module")
def original() -> Dataset:
    return everything_dataset()


@pytest.fixture(scope="module")
def out_bytes(original) -> bytes:
    return deidentify_bytes(dataset_bytes(original), pseudonym=PSEUDONYM, salt=SALT)


def test_identifying_values_cover_the_fixture(original):
    values = identifying_values(original)
    assert set(SECRETS) <= values
    assert len(values) > 300  # the table rows filled above


def test_no_identifying_value_survives_anywhere_in_the_bytes(original, out_bytes):
    leaks = sorted(v for v in identifying_values(original) | set(SECRETS) if v.encode() in out_bytes)
    assert leaks == []
    assert b"SECRET" not in out_bytes.upper()
    out = pydicom.dcmread(io.BytesIO(out_bytes))
    assert not any(element.tag.is_private for element in out.iterall())


def test_patient_characteristics_are_kept_and_identity_replaced(out_bytes):
    out = pydicom.dcmread(io.BytesIO(out_bytes))
    for keyword, value in KEPT.items():
        assert str(out.get(keyword)) == str(value), keyword
    assert out.PatientName == PSEUDONYM and out.PatientID == PSEUDONYM
    assert out.PatientBirthDate == "" and "OtherPatientIDs" not in out
    assert out.PatientIdentityRemoved == "YES" and out.DeidentificationMethod
    codes = [(c.CodeValue, c.CodingSchemeDesignator, c.CodeMeaning) for c in out.DeidentificationMethodCodeSequence]
    assert codes == [("113100", "DCM", "Basic Application Confidentiality Profile"),
                     ("113108", "DCM", "Retain Patient Characteristics Option")]
    assert len(out.AnatomicRegionSequence) == 1 and out.AnatomicRegionSequence[0].CodeMeaning == "Breast"


def test_preamble_zeroed_meta_rebuilt_and_pixels_unchanged(original, out_bytes):
    assert out_bytes[:128] == bytes(128) and out_bytes[128:132] == b"DICM"
    out = pydicom.dcmread(io.BytesIO(out_bytes))
    assert out.file_meta.MediaStorageSOPInstanceUID == out.SOPInstanceUID
    assert out.SOPInstanceUID.startswith("2.25.") and out.SOPInstanceUID != original.SOPInstanceUID
    before, after = load_image(dataset_bytes(original)), load_image(out_bytes)
    np.testing.assert_array_equal(after.pixels, before.pixels)
    assert after.metadata["age"] == 45 and after.metadata["sex"] == "F"


def test_polyglot_preamble_is_zeroed():
    ds = dicom_dataset(gradient(8, 8))
    ds.preamble = b"<html><script>alert('polyglot')</script></html>".ljust(128, b" ")
    data = dataset_bytes(ds)
    assert b"<script>" in data[:128] and load_image(data).shape == (8, 8)
    out = deidentify_bytes(data, pseudonym=PSEUDONYM, salt=SALT)
    assert out[:128] == bytes(128) and b"script" not in out


def test_uids_are_replaced_consistently(original):
    second = dicom_dataset(gradient(8, 8), StudyInstanceUID=original.StudyInstanceUID)
    ref = Dataset()
    ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID = original.SOPClassUID, original.SOPInstanceUID
    second.ReferencedImageSequence = Sequence([ref])
    a1, a2 = (deidentify(original, pseudonym=PSEUDONYM, salt=SALT) for _ in range(2))
    b = deidentify(second, pseudonym=PSEUDONYM, salt=SALT)
    other = deidentify(original, pseudonym=PSEUDONYM, salt=b"another-salt-0123456789")
    assert a1.SOPInstanceUID == a2.SOPInstanceUID and a1.StudyInstanceUID == b.StudyInstanceUID
    assert b.ReferencedImageSequence[0].ReferencedSOPInstanceUID == a1.SOPInstanceUID
    assert b.SOPInstanceUID != a1.SOPInstanceUID and other.SOPInstanceUID != a1.SOPInstanceUID
    assert b.ReferencedImageSequence[0].ReferencedSOPClassUID == original.SOPClassUID  # classes stay
    for uid in (a1.SOPInstanceUID, a1.StudyInstanceUID, a1.SeriesInstanceUID):
        assert uid.startswith("2.25.") and len(uid) <= 64 and pydicom.uid.UID(uid).is_valid
    kept = deidentify(original, pseudonym=PSEUDONYM, salt=SALT, keep_original_uids=True)
    assert kept.SOPInstanceUID == original.SOPInstanceUID
    assert kept.DeidentificationMethodCodeSequence[-1].CodeValue == "113110"


def test_input_dataset_is_not_modified(original):
    before = original.PatientName, original.SOPInstanceUID, len(original)
    deidentify(original, pseudonym=PSEUDONYM, salt=SALT)
    assert (original.PatientName, original.SOPInstanceUID, len(original)) == before


def test_burned_in_annotation_is_flagged():
    ds = dicom_dataset(gradient(8, 8), BurnedInAnnotation="YES")
    out = deidentify(ds, pseudonym=PSEUDONYM, salt=SALT)
    assert out.deid_warnings == (BURNED_IN_WARNING,) and "NOT removed" in BURNED_IN_WARNING
    assert out.BurnedInAnnotation == "YES" and "burned-in text NOT removed" in out.DeidentificationMethod
    undeclared = deidentify(dicom_dataset(gradient(8, 8)), pseudonym=PSEUDONYM, salt=SALT)
    assert undeclared.deid_warnings == (UNDECLARED_WARNING,)  # ultrasound: text is likely
    assert "burned-in text NOT removed" not in undeclared.DeidentificationMethod
    for modality, declared in (("CT", None), ("US", "NO")):
        ds = dicom_dataset(gradient(8, 8), modality=modality)
        if declared:
            ds.BurnedInAnnotation = declared
        assert deidentify(ds, pseudonym=PSEUDONYM, salt=SALT).deid_warnings == ()


def test_bad_arguments_and_inputs():
    ds = dicom_dataset(gradient(8, 8))
    for pseudonym in ("", "a\\b", "x" * 65, "tab\tname"):
        with pytest.raises(ValueError, match="pseudonym"):
            deidentify(ds, pseudonym=pseudonym, salt=SALT)
    with pytest.raises(ValueError, match="salt"):
        deidentify(ds, pseudonym=PSEUDONYM, salt=b"short")
    for data, message in ((b"", "file is empty"), (b"%PDF-1.7\n" * 20, "not a DICOM file")):
        with pytest.raises(ImageLoadError, match=message):
            deidentify_bytes(data, pseudonym=PSEUDONYM, salt=SALT)
    inner = ds
    for _ in range(40):
        item = Dataset()
        inner.ReferencedImageSequence = Sequence([item])
        inner = item
    with pytest.raises(DeidentificationError, match="nested more than 32"):
        deidentify(ds, pseudonym=PSEUDONYM, salt=SALT)


def test_deployment_salt_is_created_once_and_env_wins(tmp_path, monkeypatch):
    monkeypatch.delenv("LESIONLENS_DEID_SALT", raising=False)
    first = deployment_salt(tmp_path)
    assert first == deployment_salt(tmp_path) and len(first) >= 32
    assert (tmp_path / "deid_salt").stat().st_mode & 0o077 == 0
    monkeypatch.setenv("LESIONLENS_DEID_SALT", "from-the-environment-0123")
    assert deployment_salt(tmp_path) == b"from-the-environment-0123"


def test_profile_table_covers_the_standard_rows():
    rules = profile.table()
    assert len(rules) >= 450
    kept = {keyword_for_tag(rule.tag) for rule in profile.kept_by_option()}
    assert kept == {"PatientAge", "PatientSex", "PatientSize", "PatientWeight", "EthnicGroup",
                    "SmokingStatus", "PregnancyStatus", "PatientSexNeutered"}
    for keyword in ("PatientBirthDate", "OtherPatientIDs", "PatientAddress", "PatientTelephoneNumbers",
                    "AccessionNumber", "InstitutionName", "InstitutionAddress", "ReferringPhysicianName",
                    "PerformingPhysicianName", "OperatorsName", "StationName", "DeviceSerialNumber",
                    "StudyID", "RequestAttributesSequence", "StudyDate", "ContentTime"):
        tag = pydicom.datadict.tag_for_keyword(keyword)
        assert profile.action_for(tag, dictionary_VR(tag)) != profile.KEEP, keyword


def _kept_strings(ds: Dataset) -> list[str]:
    elements = [*ds.iterall(), *ds.file_meta.iterall()]
    return [str(v) for e in elements if e.VR != "SQ" for v in (e.value if e.VM > 1 else [e.value])]


def test_pydicom_samples_deidentify_to_identical_pixels(monkeypatch):
    """Every local pydicom sample the loader accepts de-identifies to the same pixels (or is refused cleanly).

    An identifying value may still occur in the output only inside a value
    the profile keeps: "TOSHIBA" as institution is gone, "TOSHIBA_MEC" as
    manufacturer stays.
    """
    from tests.unit.test_io_pydicom_samples import local_testdata_files

    done = 0
    for path in local_testdata_files(monkeypatch):
        try:
            before = load_image(path)
        except ImageLoadError:
            continue
        data = path.read_bytes()
        try:
            out = deidentify_bytes(data, pseudonym=PSEUDONYM, salt=SALT)
        except ImageLoadError as error:
            assert "Traceback" not in str(error)
            continue
        done += 1
        np.testing.assert_array_equal(load_image(out).pixels, before.pixels, err_msg=path.name)
        assert out[:128] == bytes(128), path.name
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = pydicom.dcmread(io.BytesIO(out))
            values = identifying_values(read_dataset(data))
        assert result.PatientIdentityRemoved == "YES" and result.PatientID == PSEUDONYM
        assert not any(element.tag.is_private for element in result.iterall()), path.name
        kept = _kept_strings(result)
        for value in values:
            if value.encode() in out:
                assert any(value in text for text in kept), f"{path.name}: {value!r} survived"
    assert done >= 85  # 89 with the pinned pydicom and decoders
