"""The guard every button callback starts with, and `on_click`, which registers a callback behind it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dash
from dash import Input, Output, State
from dash.exceptions import PreventUpdate


def require_click(n_clicks: int | None) -> None:
    """Stop a button's callback (PreventUpdate) unless the button was clicked: Dash also fires it
    with `n_clicks` None or 0 when the button is first rendered (e.g. when its outputs live outside the page)."""
    if not n_clicks:
        raise PreventUpdate


def on_click(app: dash.Dash, button: str, *dependencies: Output | State) -> Callable[[Callable], Callable]:
    """Register the decorated function as `button`'s callback: it runs only after a real click
    (`prevent_initial_call` and `require_click`), with the values of the States among `dependencies`
    (not the click count) and returns the values of its Outputs. Role checks stay in the function,
    next to the code that changes state."""
    outputs = [d for d in dependencies if isinstance(d, Output)]
    states = [d for d in dependencies if isinstance(d, State)]
    if len(outputs) + len(states) != len(dependencies):
        raise TypeError("on_click takes Outputs and States; the button is the only Input")

    def register(action: Callable) -> Callable:
        @app.callback(*outputs, Input(button, "n_clicks"), *states, prevent_initial_call=True)
        def clicked(n_clicks: int | None, *values: Any) -> Any:
            require_click(n_clicks)
            return action(*values)

        return clicked

    return register
