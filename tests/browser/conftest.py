"""Browser fixtures: a real gunicorn serving a real tiny bundle and an imported cohort,
driven by Debian's chromium through Playwright (never `playwright install`)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipeline.paths import REPO_ROOT
from tests.browser.support import Gunicorn, run_cli, server_env, tiny_models_dir

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO_ROOT / "test-artifacts"
COHORT_SPEC = "synthetic:60:2"
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
    server = Gunicorn(env, workers=1, threads=4, log=home / "gunicorn.log")
    try:
        server.wait_ready()
        server.home = home
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


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors
    yield page
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-final.png"), full_page=True)
    context.close()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
