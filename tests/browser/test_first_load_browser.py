"""Issue 14.4 in a real browser: /metrics shows every figure without a callback round trip.

The index page preloads /_dash-layout, whose answer already holds the Metrics page with its figures
(dashboard/components/shell.py, dashboard/firstload.py); the renderer uses that one answer, the pages
router stays idle and no Metrics callback runs until the slider moves. Timings: bench/bench_dashboard.py.
"""

from __future__ import annotations

import pytest

from tests.browser.ready import METRICS_FIGURES as FIGURES
from tests.browser.ready import METRICS_READY as DRAWN

pytestmark = pytest.mark.browser


def test_metrics_first_load_needs_no_callback(page, live_server):
    requests = []
    page.on("request", lambda request: requests.append(request))
    page.goto(live_server.url + "/metrics?sex=F")
    page.wait_for_function(DRAWN, arg=list(FIGURES))
    page.wait_for_load_state("networkidle")

    paths = [r.url.replace(live_server.url, "").split("?")[0] for r in requests]
    assert paths.count("/_dash-layout") == 1 and paths.count("/_dash-dependencies") == 1  # the preloads, used
    assert not any("polyfill@" in p for p in paths) and any("regenerator-runtime" in p for p in paths)
    chunks = [p for p in paths if "/async-" in p or "plotly-cartesian" in p]  # loaded when the page renders
    preloaded = page.eval_on_selector_all('link[rel="preload"][as="script"]',
                                          "(links) => links.map((l) => new URL(l.href).pathname)")
    assert chunks and set(chunks) <= set(preloaded) and len(chunks) == len(set(chunks))  # asked for early, once
    outputs = [str((r.post_data_json or {}).get("output")) for r in requests if "_dash-update-component" in r.url]
    assert outputs == []  # no callback at all: not the router, not the page's, not the navbar's
    assert page.locator("#nav-metrics").get_attribute("href") == "/metrics?sex=F"
    assert "model:" in page.locator("#ll-active-model").inner_text()
    assert "sex" in page.locator("#metrics-summary").inner_text().lower()
    assert page.locator("#metrics-subgroups td").count() > 0
    assert page.title() == "Metrics · Lesion Lens"

    # the slider is live at once, and it is the page's first callback
    before = page.locator("#metrics-confusion .gtitle").text_content()
    thumb = page.locator("#metrics-threshold [role=slider]")
    thumb.focus()
    page.keyboard.press("PageUp" if float(thumb.get_attribute("aria-valuenow")) < 0.5 else "PageDown")
    page.wait_for_function("(t) => document.querySelector('#metrics-confusion .gtitle').textContent !== t",
                           arg=before)
    assert any("metrics-confusion" in str((r.post_data_json or {}).get("output")) for r in requests
               if "_dash-update-component" in r.url)
    assert not page.errors


def test_in_app_navigation_still_goes_through_the_router(page, live_server):
    page.goto(live_server.url + "/cohort?sex=F")
    page.wait_for_selector("#cohort-table td")
    assert page.locator("#nav-metrics").get_attribute("href") == "/metrics?sex=F"  # from the first layout
    page.locator("#nav-metrics").click()
    page.wait_for_url("**/metrics?sex=F")
    page.wait_for_function(DRAWN, arg=list(FIGURES))
    page.locator("#nav-models").click()  # the navbar's callbacks run on navigation: links lose the filter
    page.wait_for_url("**/models")
    page.wait_for_function("() => document.getElementById('nav-metrics').getAttribute('href') === '/metrics'")
    page.go_back()
    page.wait_for_function(DRAWN, arg=list(FIGURES))
    assert not page.errors
