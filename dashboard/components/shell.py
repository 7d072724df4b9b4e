"""The frame around every page: navbar, page container, footer.

The footer's "Research use only" line is on every page by design: the app
shows model output to clinicians and must never look like a certified device.
"""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, dcc, html

from dashboard import ids

NAV_ITEMS = (("New case", "/"), ("Cohort", "/cohort"), ("Metrics", "/metrics"), ("Models", "/models"))
FOOTER_TEXT = "Research use only — not a medical device. Model output must be confirmed by a qualified clinician."


def navbar() -> dbc.Navbar:
    links = [
        dbc.NavItem(dbc.NavLink(name, href=href, id=f"nav-{name.lower().replace(' ', '-')}", active="exact"))
        for name, href in NAV_ITEMS
    ]
    return dbc.Navbar(
        dbc.Container(
            [
                dbc.NavbarBrand([html.Span("◉ ", className="ll-logo"), "Lesion Lens"], href="/"),
                dbc.Nav(links, navbar=True, className="me-auto"),
                html.Span(id=ids.ACTIVE_MODEL_BADGE, className="ll-model-badge"),
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
            navbar(),
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
        return dbc.Badge(f"model: {card['name']} v{card['version']}", color="light", text_color="dark",
                         className="p-2", title="Active model (change on the Models page)")
