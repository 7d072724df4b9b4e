"""Issue 14.4: a page's first load needs no callback round trip before its content shows.

The renderer's first `/_dash-layout` answer carries the requested page (found from the Referer the browser
sends with it), the Metrics page's layout carries every figure, the index page preloads the layout and
swaps Dash's polyfill for regenerator-runtime. The browser side: tests/browser/test_first_load_browser.py.
"""

from __future__ import annotations

import dash
import pytest

from dashboard import firstload, ids
from dashboard.pages import metrics as metrics_page
from tests.auth_helpers import as_user, logged_in_client
from tests.dash_tree import find_json
from tests.fakes_predictor import fake_app
from tests.unit.test_dashboard_pages import seed_cohort


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    app = fake_app(tmp_path_factory.mktemp("first-load"))
    seed_cohort(app.server.extensions["lesionlens"], 12)
    return app


@pytest.fixture(scope="module")
def viewer(app):
    return logged_in_client(app, "viewer")


def first_layout(client, page: str, host: str = "localhost"):
    response = client.get("/_dash-layout", headers={"Referer": f"http://{host}{page}"} if page else {})
    assert response.status_code == 200
    return response.get_json()


def test_first_layout_carries_the_page_with_every_metrics_figure(viewer):
    layout = first_layout(viewer, "/metrics?device=A")
    location = find_json(layout, "_pages_location")["props"]
    assert location["pathname"] == "/metrics" and location["search"] == "?device=A"  # the router stays idle
    assert find_json(layout, "_pages_store")["props"]["data"] == {"title": "Metrics · Lesion Lens"}
    assert find_json(layout, metrics_page.METRICS_FILTER)["props"]["data"] == "?device=A"
    for graph_id in metrics_page.FIGURE_IDS:
        figure = find_json(layout, graph_id)["props"]["figure"]
        assert figure["data"] and figure["layout"]["title"]["text"], graph_id  # drawn, not a placeholder
    assert "Confusion matrix at threshold" in find_json(layout, ids.METRICS_CONFUSION)["props"]["figure"]["layout"][
        "title"]["text"]
    summary = str(find_json(layout, ids.METRICS_SUMMARY))
    assert "cases in this cohort" in summary and "device" in summary.lower()
    assert str(find_json(layout, ids.METRICS_SUBGROUPS)).count("'type': 'Tr'") > 2  # header + overall + subgroups
    assert "Sensitivity" in str(find_json(layout, ids.METRICS_RATES))
    assert find_json(layout, ids.METRICS_THRESHOLD)["props"].get("disabled") is not True
    # and what the navbar's callbacks would answer: they do not run at load
    assert find_json(layout, ids.URL)["props"]["search"] == "?device=A"
    assert find_json(layout, "nav-metrics")["props"]["href"] == "/metrics?device=A"
    assert find_json(layout, "nav-cohort")["props"]["href"] == "/cohort?device=A"
    assert "model: fake" in str(find_json(layout, ids.ACTIVE_MODEL_BADGE))


def test_first_layout_without_a_usable_referer_leaves_the_page_to_the_router(viewer):
    for layout in (first_layout(viewer, ""), first_layout(viewer, "/metrics", host="evil.example"),
                   first_layout(viewer, "/no/such/page")):
        assert not find_json(layout, "_pages_content")["props"].get("children")
        assert "pathname" not in find_json(layout, "_pages_location")["props"]
        assert "pathname" not in find_json(layout, ids.URL)["props"]  # setting it runs the navbar's callbacks
        assert not find_json(layout, ids.ACTIVE_MODEL_BADGE)["props"].get("children")


def test_first_layout_keeps_the_page_roles(app, viewer):
    layout = first_layout(viewer, "/admin")  # a viewer naming the admin page gets what the router would give
    content = str(find_json(layout, "_pages_content")["props"]["children"])
    assert "Not permitted" in content and "admin-" not in content
    admin = logged_in_client(app, "admin")
    assert find_json(first_layout(admin, "/admin"), "_pages_content")["props"]["children"]


def test_prefilled_container_has_the_components_of_dash_page_container(app):
    import flask

    from dashboard.auth.store import User
    from dashboard.components import shell

    def ids_of(container):
        return [(type(c).__name__, c.id) for c in container.children]

    token = dash._get_app.app_context.set(app)
    try:
        with app.server.test_request_context("/_dash-layout", headers={"Referer": "http://localhost/cohort"}):
            flask.g.ll_user = User(id=0, username="v", role="viewer")
            filled = shell.page_container()
    finally:
        dash._get_app.app_context.reset(token)
    assert filled is not dash.page_container and ids_of(filled) == ids_of(dash.page_container)
    assert filled.children[1].children  # the cohort page


def test_metrics_page_runs_no_callback_at_load(viewer):
    """The only server callback with a Metrics figure, summary or table output is the slider's, and it waits
    for a move (what the browser is told in /_dash-dependencies): the layout is the page's first state.
    The navbar's callbacks wait too (the first layout holds their answers)."""
    dependencies = viewer.get("/_dash-dependencies").get_json()
    navbar = [d for d in dependencies if ("nav-metrics" in d["output"] or ids.ACTIVE_MODEL_BADGE in d["output"])
              and any(i["id"] == ids.URL for i in d["inputs"])]
    assert len(navbar) == 2 and all(d["prevent_initial_call"] for d in navbar)
    page = [d for d in dependencies if any(name in d["output"] for name in (
        ids.METRICS_CONFUSION, ids.METRICS_SUMMARY, ids.METRICS_CALIBRATION, ids.METRICS_SUBGROUPS))]
    assert len(page) == 1 and page[0]["prevent_initial_call"] is True and not page[0].get("clientside_function")
    assert [(i["id"], i["property"]) for i in page[0]["inputs"]] == [(ids.METRICS_THRESHOLD, "value")]


def test_metrics_layout_reports_a_failed_computation(app, monkeypatch, caplog):
    def broken(*_args, **_kwargs):
        raise RuntimeError("database gone")

    monkeypatch.setattr(metrics_page, "load_curves", broken)
    with as_user(app, "viewer"):
        page = str(metrics_page.layout(device="A"))
    assert "could not be computed" in page and "Decision threshold" in page
    assert "database gone" in caplog.text


def test_index_preloads_the_layout_and_swaps_the_polyfill(app, viewer):
    html = viewer.get("/metrics").get_data(as_text=True)
    head = html.split("</head>")[0]
    assert '<link rel="preload" href="/_dash-layout" as="fetch" crossorigin="anonymous">' in head
    assert '<link rel="preload" href="/_dash-dependencies" as="fetch" crossorigin="anonymous">' in head
    assert "polyfill@" not in html
    scripts = [line for line in html.splitlines() if "<script src=" in line]
    runtime = next(i for i, line in enumerate(scripts) if "regenerator-runtime" in line)
    renderer = next(i for i, line in enumerate(scripts) if "dash_renderer" in line)
    assert runtime < renderer  # the renderer calls regeneratorRuntime
    src = scripts[runtime].split('src="')[1].split('"')[0]
    served = viewer.get(src)
    assert served.status_code == 200 and b"regeneratorRuntime" in served.data


def test_polyfill_kept_on_request(tmp_path):
    app = fake_app(tmp_path, dash_polyfill=True)  # LESIONLENS_DASH_POLYFILL=1
    html = logged_in_client(app, "viewer").get("/cohort").get_data(as_text=True)
    assert "polyfill@" in html and "regenerator-runtime" not in html and "/_dash-layout" in html


def test_polyfill_tag_pattern_matches_what_dash_writes(app):
    """If a Dash upgrade renames its polyfill, this fails instead of both scripts being served."""
    from dash import _dash_renderer

    paths = [p for dep in _dash_renderer._js_dist_dependencies for p in dep["relative_package_path"]["prod"]]
    assert any(p.startswith("deps/polyfill@") for p in paths)
    tag = '<script src="/_dash-component-suites/dash/deps/polyfill@7.v4_4_1m1.12.1.min.js"></script>\n<script>'
    assert firstload.POLYFILL_TAG.sub("", tag) == "<script>"
