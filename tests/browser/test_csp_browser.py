"""The Content-Security-Policy (dashboard/auth/csp.py) in chromium: every page still works under it, and it
really blocks an injected inline script (so the first half cannot pass with no policy at all)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser

PAGES = ("/", "/cohort", "/metrics", "/models", "/jobs", "/admin")


def test_pages_render_under_the_csp_and_it_blocks_inline_script(page_as, live_server):
    page = page_as("admin")
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    for path in PAGES:
        response = page.goto(live_server.url + path)
        assert "script-src 'self' 'sha256-" in response.headers["content-security-policy"], path
        page.wait_for_selector("#_pages_content > *", timeout=60_000)
    page.goto(live_server.url + "/metrics")
    page.wait_for_selector(".js-plotly-plot", timeout=60_000)  # plotly draws under the policy
    violations = [text for text in console if "Content Security Policy" in text]
    assert violations == [] and page.errors == []
    # the policy is live: an inline script added by an "injection" does not run
    page.evaluate("""() => { const s = document.createElement('script');
        s.textContent = 'window.__injected = 1'; document.body.appendChild(s); }""")
    assert page.evaluate("() => window.__injected") is None
    assert any("Content Security Policy" in text for text in console)
