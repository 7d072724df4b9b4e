"""Case viewer (`/case/<case_id>`): image, masks, heatmap, window/level, metadata, review.

The prediction and the ground truth are shown side by side (same zoom
controls, same overlay style) because the review meeting's question is
"where do they differ"; overlays are filled or outlined, with adjustable
opacity. Window/level re-renders the display from the stored modality pixels
(server-side PNG), so a DICOM keeps its full dynamic range.
"""

from __future__ import annotations

from dataclasses import replace

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html

from dashboard import ids
from dashboard.auth import CLINICIAN, audit, require
from dashboard.components.cards import label_badge, metadata_list, no_lesion, prediction_block
from dashboard.components.fusion import fusion_block
from dashboard.pages import case_delete, case_review
from dashboard.exports.links import case_export_row
from dashboard.figures.image import CaseImage, ImageLayer, case_image_figure, probability_heatmap_figure
from dashboard.figures.overlay import level_width_to_window
from dashboard.figures.style import PREDICTION_COLOR, TRUTH_COLOR, empty_figure
from dashboard.pages.clicks import on_click
from dashboard.routes import overlay_url, window_url
from dashboard.services import current_services
from pipeline.errors import BundleError, ImageLoadError

CASE_IMAGE_TRUTH = "case-image-truth"
CASE_ANALYSE_OUT = "case-analyse-out"
# Control groups the callbacks read together (each by its "value"): what redraws the image, and the
# window the reset button restores.
VIEW_CONTROLS = (ids.CASE_OVERLAY_STYLE, ids.CASE_OPACITY, ids.CASE_WINDOW_LEVEL, ids.CASE_WINDOW_WIDTH)
WINDOW_CONTROLS = (ids.CASE_WINDOW_LEVEL, ids.CASE_WINDOW_WIDTH)
GRAPH_CONFIG = {"scrollZoom": True, "displaylogo": False, "toImageButtonOptions": {"format": "png"}}


def needs_window_controls(row) -> bool:
    """DICOM and high-bit-depth images get window/level; 8-bit photos do not need it."""
    return row.source_format == "dicom" or row.pixel_min < 0 or row.pixel_max > 255


def fitted_height(width: int, height: int, side_by_side: bool) -> int:
    """Figure height that fits the image's aspect in its column (no empty bands above and below)."""
    plot_width = 430 if side_by_side else 760
    return int(min(720, max(300, plot_width * height / max(width, 1) + 80)))


def case_figures(row, prediction, model, style: str, opacity: float, window: tuple[float, float]):
    """(prediction figure, truth figure or None) for the current controls.

    An outline covers few pixels, so contour mode lifts the opacity (the
    slider still works, from a visible floor)."""
    if style == "contour":
        opacity = min(1.0, 0.4 + opacity)
    low, high = window
    base = window_url(row.id, low, high, row.sha256[:12])
    spacing = (row.spacing_row_mm, row.spacing_col_mm) if row.spacing_row_mm else None
    layers = []
    if prediction is not None:
        layers.append(ImageLayer(overlay_url(row.id, "pred", style, model, str(prediction.id)),
                                 "Prediction", PREDICTION_COLOR, opacity))
    fig_height = fitted_height(row.width, row.height, row.has_truth_mask)
    image = CaseImage(row.width, row.height, base, tuple(layers), spacing_mm=spacing, fig_height=fig_height)
    pred_fig = case_image_figure(image)
    truth_fig = None
    if row.has_truth_mask:
        truth_layer = ImageLayer(overlay_url(row.id, "truth", style, None, row.sha256[:12]), "Ground truth",
                                 TRUTH_COLOR, opacity)
        truth_fig = case_image_figure(replace(image, layers=(truth_layer,)))
    return pred_fig, truth_fig


def _window_controls(row):
    span = max(row.pixel_max - row.pixel_min, 1.0)
    step = span / 500 if span < 50 else 1
    level = round((row.window_low + row.window_high) / 2 / step) * step
    width = max(step, round((row.window_high - row.window_low) / step) * step)
    hidden = not needs_window_controls(row)
    return html.Div(
        [
            dbc.Label("Window level (centre, pixel units)", html_for=ids.CASE_WINDOW_LEVEL),
            dcc.Slider(id=ids.CASE_WINDOW_LEVEL, min=row.pixel_min, max=row.pixel_max, step=step, value=level,
                       marks=None, tooltip={"placement": "bottom", "always_visible": False}, updatemode="mouseup"),
            dbc.Label("Window width (pixel units)", html_for=ids.CASE_WINDOW_WIDTH),
            dcc.Slider(id=ids.CASE_WINDOW_WIDTH, min=step, max=span * 2, step=step, value=width, marks=None,
                       tooltip={"placement": "bottom", "always_visible": False}, updatemode="mouseup"),
            dbc.Button("Reset window", id=ids.CASE_WINDOW_RESET, size="sm", color="secondary", outline=True),
        ],
        style={"display": "none"} if hidden else {},
        className="mt-2",
    )


def _controls(row, has_prediction: bool):
    return dbc.Card(
        dbc.CardBody(
            dbc.Row(
                [
                    dbc.Col([dbc.Label("Overlay"),
                             dbc.RadioItems(id=ids.CASE_OVERLAY_STYLE, value="fill", inline=True,
                                            options=[{"label": "Filled", "value": "fill"},
                                                     {"label": "Contour", "value": "contour"}])], md=4),
                    dbc.Col([dbc.Label("Overlay opacity"),
                             dcc.Slider(id=ids.CASE_OPACITY, min=0, max=1, step=0.05, value=0.45,
                                        marks={0: "0", 0.5: "0.5", 1: "1"})], md=8),
                    dbc.Col(_window_controls(row), md=12),
                ]
            )
        ),
        className="mb-3",
    )


def _prediction_card(stored, prediction, model):
    if prediction is None:
        body = [
            html.P(f"No prediction from the active model ({model[0]} v{model[1]}) yet." if model
                   else "No model is available.", className="mb-2"),
            dbc.Button("Analyse now", id=ids.CASE_RERUN, color="warning", disabled=model is None),
            dcc.Loading(html.Div(id=CASE_ANALYSE_OUT), type="dot"),
        ]
        older = stored.latest_prediction
        if older is not None:
            body += [html.Hr(), html.Small("Earlier prediction:", className="text-muted"),
                     prediction_block(older.summary, older.dice)]
    else:
        body = [prediction_block(prediction.summary, prediction.dice),
                "" if no_lesion(prediction) else (fusion_block(prediction.summary) or "")]
    truth = stored.row.true_label
    header = ["Prediction", html.Span(["  truth: ", label_badge(truth, "fs-6")], className="ms-2") if truth else ""]
    return dbc.Card([dbc.CardHeader(header), dbc.CardBody(body, id=ids.CASE_PREDICTION)], className="mb-3")


def _graphs(stored, prediction, model):
    row = stored.row
    pred_fig, truth_fig = case_figures(row, prediction, model, "fill", 0.45, (row.window_low, row.window_high))
    pred_graph = dcc.Loading(dcc.Graph(id=ids.CASE_IMAGE, figure=pred_fig, config=GRAPH_CONFIG), type="circle")
    if truth_fig is None:
        images = [html.H6([html.Span(className="ll-swatch ll-swatch-pred"), "Prediction"]), pred_graph,
                  dcc.Graph(id=CASE_IMAGE_TRUTH, figure=empty_figure(""), style={"display": "none"})]
    else:
        images = dbc.Row(
            [
                dbc.Col([html.H6([html.Span(className="ll-swatch ll-swatch-pred"), "Prediction"]), pred_graph], md=6),
                dbc.Col([html.H6([html.Span(className="ll-swatch ll-swatch-truth"), "Ground truth"]),
                         dcc.Loading(dcc.Graph(id=CASE_IMAGE_TRUTH, figure=truth_fig, config=GRAPH_CONFIG),
                                     type="circle")], md=6),
            ]
        )
    prob = None
    if prediction is not None:
        prob = current_services().store.files.read_probability(
            row.id, current_services().store.files.prediction_name("prob", prediction.model_name,
                                                                    prediction.model_version))
    heat = (probability_heatmap_figure(prob, window_url(row.id, row.window_low, row.window_high, row.sha256[:12]),
                                       spacing_mm=(row.spacing_row_mm, row.spacing_col_mm) if row.spacing_row_mm
                                       else None)
            if prob is not None else empty_figure("No probability map: the case has no prediction yet"))
    return dbc.Tabs(
        [
            dbc.Tab(html.Div(images, className="pt-2"), label="Image and masks", tab_id="tab-image"),
            dbc.Tab(dcc.Loading(dcc.Graph(id=ids.CASE_HEATMAP, figure=heat, config=GRAPH_CONFIG)),
                    label="Probability heatmap", tab_id="tab-heatmap"),
        ],
        active_tab="tab-image",
    )


def layout(case_id: str | None = None, **_query):
    services = current_services()
    stored = services.store.get(case_id) if case_id else None
    if stored is None:
        return dbc.Alert([html.H4("Case not found"), html.P(f"There is no case “{case_id}” in the store."),
                          dcc.Link("Back to the cohort", href="/cohort")], color="warning")
    model = services.models.active_identity()
    prediction = stored.prediction_for(*model) if model else None
    row = stored.row
    extra = {"Case": row.id, "Dataset": row.dataset, "Date": row.case_date,
             "Image": f"{row.width} × {row.height} px, {row.source_format.upper()}"
                      + (f", {row.modality}" if row.modality else "")}
    if row.spacing_row_mm:
        extra["Pixel spacing"] = f"{row.spacing_row_mm:.3g} × {row.spacing_col_mm:.3g} mm"
    if row.true_label:
        extra["True label"] = row.true_label
    audit("case.view", target=row.id)
    return html.Div(
        [
            dcc.Store(id=ids.CASE_ID, data=row.id),
            html.Div([dcc.Link("← Cohort", href="/cohort"), html.H2(f"Case {row.id}", className="d-inline ms-3")],
                     className="mb-2"),
            case_export_row(stored),
            dbc.Row(
                [
                    dbc.Col([_controls(row, prediction is not None), _graphs(stored, prediction, model)], lg=8),
                    dbc.Col(
                        [
                            _prediction_card(stored, prediction, model),
                            dbc.Card([dbc.CardHeader("Metadata"),
                                      dbc.CardBody(metadata_list(row.meta, extra), id=ids.CASE_METADATA)],
                                     className="mb-3"),
                            case_review.card(stored),
                            case_delete.card(row),  # admins only
                        ],
                        lg=4,
                    ),
                ]
            ),
        ]
    )


def register(app: dash.Dash) -> None:
    dash.register_page(__name__, path_template="/case/<case_id>", name="Case", order=1,
                       title=lambda case_id=None, **_: f"Case {case_id} · Lesion Lens", layout=layout)
    case_delete.register(app)

    @app.callback(
        Output(ids.CASE_IMAGE, "figure"),
        Output(CASE_IMAGE_TRUTH, "figure"),
        *[Input(control, "value") for control in VIEW_CONTROLS],
        State(ids.CASE_ID, "data"),
        prevent_initial_call=True,
    )
    def _redraw(style, opacity, level, width, case_id):
        services = current_services()
        stored = services.store.get(case_id)
        if stored is None:
            raise dash.exceptions.PreventUpdate
        model = services.models.active_identity()
        prediction = stored.prediction_for(*model) if model else None
        window = level_width_to_window(level, width) if level is not None and width else (
            stored.row.window_low, stored.row.window_high)
        pred_fig, truth_fig = case_figures(stored.row, prediction, model, style or "fill",
                                           0.45 if opacity is None else opacity, window)
        return pred_fig, truth_fig if truth_fig is not None else dash.no_update

    @on_click(app, ids.CASE_WINDOW_RESET, *[Output(control, "value") for control in WINDOW_CONTROLS],
              State(ids.CASE_ID, "data"))
    def _reset_window(case_id):
        stored = current_services().store.get(case_id)
        row = stored.row
        return (row.window_low + row.window_high) / 2, row.window_high - row.window_low

    case_review.register(app)

    @on_click(app, ids.CASE_RERUN, Output(CASE_ANALYSE_OUT, "children"), State(ids.CASE_ID, "data"))
    def _analyse(case_id):
        require(CLINICIAN)
        try:
            row, _source = current_services().analyzer.predict_case(case_id)
        except (ImageLoadError, BundleError) as exc:
            return dbc.Alert(str(exc), color="danger")
        audit("case.predict", target=case_id, model=row.model_name, version=row.model_version)
        return dcc.Location(id="case-reload", href=f"/case/{case_id}", refresh=True)
