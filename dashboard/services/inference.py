"""Stored case -> prediction: the second step after `services/ingest.py`, shared by the UI, the API and jobs.

`predict_case` runs or fetches the prediction for a stored case (stored row,
shared cache, else the model), within the per-file time limit in a thread
(the model stays loaded in this worker), and exactly once per case even when
several workers or job runners ask at the same moment. Logs name cases by
their pseudonymous id, never by anything the user sent.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import threading
import time
from typing import Any, Iterator

import numpy as np

from dashboard.monitoring.metrics import timed_prediction
from dashboard.sandbox import FileTimeLimit, time_limit_message
from dashboard.store.files import png_bytes, read_png
from pipeline.card import BundleCard
from pipeline.errors import ImageLoadError
from pipeline.types import ImageRecord, Prediction

log = logging.getLogger(__name__)


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
        cnn_probability=summary.get("cnn_probability"),
        reasons=dict(summary.get("reasons") or {}),
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
    def __init__(self, settings, store, cache, models, predictors) -> None:
        self.settings = settings
        self.store = store
        self.cache = cache
        self.models = models
        self.predictors = predictors
        self._case_locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock_for(self, case_id: str) -> threading.Lock:
        with self._guard:
            if len(self._case_locks) > 1000:  # forget idle locks; a held one is re-created harmlessly
                self._case_locks = {k: v for k, v in self._case_locks.items() if v.locked()}
            return self._case_locks.setdefault(case_id, threading.Lock())

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

    def predict_case(self, case_id: str, card: BundleCard | None = None, force: bool = False,
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

    def _predict_case(self, case_id: str, card: BundleCard | None, force: bool):
        card = card or self.models.require_active()
        name, version = card.identity
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
