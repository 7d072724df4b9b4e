"""Upload -> stored case -> prediction: the one path the UI, the API and the CLI share.

Split in two steps on purpose. `ingest` decodes and stores the image (fast,
and it is where a bad file fails, in words, beside that file); `predict_case`
runs or fetches the prediction for a stored case. The New case page shows
every file as soon as it is stored and fills the results in one by one, and
nothing uploaded is lost if a worker dies between the two steps.

Patient data: a DICOM upload is de-identified (PS3.15 Basic Profile, Retain
Patient Characteristics) with the case's pseudonymous id before anything is
stored; only the de-identified file, the PNG/array renderings and
allow-listed, non-identifying metadata read from the de-identified header
reach the store (the original bytes only with LESIONLENS_KEEP_ORIGINALS=1).
Decoding and de-identification run in `dashboard.sandbox` within the
per-file time limit; prediction runs within the same limit in a thread
(the model stays loaded in this worker). Logs name cases by their
pseudonymous id, never by anything the user sent (file names included).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import os
import threading
import time
from typing import Any, Iterator

import numpy as np

from dashboard.monitoring.metrics import timed_prediction
from dashboard.sandbox import FileTimeLimit, PreparedUpload, Sandbox, time_limit_message
from dashboard.store.cases import new_case_id
from dashboard.store.files import png_bytes, read_png
from pipeline.errors import ImageLoadError
from pipeline.io import Limits
from pipeline.io.limits import check_file_size
from pipeline.types import ImageRecord, Prediction

log = logging.getLogger(__name__)

PATIENT_FIELDS = ("age", "sex", "history", "symptoms")


def clean_patient(form: dict[str, Any] | None) -> dict[str, Any]:
    """Patient-form fields as the store and the model expect them; blanks dropped.

    Raises ImageLoadError-free ValueError messages for impossible values, so
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


def payload_of(prediction: Prediction) -> dict[str, Any]:
    """What the prediction cache holds: the summary plus PNG-encoded arrays."""
    prob = np.round(np.clip(prediction.probability_map, 0, 1) * 255).astype(np.uint8)
    return {"summary": prediction.summary(), "mask_png": png_bytes(prediction.mask), "prob_png": png_bytes(prob)}


def prediction_from_payload(payload: dict[str, Any]) -> Prediction:
    summary = payload["summary"]
    return Prediction(
        label=summary["label"],
        probability=float(summary["probability"]),
        uncertainty=float(summary["uncertainty"]),
        mask=read_png(payload["mask_png"]) >= 128,
        probability_map=read_png(payload["prob_png"]).astype(np.float32) / 255.0,
        box=tuple(summary["box"]) if summary.get("box") else None,
        area_px=int(summary["area_px"]),
        area_mm2=summary.get("area_mm2"),
        lesion_found=bool(summary["lesion_found"]),
        model_name=summary["model"]["name"],
        model_version=summary["model"]["version"],
        timings_ms={"cache": 0.0},
        fused=bool(summary.get("fused", False)),
        contributions=dict(summary.get("contributions") or {}),
        image_probability=summary.get("image_probability"),
        lesion_probability=summary.get("lesion_probability"),
        out_of_distribution=bool(summary.get("out_of_distribution", False)),
        ood_score=summary.get("ood_score"),
        ood_reasons=tuple(summary.get("ood_reasons") or ()),
        ood_trained_on=summary.get("ood_trained_on"),
        lexicon=dict(summary.get("lexicon") or {}),
        cnn_logit=summary.get("cnn_logit"),
    )


class PredictionInProgress(Exception):
    """Another process (gunicorn worker, job runner) is predicting this case right now."""


PREDICT_LOCKS = 64  # lock files shared by all cases (hash of the case id): never created per case, never deleted


@contextlib.contextmanager
def process_claim(lock_dir, case_id: str, wait_s: float | None) -> Iterator[None]:
    """An exclusive flock shared by every process on this machine (and NFS v4 clients of a shared home).

    Two workers answering the New case page's progress ticks for the same new
    upload used to run the model twice (once per worker, the first upload after
    a restart loading the model in both): the second now waits for the first
    (`wait_s` seconds at most) or, with `wait_s=None`, gives up at once with
    PredictionInProgress and shows the case as still being analysed.
    """
    import fcntl

    lock_dir.mkdir(parents=True, exist_ok=True)
    slot = int(hashlib.sha256(case_id.encode()).hexdigest()[:8], 16) % PREDICT_LOCKS
    with open(lock_dir / f"predict-{slot:02d}.lock", "a+b") as handle:
        deadline = time.monotonic() + (wait_s or 0.0)
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if wait_s is None or time.monotonic() >= deadline:
                    raise PredictionInProgress(case_id) from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def cache_content_key(sha256: str, metadata: dict[str, Any]) -> str:
    """The prediction cache's content key of a stored case: its image's key plus the patient fields a model reads."""
    return sha256 + _metadata_tag(metadata)


def _metadata_tag(metadata: dict[str, Any]) -> str:
    # every patient field a fusion model may read (pipeline.patient_features.ALLOWED_KEYS)
    used = {k: metadata.get(k) for k in ("age", "sex", "history", "symptoms", "signs", "tissue_composition")
            if metadata.get(k) is not None}
    return hashlib.sha256(json.dumps(used, sort_keys=True).encode()).hexdigest()[:12] if used else ""


class Analyzer:
    def __init__(self, settings, store, cache, models, predictors, sandbox: Sandbox | None = None) -> None:
        self.settings = settings
        self.store = store
        self.cache = cache
        self.models = models
        self.predictors = predictors
        self.sandbox = sandbox or Sandbox(settings.file_time_limit_s, settings.decode_isolation,
                                          settings.decode_processes, settings.decode_memory_mb)
        self._case_locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._salt: bytes | None = None

    @property
    def deid_salt(self) -> bytes:
        """The deployment's de-identification salt (LESIONLENS_DEID_SALT or a file under home)."""
        if self._salt is None:
            from pipeline.deid import deployment_salt

            self._salt = deployment_salt(self.settings.home)
        return self._salt

    def _lock_for(self, case_id: str) -> threading.Lock:
        with self._guard:
            if len(self._case_locks) > 1000:  # forget idle locks; a held one is re-created harmlessly
                self._case_locks = {k: v for k, v in self._case_locks.items() if v.locked()}
            return self._case_locks.setdefault(case_id, threading.Lock())

    # ------------------------------------------------------------ known images
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

    @property
    def limits(self) -> Limits:
        return Limits(max_bytes=self.settings.max_upload_bytes)

    def prepare(self, data: bytes, pseudonym: str) -> PreparedUpload:
        """Decode (and for DICOM de-identify with `pseudonym`) within the per-file time limit."""
        if not isinstance(data, (bytes, bytearray)):
            raise ImageLoadError("upload did not contain file data")
        check_file_size(len(data), self.limits)  # before shipping an oversized upload to a child
        return self.sandbox.run(bytes(data), max_bytes=self.settings.max_upload_bytes, pseudonym=pseudonym,
                                salt=self.deid_salt, keep_original=self.settings.keep_originals,
                                max_side=self.settings.max_image_side)

    def ingest(self, data: bytes, patient: dict[str, Any] | None = None) -> str:
        """Decode, de-identify and store one uploaded file; raises ImageLoadError with a readable message.

        Nothing is stored for a rejected file: the case folder and row are
        written only after the file decoded within its time limit.
        """
        patient = clean_patient(patient)
        self._check_quota()
        case_id = new_case_id()
        prepared = self.prepare(data, pseudonym=case_id)
        record = prepared.record
        case_id, _ = self.store.add_case(record, metadata=patient, case_id=case_id, extra_files=prepared.files)
        self.cache.set(self._upload_key(hashlib.sha256(bytes(data)).hexdigest()), case_id)
        log.info("upload stored as case %s (%s, %d x %d%s)", case_id, record.source_format, record.shape[1],
                 record.shape[0], ", de-identified" if prepared.files else "")
        return case_id

    def _check_quota(self) -> None:
        """The signed-in user's daily upload quota (services/quota.py); no user (CLI, jobs): not counted."""
        from dashboard.auth import current_user
        from dashboard.services import quota

        user = current_user()
        quota.check(self.store.sessions, user.username if user else None, self.settings.daily_uploads)

    def record_of(self, case_id: str) -> ImageRecord:
        """Rebuild the ImageRecord of a stored case from its files (no original file kept)."""
        stored = self.store.get(case_id)
        if stored is None:
            raise KeyError(case_id)
        row = stored.row
        pixels = self.store.files.read_pixels(case_id)
        display = self.store.files.read_display(case_id)
        if pixels is None or display is None:
            raise ImageLoadError("the stored image files of this case are missing")
        spacing = (row.spacing_row_mm, row.spacing_col_mm) if row.spacing_row_mm else None
        return ImageRecord(
            pixels=pixels,
            display=display,
            spacing_mm=spacing,
            modality=row.modality,
            source_format=row.source_format,
            metadata=dict(row.meta or {}),
            sha256=row.sha256,
        )

    def predict_case(self, case_id: str, card: dict[str, Any] | None = None, force: bool = False,
                     wait: bool = True):
        """Prediction row of `case_id` for the active (or given) model: stored, cached or computed.

        Returns (PredictionRow, source) with source "store", "cache" or "model".
        A per-case lock (threads of this worker) and a per-case file lock
        (other workers and job runners) stop overlapping progress ticks of the
        New case page from running the model twice on the same case; whoever
        comes second finds the first one's stored row. `wait=False` raises
        PredictionInProgress instead of waiting for another process.
        """
        with self._lock_for(case_id):
            wait_s = self.settings.file_time_limit_s + 120.0 if wait else None  # + a model load
            with process_claim(self.settings.home / "locks", case_id, wait_s):
                return self._predict_case(case_id, card, force)

    def _predict_case(self, case_id: str, card: dict[str, Any] | None, force: bool):
        card = card or self.models.require_active()
        name, version = str(card["name"]), str(card["version"])
        stored = self.store.get(case_id)
        if stored is None:
            raise KeyError(case_id)
        existing = stored.prediction_for(name, version)
        if existing is not None and not force:
            return existing, "store"
        metadata = dict(stored.row.meta or {})
        key_sha = cache_content_key(stored.row.sha256, metadata)
        started = time.perf_counter()
        payload = None if force else self.cache.get_prediction(key_sha, name, version)
        source = "cache"
        if payload is not None:
            prediction = prediction_from_payload(payload)
        else:
            record = self.record_of(case_id)
            predictor = self.predictors.get(card)  # loading the model is not the file's time
            with timed_prediction():  # the /prometheus prediction latency
                prediction = self._predict_within_limit(predictor, record, metadata)
            self.cache.put_prediction(key_sha, name, version, payload_of(prediction))
            source = "model"
        prediction.timings_ms = {**prediction.timings_ms, "server_total": (time.perf_counter() - started) * 1000}
        row = self.store.add_prediction(case_id, prediction)
        log.info("case %s predicted by %s %s from %s", case_id, name, version, source)
        return row, source

    def _predict_within_limit(self, predictor, record: ImageRecord, metadata: dict[str, Any]) -> Prediction:
        """predictor.predict in a thread, waited for at most the per-file time limit.

        A model call cannot be interrupted safely, so one that overruns is
        left to finish in the background and its result dropped; the request
        gets its answer on time and the worker keeps serving.
        """
        box: dict[str, Any] = {}

        def work():
            try:
                box["value"] = predictor.predict(record, metadata)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
                box["error"] = exc

        limit = self.settings.file_time_limit_s
        thread = threading.Thread(target=work, daemon=True, name="lesionlens-predict")
        thread.start()
        thread.join(limit)
        if thread.is_alive():
            log.warning("prediction exceeded the %.3g s per-file limit", limit)
            raise FileTimeLimit(time_limit_message(limit, "analysing"))
        if "error" in box:
            raise box["error"]
        return box["value"]

    def analyse(self, data: bytes, patient: dict[str, Any] | None = None):
        """Both steps at once (API): returns (case_id, PredictionRow, source)."""
        case_id = self.ingest(data, patient)
        row, source = self.predict_case(case_id)
        return case_id, row, source
