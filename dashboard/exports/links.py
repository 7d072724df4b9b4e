"""The download links the pages show: one function per page, so each page's hook is one line.

Links are plain `<a href download>` to the `/export/…` routes (the browser
downloads with its session cookie; no callback round trip, nothing held in
Dash stores). Where the page state changes what a link should fetch — the
cohort filter on the Cohort page, the threshold on the Metrics page — a
client-side callback rewrites the hrefs in the browser, the same way the
Cohort page already keeps its Metrics link in step.

Figures: the plotly charts' own modebar camera saves an SVG of exactly what
is on screen (`modebar_config`, client-side, offline); the links here add
server-side PNG (200 dpi) and SVG renderings (matplotlib, `figures/static.py`)
of the same cohort curves, one by one or all in a ZIP.
"""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import Input, Output, State, html

from dashboard import ids
from dashboard.figures.static import FIGURES, FORMATS

FIGURE_NAMES = {"confusion": "Confusion", "roc": "ROC", "pr": "PR", "calibration": "Calibration",
                "overlap": "Dice/IoU"}
BUTTON = {"size": "sm", "color": "secondary", "outline": True, "external_link": True, "className": "me-2 mb-1"}


# ----------------------------------------------------------------- case page
def case_links(case_id: str, has_prediction: bool, seg_reason: str | None) -> dict[str, dict]:
    """Per export: href, enabled, title. `seg_reason` says why there is no DICOM SEG (None: there is one)."""
    base = f"/export/case/{case_id}"
    no_prediction = "Needs a prediction: run the model on this case first."
    return {
        ids.CASE_EXPORT_PDF: {"label": "PDF report", "href": f"{base}.pdf", "enabled": True,
                              "title": "One-page report: image, overlay, result, model, review"},
        ids.CASE_EXPORT_PNG: {"label": "Overlay PNG", "href": f"{base}.png", "enabled": has_prediction,
                              "title": "Image with the predicted mask, original resolution" if has_prediction
                              else no_prediction},
        ids.CASE_EXPORT_JSON: {"label": "JSON", "href": f"{base}.json", "enabled": True,
                               "title": "Prediction, case metadata and model version"},
        ids.CASE_EXPORT_SEG: {"label": "DICOM SEG", "href": f"{base}.seg.dcm", "enabled": seg_reason is None,
                              "title": seg_reason or "Mask as DICOM Segmentation, opens over the image in "
                                                     "OHIF or 3D Slicer"},
        ids.CASE_EXPORT_SEG_ZIP: {"label": "SEG + image (ZIP)", "href": f"{base}.seg.zip",
                                  "enabled": seg_reason is None,
                                  "title": seg_reason or "The DICOM SEG with the de-identified image it references: "
                                                         "unzip and open both in 3D Slicer or OHIF"},
    }


def case_export_row(stored) -> html.Div:
    """The case page's row of download buttons for `stored` (a StoredCase)."""
    from dashboard.exports.case_data import chosen_prediction
    from dashboard.services import current_services
    from dashboard.store.files import SOURCE_DICOM

    services = current_services()
    row = stored.row
    prediction = chosen_prediction(stored, services.models.active_identity())
    if row.source_format != "dicom":
        seg_reason = f"Only for DICOM cases: this image is a {row.source_format.upper()} file."
    elif not services.store.files.path(row.id, SOURCE_DICOM).exists():
        seg_reason = "The de-identified DICOM file of this case is not in the store."
    elif prediction is None:
        seg_reason = "Needs a prediction: run the model on this case first."
    else:
        seg_reason = None
    # a disabled export gets no href at all: dbc renders a link-button with an href as a live <a>
    buttons = [
        dbc.Button(link["label"], id=id_, href=link["href"] if link["enabled"] else None, disabled=not link["enabled"],
                   title=link["title"], download="", **BUTTON)
        for id_, link in case_links(row.id, prediction is not None, seg_reason).items()
    ]
    return html.Div([html.Small("Download: ", className="text-muted me-2"), *buttons], id=ids.CASE_EXPORTS,
                    className="mb-2")


# --------------------------------------------------------------- cohort page
def cohort_csv_href(query: str) -> str:
    return f"/export/cohort.csv{query or ''}"


def cohort_export_button(query: str) -> dbc.Button:
    """"Download CSV" of the filtered cohort; its href follows the filter (client-side callback)."""
    return dbc.Button("Download CSV", id=ids.COHORT_EXPORT_CSV, href=cohort_csv_href(query), download="",
                      title="The filtered cases with predictions and reviews, as CSV",
                      **{**BUTTON, "className": "float-end me-2"})


# -------------------------------------------------------------- metrics page
def figure_href(query: str, name: str, fmt: str, threshold: float) -> str:
    """Mirrored in the client-side callback below (keep the two in step)."""
    return f"/export/cohort/figure.{fmt}{(query + '&') if query else '?'}figure={name}&threshold={threshold:.2f}"


def zip_href(query: str, threshold: float) -> str:
    return f"/export/cohort/figures.zip{(query + '&') if query else '?'}threshold={threshold:.2f}"


def modebar_config(graph_id: str) -> dict:
    """dcc.Graph config: the modebar camera saves an SVG named after the figure (client-side)."""
    name = str(graph_id).replace("metrics-", "lesionlens-", 1)
    return {"displaylogo": False, "toImageButtonOptions": {"format": "svg", "filename": name}}


def metrics_export_row(query: str, threshold: float) -> html.Div:
    """Download links of the Metrics page: cohort CSV, all figures (ZIP), each figure as PNG / SVG."""
    figure_links = []
    for name in FIGURES:
        links = [html.A(fmt.upper(), id=ids.metrics_export_link(name, fmt), download="", className="ms-1",
                        href=figure_href(query, name, fmt, threshold)) for fmt in FORMATS]
        figure_links.append(html.Span([FIGURE_NAMES[name], *links], className="me-3 text-nowrap"))
    return html.Div(
        [
            html.Small("Download: ", className="text-muted me-2"),
            dbc.Button("Cohort CSV", id=ids.METRICS_EXPORT_CSV, href=cohort_csv_href(query), download="", **BUTTON),
            dbc.Button("All figures (ZIP: PNG + SVG)", id=ids.METRICS_EXPORT_ZIP, href=zip_href(query, threshold),
                       download="", **BUTTON),
            html.Small(figure_links, className="ms-1"),
            html.Small(" · the camera icon on each chart saves it as SVG, as shown.", className="text-muted"),
        ],
        id=ids.METRICS_EXPORTS, className="mb-3",
    )


_METRICS_JS = """
function(threshold, query) {
    var q = query || '', t = (threshold === null || threshold === undefined) ? 0.5 : Number(threshold);
    var join = q ? q + '&' : '?', out = [];
    var figures = %s, formats = %s;
    for (var i = 0; i < figures.length; i++) {
        for (var j = 0; j < formats.length; j++) {
            out.push('/export/cohort/figure.' + formats[j] + join + 'figure=' + figures[i]
                     + '&threshold=' + t.toFixed(2));
        }
    }
    out.push('/export/cohort/figures.zip' + join + 'threshold=' + t.toFixed(2));
    return out;
}
"""


def register(app) -> None:
    """Client-side callbacks that keep the cohort CSV and figure links in step with the page state."""
    app.clientside_callback(
        "function(query) { return (query === undefined || query === null) ? window.dash_clientside.no_update"
        " : '/export/cohort.csv' + query; }",
        Output(ids.COHORT_EXPORT_CSV, "href"),
        Input(ids.COHORT_LOCATION, "data"),
        prevent_initial_call=True,
    )
    outputs = [Output(ids.metrics_export_link(name, fmt), "href") for name in FIGURES for fmt in FORMATS]
    app.clientside_callback(
        _METRICS_JS % (list(FIGURES), list(FORMATS)),
        *outputs,
        Output(ids.METRICS_EXPORT_ZIP, "href"),
        Input(ids.METRICS_THRESHOLD, "value"),
        State("metrics-filter", "data"),  # pages/metrics.py METRICS_FILTER: the page's filter query
        prevent_initial_call=True,
    )
