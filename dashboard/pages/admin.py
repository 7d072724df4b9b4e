"""Administration (`/admin`, admin role): user accounts and the audit log (browse, filter, CSV export).

User changes made here go through the same AuthStore as the CLI and are
audited with the admin's name. Generated passwords are shown once, in the
callback response, and never stored or logged. An admin cannot change their
own role or remove themselves (another admin must), and the last admin can
neither be demoted nor removed. The CSV export (`/admin/audit.csv`) streams the
filtered log oldest first and records its own `audit.export` event first.
"""

from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import urlencode

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, dash_table, dcc, html
from flask import Blueprint, Response, abort, request

from dashboard.auth import ADMIN, ROLES, AccountError, allows, audit, current_auth, current_user, require
from dashboard.auth.audit_log import ACTIONS, AuditFilter, csv_lines
from dashboard.auth.passwords import PasswordPolicyError, generate_password
from dashboard.figures.style import FONT_FAMILY
from dashboard.pages.paging import date_range, page_outputs, page_window, requested_page

USERS_TABLE = "admin-users-table"
USERNAME = "admin-username"
ROLE = "admin-role"
ADD, SET_ROLE, RESET, REMOVE, UNLOCK = "admin-add", "admin-set-role", "admin-reset", "admin-remove", "admin-unlock"
USER_ACTIONS = (ADD, SET_ROLE, RESET, REMOVE, UNLOCK)  # the buttons of the users card: one callback, by triggered id
USERS_STATUS = "admin-users-status"
AUDIT_ACTOR = "admin-audit-actor"
AUDIT_ACTION = "admin-audit-action"
AUDIT_DATES = "admin-audit-dates"
AUDIT_TABLE = "admin-audit-table"
AUDIT_COUNT = "admin-audit-count"
AUDIT_CSV = "admin-audit-csv"
AUDIT_PAGE_SIZE = 25
TABLE_STYLE = {"fontFamily": FONT_FAMILY, "padding": "4px 8px", "textAlign": "left", "whiteSpace": "normal"}

export = Blueprint("admin_export", __name__)


def _when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else ""


def user_rows(auth) -> list[dict]:
    rows = []
    for user in auth.store.list():
        live = sum(1 for t in auth.store.list_tokens(user.username) if t["revoked"] is None)
        rows.append({"username": user.username, "role": user.role, "status": "active" if user.active else "removed",
                     "created": _when(user.created), "last_login": _when(user.last_login), "tokens": live})
    return rows


def user_action(auth, me, action: str, username: str | None, role: str | None):
    """Do one user-management action for admin `me`; returns the message (with a one-time password)."""
    username = (username or "").strip().lower()
    if not username:
        raise AccountError("enter a username")
    if action == ADD:
        password = generate_password()
        auth.store.add(username, role or "viewer", password)
        audit("user.add", target=username, role=role or "viewer")
        return [f"Created {username} ({role or 'viewer'}). Initial password, shown once: ",
                html.Code(password, id="admin-one-time-password"), " — hand it over in person."]
    if username == me.username and action in (SET_ROLE, REMOVE):
        raise AccountError("you cannot change your own role or remove yourself; ask another admin")
    if action == SET_ROLE:
        old, new = auth.store.set_role(username, role or "viewer")
        audit("user.set_role", target=username, old=old, new=new)
        return f"{username} is now {new} (was {old})."
    if action == RESET:
        password = generate_password()
        auth.store.set_password(username, password)
        audit("user.reset_password", target=username)
        return [f"New password for {username}, shown once: ", html.Code(password, id="admin-one-time-password"),
                " — their sessions were ended."]
    if action == REMOVE:
        auth.store.remove(username)
        audit("user.remove", target=username)
        return f"{username} was removed: sessions ended, API tokens revoked."
    if action == UNLOCK:
        if auth.store.get(username) is None:
            raise AccountError(f"no user {username!r}")
        auth.throttle.unlock(username)
        audit("user.unlock", target=username)
        return f"Sign-in back-off cleared for {username}."
    raise AccountError("unknown action")


def audit_query(flt: AuditFilter) -> str:
    query = urlencode(flt.as_query())
    return "/admin/audit.csv" + (f"?{query}" if query else "")


def _users_card(auth):
    return dbc.Card(
        [
            dbc.CardHeader("Users"),
            dbc.CardBody(
                [
                    dash_table.DataTable(
                        id=USERS_TABLE,
                        columns=[{"id": k, "name": n} for k, n in (
                            ("username", "User"), ("role", "Role"), ("status", "Status"), ("created", "Created (UTC)"),
                            ("last_login", "Last sign-in (UTC)"), ("tokens", "API tokens"))],
                        data=user_rows(auth), sort_action="native", page_size=15, style_cell=TABLE_STYLE,
                        style_header={"fontWeight": "600"},
                        style_data_conditional=[{"if": {"filter_query": '{status} = "removed"'}, "color": "#6c757d"}],
                    ),
                    dbc.Row(
                        [
                            dbc.Col([dbc.Label("Username", html_for=USERNAME),
                                     dbc.Input(id=USERNAME, maxLength=40, placeholder="e.g. j.doe")], md=4),
                            dbc.Col([dbc.Label("Role", html_for=ROLE),
                                     dcc.Dropdown(id=ROLE, options=[{"label": r, "value": r} for r in ROLES],
                                                  value="viewer", clearable=False)], md=3),
                        ],
                        className="mt-3",
                    ),
                    html.Div(
                        [
                            dbc.Button("Add user", id=ADD, color="primary", className="me-2 mt-2"),
                            dbc.Button("Set role", id=SET_ROLE, color="secondary", className="me-2 mt-2"),
                            dbc.Button("Reset password", id=RESET, color="secondary", className="me-2 mt-2"),
                            dbc.Button("Unlock sign-in", id=UNLOCK, color="secondary", className="me-2 mt-2"),
                            dbc.Button("Remove", id=REMOVE, color="danger", outline=True, className="mt-2"),
                        ]
                    ),
                    html.Div(id=USERS_STATUS, className="mt-2"),
                    html.Small("API tokens are managed with `python -m dashboard users token create|list|revoke USER`.",
                               className="text-muted"),
                ]
            ),
        ],
        className="mb-3",
    )


def _audit_card(auth):
    facets = auth.audit.facets()
    return dbc.Card(
        [
            dbc.CardHeader(["Audit log", html.A("Download CSV", id=AUDIT_CSV, href="/admin/audit.csv",
                                                className="btn btn-sm btn-outline-primary float-end")]),
            dbc.CardBody(
                [
                    dbc.Row(
                        [
                            dbc.Col(dcc.Dropdown(id=AUDIT_ACTOR, options=facets["actor"], placeholder="any user"), md=3),
                            dbc.Col(dcc.Dropdown(id=AUDIT_ACTION, options=sorted(set(ACTIONS) | set(facets["action"])),
                                                 placeholder="any action"), md=3),
                            dbc.Col(dcc.DatePickerRange(id=AUDIT_DATES, display_format="YYYY-MM-DD", clearable=True,
                                                        start_date_placeholder_text="from",
                                                        end_date_placeholder_text="to"), md=4),
                            dbc.Col(html.Small(id=AUDIT_COUNT, className="text-muted"), md=2),
                        ],
                        className="mb-2 g-2",
                    ),
                    dash_table.DataTable(
                        id=AUDIT_TABLE,
                        columns=[{"id": k, "name": n} for k, n in (
                            ("at_utc", "When (UTC)"), ("actor", "User"), ("role", "Role"), ("action", "Action"),
                            ("target", "Target"), ("ip", "Address"), ("detail", "Detail"))],
                        data=[], page_action="custom", page_current=0, page_size=AUDIT_PAGE_SIZE, page_count=1,
                        style_cell={**TABLE_STYLE, "fontSize": "14px"}, style_header={"fontWeight": "600"},
                    ),
                ]
            ),
        ]
    )


def layout(**_query):
    auth = current_auth()
    return html.Div([html.H2("Administration", className="mb-3"), _users_card(auth), _audit_card(auth)],
                    id="admin-page")


def register(app: dash.Dash) -> None:
    dash.register_page(__name__, path="/admin", name="Admin", title="Admin · Lesion Lens", order=5, layout=layout)

    @app.callback(
        Output(USERS_STATUS, "children"),
        Output(USERS_TABLE, "data"),
        *[Input(button, "n_clicks") for button in USER_ACTIONS],
        State(USERNAME, "value"),
        State(ROLE, "value"),
        prevent_initial_call=True,
    )
    def _user_action(*args):
        *clicks, username, role = args
        me = require(ADMIN)
        if not dash.ctx.triggered_id or not any(clicks):
            raise dash.exceptions.PreventUpdate
        auth = current_auth()
        try:
            message = user_action(auth, me, dash.ctx.triggered_id, username, role)
            alert = dbc.Alert(message, color="success", className="py-2 mb-0")
        except (AccountError, PasswordPolicyError) as exc:
            alert = dbc.Alert(str(exc), color="danger", className="py-2 mb-0")
        return alert, user_rows(auth)

    @app.callback(
        *page_outputs(AUDIT_TABLE),
        Output(AUDIT_COUNT, "children"),
        Output(AUDIT_CSV, "href"),
        Input(AUDIT_ACTOR, "value"),
        Input(AUDIT_ACTION, "value"),
        *date_range(AUDIT_DATES),
        Input(AUDIT_TABLE, "page_current"),
        Input(USERS_TABLE, "data"),
    )
    def _audit_page(actor, action, start, end, page, _users):
        require(ADMIN)
        flt = AuditFilter.parse(actor, action, start, end)
        page = requested_page(AUDIT_TABLE, page)
        rows, total = current_auth().audit.page(flt, offset=page * AUDIT_PAGE_SIZE, limit=AUDIT_PAGE_SIZE)
        pages, page = page_window(total, page, AUDIT_PAGE_SIZE)
        return rows, pages, page, f"{total} event{'s' if total != 1 else ''}", audit_query(flt)


@export.get("/admin/audit.csv")
def audit_csv():
    user = current_user()
    if user is None or not allows(user.role, ADMIN):  # the request guard refused already; belt and braces
        abort(403)
    auth = current_auth()
    flt = AuditFilter.parse(request.args.get("actor"), request.args.get("action"), request.args.get("from"),
                            request.args.get("to"))
    audit("audit.export", target="audit.csv", filters=flt.as_query())
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return Response(csv_lines(auth.audit.iter_rows(flt)), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="lesionlens-audit-{stamp}.csv"',
                             "Cache-Control": "no-store"})
