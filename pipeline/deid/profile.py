"""What happens to each attribute: PS3.15 Table E.1-1 plus the safety nets around it.

The table itself lives in `table_e1_1.tsv` (one row per attribute, with the
Basic Profile action and the Retain Patient Characteristics Option action),
so that reviewers can diff it against the standard line by line.

Resolving the table's compound actions. "X/Z", "X/D", "Z/D", "X/Z/D" mean
"X if the attribute is Type 3 in the IOD, Z if Type 2, D if Type 1". We do
not know every IOD an attribute sits in, so:

* anything offering Z becomes zero-length: valid for Type 2 and 3, and the
  usual reading by other de-identifiers;
* "X/D" and "D" become a dummy value: the attribute is Type 1 somewhere, and
  a dummy stays valid there (a sequence gets zero items instead, since no
  dummy item can be made up generically);
* "X/Z/U*" (Referenced/Source Image Sequence) is kept and walked, so the
  UIDs inside are replaced and the references stay consistent;
* "C" (clean) in the option column cannot be done automatically for free
  text, so those attributes (Allergies, Patient State, Pre-Medication,
  Special Needs) fall back to the Basic Profile action, X.

Attributes the table does not list are kept (as the profile says for
standard attributes), except where a safety net applies because the edition
we transcribed may lack newer attributes: person names (PN) and application
entity titles (AE) are removed; other dates and times (DA, DT, TM) are
emptied, because Instance Creation Date and its kind repeat the study date
the profile removes; unknown public attributes of unknown VR are removed;
and UIDs that are neither under the DICOM root nor definitional (SOP Class,
Transfer Syntax, coding scheme) are replaced like table UIDs.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from pydicom.datadict import dictionary_VR

KEEP = "keep"
REMOVE = "remove"
ZERO = "zero"
DUMMY = "dummy"
UID = "uid"  # replace every value with its keyed-hash UID
UID_CHECK = "uid-check"  # replace values that are not standard/definitional UIDs
WALK = "walk"  # keep a sequence and apply the rules to its items

TABLE_PATH = Path(__file__).with_name("table_e1_1.tsv")
DICOM_ROOT = "1.2.840.10008."

# UIDs that name a kind of thing (class, encoding, code system), never a patient or study.
DEFINITION_UID_TAGS = frozenset({
    0x00000002,  # Affected SOP Class UID
    0x00000003,  # Requested SOP Class UID
    0x00020002,  # Media Storage SOP Class UID
    0x00020010,  # Transfer Syntax UID
    0x00041510,  # Referenced SOP Class UID in File
    0x00041512,  # Referenced Transfer Syntax UID in File
    0x00080016,  # SOP Class UID
    0x0008001A,  # Related General SOP Class UID
    0x0008001B,  # Original Specialized SOP Class UID
    0x00080062,  # SOP Classes in Study
    0x0008010C,  # Coding Scheme UID
    0x00080117,  # Context UID
    0x00080118,  # Mapping Resource UID
    0x00081150,  # Referenced SOP Class UID
})


@dataclass(frozen=True)
class Rule:
    """One row of Table E.1-1."""

    tag: int
    basic: str  # e.g. "X", "Z", "X/Z/D", "U", "X/Z/U*"
    option: str  # Retain Patient Characteristics Option: "K", "C" or "" (none)
    name: str


@functools.cache
def table() -> dict[int, Rule]:
    """Table E.1-1 by tag, read once from the TSV beside this module."""
    rules: dict[int, Rule] = {}
    for line in TABLE_PATH.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        tag_text, basic, option, name = line.split("\t")
        tag = int(tag_text[1:5] + tag_text[6:10], 16)
        rules[tag] = Rule(tag, basic, "" if option == "-" else option, name)
    return rules


def kept_by_option() -> list[Rule]:
    """Attributes the Retain Patient Characteristics Option keeps (age, sex, size, ...)."""
    return [rule for rule in table().values() if rule.option == "K"]


def is_private(tag: int) -> bool:
    return bool((tag >> 16) & 1)


def _in_repeating_group(tag: int) -> bool:
    """Curve (50xx,xxxx) and overlay (60xx,xxxx) groups, xx even.

    The profile removes Curve Data and Overlay Data/Comments; we remove the
    whole overlay group, because overlay labels and descriptions are free
    text and an overlay without its data is meaningless anyway.
    """
    group = tag >> 16
    return (0x5000 <= group <= 0x50FF or 0x6000 <= group <= 0x60FF) and group % 2 == 0


def dictionary_vr(tag: int) -> str | None:
    """VR from the data dictionary (repeaters included), None for unknown tags."""
    try:
        return dictionary_VR(tag)
    except KeyError:
        return None


def resolve(code: str, *, is_sequence: bool) -> str:
    """Turn a table action code into one of this module's actions (see the docstring)."""
    if code == "K":
        return KEEP
    if code == "U":
        return UID
    if code == "X/Z/U*":
        return WALK if is_sequence else ZERO
    if code == "X":
        return REMOVE
    if "Z" in code.split("/"):
        return ZERO
    if "D" in code.split("/"):
        return DUMMY
    raise ValueError(f"unknown Table E.1-1 action {code!r}")


def action_for(tag: int, vr: str | None, *, keep_uids: bool = False) -> str:
    """The action for one element, given its VR as read (None or "UN" if unknown)."""
    group, element = tag >> 16, tag & 0xFFFF
    if is_private(tag) or _in_repeating_group(tag):
        return REMOVE
    if group in (0x0000, 0x0002) or element == 0x0000:
        return REMOVE  # command group, stray file meta, group lengths: rebuilt or useless
    known_vr = dictionary_vr(tag)
    effective_vr = vr if vr and vr != "UN" else known_vr
    rule = table().get(tag)
    if rule is not None:
        code = "K" if rule.option == "K" else rule.basic
        action = resolve(code, is_sequence=effective_vr == "SQ")
        return KEEP if action == UID and keep_uids else action
    if effective_vr is None or effective_vr == "UN":
        return REMOVE  # unknown public attribute of unknown content
    if effective_vr in ("PN", "AE"):
        return REMOVE
    if effective_vr in ("DA", "DT", "TM"):
        return ZERO
    if effective_vr == "UI":
        return KEEP if keep_uids or tag in DEFINITION_UID_TAGS else UID_CHECK
    if effective_vr == "SQ":
        return WALK
    return KEEP


def needs_replacing(uid: str) -> bool:
    """For safety-net UIDs: anything outside the DICOM root may identify an instance."""
    return bool(uid) and not uid.startswith(DICOM_ROOT)
