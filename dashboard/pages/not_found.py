"""404 page: says where to go instead of a bare error."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html


def layout(**_query):
    return dbc.Alert([html.H4("Page not found"),
                      html.P(["Try ", dcc.Link("New case", href="/"), " or the ", dcc.Link("Cohort", href="/cohort"),
                              "."])], color="warning")


def register(app: dash.Dash) -> None:
    # Dash pages shows the page whose module name ends in "not_found_404" for unknown paths.
    dash.register_page("dashboard.pages.not_found_404", path="/404", name="Not found", layout=layout, order=99)
