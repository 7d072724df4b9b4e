"""`identifying_values`: what must not be found in a de-identified file.

Tests and audits use it to prove a negative: take the original dataset,
list every string `deidentify` was supposed to remove or replace, and search
the output *bytes* for each, which catches a value that survived anywhere
(a sequence not walked, a private block, the preamble) regardless of how
the output would be parsed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

from pipeline.deid import profile
from pipeline.deid.core import MAX_DEPTH, TEXT_VRS, element_vr, values_of

MIN_VALUE_LENGTH = 4  # shorter strings ("M", "US") cannot be proven absent from output bytes
_PRINTABLE_RUN = re.compile(rb"[\x20-\x7e]{8,}")


def identifying_values(ds: Dataset) -> set[str]:
    """String values of the attributes `deidentify` removes or replaces, at any depth.

    Meant for tests and audits: none of these should appear anywhere in the
    de-identified file's bytes. Everything inside a removed sequence counts,
    binary values contribute their printable runs (8+ characters), and
    strings shorter than 4 characters are left out because they cannot be
    searched for in bytes without false alarms.
    """
    found: set[str] = set()
    for text in _identifying_strings(ds, 0):
        text = text.strip().strip("\x00").strip()
        if len(text) >= MIN_VALUE_LENGTH:
            found.add(text)
    return found


def _identifying_strings(ds: Dataset, depth: int, everything: bool = False) -> Iterator[str]:
    """Strings of the elements `deidentify` removes or replaces; with `everything`, of every element
    (the inside of a sequence that is removed as a whole)."""
    if depth > MAX_DEPTH:
        return
    for tag in list(ds.keys()):
        action = None
        if not everything:
            vr = element_vr(ds, tag)
            action = profile.action_for(int(tag), vr)
            if action == profile.KEEP and vr != "SQ":
                continue
        try:
            element = ds[tag]
        except Exception:
            yield from _raw_strings(ds.get_item(tag))
            continue
        if element.VR == "SQ":
            walk = action in (profile.KEEP, profile.WALK)
            for item in element.value:
                yield from _identifying_strings(item, depth + 1, everything=not walk)
        elif (
            everything
            or action != profile.UID_CHECK
            or any(profile.needs_replacing(str(v)) for v in values_of(element.value))
        ):
            yield from _element_strings(element)


def _element_strings(element: DataElement) -> Iterator[str]:
    for value in values_of(element.value):
        if isinstance(value, (bytes, bytearray)):
            yield from (run.decode("ascii") for run in _PRINTABLE_RUN.findall(bytes(value)))
        elif isinstance(value, str) or element.VR == "PN" or element.VR in TEXT_VRS - {"DS", "IS"}:
            text = str(value)
            yield text
            if element.VR == "PN":
                yield from re.split(r"[\^=]", text)


def _raw_strings(raw: object) -> Iterator[str]:
    value = getattr(raw, "value", None)
    if isinstance(value, (bytes, bytearray)):
        yield from (run.decode("ascii") for run in _PRINTABLE_RUN.findall(bytes(value)))
