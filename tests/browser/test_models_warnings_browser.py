"""Issue 19, item 2 in chromium: the tiny test bundle (trained on 40 synthetic images) carries validation
warnings; the Models page shows them, and "Make active" opens a dialog naming them before switching."""

from __future__ import annotations

import pytest

from tests.browser.conftest import shot

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_activating_a_bundle_with_warnings_asks_first(page_as, live_server):
    admin = page_as("admin")
    admin.goto(live_server.url + "/models")
    admin.wait_for_selector("#models-card h3")
    card = admin.inner_text("#models-card")
    assert "validation warning" in card and "too small to judge" in card
    assert "validation warning" in admin.inner_text("#models-preview")
    assert admin.locator("#models-confirm").count() == 0 or not admin.locator("#models-confirm").is_visible()

    admin.click("#models-activate")
    admin.wait_for_selector("#models-confirm-text", state="visible")
    assert "tiny v" in admin.inner_text("#models-confirm-text")
    shot(admin, "models-confirm-dialog")
    admin.click("#models-confirm-no")
    admin.wait_for_selector("#models-confirm-text", state="detached")
    admin.locator("#models-status", has_text="Not activated").wait_for()

    admin.click("#models-activate")
    admin.wait_for_selector("#models-confirm-yes", state="visible")
    admin.click("#models-confirm-yes")
    admin.locator("#models-status", has_text="despite 2 validation warnings").wait_for()
    assert admin.errors == []
