"""New case (`/`): drop one or several images, get mask + diagnosis + confidence.

Two callbacks, on purpose. `_ingest` decodes and stores every file at once
(a bad file fails here, in words, beside its name, while the others go on) and
hands a list of case ids to the browser; `_advance` then predicts the stored
cases a few at a time, driven by a dcc.Interval, so the page shows a progress
bar and each result as soon as it exists instead of one long spinner. Every
upload is a stored case from the first step on, so nothing is lost. The
work of both steps is `new_case_batch.py`; the cards are `components/upload_results.py`.

Limits, each refused in words beside the file: size per file (dcc.Upload
max_size in the browser, with assets/20-upload-limits.js saying why; Flask
MAX_CONTENT_LENGTH for the whole request; pipeline.io again on the bytes),
files per upload, pixels (from the header), content (sniffed; file names
are only shown back to the browser that sent them, never stored or
logged), and time per file (decode + de-identify, then predict).
"""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
import flask
from dash import Input, Output, State, dcc, html

from dashboard import ids
from dashboard.auth import CLINICIAN, audit, require
from dashboard.components.upload_results import render_batch
from dashboard.pages.new_case_batch import advance_batch, ingest_files
from dashboard.services import current_services
from dashboard.services.ingest import clean_patient

TICK_MS = 600
# the patient form: the key `clean_patient` reads each field's value under
PATIENT_FORM = (("age", ids.PATIENT_AGE), ("sex", ids.PATIENT_SEX), ("history", ids.PATIENT_HISTORY),
                ("symptoms", ids.PATIENT_SYMPTOMS))
# the upload progress bar's properties the batch callback sets, in the order it returns them
PROGRESS_PROPS = ("value", "label", "style", "animated")
UPLOAD_CLIENT_MESSAGE = "new-upload-client-message"


def _upload_box(max_bytes: int, max_files: int, time_limit_s: float, max_request_bytes: int):
    max_mb = max_bytes / (1024 * 1024)
    upload = dcc.Upload(
        id=ids.UPLOAD,
        multiple=True,
        max_size=max_bytes,
        children=html.Div(
            [
                html.Div("⇪", style={"fontSize": "2.4rem", "lineHeight": "1"}),
                html.Div([html.B("Drag and drop images here"), " or click to choose files"]),
                html.Small(f"PNG, JPEG, BMP, TIFF or DICOM · up to {max_mb:g} MB each · up to {max_files} files · "
                           f"{time_limit_s:g} s per file", className="text-muted"),
                html.Small(" DICOM files are de-identified before they are stored.",
                           className="text-muted d-block"),
            ]
        ),
        className="ll-upload",
        className_active="ll-upload ll-upload-active",
    )
    message = dbc.Alert(id=UPLOAD_CLIENT_MESSAGE, color="warning", className="mt-2 mb-0 ll-upload-refused",
                        style={"display": "none"})
    # the browser sends the files base64-encoded (4/3 of their size) in one request
    return html.Div([upload, message], **{"data-max-bytes": str(max_bytes),
                                          "data-max-total-bytes": str(max_request_bytes * 3 // 4),
                                          "data-message-id": UPLOAD_CLIENT_MESSAGE})


def _patient_form():
    return dbc.Card(
        [
            dbc.CardHeader("Patient (optional, never names or IDs)"),
            dbc.CardBody(
                [
                    dbc.Row(
                        [
                            dbc.Col([dbc.Label("Age (years)", html_for=ids.PATIENT_AGE),
                                     dbc.Input(id=ids.PATIENT_AGE, type="number", min=0, max=120, step=1)], md=4),
                            dbc.Col([dbc.Label("Sex"),
                                     dbc.RadioItems(id=ids.PATIENT_SEX, inline=True, value="",
                                                    options=[{"label": "F", "value": "F"}, {"label": "M", "value": "M"},
                                                             {"label": "Other", "value": "O"},
                                                             {"label": "Not given", "value": ""}])], md=8),
                        ],
                        className="mb-2",
                    ),
                    dbc.Checklist(id=ids.PATIENT_HISTORY, options=[{"label": "Family history of breast cancer",
                                                                    "value": "yes"}], value=[], className="mb-2"),
                    dbc.Label("Symptoms / history", html_for=ids.PATIENT_SYMPTOMS),
                    dbc.Textarea(id=ids.PATIENT_SYMPTOMS, placeholder="e.g. palpable lump, 3 weeks", rows=2),
                ]
            ),
        ],
        className="mb-3",
    )


def layout(**_query) -> html.Div:
    settings = current_services().settings
    return html.Div(
        [
            html.H2("New case", className="mb-3"),
            dbc.Row(
                [
                    dbc.Col(
                        [
                            _upload_box(settings.max_upload_bytes, settings.max_files_per_upload,
                                        settings.file_time_limit_s, settings.max_request_bytes),
                            dcc.Loading(html.Div(id=ids.UPLOAD_STATUS, className="mt-2"), type="dot",
                                        id=ids.UPLOAD_LOADING),
                            html.Div(className="mb-3"),
                            _patient_form(),
                        ],
                        lg=4,
                    ),
                    dbc.Col(
                        [
                            dbc.Progress(id=ids.UPLOAD_PROGRESS, value=0, label="", striped=True, animated=True,
                                         className="mb-3", style={"height": "1.6rem", "display": "none"}),
                            html.Div(
                                dbc.Alert("Results appear here: the lesion mask over the image, the model's label, "
                                          "calibrated probability and uncertainty.", color="light"),
                                id=ids.UPLOAD_RESULTS,
                            ),
                        ],
                        lg=8,
                    ),
                ]
            ),
            dcc.Store(id=ids.UPLOAD_BATCH),
            dcc.Interval(id=ids.UPLOAD_TICK, interval=TICK_MS, disabled=True),
        ]
    )


def register(app: dash.Dash) -> None:
    dash.register_page(__name__, path="/", name="New case", title="New case · Lesion Lens", order=0, layout=layout)
    # the old address: a plain route on this app's server (register_page's redirect_from would add it to
    # whichever app dash.get_app() returns: the one that served the last request in this process)
    app.server.add_url_rule("/new", "/new", lambda: flask.redirect(app.get_relative_path("/"), code=301))

    @app.callback(
        Output(ids.UPLOAD_BATCH, "data"),
        Output(ids.UPLOAD_TICK, "disabled", allow_duplicate=True),
        Output(ids.UPLOAD_STATUS, "children"),
        Output(ids.UPLOAD, "contents"),
        Input(ids.UPLOAD, "contents"),
        State(ids.UPLOAD, "filename"),
        *[State(field, "value") for _, field in PATIENT_FORM],
        prevent_initial_call=True,
    )
    def _ingest(contents, names, *form):
        if not contents:
            raise dash.exceptions.PreventUpdate
        require(CLINICIAN)
        contents = contents if isinstance(contents, list) else [contents]
        names = names if isinstance(names, list) else [names]
        try:
            patient = clean_patient({key: value for (key, _), value in zip(PATIENT_FORM, form)})
        except ValueError as exc:
            return dash.no_update, True, dbc.Alert(f"Patient form: {exc}", color="danger"), None
        services = current_services()
        batch = ingest_files(services.ingest, contents, names, patient, services.settings.max_files_per_upload)
        stored = sum(1 for item in batch["items"] if item["case_id"] and not item.get("existing"))
        known = sum(1 for item in batch["items"] if item.get("existing"))
        for item in batch["items"]:  # case ids only: never file names (they often name the patient)
            if item["case_id"] and not item.get("existing"):
                audit("case.upload", target=item["case_id"])
        status = f"{stored} of {len(batch['items'])} file(s) stored as cases"
        if known:
            status += f"; {known} already in the store (the existing case is shown)"
        status = html.Small(status, className="text-muted")
        return batch, False, status, None

    @app.callback(
        Output(ids.UPLOAD_RESULTS, "children"),
        *[Output(ids.UPLOAD_PROGRESS, prop) for prop in PROGRESS_PROPS],
        Output(ids.UPLOAD_TICK, "disabled"),
        Input(ids.UPLOAD_BATCH, "data"),
        Input(ids.UPLOAD_TICK, "n_intervals"),
        State(ids.UPLOAD_PROGRESS, "label"),
        prevent_initial_call=True,
    )
    def _advance(batch, _ticks, previous_label):
        if not batch:
            raise dash.exceptions.PreventUpdate
        require(CLINICIAN)
        results = advance_batch(current_services(), batch)
        cards, done, total = render_batch(batch, results)
        percent = round(100 * done / total) if total else 100
        label = f"{done} of {total} analysed"
        style = {"height": "1.6rem"}
        ticked = dash.ctx.triggered_id == ids.UPLOAD_TICK
        if ticked and label == previous_label:  # nothing new finished: do not resend the figures
            return dash.no_update, dash.no_update, dash.no_update, dash.no_update, dash.no_update, done >= total
        return cards, percent, label, style, done < total, done >= total
