"""File -> stored case: the one way in for the New case page, the API, `python -m dashboard import` and jobs.

Why one module: whichever door a case comes through (an upload's bytes, a
dataset case, a file in a server folder), it is decoded in `dashboard.sandbox`
within the per-file time limit and, when DICOM, de-identified (PS3.15 Basic
Profile, Retain Patient Characteristics) with the case's pseudonymous id
before anything is stored; only the de-identified file, the PNG/array
renderings and allow-listed, non-identifying metadata read from the
de-identified header reach the store (the original bytes only with
LESIONLENS_KEEP_ORIGINALS=1). Nothing is stored for a rejected file. Logs name
cases by their pseudonymous id, never by anything the user sent (file names
included). Prediction is the next, separate step (`services/inference.py`):
the New case page shows every file as soon as it is stored and fills the
results in one by one, and nothing uploaded is lost if a worker dies between
the two steps.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dashboard.sandbox import PreparedUpload, Sandbox
from dashboard.store.cases import new_case_id
from pipeline.errors import ImageLoadError
from pipeline.io import Limits
from pipeline.io.limits import check_file_size

if TYPE_CHECKING:
    from dashboard.services.quota import Reservation

log = logging.getLogger(__name__)

PATIENT_FIELDS = ("age", "sex", "history", "symptoms")


def clean_patient(form: dict[str, Any] | None) -> dict[str, Any]:
    """Patient-form fields as the store and the model expect them; blanks dropped.

    Raises ValueError messages for impossible values (never ImageLoadError), so
    the form and the API can say what is wrong.
    """
    out: dict[str, Any] = {}
    form = form or {}
    age = form.get("age")
    if age not in (None, ""):
        try:
            age_value = int(float(age))
        except (TypeError, ValueError, OverflowError):  # OverflowError: "inf"
            raise ValueError(f"age must be a number of years, got {str(age)[:40]!r}") from None
        if not 0 <= age_value <= 120:
            raise ValueError(f"age must be between 0 and 120 years, got {age_value}")
        out["age"] = age_value
    sex = form.get("sex")
    if sex not in (None, ""):
        sex_value = str(sex).strip().upper()[:1]
        if sex_value not in ("F", "M", "O"):
            raise ValueError(f"sex must be F, M or O, got {sex!r}")
        out["sex"] = sex_value
    history = form.get("history")
    if history not in (None, "", []):
        if isinstance(history, list):  # dbc.Checklist value
            history = bool(history)
        elif not isinstance(history, bool):
            text = str(history).strip().lower()
            if text not in ("yes", "no", "true", "false", "1", "0", "y", "n"):
                raise ValueError(f"history must be yes or no, got {history!r}")
            history = text in ("yes", "true", "1", "y")
        out["history"] = history
    symptoms = (form.get("symptoms") or "").strip()
    if symptoms:
        out["symptoms"] = symptoms[:500]
    return out


def default_dataset_name(spec: str, case_dataset: str) -> str:
    """Synthetic cohorts reuse case ids across seeds, so their spec is their name."""
    scheme = spec.split(":", 1)[0].strip().lower()
    if scheme == "synthetic":
        return spec.strip()
    return case_dataset or scheme


def truth_mask_of(case, shape):
    """Ground-truth mask at the image's resolution; an empty mask for normal images."""
    from pipeline.datasets import load_mask

    if case.mask_paths:
        mask = np.asarray(load_mask(case), dtype=bool)
        return mask if mask.shape == tuple(shape) else None
    if case.label == "normal":
        return np.zeros(shape, dtype=bool)
    return None


class Ingest:
    """Decodes, de-identifies and stores; one per Services container (its sandbox keeps decoding children)."""

    def __init__(self, settings, store, cache, sandbox: Sandbox | None = None) -> None:
        self.settings = settings
        self.store = store
        self.cache = cache
        self.sandbox = sandbox or Sandbox(
            settings.file_time_limit_s, settings.decode_isolation, settings.decode_processes, settings.decode_memory_mb
        )
        self._salt: bytes | None = None

    @property
    def deid_salt(self) -> bytes:
        """The deployment's de-identification salt (LESIONLENS_DEID_SALT or a file under home)."""
        if self._salt is None:
            from pipeline.deid import deployment_salt

            self._salt = deployment_salt(self.settings.home)
        return self._salt

    @property
    def limits(self) -> Limits:
        return Limits(max_bytes=self.settings.max_upload_bytes)

    def prepare(self, data: bytes, pseudonym: str) -> PreparedUpload:
        """Decode (and for DICOM de-identify with `pseudonym`) within the per-file time limit."""
        if not isinstance(data, (bytes, bytearray)):
            raise ImageLoadError("upload did not contain file data")
        check_file_size(len(data), self.limits)  # before shipping an oversized upload to a child
        return self.sandbox.run(
            bytes(data),
            max_bytes=self.settings.max_upload_bytes,
            pseudonym=pseudonym,
            salt=self.deid_salt,
            keep_original=self.settings.keep_originals,
            max_side=self.settings.max_image_side,
        )

    # ------------------------------------------------------------ uploads (New case page, API)
    def _upload_key(self, digest: str) -> str:
        """Cache key of an uploaded file's bytes: keyed (HMAC), so the cache never holds a plain hash of an
        identifying original DICOM file."""
        secret = str(self.settings.secret_key).encode()
        return "ll:upload:" + hmac.new(secret, digest.encode(), hashlib.sha256).hexdigest()[:40]

    def find_known(self, data: bytes) -> str | None:
        """Id of a stored case made from exactly these bytes, else None; before any decoding (a few ms).

        Uploads of any format are remembered in the shared cache (keyed HMAC of
        the bytes' sha256); raster images are also found in the store itself,
        whose content key is the file's sha256 (imports and old uploads too).
        """
        if not isinstance(data, (bytes, bytearray)) or not data:
            return None
        digest = hashlib.sha256(data).hexdigest()
        cached = self.cache.get(self._upload_key(digest))
        if cached and self.store.exists(str(cached)):
            return str(cached)
        return self.store.first_by_sha(digest)

    def upload(self, data: bytes, patient: dict[str, Any] | None = None) -> str:
        """Decode, de-identify and store one uploaded file; raises ImageLoadError with a readable message.

        Nothing is stored for a rejected file: the case folder and row are
        written only after the file decoded within its time limit. The
        signed-in user's quota slot is taken first and given back when the
        file is not stored (services/quota.py).
        """
        from dashboard.services import quota

        patient = clean_patient(patient)
        reservation = self._reserve_quota()
        try:
            case_id = new_case_id()
            prepared = self.prepare(data, pseudonym=case_id)
            record = prepared.record
            case_id, _ = self.store.add_case(record, metadata=patient, case_id=case_id, extra_files=prepared.files)
        except BaseException:
            quota.release(self.store.sessions, reservation)
            raise
        self.cache.set(self._upload_key(hashlib.sha256(bytes(data)).hexdigest()), case_id)
        log.info(
            "upload stored as case %s (%s, %d x %d%s)",
            case_id,
            record.source_format,
            record.shape[1],
            record.shape[0],
            ", de-identified" if prepared.files else "",
        )
        return case_id

    def _reserve_quota(self) -> Reservation | None:
        """A slot of the signed-in user's daily upload quota (services/quota.py); no user (CLI, jobs): None."""
        from dashboard.auth.context import current_user
        from dashboard.services import quota

        user = current_user()
        return quota.reserve(self.store.sessions, user.username if user else None, self.settings.daily_uploads)

    # ------------------------------------------------------------ server-side sources (import CLI, jobs)
    def dataset_case(self, case, dataset: str) -> tuple[str, bool]:
        """Store one `pipeline.datasets` Case (with its truth mask and metadata); returns (case id, created).

        Idempotent: keyed on (dataset, source case id) and the image's sha256,
        so importing a cohort again stores nothing twice.
        """
        from pipeline.io.source import read_source

        case_id = self.store.find_source(dataset, case.case_id) or new_case_id()
        prepared = self.prepare(read_source(case.image_path, self.limits), pseudonym=case_id)
        record = prepared.record
        spacing = case.metadata.get("spacing_mm")
        if record.spacing_mm is None and isinstance(spacing, (int, float)) and spacing > 0:
            record.spacing_mm = (float(spacing), float(spacing))
        return self.store.add_case(
            record,
            case_id=case_id,
            extra_files=prepared.files,
            dataset=dataset,
            source_case_id=case.case_id,
            patient_id=case.patient_id,
            true_label=case.label,
            truth_mask=truth_mask_of(case, record.shape),
            metadata=case.metadata,
        )

    def server_file(self, path: Path, root: Path, dataset: str) -> str:
        """Store one image file of a server folder; keyed by a hash of its path under `root`, never its name."""
        from pipeline.io.source import read_source

        key = hashlib.sha256(str(path.relative_to(root)).encode()).hexdigest()[:24]
        case_id = self.store.find_source(dataset, key) or new_case_id()
        prepared = self.prepare(read_source(path, self.limits), pseudonym=case_id)
        case_id, _created = self.store.add_case(
            prepared.record, dataset=dataset, source_case_id=key, case_id=case_id, extra_files=prepared.files
        )
        return case_id
