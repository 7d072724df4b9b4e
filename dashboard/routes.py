"""Flask routes for case images: display, thumbnails, window/level and overlays.

Pages reference images by URL instead of embedding base64 in figures or table
data: the browser caches them, figure JSON stays small, and the cohort table
of 10,000 cases sends 25 short URLs per page. URLs carry a version (`v=`) so
a re-imported image or re-run prediction is never served stale.
"""

from __future__ import annotations

import io
import math
from urllib.parse import urlencode

import flask
from flask import Blueprint, abort, request, send_file

from dashboard.figures.overlay import overlay_rgba, windowed
from dashboard.figures.style import PREDICTION_COLOR, TRUTH_COLOR
from dashboard.store.files import CASE_ID, CaseFiles, png_bytes

bp = Blueprint("files", __name__)
STATIC_FILES = {"display.png", "thumb.png"}
MAX_AGE = 24 * 3600


def _services():
    from dashboard.services import current_services

    return current_services()


def _png_response(data: bytes) -> flask.Response:
    response = send_file(io.BytesIO(data), mimetype="image/png", max_age=MAX_AGE, etag=False)
    return response


def _check(case_id: str) -> None:
    if not CASE_ID.match(case_id or ""):
        abort(404)


def file_url(case_id: str, name: str, version: str = "") -> str:
    return f"/files/{case_id}/{name}" + (f"?v={version}" if version else "")


def window_url(case_id: str, low: float, high: float, version: str = "") -> str:
    return f"/files/{case_id}/window.png?" + urlencode({"low": f"{low:.6g}", "high": f"{high:.6g}", "v": version})


def overlay_url(case_id: str, layer: str, style: str, model: tuple[str, str] | None = None, version: str = "") -> str:
    params = {"layer": layer, "style": style, "v": version}
    if model:
        params.update(model=model[0], version=model[1])
    return f"/files/{case_id}/overlay.png?" + urlencode(params)


@bp.get("/files/<case_id>/<name>")
def case_file(case_id: str, name: str):
    _check(case_id)
    files = _services().store.files
    if name in STATIC_FILES:
        data = files.read_bytes(case_id, name)
        if data is None:
            abort(404)
        return _png_response(data)
    if name == "window.png":
        return _window(files, case_id)
    if name == "overlay.png":
        return _overlay(files, case_id)
    abort(404)


def _float_arg(name: str) -> float:
    try:
        value = float(request.args[name])
    except (KeyError, ValueError):
        abort(400)
    if not math.isfinite(value):
        abort(400)
    return value


def _window(files: CaseFiles, case_id: str):
    low, high = _float_arg("low"), _float_arg("high")
    if high <= low:
        abort(400)
    pixels = files.read_pixels(case_id)
    if pixels is None:
        abort(404)
    return _png_response(png_bytes(windowed(pixels, low, high)))


def _overlay(files: CaseFiles, case_id: str):
    layer = request.args.get("layer", "pred")
    style = "contour" if request.args.get("style") == "contour" else "fill"
    if layer == "truth":
        mask, color = files.read_mask(case_id, "truth.png"), TRUTH_COLOR
    elif layer == "pred":
        name = files.prediction_name("mask", request.args.get("model", ""), request.args.get("version", ""))
        mask, color = files.read_mask(case_id, name), PREDICTION_COLOR
    else:
        abort(400)
    if mask is None:
        abort(404)
    return _png_response(png_bytes(overlay_rgba(mask, color, style)))
