"""`deidentify_bytes`: a DICOM file in, a de-identified DICOM file out.

Input is read with the same code and limits as `pipeline.io.load_image`
(size check, magic-byte sniffing, pydicom with `force` only for bare
datasets, sequence-depth limit), so a file that is not readable DICOM is
refused with the viewer's message; objects without pixels (reports, plans)
are de-identified too. Output is always a Part 10 file with a zeroed
128-byte preamble: the preamble is free-form, and attackers use it to make a
file that is valid DICOM and at the same time a valid ZIP, PE or HTML file
(a "polyglot"); zeroing it removes that second personality, and with it any
text hidden there. The dataset is rewritten from scratch, so bytes trailing
after it in the input are dropped too.
"""

from __future__ import annotations

import io
import logging

from pydicom.uid import UID

from pipeline.deid.core import BURNED_IN_WARNING, DeidentificationError, checked_salt, deidentify
from pipeline.errors import ImageLoadError
from pipeline.io.dicom_header import NESTED_TOO_DEEPLY, check_sequence_depth, read_dataset
from pipeline.io.failures import CONTROL_FLOW
from pipeline.io.limits import Limits
from pipeline.io.sniff import DICOM, sniff_format
from pipeline.io.source import read_source

log = logging.getLogger(__name__)

PREAMBLE = bytes(128)
DEFAULT_LIMITS = Limits()


def deidentify_bytes(
    data: bytes,
    *,
    pseudonym: str,
    salt: bytes | str | None = None,
    keep_original_uids: bool = False,
    limits: Limits = DEFAULT_LIMITS,
) -> bytes:
    """De-identified Part 10 bytes of the DICOM file `data` (see `deidentify`).

    Raises ImageLoadError (DeidentificationError for problems specific to
    de-identification) for any input that is not a readable DICOM file, and
    nothing else for bad input: messages never quote the file's content.
    A bad `pseudonym` or `salt` is a programming error (ValueError).
    """
    if not isinstance(limits, Limits):
        raise TypeError(f"limits must be a pipeline.io.Limits, got {type(limits).__name__}")
    salt = checked_salt(pseudonym, salt)  # argument errors are ValueErrors, raised here
    try:
        return _deidentify_bytes(data, pseudonym, salt, keep_original_uids, limits)
    except ImageLoadError:
        raise
    except MemoryError:
        raise ImageLoadError("DICOM file is too large to de-identify in the available memory") from None
    except RecursionError:
        raise ImageLoadError(NESTED_TOO_DEEPLY) from None
    except CONTROL_FLOW:
        raise
    except Exception as exc:  # noqa: BLE001 - only readable errors leave this module
        log.info("de-identification failed after unexpected %s", type(exc).__name__)
        raise DeidentificationError("DICOM file could not be de-identified: it is damaged") from None


def _deidentify_bytes(
    data: bytes, pseudonym: str, salt: bytes | str | None, keep_uids: bool, limits: Limits
) -> bytes:
    raw = read_source(data, limits)
    if sniff_format(raw) != DICOM:
        raise ImageLoadError("file is not a DICOM file")
    ds = read_dataset(raw)
    check_sequence_depth(ds, limits.max_sequence_depth)
    if not UID(str(ds.file_meta.TransferSyntaxUID)).is_transfer_syntax:
        # pydicom cannot know how to re-encode a private transfer syntax, and guessing could corrupt it
        raise DeidentificationError("DICOM uses an unknown transfer syntax and cannot be de-identified")
    out = deidentify(ds, pseudonym=pseudonym, salt=salt, keep_original_uids=keep_uids)
    if BURNED_IN_WARNING in out.deid_warnings:
        log.warning("de-identified file needs review: %s", BURNED_IN_WARNING)
    buffer = io.BytesIO()
    out.save_as(buffer, enforce_file_format=True)
    result = buffer.getvalue()
    if result[:128] != PREAMBLE or result[128:132] != b"DICM":  # never ship a preamble we did not zero
        raise DeidentificationError("DICOM file could not be written with a clean preamble")
    return result
