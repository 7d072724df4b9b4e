"""New case (`/`): drop one or several images, get mask + diagnosis + confidence.

Two callbacks, on purpose. `_ingest` decodes and stores every file at once
(a bad file fails here, in words, beside its name, while the others go on) and
hands a list of case ids to the browser; `_advance` then predicts the stored
cases a few at a time, driven by a dcc.Interval, so the page shows a progress
bar and each result as soon as it exists instead of one long spinner. Every
upload is a stored case from the first step on, so nothing is lost.

Limits, each refused in words beside the file: size per file (dcc.Upload
max_size in the browser, with assets/20-upload-limits.js saying why; Flask
MAX_CONTENT_LENGTH for the whole request; pipeline.io again on the bytes),
files per upload, pixels (from the header), content (sniffed; file names
are only shown back to the browser that sent them, never stored or
logged), and time per file (decode + de-identify, then predict).
"""

from __future__ import annotations

import base64
import binascii
import logging
import time
from typing import Any

import dash
import dash_bootstrap_components as dbc
import flask
from dash import Input, Output, State, dcc, html

from dashboard import ids
from dashboard.auth import CLINICIAN, audit, require
from dashboard.components.cards import label_badge, prediction_block, shown_label
from dashboard.figures.image import CaseImage, ImageLayer, case_image_figure_dict
from dashboard.figures.style import PREDICTION_COLOR
from dashboard.routes import file_url, overlay_url
from dashboard.services import current_services
from dashboard.services.inference import PredictionInProgress
from dashboard.services.ingest import clean_patient
from pipeline.errors import BundleError, ImageLoadError

log = logging.getLogger(__name__)
TICK_MS = 600
# the patient form: the key `clean_patient` reads each field's value under
PATIENT_FORM = (("age", ids.PATIENT_AGE), ("sex", ids.PATIENT_SEX), ("history", ids.PATIENT_HISTORY),
                ("symptoms", ids.PATIENT_SYMPTOMS))
# the upload progress bar's properties the batch callback sets, in the order it returns them
PROGRESS_PROPS = ("value", "label", "style", "animated")
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


def _error_card(name: str, message: str) -> dbc.Card:
    return dbc.Card(
        dbc.CardBody(
            [
                html.H5(["⚠ ", name], className="card-title text-danger mb-1"),
                html.P(message, className="mb-0 ll-file-error"),
            ]
        ),
        className="mb-3 ll-result-card ll-error",
    )


def _pending_card(name: str, case_id: str) -> dbc.Card:
    return dbc.Card(
        dbc.CardBody(
            [
                html.H5(name, className="card-title mb-1"),
                html.Div([dbc.Spinner(size="sm", color="warning"), " Analysing… (the first image after a restart "
                          "also loads the model, a few seconds)"], className="text-muted"),
                dcc.Link("Open case page", href=f"/case/{case_id}", className="small"),
            ]
        ),
        className="mb-3 ll-result-card ll-pending",
    )


def existing_notice(case) -> dbc.Alert:
    """What a re-upload of a stored image says: which case it is, and that no copy was made."""
    when = f"{case.created:%Y-%m-%d %H:%M} UTC" if getattr(case, "created", None) else "earlier"
    text = [html.B("Already in the store"), f" as case {case.id} (stored {when}): showing that case; "
            "no second copy was stored, and patient details entered with this upload were not applied to it."]
    return dbc.Alert(text, color="info", className="py-2 mb-2 ll-existing-case")


def _result_card(name: str, result: dict, item: dict | None = None) -> dbc.Card:
    row, case = result["row"], result["case"]
    item = item or {}
    layer = ImageLayer(overlay_url(case.id, "pred", "fill", result["model"], str(row.id)), "Prediction (mask)",
                       PREDICTION_COLOR, 0.45)
    spacing = (case.spacing_row_mm, case.spacing_col_mm) if case.spacing_row_mm else None
    image = CaseImage(case.width, case.height, file_url(case.id, "display.png", case.sha256[:12]), (layer,),
                      spacing_mm=spacing, fig_height=380)
    figure = case_image_figure_dict(image)
    return dbc.Card(
        [
            dbc.CardHeader([html.Span(name, className="me-2"), label_badge(shown_label(row), "fs-6")]),
            dbc.CardBody(
                [existing_notice(case) if item.get("existing") else "",
                 dbc.Row(
                    [
                        dbc.Col(dcc.Graph(figure=figure, config={"scrollZoom": True, "displaylogo": False},
                                          className="ll-result-graph"), md=7),
                        dbc.Col(
                            [
                                prediction_block(row.summary, row.dice),
                                dbc.Button("Open the existing case →" if item.get("existing") else "Open case →",
                                           href=f"/case/{case.id}", color="primary", className="mt-3 ll-open-case"),
                            ],
                            md=5,
                        ),
                    ]
                 )]
            ),
        ],
        className=f"mb-3 ll-result-card ll-{shown_label(row)}",
        id=f"result-{case.id}",
    )


def render_batch(batch: dict, results: dict) -> tuple[list, int, int]:
    """Cards in upload order plus (done, total) counts for the progress bar."""
    cards, done, total = [], 0, 0
    for item in batch.get("items", []):
        name, case_id = item["name"], item.get("case_id")
        total += 1
        if not case_id:
            cards.append(_error_card(name, item.get("error") or "not analysed"))
            done += 1
            continue
        result = results.get(case_id, {})
        if "error" in result:
            cards.append(_error_card(name, result["error"]))
            done += 1
        elif result.get("row") is not None:
            cards.append(_result_card(name, result, item))
            done += 1
        else:
            cards.append(_pending_card(name, case_id))
    return cards, done, total


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
