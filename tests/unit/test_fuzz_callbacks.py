"""Issue 15.5: crafted input gets a 4xx or a clean message, never a 500 or a logged traceback.

Drives every registered server callback (app.callback_map, found at run time, so a new callback is fuzzed
without editing this file) and every API / file / export route with type-confused and extreme values:
inf, nan, huge ints, lists, dicts, None, unknown and non-string ids, long strings, traversal paths. The
background job callback is the one exception: its first request would start a job process, so its input
check (`validate_spec`, which runs first in that callback) is fuzzed directly.

A response counts as a failure when its status is >= 500 *or* the app logged an error: a safety net that
turned tracebacks into 4xx would still fail here.
"""

from __future__ import annotations

import io
import logging
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.auth_helpers import logged_in_client
from tests.fakes_predictor import fake_app, lesion_png

HOSTILE = [None, math.inf, -math.inf, math.nan, "inf", "nan", "-1", "abc", "1e30", 1e30, -1, 0, 2 ** 64, -(2 ** 63),
           1.5, True, [], [None], [1, "a", {}], {}, {"a": {"b": [1]}}, "", "x" * 20_000, "../../../../etc/passwd",
           "c0000000000000", {"id": 1}, ["c0000000000000"], "<script>alert(1)</script>", "\x00\ud7ff"]
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2 ** 70), max_value=2 ** 70),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=300))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                      max_leaves=8)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    app = fake_app(tmp_path_factory.mktemp("fuzz"))
    client = logged_in_client(app, "admin")
    case_id = client.post("/api/v1/predict", data={"file": (io.BytesIO(lesion_png(96, 80)), "a.png")},
                          content_type="multipart/form-data").get_json()["case_id"]
    return app, client, case_id


@pytest.fixture
def errors(caplog):
    """errors() -> the error records logged since the last call (and forgets them)."""
    caplog.set_level(logging.ERROR)

    def take():
        found = [f"{r.name}: {r.getMessage()[:120]} {r.exc_info[1]!r}"[:300] if r.exc_info else r.getMessage()[:200]
                 for r in caplog.records if r.levelno >= logging.ERROR]
        caplog.clear()
        return found

    return take


def callbacks(app):
    """(key, entry) of every server-side callback except background ones."""
    return [(k, v) for k, v in app.callback_map.items() if not v.get("background") and v.get("callback")]


def body_for(key: str, entry: dict, values: dict, trigger: int = 0) -> dict:
    parts = key[2:-2].split("...") if key.startswith("..") else [key]
    outputs = [{"id": p.rsplit(".", 1)[0], "property": p.rsplit(".", 1)[1].split("@")[0]} for p in parts]

    def items(specs):
        return [{"id": s["id"], "property": s["property"], "value": values.get((s["id"], s["property"]))}
                for s in specs]

    inputs = items(entry["inputs"])
    changed = [f"{inputs[trigger]['id']}.{inputs[trigger]['property']}"] if inputs else []
    return {"output": key, "outputs": outputs if key.startswith("..") else outputs[0], "inputs": inputs,
            "state": items(entry.get("state", [])), "changedPropIds": changed}


def post(client, body) -> int:
    return client.post("/_dash-update-component", json=body).status_code


def test_every_callback_input_has_a_declared_type(world):
    """Fail closed: an input without a type in dashboard/auth/inputs.py is refused with 400 for everyone."""
    from dashboard.auth.inputs import check_for

    app = world[0]
    missing = sorted({f"{s['id']}.{s['property']}" for _key, entry in callbacks(app)
                      for s in entry["inputs"] + entry.get("state", [])
                      if isinstance(s["id"], str) and check_for(s["id"], s["property"]) is None})
    assert missing == [], f"declare these callback inputs in dashboard/auth/inputs.py TYPES: {missing}"


def test_every_callback_with_each_hostile_value_in_each_slot(world, errors):
    app, client, case_id = world
    failures = []
    found = callbacks(app)
    assert len(found) >= 15  # the harness really found the app's callbacks
    for key, entry in found:
        slots = [(s["id"], s["property"]) for s in entry["inputs"] + entry.get("state", [])]
        base = {slot: (case_id if slot[0] == "case-id" else 1 if slot[1] == "n_clicks" else None) for slot in slots}
        for index, slot in enumerate(slots):
            trigger = index if index < len(entry["inputs"]) else 0  # the hostile input is the one that "changed"
            for value in HOSTILE:
                status = post(client, body_for(key, entry, {**base, slot: value}, trigger))
                logged = errors()
                if status >= 500 or logged:
                    failures.append((key[:60], slot, repr(value)[:40], status, logged[:1]))
    assert failures == [], failures[:20]
    assert errors() == []


@settings(max_examples=10, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_random_values_in_every_slot_at_once(world, data):
    app, client, _case_id = world
    for key, entry in callbacks(app):
        slots = [(s["id"], s["property"]) for s in entry["inputs"] + entry.get("state", [])]
        values = {slot: data.draw(VALUES) for slot in slots}
        status = post(client, body_for(key, entry, values))
        assert status < 500, (key, values, status)


MALFORMED = [b"", b"{", b"[]", b"null", b'{"output": 1}', b'{"output": "cohort-table.data"}',
             b'{"output": "review-status.children", "inputs": "x", "state": 5}',
             b'{"output": "..review-status.children...review-history.children...ll-reviewer-name.data..", '
             b'"outputs": [], "inputs": [{"id": {}, "property": []}], "state": [1, 2]}',
             b'{"output": "ll-active-model.children", "outputs": {"id": "ll-active-model", "property": "children"},'
             b' "inputs": [], "state": [], "changedPropIds": "x"}']


def test_malformed_callback_bodies(world, errors):
    _app, client, _case_id = world
    for raw in MALFORMED:
        response = client.post("/_dash-update-component", data=raw, content_type="application/json")
        assert response.status_code < 500, (raw, response.status_code)
    assert errors() == []


def test_api_and_routes_with_hostile_values(world, errors):
    app, client, case_id = world
    failures = []
    png = lesion_png(64, 48)
    for value in HOSTILE:
        text = value if isinstance(value, str) else repr(value)
        for field in ("age", "sex", "history", "symptoms"):
            response = client.post("/api/v1/predict", data={"file": (io.BytesIO(png), "a.png"), field: text},
                                   content_type="multipart/form-data")
            if response.status_code >= 500:
                failures.append(("predict", field, text[:30], response.status_code))
        quoted = text.replace("/", "%2F")[:2000]
        for url in (f"/api/v1/cases/{quoted}", f"/files/{quoted}/display.png", f"/files/{case_id}/{quoted}",
                    f"/files/{case_id}/window.png?low={quoted}&high={quoted}",
                    f"/files/{case_id}/overlay.png?layer={quoted}&style={quoted}&model={quoted}&version={quoted}",
                    f"/export/case/{quoted}.pdf", f"/export/case/{case_id}.png?style={quoted}",
                    f"/export/cohort.csv?age={quoted}&page={quoted}",
                    f"/export/cohort/figure.png?figure={quoted}&threshold={quoted}",
                    f"/cohort?age={quoted}&sex={quoted}", f"/case/{quoted}", f"/metrics?threshold={quoted}",
                    f"/admin/audit.csv?from={quoted}&to={quoted}&actor={quoted}"):
            status = client.get(url).status_code
            if status >= 500:
                failures.append((url[:80], status))
    for path in ("/_dash-component-suites/dash/../../../../etc/passwd",
                 "/_dash-component-suites/dash/%2e%2e/%2e%2e/etc/passwd", "/_dash-component-suites/nosuch/x.js",
                 "/_dash-component-suites/dash/deps/nosuch.js", "/assets/../../etc/passwd", "/_dash-layout?x=1"):
        for who in (client, app.server.test_client()):
            status = who.get(path).status_code
            if status >= 500:
                failures.append((path, status))
    assert failures == [], failures[:20]
    assert errors() == []


def test_job_spec_validation_with_hostile_values(world):
    """The background job callback validates with validate_spec first: a JobError (shown as a message) or a spec."""
    from dashboard.jobs.core import JobError, validate_spec

    app = world[0]
    services = app.server.extensions["lesionlens"]
    for field in ("kind", "model", "filter", "source", "limit"):
        for value in HOSTILE:
            spec = {"kind": "rescore", "model": "fake", "filter": "", "source": "", "limit": None, field: value}
            try:
                validate_spec(spec, services.settings, services.models)
            except JobError:
                pass
