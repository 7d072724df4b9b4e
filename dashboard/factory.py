"""`create_app(settings)`: the Dash app with its pages, store, cache, files routes and API.

Building it is cheap: it opens the database, configures the cache and
registers routes; it imports no TensorFlow and loads no model (the
PredictorPool does that lazily in each worker, after the fork). Kept apart
from `dashboard.app` (which builds the module-level `server` from the
environment) so tests can import the factory without creating an app.
"""

from __future__ import annotations

import logging
from typing import Callable

import dash
import flask
from werkzeug.exceptions import RequestEntityTooLarge

from dashboard import api as api_module
from dashboard import auth, exports, ratelimit, routes
from dashboard.auth import csrf
from dashboard.components import shell
from dashboard.monitoring import routes as monitoring_routes
from dashboard.pages import PAGE_MODULES
from dashboard.pages import admin as admin_page
from dashboard.pages import login as login_page
from dashboard.services import build_services
from dashboard.settings import AuthConfig, Settings
from pipeline.paths import REPO_ROOT

ASSETS_DIR = REPO_ROOT / "assets"


def create_app(settings: Settings | None = None, predictor_factory: Callable | None = None,
               auth_config: AuthConfig | None = None) -> dash.Dash:
    """Build the app. `predictor_factory(bundle_dir)` replaces pipeline.predictor.Predictor in tests.

    Every route needs a signed-in user with the right role except the open
    list in dashboard/auth/roles.py (assets, component bundles, favicon,
    /login, /healthz); see dashboard/auth/guards.py.
    """
    settings = settings or Settings.from_env()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    server = flask.Flask("lesionlens", static_folder=None)  # no /static route: assets are served by Dash
    server.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_request_bytes,
        # Dash sends dcc.Upload contents as base64 in the callback body (4/3 of the file)
        MAX_FORM_MEMORY_SIZE=settings.max_request_bytes,
        JSON_SORT_KEYS=False,
    )
    services = build_services(settings, server, predictor_factory)
    server.register_blueprint(routes.bp)
    server.register_blueprint(api_module.api)
    server.register_blueprint(api_module.health)
    server.register_blueprint(login_page.bp)
    server.register_blueprint(admin_page.export)
    server.register_error_handler(RequestEntityTooLarge, api_module.too_large)
    # a crafted /_dash-component-suites/dash/../../etc/passwd: Dash refuses it by raising, which would be a 500
    server.register_error_handler(dash.exceptions.DependencyException, lambda _exc: ("not found", 404))

    app = dash.Dash(
        __name__,
        server=server,
        use_pages=True,
        pages_folder="",  # pages are registered explicitly below (no folder scan, no import side effects)
        assets_folder=str(ASSETS_DIR),
        serve_locally=True,
        title=settings.title,
        update_title=None,
        suppress_callback_exceptions=True,  # page layouts are built per request from the store
        meta_tags=[{"name": "viewport", "content": "width=device-width, initial-scale=1"}],
        csrf_token_name=csrf.COOKIE,  # the renderer sends this cookie back as X-CSRFToken on every request
        csrf_header_name=csrf.HEADER,
    )
    # dash.register_page reaches an app only through dash.get_app(), for `redirect_from`, and would find
    # whichever app served the last request in this process: no page uses it (tests/unit/test_import_layers.py
    # checks; pages add their redirects to app.server themselves), so registering needs no app context.
    for module in PAGE_MODULES:
        module.register(app)
    shell.register(app)
    exports.register(app)  # /export/… downloads + their links' client-side callbacks
    app.layout = shell.layout
    auth.install(app, settings, services.store.engine, services.store.sessions, auth_config)  # after the pages
    ratelimit.install(server, settings)  # after the guard: limits count per signed-in user
    monitoring_routes.install(server, settings.metrics_token)  # /prometheus + request timing
    _warm_up(app)
    return app


def _warm_up(app: dash.Dash) -> None:
    """Run Dash's first-request setup now, in this process, before real traffic.

    Dash does that setup (registering script paths, the pages router) in its
    before_request hooks and sets its "first request seen" flags *before*
    doing it, so with gunicorn --threads a fresh worker answering the
    browser's parallel script requests could serve some before the setup
    finished ("path requested is not valid" 500s). Flask's public
    `test_request_context` + `preprocess_request` run every before_request hook
    once, here, for the open login path: Dash's setup, whatever Dash names it
    inside, in a few milliseconds, with no view, no response, no database and
    no model.
    """
    server = app.server
    with server.test_request_context("/login"):
        refused = server.preprocess_request()
    if refused is not None:
        raise RuntimeError(f"dashboard warm-up: a request hook refused the login page ({refused!r})")

