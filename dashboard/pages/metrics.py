"""Cohort metrics (`/metrics?<cohort filter>`): how the active model does on the filtered cases.

The layout carries the whole page: summary, rates, every figure and the
subgroup table are built server-side from one `load_curves` call while the
layout is rendered, so the browser draws the figures from the first response
(the shell puts a page's layout into the renderer's first `/_dash-layout`
answer, dashboard/components/shell.py): no callback round trip before the
first paint. The expensive, threshold-independent part (query, ROC/PR with
patient-level bootstrap CIs, calibration, reader points, subgroup groups) is
memoised per filter + model + data version in the shared cache (each gunicorn
worker fills it for the whole cohort at start, dashboard/warmup.py), so a
second person opening the same link in the meeting gets it instantly. Moving
the threshold slider redoes only the confusion matrix, the rates and the
subgroup table, and moves the ROC/PR markers with a `Patch` (a few bytes)
instead of resending those figures.
"""

from __future__ import annotations

import logging
import math

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html

from dashboard import ids
from dashboard.cohort import queries
from dashboard.cohort.filters import CohortFilter
from dashboard.cohort.curves import at_threshold, threshold_points
from dashboard.cohort.evaluation import default_threshold, load_curves
from dashboard.cohort.training import training_data
from dashboard.figures.metric_charts import (
    calibration_figure,
    confusion_matrix_figure,
    marker_update,
    overlap_figure,
    pr_figure,
    pr_marker_index,
    roc_figure,
    roc_marker_index,
    warm_up,
)
from dashboard.components.subgroups import render_subgroups, subgroup_rows
from dashboard.exports.links import metrics_export_row, modebar_config
from dashboard.figures import plotlyjs
from dashboard.figures.style import TEMPLATE, empty_figure
from dashboard.services import current_services
from pipeline.metrics import confusion_matrix

METRICS_FILTER = "metrics-filter"
log = logging.getLogger(__name__)


def training_note(services, f: CohortFilter, model) -> list:
    """Says how many of the filtered cases were left out as the active model's training cases."""
    training = training_data(services.models.active_card())
    if training is None:
        return []
    left_out = queries.training_count(services.store, f, model, training)
    if not left_out:
        return []
    return [dbc.Alert([html.B(f"{left_out:,} cases left out: "), f"the active model was {training.describe()}. "
                       "A model's training patients are never evidence of its quality, so these metrics use the "
                       "other cases only.", html.Small(" (Cases imported under another dataset name cannot be "
                                                       "recognised.)", className="text-muted")],
                      color="info", className="py-2 mt-2 mb-0 ll-training-note")]


def _pct(value: float) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.1%}"


def rate_cards(rates) -> dbc.Row:
    items = [
        ("Sensitivity", rates.sensitivity, f"{rates.tp} of {rates.tp + rates.fn} malignant"),
        ("Specificity", rates.specificity, f"{rates.tn} of {rates.tn + rates.fp} benign"),
        ("PPV", rates.precision, f"{rates.tp} of {rates.tp + rates.fp} called malignant"),
        ("NPV", rates.npv, f"{rates.tn} of {rates.tn + rates.fn} called benign"),
        ("F1", rates.f1, "harmonic mean of PPV and sensitivity"),
        ("Accuracy", rates.accuracy, f"{rates.tp + rates.tn} of {rates.tp + rates.tn + rates.fp + rates.fn}"),
    ]
    return dbc.Row(
        [
            dbc.Col(
                dbc.Card(dbc.CardBody([html.Div(name, className="text-muted"),
                                       html.Div(_pct(value), className="ll-big-number", id=f"rate-{name.lower()}"),
                                       html.Small(detail, className="text-muted")]), className="ll-rate h-100"),
                xs=6, md=4, xl=2, className="mb-2",
            )
            for name, value, detail in items
        ]
    )


def summary_text(curves, f: CohortFilter, model) -> list:
    if model is None:
        return [dbc.Alert("No model is available: train one or choose one on the Models page.", color="warning")]
    parts = [
        html.Span(f"{curves.n_cases:,} cases in this cohort; ", className="fs-5"),
        html.Span(f"{curves.n_scored:,} with a benign/malignant truth and a prediction from "
                  f"{model[0]} v{model[1]} ({curves.n_patients:,} patients).", className="fs-5"),
    ]
    if curves.auc_boot:
        parts.append(html.Small(f" 95% CIs: bootstrap over patients ({curves.auc_boot} replicates for AUC, "
                                f"{curves.ap_boot} for AP).", className="text-muted"))
    chips = [dbc.Badge(t, color="secondary", className="ll-chip") for t in f.describe()]
    return [html.Div(parts), html.Div(chips or [html.Small("All cases (no filter)", className="text-muted")])]


def threshold_figures(curves, threshold: float):
    """Everything the slider changes: confusion matrix, ROC/PR markers, rates, subgroups."""
    at = at_threshold(curves, threshold)
    roc_point, pr_point = threshold_points(at)
    cm = confusion_matrix(curves.y, curves.p, threshold)
    confusion = confusion_matrix_figure(cm, threshold)
    if curves.n_scored == 0:
        roc = pr = empty_figure("No cases with a known label and a prediction")
    else:
        roc = roc_figure(curves.roc, curves.auc_ci, curves.reader_points, roc_point)
        pr = pr_figure(curves.pr, curves.ap_ci, curves.prevalence, pr_point)
    return confusion, roc, pr, rate_cards(at.rates), subgroup_rows(at.subgroups)


def threshold_patches(curves, threshold: float):
    """What the slider changes, as little as possible: the confusion matrix (small, rebuilt),
    Patches moving the ROC/PR markers (no_update where the figure has no marker), rates, subgroups."""
    at = at_threshold(curves, threshold)
    roc_point, pr_point = threshold_points(at)
    confusion = confusion_matrix_figure(confusion_matrix(curves.y, curves.p, threshold), threshold)
    roc = pr = dash.no_update
    if curves.n_scored and curves.roc is not None and curves.roc.fpr.size:
        roc = dash.Patch()
        roc["data"][roc_marker_index(curves.reader_points)].update(marker_update(roc_point))
    if curves.n_scored and curves.pr is not None and curves.pr.recall.size:
        pr = dash.Patch()
        pr["data"][pr_marker_index(curves.prevalence)].update(marker_update(pr_point))
    return confusion, roc, pr, rate_cards(at.rates), subgroup_rows(at.subgroups)


def static_figures(curves):
    if curves.n_scored == 0:
        calibration = empty_figure("No cases with a known label and a prediction")
    else:
        calibration = calibration_figure(curves.reliability, curves.brier)
    return calibration, overlap_figure(curves.dice, curves.iou), risk_figure(curves)


def risk_figure(curves):
    """Risk-coverage of the model's own calls (issue 14.3): does its uncertainty flag its errors?"""
    from dashboard.figures.metric_charts import risk_coverage_figure

    if curves.n_scored == 0 or len(curves.uncertainty) != curves.n_scored:
        return empty_figure("No cases with a known label and a prediction")
    return risk_coverage_figure(curves.uncertainty, curves.called != curves.y.astype(bool),
                                flagged=int(curves.ood.sum()))


GRAPH_HEIGHTS = {ids.METRICS_CONFUSION: 380, ids.METRICS_ROC: 460, ids.METRICS_PR: 460,
                 ids.METRICS_CALIBRATION: 460, ids.METRICS_OVERLAP: 380, ids.METRICS_RISK_COVERAGE: 380}
FIGURE_IDS = (ids.METRICS_CONFUSION, ids.METRICS_ROC, ids.METRICS_PR, ids.METRICS_CALIBRATION, ids.METRICS_OVERLAP,
              ids.METRICS_RISK_COVERAGE)


def placeholder(height: int) -> dict:
    """An empty white figure of the final height (only when the page's content could not be computed)."""
    return {"data": [], "layout": {"template": TEMPLATE, "height": height, "xaxis": {"visible": False},
                                   "yaxis": {"visible": False}, "margin": {"l": 20, "r": 20, "t": 20, "b": 20}}}


def page_content(services, f: CohortFilter, threshold: float) -> dict:
    """Everything the page shows for filter `f` at `threshold`, from one memoised `load_curves`:
    {"summary", "rates", "subgroups", "figures": {graph id: figure}}."""
    curves, model = load_curves(services, f)
    confusion, roc, pr, rates, subgroups = threshold_figures(curves, threshold)
    calibration, overlap, risk = static_figures(curves)
    return {"summary": summary_text(curves, f, model) + training_note(services, f, model), "rates": rates,
            "subgroups": render_subgroups(subgroups),
            "figures": dict(zip(FIGURE_IDS, (confusion, roc, pr, calibration, overlap, risk), strict=True))}


def failed_content() -> dict:
    """What the page shows when its numbers cannot be computed (the error is logged)."""
    return {"summary": [dbc.Alert("The metrics of this cohort could not be computed; the error is in the server "
                                  "log. Reload the page to try again.", color="danger")],
            "rates": None, "subgroups": [],
            "figures": {id_: placeholder(GRAPH_HEIGHTS[id_]) for id_ in FIGURE_IDS}}


def _graph(id_, figure):
    graph = dcc.Graph(id=id_, config=modebar_config(id_), figure=figure)
    return dcc.Loading(graph, type="circle")  # modebar camera: SVG (dashboard/exports/links.py)


def layout(**query):
    services = current_services()
    f = CohortFilter.from_query(query)
    threshold = default_threshold(services.models.active_card())
    try:
        content = page_content(services, f, threshold)
    except Exception:  # noqa: BLE001 - the page (navbar, filter, links) still renders and says so
        log.exception("metrics page: computing the cohort's metrics failed")
        content = failed_content()
    figures = content["figures"]
    return html.Div(
        [
            dcc.Store(id=METRICS_FILTER, data=f.to_query()),
            html.Div([html.H2("Cohort metrics", className="d-inline me-3"),
                      dbc.Button("← Cases of this cohort", href=f"/cohort{f.to_query()}", color="secondary",
                                 outline=True, id=ids.METRICS_COHORT_LINK, className="float-end")], className="mb-2"),
            dcc.Loading(html.Div(content["summary"], id=ids.METRICS_SUMMARY, className="mb-3"), type="dot"),
            metrics_export_row(f.to_query(), threshold),
            dbc.Card(
                dbc.CardBody(
                    [
                        dbc.Label(["Decision threshold on P(malignant): ",
                                   html.B(id="metrics-threshold-value", children=f"{threshold:.2f}")],
                                  html_for=ids.METRICS_THRESHOLD),
                        dcc.Slider(id=ids.METRICS_THRESHOLD, min=0, max=1, step=0.01, value=threshold,
                                   marks={v / 10: f"{v / 10:.1f}" for v in range(11)}, updatemode="mouseup",
                                   tooltip={"placement": "bottom"}),
                    ]
                ),
                className="mb-3",
            ),
            html.Div(content["rates"], id=ids.METRICS_RATES, className="mb-3"),
            dbc.Row([dbc.Col(_graph(id_, figures[id_]), lg=4)
                      for id_ in (ids.METRICS_CONFUSION, ids.METRICS_ROC, ids.METRICS_PR)], className="mb-3"),
            dbc.Row([dbc.Col(_graph(id_, figures[id_]), lg=6) for id_ in (ids.METRICS_CALIBRATION, ids.METRICS_OVERLAP)],
                    className="mb-3"),
            dbc.Row([dbc.Col(_graph(ids.METRICS_RISK_COVERAGE, figures[ids.METRICS_RISK_COVERAGE]), lg=6),
                     dbc.Col(html.P("Risk-coverage: the cases are sorted from the most to the least certain (the "
                                    "uncertainty shown on each case) and the error rate of the model's own calls is "
                                    "drawn as more of them are kept. A curve that starts low and rises to the overall "
                                    "error rate means a small uncertainty really marks the safer calls; a curve on the "
                                    "dashed random line means the uncertainty says nothing about being right.",
                                    className="text-muted small mt-4"), lg=6)], className="mb-3"),
            dbc.Card([dbc.CardHeader("Subgroups (at the current threshold)"),
                      dbc.CardBody(html.Div(content["subgroups"], id=ids.METRICS_SUBGROUPS,
                                            className="table-responsive"))], className="mb-3"),
        ]
    )


def register(app: dash.Dash) -> None:
    dash.register_page(__name__, path="/metrics", name="Metrics", title="Metrics · Lesion Lens", order=3,
                       layout=layout)
    warm_up()  # per worker, at start: plotly's first-figure setup stays out of the first request
    plotlyjs.install(app)  # dcc.Graph (every page) loads the 1.5 MB cartesian plotly.js, not the 4.8 MB one

    # The slider's callback: the only one of the page (the layout carries the first state).
    @app.callback(
        *[Output(graph, "figure") for graph in (ids.METRICS_CONFUSION, ids.METRICS_ROC, ids.METRICS_PR)],
        Output(ids.METRICS_RATES, "children"),
        Output(ids.METRICS_SUBGROUPS, "children"),
        Output("metrics-threshold-value", "children"),
        Input(ids.METRICS_THRESHOLD, "value"),
        State(METRICS_FILTER, "data"),
        prevent_initial_call=True,
    )
    def _at_threshold(threshold, query):
        services = current_services()
        curves, _model = load_curves(services, CohortFilter.from_query(query))
        threshold = 0.5 if threshold is None else float(threshold)
        confusion, roc, pr, rates, subgroups = threshold_patches(curves, threshold)
        return confusion, roc, pr, rates, render_subgroups(subgroups), f"{threshold:.2f}"
