"""The Content-Security-Policy of every response the app sends.

Why: the pages show text that users typed (review notes, usernames) and
that datasets carried (metadata); escaping is the first defence against
script injection, the policy is the second. It allows scripts only from
this origin plus the exact inline scripts Dash writes into its index page
(the renderer bootstrap and the clientside callbacks, pinned by their
sha256 via `app.csp_hashes()`): no 'unsafe-inline' and no 'unsafe-eval' for
scripts, no third-party hosts (the app is offline by design), no plugins, no
framing, forms post only here. Styles keep 'unsafe-inline' because plotly
and React set inline styles; that cannot run code. Routes that need a
stricter policy (file PNGs, the API) set their own and keep it.
"""

from __future__ import annotations

BASE = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'", "'unsafe-inline'"],
    "img-src": ["'self'", "data:", "blob:"],  # plotly draws images as data: URIs, the SVG download uses blob:
    "font-src": ["'self'", "data:"],
    "connect-src": ["'self'"],
    "worker-src": ["'self'", "blob:"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}


def policy(script_hashes: list[str] | tuple[str, ...] = ()) -> str:
    """The header value, with the given `'sha256-…'` sources added to script-src."""
    directives = {name: list(values) for name, values in BASE.items()}
    directives["script-src"] += sorted(set(script_hashes))
    return "; ".join(f"{name} {' '.join(values)}" for name, values in directives.items())


def for_app(app) -> str:
    """The policy of a built Dash app (its inline scripts are known once every callback is registered)."""
    return policy(app.csp_hashes())
