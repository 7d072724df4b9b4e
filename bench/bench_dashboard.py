"""Dashboard server-side latency and memory (run by hand, not in CI).

    .venv/bin/python bench/bench_dashboard.py [--models DIR] [--runs 20] [--cohort 10000] [--skip-gunicorn]
                                              [--first-load-only] [--loads 3]

Measures, on this machine, with a real bundle (models/demo if present, else
the tiny test bundle trained by tests/browser/support.py):

1. upload -> result: the two Dash callbacks of the New case page (store the
   upload, then predict and render the result card) for a 500 x 400 PNG,
   through Flask's test client (JSON, base64 and figure serialisation
   included, browser and network excluded); p50/p95 over distinct images.
2. repeat upload: the same image again (answered by the prediction cache).
3. a 10,000-case cohort inserted directly into a fresh store: a filter change
   -> table page + every metric figure, cold (cache empty) and warm, as a
   table / curves / figures breakdown of direct calls and as the real Dash
   callbacks over HTTP (cohort table + metrics fill; JSON included); and a
   threshold-slider move (direct and over HTTP). `--profile` also writes a
   cProfile of one cold all-cases metrics fill (top functions in the JSON).
4. first page load: index HTML + layout (asked for with the page as Referer,
   as a browser does) + dependencies + the page-routing callback when the
   layout did not already carry the page, for /cohort on the 10,000-case store
   (server side), and, when /usr/bin/chromium exists, wall time in a fresh
   headless browser context until /, /cohort and /metrics show their content
   (gunicorn, same store; when the app has sign-in, the context signs in
   through HTTP first, so the browser cache stays empty), with the number of
   requests, callback round trips and bytes of each load. "Shows its content"
   (READY below): / the upload box, /cohort a table cell; /metrics every one of
   its six figures drawn by plotly.js (title and data traces), the rates and
   the summary. Until 2026-12-04 /metrics waited for the ROC legend only;
   `first_load_rocs_legend_ms` keeps that older, looser time for comparison.
5. memory per gunicorn worker (Procfile flags, 2 workers) once each worker has
   loaded the model: RSS and USS per worker.

`--first-load-only` runs only what part 4 needs in the browser (the store is
still filled; no upload, filter-change or memory measurements).

Writes bench/results/bench_dashboard-<UTC time>.json and prints a short table.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from plotly.utils import PlotlyJSONEncoder

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from dash_calls import callback_body  # noqa: E402

from dashboard import ids  # noqa: E402
from dashboard.factory import create_app  # noqa: E402
from dashboard.settings import Settings  # noqa: E402
from tests.browser.ready import METRICS_FIGURES, METRICS_READY  # noqa: E402


def pct(values, q):
    return float(np.percentile(np.asarray(values) * 1000, q))


def choose_models(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    if (REPO / "models" / "demo" / "bundle.json").is_file():
        return REPO / "models"
    from tests.browser.support import tiny_models_dir

    return tiny_models_dir()


def callback(client, app, output: str, inputs: list[dict], state: list[dict] | None = None) -> dict:
    key = next(k for k in app.callback_map if output in k and "allow_duplicate" not in k or output == k)
    outputs = [{"id": o.split(".")[0], "property": o.split(".")[1]} for o in key.strip(".").split("...")]
    body = {"output": key, "outputs": outputs if key.startswith("..") else outputs[0], "inputs": inputs,
            "state": state or [], "changedPropIds": [f"{inputs[0]['id']}.{inputs[0]['property']}"]}
    response = client.post("/_dash-update-component", json=body)
    if response.status_code != 200:
        raise RuntimeError(f"callback {output} failed: {response.status_code} {response.data[:300]!r}")
    return response.get_json()["response"] if response.data else {}


def key_for(app, first_output: str) -> str:
    return next(k for k in app.callback_map
                if k.startswith((f"..{first_output}.", f"..{first_output}@")) or k == first_output)


BENCH_USER, BENCH_PASSWORD = "bench-admin", "bench-password-2718"


def has_auth(app) -> bool:
    return "lesionlens_auth" in app.server.extensions


def ensure_bench_user(app) -> None:
    """An admin account for the bench (when the app has sign-in); idempotent."""
    if not has_auth(app):
        return
    store = app.server.extensions["lesionlens_auth"].store
    try:
        store.add(BENCH_USER, "admin", BENCH_PASSWORD)
    except Exception:  # already there (the store refuses duplicates)
        pass


def bench_client(app):
    """A Flask test client, signed in as an admin when the app has sign-in."""
    client = app.server.test_client()
    if not has_auth(app):
        return client
    ensure_bench_user(app)
    client.get("/login")
    token = client.get_cookie("ll_csrf").value
    response = client.post("/login", data={"username": BENCH_USER, "password": BENCH_PASSWORD, "csrf_token": token,
                                           "next": ""})
    assert response.status_code in (302, 303), response.status_code
    client.environ_base["HTTP_X_CSRFTOKEN"] = client.get_cookie("ll_csrf").value
    return client


def api_headers(app) -> dict:
    if not has_auth(app):
        return {}
    ensure_bench_user(app)
    token = app.server.extensions["lesionlens_auth"].store.create_token(BENCH_USER, "bench")[1]
    return {"Authorization": f"Bearer {token}"}


def post_callback(client, app, key: str, values: dict) -> tuple[float, dict, int]:
    """POST one callback (inputs/state filled from `values[(id, property)]`); (seconds, response, bytes)."""
    body = callback_body(app, key, values)
    started = time.perf_counter()
    response = client.post("/_dash-update-component", json=body)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"callback {key[:60]} failed: {response.status_code} {response.data[:300]!r}")
    return elapsed, response.get_json()["response"], len(response.data)


def upload_bench(app, runs: int) -> dict:
    from tests.fakes_predictor import lesion_png

    client = bench_client(app)
    client.get("/")
    ingest_key = key_for(app, f"{ids.UPLOAD_BATCH}.data")
    advance_key = key_for(app, f"{ids.UPLOAD_RESULTS}.children")

    def post(key, inputs, state):
        outputs = [{"id": o.split(".")[0], "property": o.split(".")[1]} for o in key.strip(".").split("...")]
        body = {"output": key, "outputs": outputs, "inputs": inputs, "state": state,
                "changedPropIds": [f"{inputs[0]['id']}.{inputs[0]['property']}"]}
        response = client.post("/_dash-update-component", json=body)
        assert response.status_code == 200, response.data[:300]
        return response.get_json()["response"]

    def one(png: bytes) -> tuple[float, dict]:
        started = time.perf_counter()
        contents = "data:image/png;base64," + base64.b64encode(png).decode()
        out = post(ingest_key, [{"id": ids.UPLOAD, "property": "contents", "value": [contents]}],
                   [{"id": ids.UPLOAD, "property": "filename", "value": ["scan.png"]},
                    {"id": ids.PATIENT_AGE, "property": "value", "value": 55},
                    {"id": ids.PATIENT_SEX, "property": "value", "value": "F"},
                    {"id": ids.PATIENT_HISTORY, "property": "value", "value": []},
                    {"id": ids.PATIENT_SYMPTOMS, "property": "value", "value": None}])
        batch = out[ids.UPLOAD_BATCH]["data"]
        result = post(advance_key, [{"id": ids.UPLOAD_BATCH, "property": "data", "value": batch},
                                    {"id": ids.UPLOAD_TICK, "property": "n_intervals", "value": None}],
                      [{"id": ids.UPLOAD_PROGRESS, "property": "label", "value": ""}])
        elapsed = time.perf_counter() - started
        assert result[ids.UPLOAD_PROGRESS]["label"] == "1 of 1 analysed", result[ids.UPLOAD_PROGRESS]
        return elapsed, batch

    warm_started = time.perf_counter()
    one(lesion_png(500, 400, seed=10_000))  # first call loads the model in this process
    first_s = time.perf_counter() - warm_started
    fresh, repeat = [], []
    for seed in range(runs):
        png = lesion_png(500, 400, seed=seed)
        fresh.append(one(png)[0])
        repeat.append(one(png)[0])  # same bytes + same patient fields: prediction cache
    return {
        "first_upload_with_model_load_ms": round(first_s * 1000, 1),
        "upload_to_result_p50_ms": round(pct(fresh, 50), 1),
        "upload_to_result_p95_ms": round(pct(fresh, 95), 1),
        "repeat_upload_p50_ms": round(pct(repeat, 50), 1),
        "repeat_upload_p95_ms": round(pct(repeat, 95), 1),
        "runs": runs,
    }


def insert_cohort(store, n: int, model: tuple[str, str], seed: int = 0) -> None:
    """n synthetic rows straight into the tables (no image files): what 10,000 imported cases cost the queries."""
    from sqlalchemy import insert

    try:
        from dashboard.store.tables import CaseRow, PredictionRow
    except ImportError:  # builds before the store/models.py -> store/tables.py rename (before/after runs)
        from dashboard.store.models import CaseRow, PredictionRow  # type: ignore[no-redef]

    rng = np.random.default_rng(seed)
    malignant = rng.random(n) < 0.35
    probability = np.clip(np.where(malignant, rng.beta(4, 2, n), rng.beta(2, 4, n)), 0, 1)
    birads = np.where(malignant, rng.choice(["4b", "4c", "5"], n), rng.choice(["2", "3", "4a"], n))
    devices = rng.choice(["Aurora LX-10", "Borealis UX-7", "Cetus LinearPro", "Delphi HD-12"], n)
    dice = rng.beta(8, 2, n)
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    cases, predictions = [], []
    for i in range(n):
        case_id = f"b{i:011d}"
        cases.append(dict(
            id=case_id, dataset="bench", source_case_id=str(i), patient_key=f"p{i // 2:08d}", sha256=f"{i:064d}",
            width=500, height=400, spacing_row_mm=0.1, spacing_col_mm=0.1, modality="US", source_format="png",
            window_low=0.0, window_high=255.0, pixel_min=0.0, pixel_max=255.0,
            true_label="malignant" if malignant[i] else "benign", has_truth_mask=True,
            age=int(rng.integers(25, 90)), sex="F" if rng.random() < 0.97 else "M", device=str(devices[i]),
            birads=str(birads[i]), birads_major=int(str(birads[i])[0]), history=bool(rng.random() < 0.2),
            study_date=None, case_date=f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}", review_status=None,
            reviewed_label=None, created=now, meta={}))
        predictions.append(dict(
            case_id=case_id, model_name=model[0], model_version=model[1],
            label="malignant" if probability[i] >= 0.5 else "benign", probability=float(probability[i]),
            uncertainty=0.05, lesion_found=True, area_px=1000, area_mm2=10.0, box=None, dice=float(dice[i]),
            iou=float(dice[i] / (2 - dice[i])), timings_ms={}, summary={}, created=now))
    with store.sessions() as session:
        session.execute(insert(CaseRow), cases)
        session.execute(insert(PredictionRow), predictions)
        session.commit()


def router_callback(client, app, path: str, search: str = "") -> tuple[float, int]:
    """The pages router's callback rendering `path` + `search` (in-app navigation); (seconds, bytes)."""
    router = key_for(app, "_pages_content.children")
    outputs = [{"id": o.split(".")[0], "property": o.split(".")[1]} for o in router.strip(".").split("...")]
    body = {"output": router, "outputs": outputs,
            "inputs": [{"id": "_pages_location", "property": "pathname", "value": path},
                       {"id": "_pages_location", "property": "search", "value": search}],
            "changedPropIds": ["_pages_location.pathname"], "state": []}
    started = time.perf_counter()
    response = client.post("/_dash-update-component", json=body)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.data[:300]
    return elapsed, len(response.data)


def layout_has_page(layout: dict) -> bool:
    """Whether a /_dash-layout answer already carries the page (the pages router then has nothing to do)."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            props = node.get("props") or {}
            if props.get("id") == "_pages_content":
                found.append(bool(props.get("children")))
            for value in props.values() if "props" in node else node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(layout)
    return any(found)


def cohort_bench(app, n: int, profile: bool = False, timings: bool = True) -> dict:
    from dashboard.cohort import queries
    from dashboard.cohort.filters import CohortFilter
    from dashboard.components.cohort_table import table_rows
    from dashboard.pages import metrics as metrics_page

    services = app.server.extensions["lesionlens"]
    model = services.models.active_identity()
    started = time.perf_counter()
    insert_cohort(services.store, n, model)
    insert_s = time.perf_counter() - started
    if not timings:
        return {"cohort_cases": n, "insert_s": round(insert_s, 1)}
    client = bench_client(app)

    def first_load(path: str) -> float:
        started = time.perf_counter()
        assert client.get(path).status_code == 200
        layout = client.get("/_dash-layout", headers={"Referer": f"http://localhost{path}"}).get_json()
        client.get("/_dash-dependencies")
        if not layout_has_page(layout):  # builds whose first layout is empty: the router renders the page
            router_callback(client, app, path)
        return time.perf_counter() - started

    first_load("/")  # sets up the router
    page_load = [first_load("/cohort") for _ in range(3)]

    def filter_change(f: CohortFilter) -> dict:
        """Direct calls: the table page, the memoised curves, then what the metrics page sends for them."""
        timings = {}
        t = time.perf_counter()
        rows, total = queries.cohort_page(services.store, f, model, [{"column_id": "probability",
                                                                      "direction": "desc"}], 0, 25)
        table_rows(rows)
        timings["table_ms"] = (time.perf_counter() - t) * 1000
        t = time.perf_counter()
        curves, _ = metrics_page.load_curves(services, f)
        timings["curves_ms"] = (time.perf_counter() - t) * 1000
        t = time.perf_counter()
        figures = metrics_page.threshold_figures(curves, 0.5) + metrics_page.static_figures(curves)
        for fig in figures:
            if hasattr(fig, "to_plotly_json"):
                json.dumps(fig.to_plotly_json(), cls=PlotlyJSONEncoder)
        timings["figures_ms"] = (time.perf_counter() - t) * 1000
        timings["total_ms"] = sum(timings.values())
        timings["cases"] = total
        return {k: round(v, 1) if isinstance(v, float) else v for k, v in timings.items()}

    table_key = key_for(app, f"{ids.COHORT_TABLE}.data")
    # builds before 2026-12-04 filled the page by callbacks after the layout; now the layout carries it all
    fill_key = next((k for k in app.callback_map if k.startswith(f"..{ids.METRICS_SUMMARY}.children")), None)
    slider_key = key_for(app, f"{ids.METRICS_CONFUSION}.figure")

    def table_values(f: CohortFilter) -> dict:
        return {(ids.COHORT_AGE, "value"): [f.age_min or 0, f.age_max or 100],
                (ids.COHORT_DEVICE, "value"): list(f.device), (ids.COHORT_TABLE, "page_current"): 0,
                (ids.COHORT_TABLE, "sort_by"): [], (ids.COHORT_TABLE, "page_size"): 25}

    # The metrics callbacks a page load runs: the fill (and, in versions before the fill existed, the
    # threshold callback too, which then ran at load; its outputs were not duplicates, so no "@" in its key).
    load_keys = [fill_key] + ([slider_key] if "@" not in slider_key else []) if fill_key else []
    # since the lower figures (calibration, Dice, subgroups) come in a second callback once the top is drawn
    more_key = next((k for k in app.callback_map if k.startswith(f"..{ids.METRICS_CALIBRATION}.figure")), None)
    load_keys += [more_key] if more_key and more_key not in load_keys else []
    metrics_values = {(ids.METRICS_THRESHOLD, "value"): 0.5, (ids.METRICS_THRESHOLD, "disabled"): False}

    def http_filter_change(f: CohortFilter) -> dict:
        """The callbacks a filter change costs the server (cohort table, then the metrics page's load: the
        pages router's layout for /metrics?<filter>, and the callbacks that filled it, in builds that had them)."""
        table_s, _, table_bytes = post_callback(client, app, table_key, table_values(f))
        fill_s, fill_bytes = router_callback(client, app, "/metrics", f.to_query())
        for key in load_keys:
            seconds, _, size = post_callback(client, app, key, {**metrics_values,
                                                                (metrics_page.METRICS_FILTER, "data"): f.to_query()})
            fill_s, fill_bytes = fill_s + seconds, fill_bytes + size
        return {"table_ms": round(table_s * 1000, 1), "metrics_page_ms": round(fill_s * 1000, 1),
                "total_ms": round((table_s + fill_s) * 1000, 1), "metrics_page_kb": round(fill_bytes / 1024, 1)}

    cold = filter_change(CohortFilter.from_query("?age=40-80&device=Aurora%20LX-10,Borealis%20UX-7"))
    warm = filter_change(CohortFilter.from_query("?age=40-80&device=Aurora%20LX-10,Borealis%20UX-7"))
    everything = filter_change(CohortFilter())
    other = CohortFilter.from_query("?age=30-70&device=Cetus%20LinearPro,Delphi%20HD-12,Aurora%20LX-10")
    http_cold = http_filter_change(other)
    http_warm = http_filter_change(other)
    profile_top = None
    if profile:
        import cProfile
        import io
        import pstats

        services.cache.cache.clear()
        services.cache._local.clear()
        profiler = cProfile.Profile()
        profiler.enable()
        http_filter_change(CohortFilter())
        profiler.disable()
        stream = io.StringIO()
        pstats.Stats(profiler, stream=stream).sort_stats("cumulative").print_stats(40)
        profile_top = stream.getvalue().splitlines()
        print("\n".join(profile_top[:70]))
    services.cache.cache.clear()  # all cases cold over HTTP (the profile above, if any, filled the cache)
    services.cache._local.clear()
    http_all_cold = http_filter_change(CohortFilter())
    curves, _ = metrics_page.load_curves(services, CohortFilter())
    slider, slider_http, slider_bytes = [], [], []
    # what the slider's callback computes (older versions: full confusion, ROC and PR figures)
    patches = getattr(metrics_page, "threshold_patches", None) or (
        lambda c, th: metrics_page.threshold_figures(c, th))
    for threshold in np.linspace(0.1, 0.9, 9):
        t = time.perf_counter()
        json.dumps(patches(curves, float(threshold)), cls=PlotlyJSONEncoder)
        slider.append(time.perf_counter() - t)
        seconds, _, size = post_callback(client, app, slider_key, {(ids.METRICS_THRESHOLD, "value"): float(threshold),
                                                                   (metrics_page.METRICS_FILTER, "data"): ""})
        slider_http.append(seconds)
        slider_bytes.append(size)
    out = {
        "cohort_cases": n,
        "insert_s": round(insert_s, 1),
        "first_page_load_cohort_ms_p50": round(pct(page_load, 50), 1),
        "filter_change_cold": cold,
        "filter_change_warm": warm,
        "all_cases_cold": everything,
        "threshold_move_p50_ms": round(pct(slider, 50), 1),
        "http": {
            "filter_change_cold": {**http_cold, "cases": queries.cohort_count(services.store, other, model)},
            "filter_change_warm": http_warm,
            "all_cases_cold": http_all_cold,
            "threshold_move_p50_ms": round(pct(slider_http, 50), 1),
            "threshold_move_kb": round(statistics.median(slider_bytes) / 1024, 1),
        },
    }
    if profile_top:
        out["profile_all_cases_cold_fill"] = profile_top[:60]
    return out


READY = {"/": "#new-upload", "/cohort": "#cohort-table td", "/metrics": METRICS_READY}
PAGES = ("/", "/cohort", "/metrics",
         # a filter nobody opened yet: the first of the loads computes its curves (cold cache)
         "/metrics?age=35-75&device=Borealis%20UX-7")


def wait_ready(page, path: str) -> float | None:
    """Wait until `path` shows its content (READY); for /metrics also returns when the ROC legend
    appeared (the older, looser criterion), as perf_counter seconds."""
    route = path.split("?")[0]
    if route != "/metrics":
        page.wait_for_selector(READY[route], timeout=60_000)
        return None
    page.wait_for_selector("#metrics-roc .legendtext", timeout=60_000)
    legend = time.perf_counter()
    page.wait_for_function(METRICS_READY, arg=list(METRICS_FIGURES), timeout=60_000, polling="raf")
    return legend


def sign_in(context, url: str) -> None:
    """Sign in through HTTP only (no page is rendered, so the browser cache stays empty)."""
    context.request.get(url + "/login")
    token = next((c["value"] for c in context.cookies() if c["name"] == "ll_csrf"), "")
    response = context.request.post(url + "/login", form={"username": BENCH_USER, "password": BENCH_PASSWORD,
                                                          "csrf_token": token, "next": ""}, max_redirects=0)
    assert response.status in (302, 303), response.status


def largest_requests(seen: list, n: int = 8) -> list[dict]:
    """The `n` biggest responses of one page load (path, kB, ms from request start to end): what to shrink first."""
    rows = []
    for r in seen:
        timing = r.timing or {}
        rows.append({"path": r.url.split("//", 1)[-1].split("/", 1)[-1][:80],
                     "kb": round((r.sizes() or {}).get("responseBodySize", 0) / 1024, 1),
                     "ms": round(timing.get("responseEnd", 0), 1)})
    return sorted(rows, key=lambda row: -row["kb"])[:n]


def main_thread_ms(cdp) -> dict:
    """The renderer's main-thread time of the load so far (Chrome's Performance domain): script, style
    and layout. Less noisy than wall time on a shared CPU, and it says which part to shrink."""
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    return {"script": metrics.get("ScriptDuration", 0) * 1000, "layout": metrics.get("LayoutDuration", 0) * 1000,
            "style": metrics.get("RecalcStyleDuration", 0) * 1000, "task": metrics.get("TaskDuration", 0) * 1000}


def browser_loads(url: str, auth: bool = False, loads: int = 3) -> dict:
    """Wall time in headless chromium until each page shows its content (skipped without chromium), and
    what each first load asked the server for: requests, callback round trips, bytes."""
    if not Path("/usr/bin/chromium").exists():
        return {"skipped": "/usr/bin/chromium not found"}
    from playwright.sync_api import sync_playwright

    from tests.browser.conftest import CHROMIUM_ARGS

    out: dict = {}
    requests_made: dict = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        for path in PAGES:
            times, legends, counts, main_thread = [], [], [], []
            for _ in range(loads):
                context = browser.new_context()  # empty browser cache: a true first load
                if auth:
                    sign_in(context, url)
                page = context.new_page()
                cdp = page.context.new_cdp_session(page)
                cdp.send("Performance.enable")
                seen: list = []
                page.on("requestfinished", lambda request, seen=seen: seen.append(request))
                started = time.perf_counter()
                page.goto(url + path)
                legend = wait_ready(page, path)
                times.append(time.perf_counter() - started)
                main_thread.append(main_thread_ms(cdp))
                if legend is not None:
                    legends.append(legend - started)
                callbacks = [r for r in seen if "/_dash-update-component" in r.url]
                counts.append({"requests": len(seen), "callbacks": len(callbacks),
                               "kb": round(sum((r.sizes() or {}).get("responseBodySize", 0) for r in seen) / 1024),
                               "callback_outputs": [str((r.post_data_json or {}).get("output", ""))[:60]
                                                    for r in callbacks],
                               "largest": largest_requests(seen)})
                context.close()
            out[path] = round(pct(times, 50), 1)
            out[f"{path} (first of {loads})"] = round(times[0] * 1000, 1)
            out.setdefault("main_thread_ms_p50", {})[path] = {
                key: round(statistics.median(m[key] for m in main_thread), 1) for key in main_thread[0]}
            if legends:
                out.setdefault("first_load_rocs_legend_ms", {})[path] = round(pct(legends, 50), 1)
            requests_made[path] = counts[-1]  # the last load (warm server cache); the counts do not vary
        browser.close()
    out["requests_on_first_load"] = requests_made
    return out


def gunicorn_memory(models: Path, home: Path, app=None, loads: int = 3, memory: bool = True) -> dict:
    import psutil
    import requests

    from tests.browser.support import Gunicorn, server_env
    from tests.fakes_predictor import lesion_png

    server = Gunicorn(server_env(home, models), workers=2, threads=4, log=home / "gunicorn.log")
    try:
        server.wait_ready(120)
        ready = time.monotonic()
        headers = api_headers(app) if app is not None else {}
        # Since each worker warms its model after the fork (gunicorn.conf.py): how long until both have,
        # with nobody uploading; page loads are then measured on warm workers, as before warm-up existed
        # (the model loaded lazily, on the later uploads below).
        warmed: set[int] = set()
        while len(warmed) < 2 and time.monotonic() < ready + 180:
            body = requests.get(f"{server.url}/healthz", timeout=10, headers=headers).json()
            if (body.get("model") or {}).get("loaded_in_this_worker"):
                warmed.add(body["pid"])
            time.sleep(0.1)
        warm_s = round(time.monotonic() - ready, 1) if len(warmed) == 2 else None
        first_loads = browser_loads(server.url, auth=app is not None and has_auth(app), loads=loads)
        if not memory:
            return {"both_workers_warm_after_start_s": warm_s, "browser_first_load_p50_ms": first_loads}
        idle = {pid: psutil.Process(pid).memory_info().rss for pid in server.worker_pids()}
        loaded: set[int] = set(warmed)
        deadline = time.monotonic() + 180
        seed = 0
        while len(loaded) < 2 and time.monotonic() < deadline:
            seed += 1
            requests.post(f"{server.url}/api/v1/predict", files={"file": ("a.png", lesion_png(500, 400, seed))},
                          headers=headers, timeout=120)
            for _ in range(4):
                body = requests.get(f"{server.url}/healthz", timeout=10, headers=headers).json()  # details: admins
                if body["model"]["loaded_in_this_worker"]:
                    loaded.add(body["pid"])
        workers = {}
        for pid in server.worker_pids():
            info = psutil.Process(pid).memory_full_info()
            workers[str(pid)] = {"rss_mb": round(info.rss / 2**20, 1), "uss_mb": round(info.uss / 2**20, 1),
                                 "idle_rss_mb": round(idle.get(pid, 0) / 2**20, 1), "model_loaded": pid in loaded}
        master = psutil.Process(server.process.pid).memory_info().rss / 2**20
        return {"workers": workers, "master_rss_mb": round(master, 1), "all_loaded": len(loaded) == 2,
                "both_workers_warm_after_start_s": warm_s, "browser_first_load_p50_ms": first_loads}
    finally:
        server.stop()


def build_identity() -> dict:
    """The commit the bench measured and whether the work tree differed from it (files not committed)."""
    import subprocess

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {"commit": git("rev-parse", "--short", "HEAD"), "dirty": bool(git("status", "--porcelain", "--", "dashboard",
                                                                              "bench", "pipeline"))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", help="folder of bundles (default: models/ with demo, else the tiny test bundle)")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--cohort", type=int, default=10_000)
    parser.add_argument("--skip-gunicorn", action="store_true")
    parser.add_argument("--skip-upload", action="store_true", help="skip the upload/predict part (1, 2)")
    parser.add_argument("--profile", action="store_true", help="cProfile one cold all-cases metrics fill")
    parser.add_argument("--first-load-only", action="store_true",
                        help="only the browser first loads (part 4): fill the store, start gunicorn, load the pages")
    parser.add_argument("--loads", type=int, default=3, help="browser first loads per page (median reported)")
    parser.add_argument("--label", default="", help="a note stored in the JSON (what build, what conditions)")
    args = parser.parse_args()
    if args.first_load_only:
        args.skip_upload, args.skip_gunicorn = True, False
    models = choose_models(args.models)
    results: dict = {"when": datetime.now(timezone.utc).isoformat(timespec="seconds"), "models_dir": str(models),
                     "cpus": os.cpu_count(), "label": args.label, **build_identity(),
                     "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}
    with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as tmp:
        if not args.skip_upload:
            app = create_app(Settings(home=Path(tmp) / "home", models_dir=models))
            services = app.server.extensions["lesionlens"]
            results["model"] = services.models.active_identity()
            with app.server.app_context():
                results["upload"] = upload_bench(app, args.runs)
        app2 = create_app(Settings(home=Path(tmp) / "home2", models_dir=models))
        results["model"] = app2.server.extensions["lesionlens"].models.active_identity()
        results["cohort"] = cohort_bench(app2, args.cohort, profile=args.profile, timings=not args.first_load_only)
        if not args.skip_gunicorn:  # served from the 10,000-case store (rows only: thumbnails are 404s)
            results["gunicorn"] = gunicorn_memory(models, Path(tmp) / "home2", app2, loads=args.loads,
                                                  memory=not args.first_load_only)
    results["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    out_dir = REPO / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"bench_dashboard-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(results, indent=2))
    c = results["cohort"]
    rows = [("build", f"{results['commit']}{' + changes not committed' if results['dirty'] else ''}"
                      f"{' (' + results['label'] + ')' if results['label'] else ''}"),
            ("load average (1 min) at start / end",
             f"{results['load_average_at_start'][0]} / {results['load_average_at_end'][0]} on {results['cpus']} CPUs"),
            ("model", f"{results['model'][0]} {results['model'][1]}")]
    if "upload" in results:
        u = results["upload"]
        rows += [
            ("first upload (loads model)", f"{u['first_upload_with_model_load_ms']:.0f} ms"),
            ("upload -> result p50 / p95",
             f"{u['upload_to_result_p50_ms']:.0f} / {u['upload_to_result_p95_ms']:.0f} ms"),
            ("repeat upload (cache) p50", f"{u['repeat_upload_p50_ms']:.0f} ms"),
        ]
    h = c.get("http")
    rows += [] if h is None else [
        (f"{c['cohort_cases']:,}-case filter change, cold", f"{c['filter_change_cold']['total_ms']:.0f} ms "
         f"({c['filter_change_cold']['cases']:,} cases: table {c['filter_change_cold']['table_ms']:.0f}, "
         f"curves {c['filter_change_cold']['curves_ms']:.0f}, figures {c['filter_change_cold']['figures_ms']:.0f})"),
        ("same filter again (cached)", f"{c['filter_change_warm']['total_ms']:.0f} ms"),
        ("all cases, cold", f"{c['all_cases_cold']['total_ms']:.0f} ms"),
        ("threshold slider move p50", f"{c['threshold_move_p50_ms']:.0f} ms"),
        ("HTTP filter change, cold", f"{h['filter_change_cold']['total_ms']:.0f} ms "
         f"({h['filter_change_cold']['cases']:,} cases: table callback {h['filter_change_cold']['table_ms']:.0f}, "
         f"metrics page {h['filter_change_cold']['metrics_page_ms']:.0f}, "
         f"{h['filter_change_cold']['metrics_page_kb']:.0f} kB)"),
        ("HTTP same filter again", f"{h['filter_change_warm']['total_ms']:.0f} ms"),
        ("HTTP all cases, cold", f"{h['all_cases_cold']['total_ms']:.0f} ms"),
        ("HTTP threshold slider move p50", f"{h['threshold_move_p50_ms']:.0f} ms ({h['threshold_move_kb']:.1f} kB)"),
        ("first page load /cohort (server)", f"{c['first_page_load_cohort_ms_p50']:.0f} ms"),
    ]
    if "gunicorn" in results:
        rows.append(("both workers warm (model loaded) after start", f"{results['gunicorn']['both_workers_warm_after_start_s']} s"))
    browser = dict(results.get("gunicorn", {}).get("browser_first_load_p50_ms", {}))
    legend = browser.pop("first_load_rocs_legend_ms", {})
    made = browser.pop("requests_on_first_load", {})
    for path, ms in browser.pop("main_thread_ms_p50", {}).items():
        rows.append((f"main thread {path}: task / script / layout / style",
                     f"{ms['task']:.0f} / {ms['script']:.0f} / {ms['layout']:.0f} / {ms['style']:.0f} ms"))
    for path, ms in browser.items():
        rows.append((f"browser first load {path}", f"{ms:.0f} ms" if isinstance(ms, float) else str(ms)))
        if path in legend:
            rows.append((f"  ROC legend only (older criterion) {path}", f"{legend[path]:.0f} ms"))
    for path, count in made.items():
        rows.append((f"first load {path}: requests / callbacks / kB",
                     f"{count['requests']} / {count['callbacks']} / {count['kb']}"))
    for pid, w in results.get("gunicorn", {}).get("workers", {}).items():
        rows.append((f"gunicorn worker {pid}", f"RSS {w['rss_mb']:.0f} MB (USS {w['uss_mb']:.0f} MB, "
                                               f"idle {w['idle_rss_mb']:.0f} MB), model loaded: {w['model_loaded']}"))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    print(f"-> {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
