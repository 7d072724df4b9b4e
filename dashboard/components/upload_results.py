"""The New case page's result list: one card per uploaded file, in upload order.

Why one card per file from the start, in one of three states (error, analysing, result): the
batch callback redraws the whole list whenever another file is done, so a file keeps its place
while the others finish, a refused file says why beside its own name, and a case still being
analysed already links to its page. A re-upload of a stored image says so on its card instead
of looking like a new case (no second copy is made).
"""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import dcc, html

from dashboard.components.cards import label_badge, prediction_block, shown_label
from dashboard.figures.image import CaseImage, ImageLayer, case_image_figure_dict
from dashboard.figures.style import PREDICTION_COLOR
from dashboard.routes import file_url, overlay_url


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
