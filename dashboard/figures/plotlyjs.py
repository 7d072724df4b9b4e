"""Serve plotly.js's "cartesian" partial bundle to dcc.Graph instead of the full bundle.

The full plotly.min.js (4.8 MB) takes seconds to evaluate on a busy client
and was most of the Metrics page's first load; every figure of the dashboard
uses scatter, bar, heatmap and layout images only, which the cartesian bundle
(1.5 MB, vendored in `vendor/` with its MIT licence, from the npm package
plotly.js-cartesian-dist-min) contains. `install(app)` registers two local
scripts with Dash: a tiny loader, included in every page, that points
dcc.Graph's lazy plotly.js loading at the bundle, and the bundle itself
(served, never included, so pages without graphs load no plotly.js).

The bundle must be the plotly.js version plotly.py was built against;
otherwise `install` logs a warning and leaves Dash's full bundle in place.
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)

PLOTLYJS_VERSION = "4.1.1"  # of vendor/plotly-cartesian.min.js (also dashboard.figures.__version__)
VENDOR = Path(__file__).parent / "vendor"
NAMESPACE = "dashboard.figures"
LOADER = "vendor/plotly-loader.js"
BUNDLE = "vendor/plotly-cartesian.min.js"
TRACE_TYPES = frozenset({"bar", "box", "contour", "heatmap", "histogram", "histogram2d", "histogram2dcontour",
                         "image", "pie", "scatter", "scatterternary", "violin"})


def bundled_version() -> str | None:
    """The version in the vendored bundle's header comment."""
    try:
        head = (VENDOR / "plotly-cartesian.min.js").read_text(encoding="utf-8", errors="replace")[:300]
    except OSError:
        return None
    marker = head.find(" v")
    return head[marker + 2:].split()[0] if marker >= 0 else None


def install(app) -> bool:
    """Register the loader and the bundle with `app` (idempotent); False if left on the full bundle."""
    from plotly.offline import get_plotlyjs_version

    expected = get_plotlyjs_version()
    found = bundled_version()
    if found != expected or found != PLOTLYJS_VERSION:
        log.warning("plotly.js partial bundle is v%s but plotly.py uses v%s: serving the full bundle", found,
                    expected)
        return False
    if getattr(app, "_ll_plotly_partial", False):
        return True
    app.scripts.append_script({"relative_package_path": LOADER, "namespace": NAMESPACE})
    app.scripts.append_script({"relative_package_path": BUNDLE, "namespace": NAMESPACE, "dynamic": True})
    app._ll_plotly_partial = True
    return True
