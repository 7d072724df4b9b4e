"""JSON API: `POST /api/v1/predict`, `GET /api/v1/cases/<id>`, and `GET /healthz`.

For scripts and PACS bridges that want the model without the browser. Errors
are JSON with a readable `error` (the ImageLoadError message for a bad file),
never a stack trace. Every /api/v1 request needs `Authorization: Bearer <token>`
with a per-user token (`python -m dashboard users token create USER`; stored
hashed, revocable); the token's user must have the endpoint's role (predict:
clinician; reading a case: viewer). The request guard in dashboard/auth checks
that before any view runs; /healthz stays open for load balancers.
"""

from __future__ import annotations

import base64
import logging
import os
import time

from flask import Blueprint, jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from dashboard.auth import audit, current_user
from dashboard.services.ingest import clean_patient
from dashboard.services.quota import QuotaExceeded
from pipeline.errors import BundleError, ImageLoadError

log = logging.getLogger(__name__)
api = Blueprint("api", __name__, url_prefix="/api/v1")
health = Blueprint("health", __name__)


def _services():
    from dashboard.services import current_services

    return current_services()


def error(status: int, message: str):
    return jsonify({"error": message, "status": status}), status


@api.before_request
def _auth():
    """Second lock: the app-wide guard (dashboard/auth/guards.py) has authenticated the token already."""
    if current_user() is None:
        return error(401, "missing, wrong or revoked API token (Authorization: Bearer <token>)")
    return None


def prediction_json(row) -> dict:
    return {
        # the out-of-distribution guard's verdict; predictions stored before it existed were not checked
        "out_of_distribution": False, "ood_score": None, "ood_reasons": [],
        **(row.summary or {}),
        "dice": row.dice,
        "iou": row.iou,
        "created": row.created.isoformat() if row.created else None,
    }


@api.post("/predict")
def predict():
    started = time.perf_counter()
    upload = request.files.get("file")
    if upload is None:
        return error(400, "send the image as multipart form field 'file'")
    data = upload.read()
    try:
        patient = clean_patient({k: request.form.get(k) for k in ("age", "sex", "history", "symptoms")})
    except ValueError as exc:
        return error(400, str(exc))
    services = _services()
    try:
        case_id = services.ingest.upload(data, patient)
        row, source = services.analyzer.predict_case(case_id)
    except QuotaExceeded as exc:
        return error(429, str(exc))
    except ImageLoadError as exc:
        return error(422, f"cannot read the image: {exc}")
    except BundleError as exc:
        return error(503, str(exc))
    audit("case.upload", target=case_id)
    mask = services.store.files.read_bytes(
        case_id, services.store.files.prediction_name("mask", row.model_name, row.model_version)
    )
    return jsonify(
        {
            "case_id": case_id,
            "case_url": f"/case/{case_id}",
            "prediction": prediction_json(row),
            "source": source,
            "mask_png_base64": base64.b64encode(mask or b"").decode("ascii"),
            "server_ms": round((time.perf_counter() - started) * 1000, 1),
        }
    )


@api.get("/cases/<case_id>")
def get_case(case_id: str):
    stored = _services().store.get(case_id)
    if stored is None:
        return error(404, f"no case {case_id}")
    row = stored.row
    audit("case.view", target=row.id)
    return jsonify(
        {
            "case_id": row.id,
            "dataset": row.dataset,
            "source_case_id": row.source_case_id,
            "width": row.width,
            "height": row.height,
            "spacing_mm": [row.spacing_row_mm, row.spacing_col_mm] if row.spacing_row_mm else None,
            "modality": row.modality,
            "source_format": row.source_format,
            "true_label": row.true_label,
            "has_truth_mask": row.has_truth_mask,
            "metadata": row.meta,
            "date": row.case_date,
            "created": row.created.isoformat(),
            "predictions": [
                {"model": {"name": p.model_name, "version": p.model_version}, **prediction_json(p)}
                for p in stored.predictions
            ],
            "reviews": [
                {
                    "user": r.user,
                    "agree": r.agree,
                    "corrected_label": r.corrected_label,
                    "note": r.note,
                    "created": r.created.isoformat(),
                }
                for r in stored.reviews
            ],
        }
    )


@api.route("/<path:rest>", methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
def unknown(rest: str):
    """Without this, Dash's catch-all page route would answer unknown API paths with HTML."""
    return error(404, f"no API endpoint /api/v1/{rest}")


@api.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    if exc.code == 429:  # flask-limiter (dashboard/ratelimit.py): its description is the limit, e.g. "30 per 1 minute"
        return error(429, f"rate limit exceeded ({exc.description}); try again later")
    return error(exc.code or 500, exc.description or exc.name)


@api.errorhandler(Exception)
def _unexpected(exc: Exception):
    log.exception("API request failed")
    return error(500, "internal error; the server log has the details")


def too_large(exc: RequestEntityTooLarge):
    """App-wide 413 (raised before any blueprint runs): JSON for the API, text elsewhere.

    The limit is this request's (dashboard/auth/bodies.py: it depends on the route and the role)."""
    limit = request.max_content_length or _services().settings.max_request_bytes
    size = f"{limit // (1024 * 1024)} MB" if limit >= 1024 * 1024 else f"{limit // 1024} kB"
    message = f"request is larger than the {size} limit"
    if request.path.startswith("/api/"):
        return error(413, message)
    return message, 413


@health.route("/healthz", methods=["GET", "HEAD"])
def healthz():
    """Load-balancer probe: anonymous callers get only {"status": "ok"} (200) or {"status": "not ok"} (503).

    Why minimal: case counts, model versions, worker pids and exception texts
    help an attacker map the deployment and say nothing a load balancer needs;
    an anonymous probe also must stay cheap (one `SELECT 1`), since anyone can
    send it. An admin (session or API token) gets the per-worker details;
    failures show the exception's type, and the log has the rest.
    """
    from dashboard.auth.guards import identify

    services = _services()
    viewer = identify()
    if viewer is None or viewer.role != "admin":
        try:
            services.store.ping()
            return jsonify({"status": "ok"}), 200
        except Exception:  # noqa: BLE001 - any failure is "not ok"; the type of failure is for the log only
            log.warning("healthz: store ping failed", exc_info=True)
            return jsonify({"status": "not ok"}), 503
    return _health_details(services)


def _health_details(services):
    body: dict = {}
    try:
        started = time.perf_counter()
        services.store.ping()
        body["store"] = {
            "ok": True,
            "backend": services.store.engine.dialect.name,
            "cases": services.store.count(),
            "ms": round((time.perf_counter() - started) * 1000, 1),
        }
    except Exception as exc:  # noqa: BLE001
        log.warning("healthz: store check failed", exc_info=True)
        body["store"] = {"ok": False, "error": type(exc).__name__}
    body["cache"] = services.cache.status()
    try:
        card = services.models.active_card()
        body["model"] = {
            "ok": card is not None,
            "active": None if card is None else {"name": card.name, "version": card.version},
            "loaded_in_this_worker": services.predictors.loaded(),
            "bundles": len(services.models.valid_bundles()),
        }
    except Exception as exc:  # noqa: BLE001
        log.warning("healthz: model check failed", exc_info=True)
        body["model"] = {"ok": False, "error": type(exc).__name__}
    body["pid"] = os.getpid()
    ok = all(body[k].get("ok") for k in ("store", "cache", "model"))
    body["status"] = "ok" if ok else "degraded"
    return jsonify(body), 200 if body["store"].get("ok") else 503
