"""Signing in, roles and signing out in a real browser against gunicorn."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import USERS, shot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_anonymous_viewer_and_admin(page_as, live_server):
    base = live_server.url
    anon = page_as(None)
    anon.goto(base + "/")
    anon.wait_for_url(re.compile(r"/login\?next=/$"))  # anonymous: straight to the sign-in form
    assert anon.locator("#login-form").is_visible() and anon.locator("#ll-navbar").count() == 0
    anon.fill("#username", USERS["viewer"])
    anon.fill("#password", "not the password")
    anon.click("#login-submit")
    assert "Wrong username or password." in anon.locator("#login-error").inner_text()
    shot(anon, "auth-login-failed")

    viewer = page_as(None)
    sign_in(viewer, base, USERS["viewer"])
    viewer.wait_for_url(re.compile(r"/cohort$"))  # a viewer's home is the cohort, not the upload page
    viewer.wait_for_selector("#cohort-table td")
    navbar = viewer.locator("#ll-navbar").inner_text()
    assert USERS["viewer"] in navbar and "viewer" in navbar
    assert viewer.locator("#nav-new-case").count() == 0 and viewer.locator("#nav-admin").count() == 0
    viewer.goto(base + "/")
    viewer.wait_for_url(re.compile(r"/cohort$"))
    assert viewer.locator("#new-upload").count() == 0
    response = viewer.goto(base + "/admin")
    assert response.status == 403 and "Not permitted" in viewer.content()
    viewer.goto(base + "/models")
    viewer.wait_for_selector("#models-table")
    assert viewer.locator("#models-activate").count() == 0  # switching models is for admins
    shot(viewer, "auth-viewer-models")
    assert not viewer.errors

    admin = page_as(None)
    sign_in(admin, base, USERS["admin"])
    admin.wait_for_url(re.compile(r"/$"))
    admin.locator("#nav-admin").click()
    admin.wait_for_url(re.compile(r"/admin$"))
    admin.wait_for_selector("#admin-users-table td")
    users = admin.locator("#admin-users-table").inner_text()
    assert all(name in users for name in USERS.values())
    admin.wait_for_selector("#admin-audit-table td")
    audit = admin.locator("#admin-audit-table").inner_text()
    assert "login.ok" in audit and "login.failed" in audit and "access.denied" in audit
    assert re.search(r"\d+ events", admin.locator("#admin-audit-count").inner_text())
    shot(admin, "auth-admin-page")
    admin.locator("#ll-logout").click()  # sign out: a POST form with the CSRF token
    admin.wait_for_url(re.compile(r"/login$"))
    admin.goto(base + "/admin")
    admin.wait_for_url(re.compile(r"/login\?next=/admin$"))
    assert not admin.errors


def test_expired_session_goes_to_sign_in(page_as, live_server):
    """A page whose session ended (cookie gone) sends the browser to /login on its next callback."""
    page = page_as("viewer")
    page.goto(live_server.url + "/metrics")
    page.wait_for_selector("#metrics-confusion .gtitle")
    page.context.clear_cookies()
    page.locator("#nav-cohort").click()  # in-app navigation: the pages callback gets 401
    page.wait_for_url(re.compile(r"/login\?next="))
    assert page.locator("#login-form").is_visible()
