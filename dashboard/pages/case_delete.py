"""Deleting a case from its page: admins only, behind a confirm step that names the case.

Why a typed confirmation rather than an OK button: a deletion cannot be
undone (only a restore from backup brings the case back), and a review
meeting clicks through many case pages; typing the case id makes the act
deliberate and names exactly which case goes. The card is rendered for admins
only (courtesy); the request guard refuses every `case-delete-*` callback to
other roles (`auth/roles.py`), and the callback checks the role again next to
the code that deletes (`auth.require`). The work itself, and its audit row,
is `services/deletion.remove_case`, shared with the CLI.
"""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html

from dashboard import ids
from dashboard.auth import ADMIN, allows, audit, current_user, require
from dashboard.pages.clicks import on_click
from dashboard.services import current_services
from dashboard.services.deletion import remove_case

OPEN = "case-delete-open"
MODAL = "case-delete-modal"
TYPED = "case-delete-typed"
CONFIRM = "case-delete-confirm"
CANCEL = "case-delete-cancel"
STATUS = "case-delete-status"


def confirmation_problem(case_id: str, typed) -> str | None:
    """Why the typed confirmation does not allow deleting `case_id`, or None when it does."""
    if not isinstance(typed, str) or typed.strip() != case_id:
        return f"Type the case id {case_id} exactly to confirm."
    return None


def card(row):
    """The Delete card of the case page (admins only; an empty string for everyone else)."""
    user = current_user()
    if user is None or not allows(user.role, ADMIN):
        return ""
    dialog = dbc.Modal(
        [
            dbc.ModalHeader(dbc.ModalTitle(f"Delete case {row.id}?")),
            dbc.ModalBody(
                [
                    html.P(
                        "The image files, every prediction and review of this case and its cached results are "
                        "removed at once. This cannot be undone, except by restoring a backup."
                    ),
                    dbc.Label(f"Type the case id {row.id} to confirm", html_for=TYPED),
                    dbc.Input(id=TYPED, value="", autoComplete="off", maxLength=32),
                    html.Div(id=STATUS, className="mt-2"),
                ]
            ),
            dbc.ModalFooter(
                [
                    dbc.Button("Cancel", id=CANCEL, color="secondary"),
                    dbc.Button("Delete permanently", id=CONFIRM, color="danger", disabled=True),
                ]
            ),
        ],
        id=MODAL,
        is_open=False,
    )
    return dbc.Card(
        [
            dbc.CardHeader("Delete case"),
            dbc.CardBody(
                [
                    html.P(
                        "Admins only. The audit log records who deleted which case id, never the case's data.",
                        className="small text-muted",
                    ),
                    dbc.Button("Delete case…", id=OPEN, color="danger", outline=True, size="sm"),
                    dialog,
                ]
            ),
        ],
        className="mb-3",
    )


def _record(action: str, target: str | None, detail: dict) -> None:
    audit(action, target=target, **detail)


def delete_from_page(case_id: str, typed) -> tuple[bool, str]:
    """Check the role and the confirmation, then delete; returns (deleted, message)."""
    require(ADMIN)
    problem = confirmation_problem(case_id, typed)
    if problem:
        return False, problem
    deleted = remove_case(current_services(), case_id, _record, reason="admin")
    if deleted is None:
        return False, f"Case {case_id} is no longer in the store."
    return True, f"Case {case_id} was deleted."


def register(app: dash.Dash) -> None:
    app.clientside_callback(
        """function(opened, cancelled) {
            var t = (window.dash_clientside.callback_context.triggered[0] || {}).prop_id || "";
            return t.indexOf("case-delete-open") === 0;
        }""",
        Output(MODAL, "is_open"),
        Input(OPEN, "n_clicks"),
        Input(CANCEL, "n_clicks"),
        prevent_initial_call=True,
    )
    app.clientside_callback(
        "function(typed, caseId) { return !typed || typed.trim() !== caseId; }",
        Output(CONFIRM, "disabled"),
        Input(TYPED, "value"),
        State(ids.CASE_ID, "data"),
    )

    @on_click(app, CONFIRM, Output(STATUS, "children"), State(ids.CASE_ID, "data"), State(TYPED, "value"))
    def _delete(case_id, typed):
        deleted, message = delete_from_page(case_id, typed)
        if not deleted:
            return dbc.Alert(message, color="warning", className="py-2 mb-0")
        return [
            dbc.Alert(message, color="success", className="py-2 mb-0"),
            dcc.Location(id="case-delete-done", href="/cohort", refresh=True),
        ]
