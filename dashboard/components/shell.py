"""The frame around every page: navbar, page container, footer.

The footer's "Research use only" line is on every page by design: the app
shows model output to clinicians and must never look like a certified device.
The navbar is built per request for the signed-in user: their name and role,
a sign-out form (CSRF token in a hidden field), and only the links their role
may open (the request guard enforces the same rules; hiding is courtesy).
"""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
import flask
from dash import Input, Output, dcc, html

from dashboard import ids
from dashboard.auth import csrf, current_user
from dashboard.auth.roles import ADMIN, CLINICIAN, VIEWER, allows, landing_path

NAV_ITEMS = (("New case", "/", CLINICIAN), ("Cohort", "/cohort", VIEWER), ("Metrics", "/metrics", VIEWER),
             ("Models", "/models", VIEWER), ("Jobs", "/jobs", CLINICIAN), ("Admin", "/admin", ADMIN))
USER_MENU = "ll-user"
LOGOUT_FORM = "ll-logout-form"
FOOTER_TEXT = "Research use only — not a medical device. Model output must be confirmed by a qualified clinician."


def nav_items(role: str | None) -> list[tuple[str, str]]:
    return [(name, href) for name, href, needed in NAV_ITEMS if allows(role, needed)]


def user_menu(user) -> html.Div:
    """Who is signed in, their role, and a sign-out button (a POST form: a link must not log out)."""
    if user is None:
        return html.Div(id=USER_MENU)
    from dashboard.auth import current_auth

    token = flask.g.get("ll_session_token") or ""
    value = csrf.for_session(current_auth().secret, token) if token else ""
    return html.Div(
        [
            html.Span([html.Span(user.username, className="ll-username"), " ",
                       dbc.Badge(user.role, color="secondary", className="ll-role")], className="text-light me-2"),
            html.Form([dcc.Input(type="hidden", name=csrf.FORM_FIELD, value=value, id="ll-logout-csrf"),
                       html.Button("Sign out", type="submit", className="btn btn-outline-light btn-sm",
                                   id="ll-logout")],
                      action="/logout", method="POST", id=LOGOUT_FORM, className="d-inline"),
        ],
        id=USER_MENU,
        className="d-flex align-items-center ms-3",
    )


def navbar(user=None) -> dbc.Navbar:
    role = user.role if user else None
    links = [
        dbc.NavItem(dbc.NavLink(name, href=href, id=f"nav-{name.lower().replace(' ', '-')}", active="exact"))
        for name, href in nav_items(role)
    ]
    if not any(href == "/cohort" for _name, href in nav_items(role)):  # the nav-href callbacks need their outputs
        links += [html.Span(id="nav-cohort", hidden=True), html.Span(id="nav-metrics", hidden=True)]
    return dbc.Navbar(
        dbc.Container(
            [
                dbc.NavbarBrand([html.Span("◉ ", className="ll-logo"), "Lesion Lens"],
                                href=landing_path(role) if role else "/"),
                dbc.Nav(links, navbar=True, className="me-auto"),
                html.Span(id=ids.ACTIVE_MODEL_BADGE, className="ll-model-badge"),
                user_menu(user),
            ],
            fluid=True,
        ),
        id=ids.NAVBAR,
        color="dark",
        dark=True,
        className="mb-3",
    )


def footer() -> html.Footer:
    return html.Footer(
        dbc.Container(html.Small(FOOTER_TEXT), fluid=True),
        className="ll-footer",
        id="ll-footer",
    )


def layout() -> html.Div:
    return html.Div(
        [
            dcc.Location(id=ids.URL, refresh="callback-nav"),  # callbacks navigate through Dash pages
            dcc.Store(id=ids.REVIEWER_NAME, storage_type="local"),
            navbar(current_user()),
            dbc.Container(dash.page_container, fluid=True, className="ll-main"),
            footer(),
        ],
        className="ll-app",
    )


def carry_query(pathname: str | None, search: str | None) -> tuple[str, str]:
    """Cohort and Metrics links keep the current filter when moving between the two pages."""
    keep = search if (pathname or "").rstrip("/") in ("/cohort", "/metrics") else ""
    return f"/cohort{keep or ''}", f"/metrics{keep or ''}"


def register(app: dash.Dash) -> None:
    from dashboard.services import current_services

    @app.callback(
        Output("nav-cohort", "href"),
        Output("nav-metrics", "href"),
        Input(ids.URL, "pathname"),
        Input(ids.URL, "search"),
    )
    def _carry(pathname, search):
        return carry_query(pathname, search)

    @app.callback(Output(ids.ACTIVE_MODEL_BADGE, "children"), Input(ids.URL, "pathname"))
    def _badge(_pathname):
        card = current_services().models.active_card()
        if card is None:
            return dbc.Badge("no model available", color="warning", className="p-2")
        return dbc.Badge(f"model: {card.name} v{card.version}", color="light", text_color="dark",
                         className="p-2", title="Active model (change on the Models page)")
