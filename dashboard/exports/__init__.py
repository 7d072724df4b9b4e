"""Clinical evidence exports: per-case PDF report, overlay PNG, DICOM SEG, JSON; cohort CSV and figures.

Builders are pure functions of plain data (a `CaseExport`, arrays, a
`CohortCurves`) so they are tested without a browser or a web request:

* `case_data`  — gathers one case's exportable facts from the store (allow-listed metadata only)
* `overlay`    — image + predicted mask at the original resolution (PNG)
* `pdf`        — the one-page report (reportlab)
* `seg`        — DICOM SEG referencing the stored, de-identified source DICOM (highdicom)
* `seg_bundle` — that SEG + the de-identified DICOM it references in one ZIP, so a viewer can open it
* `case_json`  — the prediction summary + case metadata + model version
* `cohort_csv` — the filtered cohort, streamed, through the cohort page's own filter and query code
* `routes`     — the authenticated Flask routes (`/export/…`), each audited
* `links`      — the rows of download links the case, cohort and metrics pages show

`register(app)` wires the routes and the links' client-side callbacks into an app.
"""

from __future__ import annotations


def register(app) -> None:
    """Add the export routes and the download links' callbacks to a Dash app (called by create_app)."""
    from dashboard.exports import links, routes

    app.server.register_blueprint(routes.bp)
    links.register(app)
