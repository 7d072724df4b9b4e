"""Browser fixtures: a real gunicorn serving a real tiny bundle and an imported cohort,
driven by Debian's chromium through Playwright (never `playwright install`).

Every page needs a signed-in user: the server gets one account per role
(created with `python -m dashboard users add … --password-stdin`), each role
signs in once through the real login form, and `page` reuses that browser
state (cookies) as a clinician; `page_as(role)` and `anon_page` give others."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipeline.paths import REPO_ROOT
from tests.browser.support import Gunicorn, add_user, new_page, run_cli, server_env, tiny_models_dir

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO_ROOT / "test-artifacts"
COHORT_SPEC = "synthetic:60:2"
USERS = {"admin": "ada", "clinician": "cleo", "viewer": "vic"}
PASSWORD = "browser-test-password-77"  # tmp server home only
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium to run browser tests")
    pytest.importorskip("playwright.sync_api", reason="playwright (python package) is not installed")
    return str(CHROMIUM)


@pytest.fixture(scope="session")
def live_server(tmp_path_factory, chromium_path):
    """gunicorn (1 worker, 4 threads) on a free port with a 60-case imported cohort."""
    home = tmp_path_factory.mktemp("browser-home")
    env = server_env(home, tiny_models_dir())
    imported = run_cli(["import", COHORT_SPEC, "--model", "tiny", "--quiet"], env)
    assert imported.returncode == 0, imported.stderr[-2000:]
    for role, username in USERS.items():
        add_user(env, username, role, PASSWORD)
    server = Gunicorn(env, workers=1, threads=4, log=home / "gunicorn.log")
    try:
        server.wait_ready()
        server.home = home
        server.env = env
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def sign_in(page, base_url: str, username: str, password: str = PASSWORD) -> None:
    """Through the real form: fill, submit, wait to leave /login."""
    page.goto(base_url + "/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login-submit")
    page.wait_for_url(lambda url: "/login" not in url)


@pytest.fixture(scope="session")
def signed_in_states(browser, live_server):
    """Browser storage state (session + CSRF cookies) per role, each from one real sign-in."""
    states = {}
    for role, username in USERS.items():
        context = browser.new_context()
        page = context.new_page()
        page.set_default_timeout(60_000)
        sign_in(page, live_server.url, username)
        states[role] = context.storage_state()
        context.close()
    return states


@pytest.fixture
def page_as(browser, request, signed_in_states):
    """`page_as("viewer")`: a fresh browser context signed in with that role."""
    opened = []

    def make(role: str | None):
        context, page = new_page(browser, storage_state=signed_in_states[role] if role else None)
        opened.append((context, page))
        return page

    yield make
    ARTIFACTS.mkdir(exist_ok=True)
    for index, (context, page) in enumerate(opened):
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-final{index or ''}.png"), full_page=True)
        context.close()


@pytest.fixture
def page(page_as):
    """A clinician's browser: uploads, reviews and everything a viewer sees."""
    return page_as("clinician")


@pytest.fixture
def anon_page(page_as):
    return page_as(None)


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
