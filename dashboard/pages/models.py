"""Models (`/models`): the active bundle's card, all bundles, and switching the active one.

The choice is written to the database, so every worker (and every host)
serves the same model from its next prediction on; each worker reloads its
Predictor lazily when it sees the change.
"""

from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, dash_table, dcc, html

from dashboard import ids
from dashboard.auth import ADMIN, allows, audit, current_user, require
from dashboard.figures.style import FONT_FAMILY
from dashboard.services import current_services
from pipeline.errors import BundleError


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _dig(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def evaluations(card: dict) -> list[dict[str, Any]]:
    """Each evaluation a card records, as one row: where it comes from, images, AUC (+CI), Dice, sens/spec, ECE.

    Cards write them in several shapes: `metrics.holdout` (train --test-fraction / --holdout-fold),
    `metrics.pooled_oof` and `metrics.cross_validation` (CV ensembles: pooled out-of-fold predictions,
    mean of the folds), or flat `metrics.auc` / `metrics.dice` (older cards).
    """
    metrics = card.get("metrics") or {}
    rows = []
    for key, title in (("holdout", "held-out test patients"), ("pooled_oof", "cross-validation, pooled out-of-fold")):
        section = metrics.get(key)
        if isinstance(section, dict):
            cls, seg = section.get("classification") or {}, section.get("segmentation") or {}
            rows.append({"evaluation": title, "images": section.get("n_images"), "auc": _num(cls.get("auc")),
                         "auc_ci": cls.get("auc_ci95"), "dice": _num(seg.get("dice")),
                         "sensitivity": _num(cls.get("sensitivity")), "specificity": _num(cls.get("specificity")),
                         "ece": _num(cls.get("ece")), "subgroups": section.get("subgroups") or []})
    table = metrics.get("cross_validation")
    if isinstance(table, dict):
        folds = len(_dig(table, "classification.auc", "folds") or [])
        rows.append({"evaluation": f"cross-validation, mean of {folds} folds" if folds else "cross-validation, mean",
                     "images": None, "auc": _num(_dig(table, "classification.auc", "mean")), "auc_ci": None,
                     "dice": _num(_dig(table, "segmentation.dice", "mean")),
                     "sensitivity": _num(_dig(table, "classification.sensitivity", "mean")),
                     "specificity": _num(_dig(table, "classification.specificity", "mean")),
                     "ece": _num(_dig(table, "classification.ece", "mean")), "subgroups": []})
    if not rows and (_num(metrics.get("auc")) is not None or _num(metrics.get("dice")) is not None):
        rows.append({"evaluation": "recorded", "images": None, "auc": _num(metrics.get("auc")), "auc_ci": None,
                     "dice": _num(metrics.get("dice")), "sensitivity": None, "specificity": None, "ece": None,
                     "subgroups": []})
    return rows


def headline(card: dict) -> tuple[float | None, float | None]:
    """(AUC, Dice) for the bundle table: the first evaluation that has them."""
    rows = evaluations(card)
    auc = next((r["auc"] for r in rows if r["auc"] is not None), None)
    dice = next((r["dice"] for r in rows if r["dice"] is not None), None)
    return auc, dice


def _f(value: Any, digits: int = 3) -> str:
    return "—" if _num(value) is None else f"{value:.{digits}f}"


def _kv(items: list[tuple[str, Any]]) -> html.Dl:
    return html.Dl([part for k, v in items if v not in (None, "", [], {})
                    for part in (html.Dt(k, className="col-sm-5"), html.Dd(str(v), className="col-sm-7"))],
                   className="ll-kv row mb-0")


def training_items(card: dict) -> list[tuple[str, Any]]:
    training = card.get("training") or {}
    split = training.get("split") or {}
    minutes = training.get("minutes") or {}
    epochs = training.get("epochs") or {}
    images = None
    if training.get("n_train") is not None:
        images = f"{training['n_train']:,} training, {training.get('n_val', 0):,} validation"
        if split.get("n_test"):
            images += f", {split['n_test']:,} held-out test"
    return [
        ("Dataset", training.get("dataset")),
        ("Images", images),
        ("Split", split.get("kind") if isinstance(split, dict) else None),
        ("Epochs", ", ".join(f"{k} {v}" for k, v in epochs.items()) if isinstance(epochs, dict) else epochs),
        ("Training time", f"{minutes.get('this_run')} min" if isinstance(minutes, dict) and minutes.get("this_run")
         else None),
        ("Seed", training.get("seed")),
    ]


def evaluation_table(rows: list[dict]) -> Any:
    if not rows:
        return html.P("No evaluation recorded in this bundle (train with --test-fraction, or build a CV ensemble).",
                      className="text-muted")
    head = html.Thead(html.Tr([html.Th(h) for h in ("Evaluation", "Images", "AUC [95% CI]", "Dice", "Sens.",
                                                    "Spec.", "ECE")]))
    body = []
    for r in rows:
        ci = r["auc_ci"]
        auc = _f(r["auc"]) + (f" [{ci[0]:.2f}–{ci[1]:.2f}]" if isinstance(ci, (list, tuple)) and len(ci) == 2
                              and all(_num(c) is not None for c in ci) else "")
        body.append(html.Tr([html.Td(r["evaluation"]), html.Td("—" if r["images"] is None else f"{r['images']:,}"),
                             html.Td(auc), html.Td(_f(r["dice"])), html.Td(_f(r["sensitivity"], 2)),
                             html.Td(_f(r["specificity"], 2)), html.Td(_f(r["ece"], 2))]))
    return dbc.Table([head, html.Tbody(body)], size="sm", bordered=False, className="mb-2")


SUBGROUP_NAMES = {"all": "All", "age": "Age", "age_band": "Age band", "sex": "Sex", "device": "Device",
                  "size": "Lesion size", "birads": "BI-RADS"}


def subgroup_table(subgroups: list[dict]) -> Any:
    """A subgroup list as a small table (collapsed): never a Python list on the page."""
    rows = [g for g in subgroups if isinstance(g, dict)]
    if not rows:
        return ""
    head = html.Thead(html.Tr([html.Th(h) for h in ("Group", "Subgroup", "Images", "Malignant", "AUC", "Dice")]))
    body = [html.Tr([html.Td(SUBGROUP_NAMES.get(str(g.get("column")), str(g.get("column", "")))),
                     html.Td(str(g.get("subgroup", ""))), html.Td(g.get("n", "")), html.Td(g.get("n_positive", "")),
                     html.Td(_f(g.get("auc"), 2)), html.Td(_f(g.get("dice_mean"), 2))]) for g in rows]
    return html.Details([html.Summary(f"Subgroups ({len(rows)})"),
                         html.Div(dbc.Table([head, html.Tbody(body)], size="sm", bordered=False),
                                  className="ll-subgroups")], className="mb-2")


def card_view(card: dict | None, loaded: dict | None = None) -> html.Div:
    """The active bundle in one screen: identity, intended use, training, evaluations, thresholds.

    The raw bundle.json (config, architecture, calibration) stays in the bundle folder; subgroups
    are a collapsed table."""
    if card is None:
        return dbc.Alert("No valid model bundle found. Train one with `python -m training train …` "
                         "or point LESIONLENS_MODELS at a folder of bundles.", color="warning")
    state = (f"loaded in this worker ({loaded['load_seconds']:.1f} s)" if loaded and loaded.get("load_seconds")
             else "loads in each worker when it starts")
    rows = evaluations(card)
    subgroups = next((r["subgroups"] for r in rows if r["subgroups"]), [])
    thresholds = card.get("thresholds") or {}
    return html.Div(
        [
            html.H3([card["name"], html.Small(f"  v{card['version']}", className="text-muted")]),
            html.P([f"Created {str(card.get('created', '?'))[:19]}", " · ", state], className="text-muted mb-2"),
            dbc.Alert(["Intended use: ", html.B(card.get("intended_use", "not stated"))], color="info", className="py-2"),
            html.H5("Training", className="mt-2"),
            _kv(training_items(card)),
            html.H5("Evaluation", className="mt-3"),
            evaluation_table(rows),
            subgroup_table(subgroups),
            html.H5("Decision", className="mt-3"),
            _kv([("Malignant if calibrated P(malignant) ≥", _f(_num(thresholds.get("malignant")), 3)),
                 ("Segmentation threshold", _f(_num(thresholds.get("segmentation")), 2)),
                 ("Calibration", (card.get("calibration") or {}).get("method") if isinstance(card.get("calibration"),
                                                                                            dict) else None)]),
            html.Small(f"Full card: {card.get('path', '')}/bundle.json", className="text-muted d-block mt-2"),
        ]
    )


def bundle_rows(cards: list[dict], active: str | None) -> list[dict]:
    rows = []
    for c in cards:
        auc, dice = headline(c) if "error" not in c else (None, None)
        rows.append(
            {
                "name": c.get("name"),
                "version": c.get("version", ""),
                "created": str(c.get("created", ""))[:10],
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
