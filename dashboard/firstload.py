"""The first load of a Dash page: less waiting, less script, same page.

A page's first load is Dash's renderer start-up: download and run React, the
component libraries and the renderer; then ask for `/_dash-layout` and
`/_dash-dependencies`; render; fire the initial callbacks. `install(app)`
changes two things in the index page Dash writes (no inline script: the
Content-Security-Policy allows none):

1. Its head names both start-up requests in `<link rel="preload" as="fetch">`
   tags: the browser sends them while it is still fetching and running the
   scripts, and hands the answers to the renderer's own requests (same URL,
   mode and credentials). The layout request is the one that works: it renders
   the requested page (dashboard/components/shell.py puts the page into it; for
   the Metrics page, every figure), now in parallel with the scripts.
2. Dash's `@babel/polyfill` (97 kB, core-js 2) is replaced by the only part of
   it the renderer and dash_core_components use, regenerator-runtime (7 kB,
   `vendor/regenerator-runtime.min.js`, extracted from that same file). In the
   browsers Dash supports core-js 2 only costs time: besides running its 97 kB,
   its feature tests reject the native typed arrays, `String#trim` and
   `Array#lastIndexOf` of current engines and install slower replacements that
   plotly.js then calls while drawing every figure.

`LESIONLENS_DASH_POLYFILL=1` (`settings.dash_polyfill`) keeps Dash's polyfill (for an old browser).
"""

from __future__ import annotations

import re
from typing import Any

PRELOADED = ("_dash-layout", "_dash-dependencies")
NAMESPACE = "dashboard.figures"  # the package that serves vendor/ (dashboard/figures/vendor)
REGENERATOR = "vendor/regenerator-runtime.min.js"
POLYFILL_TAG = re.compile(r'<script src="[^"]*/_dash-component-suites/dash/deps/polyfill@[^"]*"></script>\n?')


def preload_tags(prefix: str) -> str:
    """`<link rel=preload>` tags for the renderer's start-up requests under `prefix` (requests_pathname_prefix)."""
    return "".join(f'<link rel="preload" href="{prefix}{name}" as="fetch" crossorigin="anonymous">'
                   for name in PRELOADED)


def install(app: Any, keep_polyfill: bool = False) -> None:
    """Preload tags and the polyfill swap in `app`'s index pages (idempotent)."""
    if getattr(app, "_ll_first_load", False):
        return
    swap = not keep_polyfill
    if swap:  # a script of this package, included before the renderer (which calls regeneratorRuntime)
        app.scripts.append_script({"relative_package_path": REGENERATOR, "namespace": NAMESPACE})
    original = app.interpolate_index
    tags = preload_tags(app.config.requests_pathname_prefix)

    def interpolate_index(**kwargs: Any) -> str:
        kwargs["css"] = tags + "\n" + kwargs.get("css", "")
        if swap:
            kwargs["scripts"] = POLYFILL_TAG.sub("", kwargs.get("scripts", ""), count=1)
        return str(original(**kwargs))

    app.interpolate_index = interpolate_index
    app._ll_first_load = True
