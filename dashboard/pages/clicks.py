"""The guard every button callback starts with."""

from __future__ import annotations

from dash.exceptions import PreventUpdate


def require_click(n_clicks: int | None) -> None:
    """Stop a button's callback (PreventUpdate) unless the button was clicked: Dash also fires it
    with `n_clicks` None or 0 when the button is first rendered (e.g. when its outputs live outside the page)."""
    if not n_clicks:
        raise PreventUpdate
