"""Models (`/models`): the active bundle's card, all bundles, and switching the active one.

The choice is written to the database, so every worker (and every host)
serves the same model from its next prediction on; each worker reloads its
Predictor lazily when it sees the change.

`train` writes `metrics.validation` into the card (figures on the validation
patients and plain-language `warnings`, training/validation_report.py). The
page shows them: a warning box on the active model's card, a Warnings count per
bundle, the selected bundle's figures and warnings under the switch, and
activating a bundle that has warnings asks the administrator to confirm
first (the switch is audited either way, with the number of warnings confirmed).
"""

from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, dash_table, dcc, html

from dashboard import ids
from dashboard.auth import ADMIN, allows, audit, current_user, require
from dashboard.components.model_card import (
    bundle_preview,
    bundle_rows,
    card_view,
    card_warnings,
    confirm_body,
    other_warnings,
)
from dashboard.figures.style import FONT_FAMILY
from dashboard.pages.clicks import on_click
from dashboard.services import current_services
from pipeline.card import BundleCard
from pipeline.errors import BundleError


def layout(**_query):
    services = current_services()
    cards = services.models.bundles(fresh=True)
    active = services.models.active_name()
    options = [{"label": f"{c.name} v{c.version}" + (f" — ⚠ {len(card_warnings(c))} warning"
                                                      f"{'s' if len(card_warnings(c)) > 1 else ''}"
                                                      if card_warnings(c) else ""),
                "value": c.name} for c in cards if isinstance(c, BundleCard)]
    user = current_user()
    can_switch = user is not None and allows(user.role, ADMIN)
    return html.Div(
        [
            html.H2("Models", className="mb-3"),
            dbc.Row(
                [
                    dbc.Col(dbc.Card([dbc.CardHeader("Active model"),
                                      dbc.CardBody(card_view(services.models.active_card(), services.predictors.loaded()),
                                                   id=ids.MODELS_CARD)]), lg=7),
                    dbc.Col(
                        [
                            *([] if not can_switch else [dbc.Card(
                                [
                                    dbc.CardHeader("Switch the active model (for everyone)"),
                                    dbc.CardBody(
                                        [
                                            dcc.Dropdown(id=ids.MODELS_SELECT, options=options, value=active,
                                                         clearable=False),
                                            html.Div(bundle_preview(services.models.card_by_name(active)
                                                                    if active else None),
                                                     id=ids.MODELS_PREVIEW, className="mt-2"),
                                            dbc.Button("Make active", id=ids.MODELS_ACTIVATE, color="primary",
                                                       className="mt-2"),
                                            html.Div(id=ids.MODELS_STATUS, className="mt-2"),
                                            dbc.Modal([
                                                dbc.ModalHeader(dbc.ModalTitle("Activate a model with warnings?")),
                                                dbc.ModalBody(id=ids.MODELS_CONFIRM_TEXT),
                                                dbc.ModalFooter([
                                                    dbc.Button("Cancel", id=ids.MODELS_CONFIRM_NO,
                                                               color="secondary", className="me-2"),
                                                    dbc.Button("Activate anyway", id=ids.MODELS_CONFIRM_YES,
                                                               color="warning"),
                                                ]),
                                            ], id=ids.MODELS_CONFIRM, is_open=False, centered=True),
                                        ]
                                    ),
                                ],
                                className="mb-3",
                            )]),
                            dbc.Card(
                                [
                                    dbc.CardHeader(f"Bundles in {services.settings.models_dir}"),
                                    dbc.CardBody([dash_table.DataTable(
                                        id=ids.MODELS_TABLE,
                                        columns=[{"id": k, "name": n} for k, n in (
                                            # no "Created" column: the version starts with the creation time
                                            ("name", "Name"), ("version", "Version"), ("auc", "AUC"),
                                            ("dice", "Dice"), ("warnings", "Warnings"), ("status", "Status"))],
                                        data=bundle_rows(cards, active),
                                        style_table={"overflowX": "auto"},  # the Status column stays reachable
                                        style_cell={"fontFamily": FONT_FAMILY, "padding": "4px 8px", "textAlign": "left",
                                                    "whiteSpace": "normal"},
                                        style_header={"fontWeight": "600"},
                                        style_data_conditional=[{"if": {"filter_query": '{status} = "active"'},
                                                                 "backgroundColor": "#fff3d6"},
                                                                {"if": {"filter_query": "{warnings} > 0",
                                                                        "column_id": "warnings"},
                                                                 "color": "#8a4b00", "fontWeight": "700"}],
                                    ), other_warnings(cards, active)]),
                                ]
                            ),
                        ],
                        lg=5,
                    ),
                ]
            ),
        ]
    )


def register(app: dash.Dash) -> None:
    dash.register_page(__name__, path="/models", name="Models", title="Models · Lesion Lens", order=4, layout=layout)

    @on_click(app, ids.MODELS_ACTIVATE, *switch_outputs(), Output(ids.MODELS_CONFIRM, "is_open"),
              Output(ids.MODELS_CONFIRM_TEXT, "children"), State(ids.MODELS_SELECT, "value"))
    def _activate(name):
        """Make active; a bundle with validation warnings first opens the confirmation dialog instead."""
        require(ADMIN)
        services = current_services()
        card = services.models.card_by_name(name) if isinstance(name, str) else None
        warnings = card_warnings(card)
        if card is not None and warnings:
            return (dbc.Alert(f"{card.name} has validation warnings: confirm in the dialog to activate it.",
                              color="warning"),
                    dash.no_update, dash.no_update, dash.no_update, True, confirm_body(card, warnings))
        return (*switch(services, name), False, dash.no_update)

    @app.callback(
        *switch_outputs(duplicate=True),
        Output(ids.MODELS_CONFIRM, "is_open", allow_duplicate=True),
        Input(ids.MODELS_CONFIRM_YES, "n_clicks"),
        Input(ids.MODELS_CONFIRM_NO, "n_clicks"),
        State(ids.MODELS_SELECT, "value"),
        prevent_initial_call=True,
    )
    def _confirm(yes, _no, name):
        """The dialog's answer: "Activate anyway" switches (audited with the warnings it confirmed), Cancel does not."""
        require(ADMIN)
        if dash.ctx.triggered_id != ids.MODELS_CONFIRM_YES or not yes:
            return (dbc.Alert("Not activated: the active model is unchanged.", color="secondary", duration=5000),
                    dash.no_update, dash.no_update, dash.no_update, False)
        services = current_services()
        card = services.models.card_by_name(name) if isinstance(name, str) else None
        return (*switch(services, name, confirmed=card_warnings(card)), False)

    @app.callback(
        Output(ids.MODELS_PREVIEW, "children"),
        Input(ids.MODELS_SELECT, "value"),
        prevent_initial_call=True,
    )
    def _preview(name):
        services = current_services()
        return bundle_preview(services.models.card_by_name(name) if isinstance(name, str) else None)


def switch_outputs(duplicate: bool = False) -> list[Output]:
    """Where `switch`'s four values go: status, card view, bundle rows, header badge. The badge always
    has another writer (the page shell); `duplicate` marks the other three as second writers too."""
    return [
        Output(ids.MODELS_STATUS, "children", allow_duplicate=duplicate),
        Output(ids.MODELS_CARD, "children", allow_duplicate=duplicate),
        Output(ids.MODELS_TABLE, "data", allow_duplicate=duplicate),
        Output(ids.ACTIVE_MODEL_BADGE, "children", allow_duplicate=True),
    ]


def switch(services, name: Any, confirmed: list[str] | None = None) -> tuple[Any, Any, Any, Any]:
    """Activate `name` for everyone and audit it: (status, card view, bundle rows, header badge).

    `confirmed`: the warnings the administrator accepted in the dialog (recorded in the audit trail)."""
    previous = services.models.active_name()
    try:
        card = services.models.activate(name)
    except BundleError as exc:
        return dbc.Alert(str(exc), color="danger"), dash.no_update, dash.no_update, dash.no_update
    extra = {"warnings_confirmed": len(confirmed)} if confirmed else {}
    audit("model.switch", target=card.name, version=card.version, previous=previous, **extra)
    badge = dbc.Badge(f"model: {card.name} v{card.version}", color="light", text_color="dark",
                      className="p-2")
    note = f" (despite {len(confirmed)} validation warning{'s' if len(confirmed) > 1 else ''})" if confirmed else ""
    return (dbc.Alert(f"{card.name} v{card.version} is now the active model for all users{note}.",
                      color="warning" if confirmed else "success", duration=5000),
            card_view(card, services.predictors.loaded()),
            bundle_rows(services.models.bundles(), card.name), badge)
