"""Cohort explorer (`/cohort`): filter cases, page through them, open one.

Filters are form controls whose state is mirrored into the URL query string
(with history.replaceState, so the page is not re-rendered on every click)
and into the Metrics links: a copied URL reproduces the view, and the
Metrics page shows the same cohort. The table pages and sorts in the
database (`components/cohort_table.py`: its columns and cells). The
first page of the table is part of the layout, so a first load needs no
callback round trip before the table shows.
"""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html

from dashboard import ids
from dashboard.cohort import queries
from dashboard.cohort.controls import FILTER_INPUTS, as_shown, filter_from_controls, panel_value
from dashboard.cohort.filters import AGE_LIMITS, CohortFilter
from dashboard.components.cohort_table import cohort_table, db_sort, table_rows
from dashboard.exports.links import cohort_export_button
from dashboard.pages.clicks import on_click
from dashboard.pages.paging import date_range, page_outputs, page_window, requested_page
from dashboard.services import current_services

PAGE_SIZE = 25
# the age controls, read and set as one (slider and two boxes, kept in sync by `sync_age`)
AGE_CONTROLS = (ids.COHORT_AGE, ids.COHORT_AGE_MIN, ids.COHORT_AGE_MAX)


def chips_for(f: CohortFilter) -> list:
    return [dbc.Badge(text, color="secondary", className="ll-chip") for text in f.describe()] or [
        html.Small("All cases (no filter)", className="text-muted")]


def table_state(services, f: CohortFilter, page: int = 0, sort_by: list[dict] | None = None,
                page_size: int = PAGE_SIZE) -> tuple:
    """(rows, page_count, page, count text, chips, query, metrics href): everything the table shows."""
    rows, total = queries.cohort_page(services.store, f, services.models.active_identity(), db_sort(sort_by),
                                      page or 0, page_size or PAGE_SIZE)
    pages, page = page_window(total, page or 0, page_size or PAGE_SIZE)
    count = f"{total:,} case{'s' if total != 1 else ''}"
    query = f.to_query()
    return table_rows(rows), pages, page, count, chips_for(f), query, f"/metrics{query}"


def _check(id_, options, value):
    return dbc.Checklist(id=id_, options=options, value=list(value), inline=True)


def _opts(values, labels=None):
    return [{"label": (labels or {}).get(v, v), "value": v} for v in values]


AGE_DEBOUNCE_MS = 400  # a typed age applies this long after the last keystroke (no blur, no Enter needed)


def age_control(age: list) -> html.Div:
    """Slider for dragging plus two number boxes for typing.

    Dash's own boxes beside a RangeSlider (`allow_direct_input`) commit only on
    blur when `updatemode="mouseup"`, so a typed age did nothing until the
    user clicked elsewhere; these boxes apply AGE_DEBOUNCE_MS after typing stops.
    """
    box = dict(type="number", min=AGE_LIMITS[0], max=AGE_LIMITS[1], step=1, size="sm", debounce=AGE_DEBOUNCE_MS,
               className="ll-age-box")
    return html.Div(
        [
            dcc.RangeSlider(id=ids.COHORT_AGE, min=AGE_LIMITS[0], max=AGE_LIMITS[1], step=1, value=age,
                            marks={0: "0", 40: "40", 60: "60", 80: "80", 100: "100+"}, allow_direct_input=False,
                            tooltip={"placement": "bottom"}, updatemode="mouseup"),
            html.Div([dbc.Input(id=ids.COHORT_AGE_MIN, value=age[0], placeholder="from", **box),
                      html.Span("to", className="mx-2 text-muted"),
                      dbc.Input(id=ids.COHORT_AGE_MAX, value=age[1], placeholder="to", **box)],
                     className="d-flex align-items-center mt-1"),
        ]
    )


def sync_age(trigger: str | None, slider: list | None, low, high) -> tuple:
    """(slider value, from box, to box) after one of them changed; dash.no_update where nothing changes."""
    no = dash.no_update
    slider = list(slider or AGE_LIMITS)
    if trigger == ids.COHORT_AGE:
        return no, slider[0], slider[1]

    def number(value, default):
        try:
            return min(max(int(float(value)), AGE_LIMITS[0]), AGE_LIMITS[1])
        except (TypeError, ValueError, OverflowError):
            return default

    low, high = number(low, AGE_LIMITS[0]), number(high, AGE_LIMITS[1])
    if low > high:
        low, high = (high, low) if trigger == ids.COHORT_AGE_MAX else (low, low)
    if [low, high] == slider:
        return no, no, no
    return [low, high], no, no


def filter_panel(f: CohortFilter, facets: dict) -> dbc.Card:
    age = panel_value(f, "age")
    row = lambda label, control: html.Div([dbc.Label(label, className="mb-0 fw-semibold"), control],  # noqa: E731
                                          className="mb-2")
    return dbc.Card(
        [
            dbc.CardHeader(["Filters", dbc.Button("Reset", id=ids.COHORT_RESET, size="sm", color="link",
                                                  className="float-end p-0")]),
            dbc.CardBody(
                [
                    row("Age (years)", age_control(age)),
                    row("Sex", _check(ids.COHORT_SEX, _opts(("F", "M", "O")), f.sex)),
                    row("True label", _check(ids.COHORT_TRUTH, _opts(("benign", "malignant", "normal", "unknown")),
                                             f.truth)),
                    row("Predicted label", _check(ids.COHORT_PREDICTED,
                                                  _opts(("benign", "malignant", "normal", "none"),
                                                        {"none": "not analysed"}), f.predicted)),
                    row("Device", dcc.Dropdown(id=ids.COHORT_DEVICE, options=facets.get("device", []),
                                               value=list(f.device), multi=True, placeholder="any device")),
                    row("BI-RADS", dcc.Dropdown(id=ids.COHORT_BIRADS, options=facets.get("birads", []),
                                                value=list(f.birads), multi=True, placeholder="any")),
                    row("Family history", _check(ids.COHORT_HISTORY, _opts(("yes", "no", "unknown")), f.history)),
                    row("Dataset", dcc.Dropdown(id=ids.COHORT_DATASET, options=facets.get("dataset", []),
                                                value=list(f.dataset), multi=True, placeholder="any dataset")),
                    row("Review", _check(ids.COHORT_REVIEW, _opts(("agree", "disagree", "noted", "none"),
                                                                 {"none": "not reviewed"}), f.review)),
                    row("Date", dcc.DatePickerRange(id=ids.COHORT_DATES, start_date=f.date_from, end_date=f.date_to,
                                                    display_format="YYYY-MM-DD", clearable=True)),
                ]
            ),
        ],
        className="mb-3",
    )


def layout(**query):
    services = current_services()
    f = CohortFilter.from_query(query)
    # The first page of the table comes with the layout (one round trip less on a first load);
    # the table callback runs only when a filter, the page or the sort changes. The filter is
    # read back through the controls, exactly as that callback would see them (?age=0-100 = any age).
    shown = as_shown(f)
    rows, pages, _page, count, chips, location, _href = table_state(services, shown)
    return html.Div(
        [
            html.Div(
                [
                    html.H2("Cohort", className="d-inline me-3"),
                    html.Span(count, id=ids.COHORT_COUNT, className="fs-4 text-muted"),
                    dbc.Button("Metrics for this cohort →", id=ids.COHORT_METRICS_LINK, href=f"/metrics{f.to_query()}",
                               color="primary", className="float-end"),
                    cohort_export_button(location),
                ],
                className="mb-2",
            ),
            html.Div(chips, id=ids.COHORT_CHIPS, className="mb-2"),
            dbc.Row(
                [
                    # 1440 px screens (xxl): a narrower filter column leaves the table its 14 columns
                    dbc.Col(filter_panel(f, queries.facets(services.store)), lg=3, xxl=2),
                    dbc.Col(
                        dcc.Loading(cohort_table(rows, pages, PAGE_SIZE), type="circle"),
                        lg=9, xxl=10,
                    ),
                ]
            ),
            dcc.Store(id=ids.COHORT_LOCATION, data=location),
        ]
    )


def register(app: dash.Dash) -> None:
    dash.register_page(__name__, path="/cohort", name="Cohort", title="Cohort · Lesion Lens", order=2, layout=layout)
    filter_inputs = [Input(id_, "value") for _, id_ in FILTER_INPUTS]

    @app.callback(
        *page_outputs(ids.COHORT_TABLE),
        Output(ids.COHORT_COUNT, "children"),
        Output(ids.COHORT_CHIPS, "children"),
        Output(ids.COHORT_LOCATION, "data"),
        Output(ids.COHORT_METRICS_LINK, "href"),
        *filter_inputs,
        *date_range(ids.COHORT_DATES),
        Input(ids.COHORT_TABLE, "page_current"),
        Input(ids.COHORT_TABLE, "sort_by"),
        State(ids.COHORT_TABLE, "page_size"),
        prevent_initial_call=True,  # the layout already holds the first page
    )
    def _table(*args):
        n = len(FILTER_INPUTS)
        values = {name: args[i] for i, (name, _) in enumerate(FILTER_INPUTS)}
        start, end, page, sort_by, page_size = args[n:]
        f = filter_from_controls(values, (start, end))
        page = requested_page(ids.COHORT_TABLE, page)
        return table_state(current_services(), f, page, sort_by, page_size or PAGE_SIZE)

    app.clientside_callback(
        """
        function(query) {
            if (query === undefined || query === null) { return window.dash_clientside.no_update; }
            if (window.location.pathname.replace(/\\/$/, '') === '/cohort' && window.location.search !== query) {
                window.history.replaceState(window.history.state, '', '/cohort' + query);
            }
            return '/metrics' + query;
        }
        """,
        Output("nav-metrics", "href", allow_duplicate=True),
        Input(ids.COHORT_LOCATION, "data"),
        prevent_initial_call=True,
    )

    @on_click(
        app,
        ids.COHORT_RESET,
        Output(ids.COHORT_AGE_MIN, "value", allow_duplicate=True),  # the age boxes move the slider (below)
        Output(ids.COHORT_AGE_MAX, "value", allow_duplicate=True),
        *[Output(id_, "value", allow_duplicate=True) for _, id_ in FILTER_INPUTS[1:]],
        *date_range(ids.COHORT_DATES, Output),
    )
    def _reset():
        empty = list(AGE_LIMITS) + [[] for _ in FILTER_INPUTS[1:]]
        return *empty, None, None

    @app.callback(
        *[Output(control, "value") for control in AGE_CONTROLS],
        *[Input(control, "value") for control in AGE_CONTROLS],
        prevent_initial_call=True,
    )
    def _age(slider, low, high):
        return sync_age(dash.ctx.triggered_id, slider, low, high)

    @app.callback(
        Output(ids.URL, "pathname", allow_duplicate=True),
        Output(ids.URL, "search", allow_duplicate=True),
        Input(ids.COHORT_TABLE, "active_cell"),
        State(ids.COHORT_TABLE, "data"),
        prevent_initial_call=True,
    )
    def _open(active_cell, data):
        """Clicking any cell of a row (except the links themselves) opens that case."""
        if not active_cell or not data or active_cell.get("row") is None:
            raise dash.exceptions.PreventUpdate
        row = active_cell["row"]
        if row >= len(data):
            raise dash.exceptions.PreventUpdate
        return f"/case/{data[row]['id']}", ""
