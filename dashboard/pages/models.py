"""Models (`/models`): the active bundle's card, all bundles, and switching the active one.

The choice is written to the database, so every worker (and every host)
serves the same model from its next prediction on; each worker reloads its
Predictor lazily when it sees the change.
"""

from __future__ import annotations

import json
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, dash_table, dcc, html

from dashboard import ids
from dashboard.auth import ADMIN, allows, audit, current_user, require
from dashboard.figures.style import FONT_FAMILY
from dashboard.services import current_services
from pipeline.errors import BundleError


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value):
        return f"{value[0]:.3f}–{value[1]:.3f}"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_fmt(v)}" for k, v in value.items())
    return "—" if value is None else str(value)


def _flatten(data: dict | None, prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, value in (data or {}).items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and len(value) > 3:
            out.extend(_flatten(value, f"{name}."))
        else:
            out.append((name, value))
    return out


def card_view(card: dict | None, loaded: dict | None = None) -> html.Div:
    if card is None:
        return dbc.Alert("No valid model bundle found. Train one with `python -m training train …` "
                         "or point LESIONLENS_MODELS at a folder of bundles.", color="warning")

    def table(title, items):
        rows = [html.Tr([html.Th(k, className="fw-normal text-muted"), html.Td(_fmt(v))]) for k, v in items]
        return html.Div([html.H5(title, className="mt-3"), dbc.Table(html.Tbody(rows), size="sm", bordered=False)
                         if rows else html.P("not recorded", className="text-muted")])

    state = (f"loaded in this worker ({loaded['load_seconds']:.1f} s)" if loaded and loaded.get("load_seconds")
             else "loads on the first prediction in each worker")
    return html.Div(
        [
            html.H3([card["name"], html.Small(f"  v{card['version']}", className="text-muted")]),
            html.P([f"Created {card.get('created', '?')}", " · ", state], className="text-muted"),
            dbc.Alert(["Intended use: ", html.B(card.get("intended_use", "not stated"))], color="info"),
            table("Training", _flatten(card.get("training"))),
            table("Metrics", _flatten(card.get("metrics"))),
            table("Thresholds", _flatten(card.get("thresholds"))),
            html.Details([html.Summary("Full bundle.json"),
                          html.Pre(json.dumps({k: v for k, v in card.items() if k != "path"}, indent=2, default=str),
                                   style={"maxHeight": "24rem", "overflow": "auto"})]),
        ]
    )


def bundle_rows(cards: list[dict], active: str | None) -> list[dict]:
    rows = []
    for c in cards:
        metrics = c.get("metrics") or {}
        auc = metrics.get("auc") if isinstance(metrics.get("auc"), (int, float)) else None
        dice = metrics.get("dice") if isinstance(metrics.get("dice"), (int, float)) else None
        rows.append(
            {
                "name": c.get("name"),
                "version": c.get("version", ""),
                "created": c.get("created", ""),
                "auc": None if auc is None else round(auc, 3),
                "dice": None if dice is None else round(dice, 3),
                "status": "error: " + c["error"] if "error" in c else ("active" if c.get("name") == active else "ok"),
            }
        )
    return rows


def layout(**_query):
    services = current_services()
    cards = services.models.bundles(fresh=True)
    active = services.models.active_name()
    options = [{"label": f"{c['name']} v{c['version']}", "value": c["name"]} for c in cards if "error" not in c]
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
                                            dbc.Button("Make active", id=ids.MODELS_ACTIVATE, color="primary",
                                                       className="mt-2"),
                                            html.Div(id=ids.MODELS_STATUS, className="mt-2"),
                                        ]
                                    ),
                                ],
                                className="mb-3",
                            )]),
                            dbc.Card(
                                [
                                    dbc.CardHeader(f"Bundles in {services.settings.models_dir}"),
                                    dbc.CardBody(dash_table.DataTable(
                                        id=ids.MODELS_TABLE,
                                        columns=[{"id": k, "name": n} for k, n in (
                                            ("name", "Name"), ("version", "Version"), ("created", "Created"),
                                            ("auc", "AUC"), ("dice", "Dice"), ("status", "Status"))],
                                        data=bundle_rows(cards, active),
                                        style_cell={"fontFamily": FONT_FAMILY, "padding": "4px 8px", "textAlign": "left",
                                                    "whiteSpace": "normal"},
                                        style_header={"fontWeight": "600"},
                                        style_data_conditional=[{"if": {"filter_query": '{status} = "active"'},
                                                                 "backgroundColor": "#fff3d6"}],
                                    )),
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

    @app.callback(
        Output(ids.MODELS_STATUS, "children"),
        Output(ids.MODELS_CARD, "children"),
        Output(ids.MODELS_TABLE, "data"),
        Output(ids.ACTIVE_MODEL_BADGE, "children", allow_duplicate=True),
        Input(ids.MODELS_ACTIVATE, "n_clicks"),
        State(ids.MODELS_SELECT, "value"),
        prevent_initial_call=True,
    )
    def _activate(clicks, name):
        if not clicks:
            raise dash.exceptions.PreventUpdate
        require(ADMIN)
        services = current_services()
        previous = services.models.active_name()
        try:
            card = services.models.activate(name)
        except BundleError as exc:
            return dbc.Alert(str(exc), color="danger"), dash.no_update, dash.no_update, dash.no_update
        audit("model.switch", target=str(card["name"]), version=str(card["version"]), previous=previous)
        badge = dbc.Badge(f"model: {card['name']} v{card['version']}", color="light", text_color="dark",
                          className="p-2")
        return (dbc.Alert(f"{card['name']} v{card['version']} is now the active model for all users.",
                          color="success", duration=5000),
                card_view(card, services.predictors.loaded()),
                bundle_rows(services.models.bundles(), card["name"]), badge)
