"""De-identification of DICOM files before they leave the clinic (exports, research sets).

    from pipeline.deid import deidentify, deidentify_bytes
    clean = deidentify_bytes(data, pseudonym="LL-000123")          # bytes in, bytes out
    ds2 = deidentify(ds, pseudonym="LL-000123", salt=secret)       # pydicom Dataset in/out

Implements DICOM PS3.15 Annex E, the Basic Application Level Confidentiality
Profile with the Retain Patient Characteristics Option (age, sex, size,
weight, ethnic group, smoking and pregnancy status stay, because models and
subgroup metrics need them). One module per job: `profile` (Table E.1-1 and
how its actions are resolved; the table itself is `table_e1_1.tsv`), `uids`
(keyed-hash replacement UIDs and the deployment salt), `core` (walking a
Dataset), `files` (bytes in and out, zeroed preamble), `audit` (the values
that must not survive, for tests and audits).

Burned-in text in the pixels is out of reach: when BurnedInAnnotation is
YES the result carries a warning (`deid_warnings`) and says so in
DeidentificationMethod, and a person must check the image; an ultrasound
image that does not declare it gets a softer warning, since most have text.
"""

from pipeline.deid.audit import identifying_values
from pipeline.deid.core import (
    BURNED_IN_WARNING,
    UNDECLARED_WARNING,
    DeidentificationError,
    deidentify,
)
from pipeline.deid.files import deidentify_bytes
from pipeline.deid.uids import UidMapper, deployment_salt

__all__ = [
    "BURNED_IN_WARNING",
    "UNDECLARED_WARNING",
    "DeidentificationError",
    "UidMapper",
    "deidentify",
    "deidentify_bytes",
    "deployment_salt",
    "identifying_values",
]
