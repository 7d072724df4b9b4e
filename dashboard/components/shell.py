"""The frame around every page: navbar, page container, footer.

The footer's "Research use only" line is on every page by design: the app
shows model output to clinicians and must never look like a certified device.
The navbar is built per request for the signed-in user: their name and role,
a sign-out form (CSRF token in a hidden field), and only the links their role
may open (the request guard enforces the same rules; hiding is courtesy).

First load without a routing round trip: Dash's pages router fills the page
container by a callback once the renderer has the layout, and only then do
the page's own callbacks run (for the Metrics page: a second round trip before
any figure). `page_container()` renders the page into the renderer's first
`/_dash-layout` answer instead: that request comes from the page it is for,
so its `Referer` (same origin; the app sends `Referrer-Policy: same-origin`)
names the path and query, which the router's own matching rules
(`page_match.py`) turn into the page's (role-guarded) layout. The container's
location then already holds that path, so the router does not run at start; in-app navigation, the back
button and any request without a usable Referer go through the router as
before. The navbar's links and model badge are filled the same way, so their
callbacks wait for the first navigation too.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import dash
import dash_bootstrap_components as dbc
import flask
from dash import Input, Output, dcc, html

from dashboard import ids
from dashboard.auth import csrf, current_user
from dashboard.auth.roles import ADMIN, CLINICIAN, VIEWER, allows, landing_path
from dashboard.components.page_match import match_page, query_arguments

NAV_ITEMS = (("New case", "/", CLINICIAN), ("Cohort", "/cohort", VIEWER), ("Metrics", "/metrics", VIEWER),
             ("Models", "/models", VIEWER), ("Jobs", "/jobs", CLINICIAN), ("Admin", "/admin", ADMIN))
USER_MENU = "ll-user"
LOGOUT_FORM = "ll-logout-form"
log = logging.getLogger(__name__)
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


def link_id(name: str) -> str:
    return f"nav-{name.lower().replace(' ', '-')}"


def navbar(user=None, hrefs: dict[str, str] | None = None, badge=None) -> dbc.Navbar:
    """`hrefs` (link id -> href) and `badge` fill in what the navbar's callbacks would set (first layout)."""
    role = user.role if user else None
    hrefs = hrefs or {}
    links = [
        dbc.NavItem(dbc.NavLink(name, href=hrefs.get(link_id(name), href), id=link_id(name), active="exact"))
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
                html.Span(badge, id=ids.ACTIVE_MODEL_BADGE, className="ll-model-badge"),
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


def first_page() -> tuple[str, str, object, str] | None:
    """(pathname, search, page layout, title) of the page asking for the first `/_dash-layout`, or None
    (another request, no same-origin Referer, an unknown path, routing states, or the layout failed:
    the router renders the page then, as it always did)."""
    if not flask.has_request_context():
        return None
    request = flask.request
    app = dash.get_app()
    if request.path != f"{app.config.routes_pathname_prefix}_dash-layout" or app.routing_callback_inputs:
        return None
    referrer = urlsplit(request.referrer or "")
    if referrer.scheme not in ("http", "https") or referrer.netloc != request.host:
        return None
    pathname, search = referrer.path or "/", f"?{referrer.query}" if referrer.query else ""
    stripped = app.strip_relative_path(pathname)
    page, path_variables = match_page(stripped if stripped is not None else "")
    if not page:
        return None
    try:
        content, title = page.get("layout", ""), page["title"]
        if callable(content):  # the role-guarded layout (auth/guards.py)
            content = content(**{**path_variables, **query_arguments(search)})
        if callable(title):
            title = title(**path_variables)
    except Exception:  # noqa: BLE001 - the router tries again (and reports it) once the renderer runs
        log.exception("rendering the first page into the layout failed; the pages router will render it")
        return None
    return pathname, search, content, title


def page_container(first: tuple[str, str, object, str] | None = None) -> html.Div:
    """`dash.page_container`, with the requested page (`first`, else `first_page()`) already in it."""
    first = first or first_page()
    if first is None:
        return dash.page_container
    pathname, search, content, title = first
    # the same components as dash.page_container, with its ids read off it (tests/unit/test_dashboard_pages.py
    # compares them), filled
    location, container, store, dummy = (child.id for child in dash.page_container.children)
    return html.Div([
        dcc.Location(id=location, refresh="callback-nav", pathname=pathname, search=search),
        html.Div(content, id=container, disable_n_clicks=True),
        dcc.Store(id=store, data={"title": title}),
        html.Div(id=dummy, disable_n_clicks=True),
    ])


def model_badge():
    """The navbar's badge naming the active model."""
    from dashboard.services import current_services

    card = current_services().models.active_card()
    if card is None:
        return dbc.Badge("no model available", color="warning", className="p-2")
    return dbc.Badge(f"model: {card.name} v{card.version}", color="light", text_color="dark",
                     className="p-2", title="Active model (change on the Models page)")


def layout() -> html.Div:
    first = first_page()
    if first is None:  # the location's first value then runs the navbar's callbacks
        location, hrefs, badge = dcc.Location(id=ids.URL, refresh="callback-nav"), None, None
    else:  # the first layout holds what they would answer: no round trip (the Location sets no path)
        pathname, search = first[0], first[1]
        location = dcc.Location(id=ids.URL, refresh="callback-nav", pathname=pathname, search=search)
        hrefs = dict(zip(("nav-cohort", "nav-metrics"), carry_query(pathname, search), strict=True))
        badge = model_badge()
    return html.Div(
        [
            location,  # callbacks navigate through Dash pages
            dcc.Store(id=ids.REVIEWER_NAME, storage_type="local"),
            navbar(current_user(), hrefs, badge),
            dbc.Container(page_container(first), fluid=True, className="ll-main"),
            footer(),
        ],
        className="ll-app",
    )


def carry_query(pathname: str | None, search: str | None) -> tuple[str, str]:
    """Cohort and Metrics links keep the current filter when moving between the two pages."""
    keep = search if (pathname or "").rstrip("/") in ("/cohort", "/metrics") else ""
    return f"/cohort{keep or ''}", f"/metrics{keep or ''}"


def register(app: dash.Dash) -> None:
    from dashboard import firstload
    from dashboard.services import EXTENSION_KEY

    # the index page preloads /_dash-layout (which renders the page, see page_container)
    firstload.install(app, keep_polyfill=app.server.extensions[EXTENSION_KEY].settings.dash_polyfill)

    # Not at load: the first layout already holds their answers (layout()), or its location has no path
    # yet and setting it runs them; then on every navigation.
    @app.callback(
        Output("nav-cohort", "href"),
        Output("nav-metrics", "href"),
        Input(ids.URL, "pathname"),
        Input(ids.URL, "search"),
        prevent_initial_call=True,
    )
    def _carry(pathname, search):
        return carry_query(pathname, search)

    @app.callback(Output(ids.ACTIVE_MODEL_BADGE, "children"), Input(ids.URL, "pathname"), prevent_initial_call=True)
    def _badge(_pathname):
        return model_badge()
