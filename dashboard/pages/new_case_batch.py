"""The work behind the New case page's two callbacks: store every file of an upload, then predict.

Why apart from the page, and without Dash: this is the part that could lose an upload, so it
is written against a services object alone and tested that way (several workers, known
files, broken files) without building an app or a request. Every failure is caught per file
and said in words, so one bad file never costs the others; the page only turns the batch and
its results into components (`components/upload_results.py`).
"""

from __future__ import annotations

import base64
import binascii
import logging
import time
from typing import Any

from dashboard.services.inference import PredictionInProgress
from pipeline.errors import BundleError, ImageLoadError

log = logging.getLogger(__name__)
BUDGET_S = 1.5  # predict for at most this long per request, then report progress


def decode_upload(contents: str | None) -> bytes:
    """Bytes of a dcc.Upload data URL ("data:<type>;base64,<data>")."""
    if not contents or "," not in contents:
        raise ImageLoadError("the browser sent no file data")
    header, _, payload = contents.partition(",")
    if ";base64" not in header:
        raise ImageLoadError("the browser sent the file in an unexpected encoding")
    try:
        return base64.b64decode(payload, validate=False)
    except (binascii.Error, ValueError):
        raise ImageLoadError("the upload was damaged in transfer; please try again") from None


def ingest_files(ingest, contents: list[str], names: list[str], patient: dict[str, Any], max_files: int) -> dict:
    """Store every file as a case; returns the batch the browser keeps (ids and messages only).

    A file whose exact bytes are already a stored case is not decoded or stored
    again: its item names that case (`"existing": True`) and the page offers it.
    """
    items = []
    for index, (data_url, name) in enumerate(zip(contents, names)):
        item = {"name": name or f"file {index + 1}", "case_id": None, "error": None}
        if index >= max_files:
            item["error"] = f"not analysed: at most {max_files} files per upload"
        else:
            try:
                data = decode_upload(data_url)
                known = ingest.find_known(data)  # by sha256, before any decoding or prediction
                if known:
                    item.update(case_id=known, existing=True)
                else:
                    item["case_id"] = ingest.upload(data, patient)
            except ImageLoadError as exc:
                item["error"] = str(exc)
            except Exception:  # never lose the other files to one unexpected failure
                log.exception("storing an upload failed")
                item["error"] = "the file could not be stored (server error); the other files are unaffected"
        items.append(item)
    return {"items": items, "started": time.time()}


def advance_batch(services, batch: dict, budget_s: float = BUDGET_S) -> dict:
    """Predict pending cases of the batch until the time budget is spent; returns per-case results."""
    results: dict[str, dict] = {}
    deadline = time.perf_counter() + budget_s
    try:
        card = services.models.require_active()
    except BundleError as exc:
        return {item["case_id"]: {"error": str(exc)} for item in batch.get("items", []) if item.get("case_id")}
    for item in batch.get("items", []):
        case_id = item.get("case_id")
        if not case_id:
            continue
        stored = services.store.get(case_id)
        if stored is None:
            results[case_id] = {"error": "this case is no longer in the store"}
            continue
        row = stored.prediction_for(*card.identity)
        if row is None and time.perf_counter() < deadline:
            try:
                # another worker answering an overlapping tick may be predicting it: leave it pending
                row, _source = services.analyzer.predict_case(case_id, card, wait=False)
            except PredictionInProgress:
                continue
            except (ImageLoadError, BundleError) as exc:
                results[case_id] = {"error": str(exc)}
                continue
            except Exception:
                log.exception("prediction failed for case %s", case_id)
                results[case_id] = {"error": "the model failed on this image (server error)"}
                continue
        results[case_id] = {"row": row, "case": stored.row, "model": card.identity}
    return results
