"""`/export/…`: the download routes, behind the same sign-in and roles as the pages.

Case exports (viewer, like the case page and its images):
`/export/case/<id>.pdf` (report), `.png` (overlay, `?style=both|contour|fill`),
`.json` (prediction + metadata + model), `.seg.dcm` (DICOM SEG; DICOM cases only) and `.seg.zip`
(that SEG + the de-identified image it references, so a viewer can open it; see `seg_bundle`).
Cohort exports (viewer, like the Cohort and Metrics pages), taking the pages'
own URL query: `/export/cohort.csv?<filter>`, `/export/cohort/figure.png|.svg?figure=roc&threshold=0.5&<filter>`
and `/export/cohort/figures.zip?threshold=…&<filter>` (every figure, PNG and SVG).

The request guard (`auth/guards.py`, endpoints listed in `auth/roles.py`)
has decided access before a view runs; the views check again (belt and
braces, as the admin CSV does). Every successful export writes an audit
event (`case.export` with the format and model; `cohort.export` with the
filter and the case count) naming cases by their pseudonymous id only; the
log lines do the same. Answers carry `Cache-Control: no-store` (they hold
clinical data) and a CSP that runs nothing; errors are one plain sentence.
"""

from __future__ import annotations

import io
import logging
import math
import zipfile
from datetime import datetime, timezone

from flask import Blueprint, Response, abort, request

from dashboard.auth import VIEWER, allows, audit, current_user

log = logging.getLogger(__name__)
bp = Blueprint("exports", __name__)
EXPORT_CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"
MIMETYPES = {"pdf": "application/pdf", "png": "image/png", "json": "application/json",
             "seg": "application/dicom", "csv": "text/csv", "zip": "application/zip"}


def _services():
    from dashboard.services import current_services

    return current_services()


@bp.before_request
def _second_lock():
    user = current_user()
    if user is None or not allows(user.role, VIEWER):  # the request guard refused already
        abort(403)


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers.setdefault("Content-Security-Policy", EXPORT_CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


def plain(status: int, message: str) -> Response:
    return Response(message + "\n", status=status, mimetype="text/plain")


def attachment(data, kind: str, filename: str) -> Response:
    return Response(data, mimetype=MIMETYPES[kind],
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")


# ------------------------------------------------------------------ cases
def _case(case_id: str, with_images: bool = True):
    from dashboard.exports.case_data import load_case_export
    from dashboard.store.files import CASE_ID

    if not CASE_ID.match(case_id or ""):
        return None
    return load_case_export(_services(), case_id, with_images=with_images)


def _case_done(export, kind: str, data: bytes, filename: str) -> Response:
    model = export.model or {}
    audit("case.export", target=export.case_id, format=kind, model=model.get("name"), version=model.get("version"))
    log.info("case %s exported as %s (%d bytes)", export.case_id, kind, len(data))
    return attachment(data, {"seg.dcm": "seg", "seg.zip": "zip"}.get(kind, kind), filename)


def _no_case() -> Response:
    return plain(404, "There is no such case.")


@bp.get("/export/case/<case_id>.pdf")
def case_pdf(case_id: str):
    from dashboard.exports.pdf import case_report_pdf

    export = _case(case_id)
    if export is None:
        return _no_case()
    return _case_done(export, "pdf", case_report_pdf(export), f"lesionlens-{export.case_id}-report.pdf")


@bp.get("/export/case/<case_id>.png")
def case_png(case_id: str):
    from dashboard.exports.overlay import STYLES, overlay_png

    export = _case(case_id)
    if export is None:
        return _no_case()
    if export.mask is None or export.display is None:
        return plain(404, "This case has no prediction yet, so there is no overlay to export.")
    style = request.args.get("style", "both")
    if style not in STYLES:
        return plain(400, f"style must be one of: {', '.join(STYLES)}.")
    data = overlay_png(export.display, export.mask, style)
    return _case_done(export, "png", data, f"lesionlens-{export.case_id}-overlay.png")


@bp.get("/export/case/<case_id>.json")
def case_json(case_id: str):
    from dashboard.exports.case_json import case_json_bytes

    export = _case(case_id, with_images=False)
    if export is None:
        return _no_case()
    return _case_done(export, "json", case_json_bytes(export), f"lesionlens-{export.case_id}.json")


def seg_unavailable_reason(export, source: bytes | None) -> str | None:
    """Why this case has no DICOM SEG (None when it can have one)."""
    if not export.is_dicom:
        return (f"No DICOM SEG for this case: its image is a {export.source_format.upper()} file, not DICOM, so "
                "there is no DICOM image for a segmentation to refer to. Use the PNG overlay instead.")
    if source is None:
        return "No DICOM SEG for this case: its de-identified DICOM file is not in the store."
    if export.mask is None:
        return "No DICOM SEG for this case: it has no prediction yet."
    return None


def _case_seg(case_id: str, refusal=None):
    """(export, stored source.dcm bytes, SEG bytes) of a case, or the plain answer why there is none.

    `refusal(export, source)` may answer first (a Response) before the SEG is built."""
    from dashboard.exports.seg import SegUnavailable, seg_bytes
    from dashboard.store.files import SOURCE_DICOM

    export = _case(case_id)
    if export is None:
        return _no_case()
    services = _services()
    source = services.store.files.read_bytes(export.case_id, SOURCE_DICOM) if export.is_dicom else None
    reason = seg_unavailable_reason(export, source)
    if reason:
        return plain(404, reason)
    refused = refusal(export, source) if refusal is not None else None
    if refused is not None:
        return refused
    stored = services.store.get(export.case_id)
    frame = (stored.row.meta or {}).get("frame") if stored else None
    try:
        data = seg_bytes(source, export.mask, export.model["name"], export.model["version"], frame=frame)
    except SegUnavailable as exc:
        return plain(422, f"No DICOM SEG for this case: {exc}.")
    return export, source, data


def _bundle_refusal(export, source: bytes) -> Response | None:
    """The 422 answer when the de-identified image may not leave with its SEG (`seg_bundle.release_problem`)."""
    from dashboard.exports.seg_bundle import release_problem

    problem = release_problem(source, export.case_id)
    if not problem:
        return None
    log.warning("case %s: image + SEG bundle refused: %s", export.case_id, problem)
    return plain(422, f"No image + SEG bundle for this case: {problem}. The DICOM SEG alone is still available.")


@bp.get("/export/case/<case_id>.seg.dcm")
def case_seg(case_id: str):
    found = _case_seg(case_id)
    if isinstance(found, Response):
        return found
    export, _source, data = found
    return _case_done(export, "seg.dcm", data, f"lesionlens-{export.case_id}-seg.dcm")


@bp.get("/export/case/<case_id>.seg.zip")
def case_seg_zip(case_id: str):
    """The SEG with the de-identified image it references (`seg_bundle`), after re-checking that image."""
    from dashboard.exports.seg_bundle import bundle_zip

    found = _case_seg(case_id, refusal=_bundle_refusal)
    if isinstance(found, Response):
        return found
    export, source, data = found
    return _case_done(export, "seg.zip", bundle_zip(export, source, data), f"lesionlens-{export.case_id}-seg.zip")


# ----------------------------------------------------------------- cohorts
def _threshold() -> float:
    from dashboard.cohort.evaluation import default_threshold

    try:
        value = float(request.args["threshold"])
    except (KeyError, ValueError):
        value = default_threshold(_services().models.active_card())
    return min(1.0, max(0.0, value)) if math.isfinite(value) else 0.5


@bp.get("/export/cohort.csv")
def cohort_csv():
    from dashboard.cohort.queries import cohort_count
    from dashboard.cohort.controls import shown_filter
    from dashboard.exports.cohort_csv import csv_rows

    services = _services()
    f = shown_filter(request.query_string.decode("utf-8", "replace"))
    model = services.models.active_identity()
    count = cohort_count(services.store, f, model)
    audit("cohort.export", target="cohort.csv", filters=f.to_query(), cases=count)
    log.info("cohort CSV exported (%d cases)", count)
    return attachment(csv_rows(services.store, f, model), "csv", f"lesionlens-cohort-{_stamp()}.csv")


def _curves():
    from dashboard.cohort.filters import CohortFilter
    from dashboard.cohort.curves import at_threshold, threshold_points
    from dashboard.cohort.evaluation import load_curves

    f = CohortFilter.from_query(request.query_string.decode("utf-8", "replace"))
    curves, _model = load_curves(_services(), f)  # the Metrics page's memoised curves for this filter
    threshold = _threshold()
    return f, curves, threshold, threshold_points(at_threshold(curves, threshold))


def _figure(fmt: str):
    from dashboard.figures.static import FIGURES, FORMATS, cohort_figure, figure_bytes

    name = request.args.get("figure", "")
    if name not in FIGURES:
        return plain(400, f"figure must be one of: {', '.join(FIGURES)}.")
    f, curves, threshold, points = _curves()
    data = figure_bytes(cohort_figure(name, curves, threshold, points), fmt)
    audit("cohort.export", target=f"figure.{fmt}", figure=name, filters=f.to_query(), cases=curves.n_cases)
    return Response(data, mimetype=FORMATS[fmt],
                    headers={"Content-Disposition": f'attachment; filename="lesionlens-{name}.{fmt}"'})


@bp.get("/export/cohort/figure.png")
def cohort_figure_png():
    return _figure("png")


@bp.get("/export/cohort/figure.svg")
def cohort_figure_svg():
    return _figure("svg")


@bp.get("/export/cohort/figures.zip")
def cohort_figures_zip():
    from dashboard.figures.static import FIGURES, FORMATS, cohort_figure, figure_bytes

    f, curves, threshold, points = _curves()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in FIGURES:
            figure = cohort_figure(name, curves, threshold, points)
            for fmt in FORMATS:
                archive.writestr(f"lesionlens-{name}.{fmt}", figure_bytes(figure, fmt))
    audit("cohort.export", target="figures.zip", filters=f.to_query(), cases=curves.n_cases)
    return attachment(buffer.getvalue(), "zip", f"lesionlens-figures-{_stamp()}.zip")
