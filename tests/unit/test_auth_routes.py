"""Access over HTTP: every route refuses anonymous callers, roles hold, CSRF, cookies, login, audit trail."""

from __future__ import annotations

import base64
import csv
import io
import re
from urllib.parse import urlsplit

import pytest

from dashboard import ids
from dashboard.auth import roles
from dashboard.auth.audit_log import AuditFilter
from dashboard.pages import admin as admin_page
from dashboard.settings import AuthConfig
from tests.auth_helpers import PASSWORD, add_user, auth_of, login, logged_in_client
from tests.dash_tree import find_json
from tests.fakes_predictor import fake_app, lesion_png

# The documented open list (dashboard/README.md, Access): everything else needs a signed-in user.
OPEN_RULES = {
    "/assets/<path:filename>",
    "/_dash-component-suites/<string:package_name>/<path:fingerprinted_path>",
    "/_favicon.ico",
    "/healthz",
    "/login",
    "/prometheus",  # its own check: scrape token or a direct loopback connection (the test client is one)
}


@pytest.fixture
def app(tmp_path):
    return fake_app(tmp_path)


@pytest.fixture
def case_id(app):
    services = app.server.extensions["lesionlens"]
    with app.server.app_context():
        case = services.ingest.upload(lesion_png(120, 90))
        services.analyzer.predict_case(case)
    return case


@pytest.fixture
def viewer(app):
    return logged_in_client(app, "viewer")


@pytest.fixture
def clinician(app):
    return logged_in_client(app, "clinician")


@pytest.fixture
def admin(app):
    return logged_in_client(app, "admin")


def audit_rows(app, **filters):
    rows, _total = auth_of(app).audit.page(AuditFilter.parse(**filters), limit=500)
    return rows


def data_url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


def callback_key(app, output_id: str) -> str:
    return next(k for k in app.callback_map if re.search(rf"(^|\.\.\.|\.\.){re.escape(output_id)}\.", k))


def call(client, app, output_id: str, inputs=(), state=(), trigger: int = 0):
    """POST /_dash-update-component for the callback that outputs `output_id`; inputs/state as (id, prop, value)."""
    key = callback_key(app, output_id)
    parts = key[2:-2].split("...") if key.startswith("..") else [key]
    outputs = [{"id": p.rsplit(".", 1)[0], "property": p.rsplit(".", 1)[1].split("@")[0]} for p in parts]
    as_dicts = lambda items: [{"id": i, "property": p, "value": v} for i, p, v in items]  # noqa: E731
    body = {"output": key, "outputs": outputs if key.startswith("..") else outputs[0], "inputs": as_dicts(inputs),
            "state": as_dicts(state), "changedPropIds": [f"{inputs[trigger][0]}.{inputs[trigger][1]}"] if inputs else []}
    return client.post("/_dash-update-component", json=body)


def route_url(rule, case_id: str) -> str:
    samples = {"case_id": case_id, "name": "display.png", "path": "cohort", "rest": "anything",
               "filename": "10-lesionlens.css", "package_name": "dash",
               "fingerprinted_path": "deps/polyfill@7.v4_4_1m1.12.1.min.js"}
    url = rule.rule
    for name in rule.arguments:
        url = re.sub(rf"<(?:[a-z]+:)?{name}>", samples[name], url)
    return url


def is_login_redirect(response) -> bool:
    return response.status_code == 302 and urlsplit(response.headers["Location"]).path == "/login"


# --------------------------------------------------------------- every route
def test_every_route_refuses_anonymous_callers_except_the_open_list(app, case_id):
    server = app.server
    rules = list(server.url_map.iter_rules())
    assert {r.rule for r in rules} >= OPEN_RULES
    for cookie in (None, "forged-session-token"):
        client = server.test_client()
        if cookie:
            client.set_cookie("ll_session", cookie)
        for rule in rules:
            url = route_url(rule, case_id)
            for method in sorted(rule.methods):
                response = client.open(url, method=method)
                where = f"{method} {url} ({rule.endpoint})"
                if rule.rule in OPEN_RULES:
                    assert response.status_code not in (401, 403) and not is_login_redirect(response), where
                    continue
                if (method in ("GET", "HEAD") and rule.endpoint in roles.BROWSER_ENDPOINTS) or (
                        rule.endpoint == "login.logout" and method == "POST"):
                    assert is_login_redirect(response), where  # a page: go and sign in
                    assert "next=" in response.headers["Location"]
                else:
                    assert response.status_code == 401, where  # an endpoint: JSON 401
                    if method != "HEAD":
                        assert response.get_json()["status"] == 401, where
    # and a few paths that only the Dash catch-all matches
    client = server.test_client()
    for path in ("/admin", f"/case/{case_id}", "/metrics?age=30-40", "/no/such/page"):
        assert is_login_redirect(client.get(path)), path
    assert client.get("/healthz").status_code == 200
    assert client.get("/assets/10-lesionlens.css").status_code == 200
    assert "Sign in" in client.get("/login").get_data(as_text=True)


def test_the_open_list_is_the_documented_one():
    assert {e for e in roles.OPEN_ENDPOINTS} == {
        "_dash_assets.static", "/_dash-component-suites/<string:package_name>/<path:fingerprinted_path>",
        "/_favicon.ico", "health.healthz", "login.login", "monitoring.prometheus"}


def test_every_route_and_callback_has_an_explicit_role(app):
    for rule in app.server.url_map.iter_rules():
        assert rule.endpoint in roles.OPEN_ENDPOINTS or rule.endpoint in roles.ENDPOINT_ROLES, rule.rule
    for key in app.callback_map:
        for component in roles.callback_output_ids(key):
            assert roles.output_role(component, explicit_only=True), f"callback output {component} has no role"


# --------------------------------------------------------------- roles
def upload(client, app, png: bytes):
    return call(client, app, ids.UPLOAD_BATCH, [(ids.UPLOAD, "contents", [data_url(png)])],
                [(ids.UPLOAD, "filename", ["jane-doe-1970.png"]), (ids.PATIENT_AGE, "value", 55),
                 (ids.PATIENT_SEX, "value", "F"), (ids.PATIENT_HISTORY, "value", []),
                 (ids.PATIENT_SYMPTOMS, "value", "lump")])


def review(client, app, case_id):
    return call(client, app, ids.REVIEW_STATUS, [(ids.REVIEW_SAVE, "n_clicks", 1)],
                [(ids.CASE_ID, "data", case_id), (ids.REVIEW_AGREE, "value", "agree"), (ids.REVIEW_LABEL, "value", None),
                 (ids.REVIEW_NOTE, "value", "irregular margin"), (ids.REVIEW_USER, "value", "someone-else")])


def switch_model(client, app):
    return call(client, app, ids.MODELS_STATUS, [(ids.MODELS_ACTIVATE, "n_clicks", 1)],
                [(ids.MODELS_SELECT, "value", "fake")])


def route_page(client, app, pathname: str):
    return call(client, app, "_pages_content", [("_pages_location", "pathname", pathname),
                                                ("_pages_location", "search", "")])


def admin_action(client, app, button: str, username: str, role: str = "viewer"):
    buttons = [admin_page.ADD, admin_page.SET_ROLE, admin_page.RESET, admin_page.REMOVE, admin_page.UNLOCK]
    return call(client, app, admin_page.USERS_STATUS, [(b, "n_clicks", 1 if b == button else None) for b in buttons],
                [(admin_page.USERNAME, "value", username), (admin_page.ROLE, "value", role)],
                trigger=buttons.index(button))


def metrics(client, app):
    return call(client, app, ids.METRICS_CONFUSION, [(ids.METRICS_THRESHOLD, "value", 0.4)],
                [("metrics-filter", "data", "")])


def test_viewer_reads_but_cannot_upload_review_or_switch(app, case_id, viewer):
    assert viewer.get("/").headers["Location"] == "/cohort"  # no upload page: sent to the cohort
    assert viewer.get("/new").headers["Location"] == "/cohort"
    for path in ("/cohort", "/metrics", "/models", f"/case/{case_id}", f"/files/{case_id}/display.png"):
        assert viewer.get(path).status_code == 200, path
    assert viewer.get("/admin").status_code == 403 and viewer.get("/admin/audit.csv").status_code == 403
    assert metrics(viewer, app).status_code == 200
    for response in (upload(viewer, app, lesion_png(60, 40)), review(viewer, app, case_id), switch_model(viewer, app),
                     admin_action(viewer, app, admin_page.ADD, "mallory"),
                     call(viewer, app, ids.UPLOAD_RESULTS, [(ids.UPLOAD_BATCH, "data", {"items": []})]),
                     call(viewer, app, "case-analyse-out", [(ids.CASE_RERUN, "n_clicks", 1)],
                          [(ids.CASE_ID, "data", case_id)])):
        assert response.status_code == 403, response.get_data(as_text=True)[:200]
    assert auth_of(app).store.get("mallory") is None
    assert app.server.extensions["lesionlens"].store.get(case_id).reviews == []
    for path in ("/", "/admin"):  # in-app navigation obeys the same page roles
        content = str(route_page(viewer, app, path).get_json())
        assert "Not permitted" in content and "Drag and drop" not in content and "Audit log" not in content
    assert "Filters" in str(route_page(viewer, app, "/cohort").get_json())
    assert "Switch the active model" not in str(route_page(viewer, app, "/models").get_json())
    assert "Save review" not in str(route_page(viewer, app, f"/case/{case_id}").get_json())
    headers = {"Authorization": f"Bearer {viewer.environ_base['HTTP_AUTHORIZATION'].split()[1]}"}
    anonymous = app.server.test_client()
    assert anonymous.get(f"/api/v1/cases/{case_id}", headers=headers).status_code == 200
    predict = anonymous.post("/api/v1/predict", headers=headers, content_type="multipart/form-data",
                             data={"file": (io.BytesIO(lesion_png(48, 40)), "a.png")})
    assert predict.status_code == 403


def test_clinician_uploads_and_reviews_but_cannot_administer(app, case_id, clinician):
    assert clinician.get("/").status_code == 200
    response = upload(clinician, app, lesion_png(64, 48, seed=4))
    assert response.status_code == 200
    batch = response.get_json()["response"][ids.UPLOAD_BATCH]["data"]
    assert batch["items"][0]["case_id"]
    assert review(clinician, app, case_id).status_code == 200
    reviews = app.server.extensions["lesionlens"].store.get(case_id).reviews
    assert [r.user for r in reviews] == [clinician.user.username]  # the signed-in user, not the form field
    assert "Save review" in str(route_page(clinician, app, f"/case/{case_id}").get_json())
    assert switch_model(clinician, app).status_code == 403
    assert admin_action(clinician, app, admin_page.ADD, "mallory").status_code == 403
    assert clinician.get("/admin").status_code == 403 and clinician.get("/admin/audit.csv").status_code == 403
    assert "Not permitted" in str(route_page(clinician, app, "/admin").get_json())
    predict = clinician.post("/api/v1/predict", content_type="multipart/form-data",
                             data={"file": (io.BytesIO(lesion_png(48, 40)), "a.png")})
    assert predict.status_code == 200


def test_admin_switches_models_and_manages_users(app, admin):
    assert switch_model(admin, app).status_code == 200
    assert admin.get("/admin").status_code == 200
    page = str(route_page(admin, app, "/admin").get_json())
    assert "Audit log" in page and "Users" in page
    response = admin_action(admin, app, admin_page.ADD, "New.Nurse", "clinician")
    assert response.status_code == 200
    generated = (find_json(response.get_json(), "admin-one-time-password") or {"props": {}})["props"].get("children")
    assert generated and len(generated) >= 16
    fresh = app.server.test_client()
    assert login(fresh, "new.nurse", generated).status_code == 303
    assert "cannot change your own role" in str(admin_action(admin, app, admin_page.SET_ROLE, admin.user.username,
                                                             "viewer").get_json())
    assert "is now viewer" in str(admin_action(admin, app, admin_page.SET_ROLE, "new.nurse", "viewer").get_json())
    assert fresh.get("/").headers["Location"] == "/cohort"  # role changes apply to live sessions at once
    assert "shown once" in str(admin_action(admin, app, admin_page.RESET, "new.nurse").get_json())
    assert is_login_redirect(fresh.get("/cohort"))  # a reset ends the sessions
    assert "removed" in str(admin_action(admin, app, admin_page.REMOVE, "new.nurse").get_json())
    assert login(app.server.test_client(), "new.nurse", generated).status_code == 401
    assert "back-off cleared" in str(admin_action(admin, app, admin_page.UNLOCK, admin.user.username).get_json())
    actions = [r["action"] for r in audit_rows(app, actor=admin.user.username)]
    for action in ("model.switch", "user.add", "user.set_role", "user.reset_password", "user.remove", "user.unlock"):
        assert action in actions
    listing = call(admin, app, admin_page.AUDIT_TABLE,
                   [(admin_page.AUDIT_ACTOR, "value", None), (admin_page.AUDIT_ACTION, "value", "user.add"),
                    (admin_page.AUDIT_DATES, "start_date", None), (admin_page.AUDIT_DATES, "end_date", None),
                    (admin_page.AUDIT_TABLE, "page_current", 0), (admin_page.USERS_TABLE, "data", [])])
    body = listing.get_json()["response"]
    assert [r["action"] for r in body[admin_page.AUDIT_TABLE]["data"]] == ["user.add"]
    assert body[admin_page.AUDIT_CSV]["href"] == "/admin/audit.csv?action=user.add"


# --------------------------------------------------------------- CSRF and cookies
def test_csrf_on_state_changing_requests(app, viewer):
    assert metrics(viewer, app).status_code == 200
    good = viewer.environ_base.pop("HTTP_X_CSRFTOKEN")
    assert metrics(viewer, app).status_code == 403  # no token
    viewer.environ_base["HTTP_X_CSRFTOKEN"] = "0" * 64
    assert metrics(viewer, app).status_code == 403  # wrong token
    other = logged_in_client(app, "viewer")
    viewer.environ_base["HTTP_X_CSRFTOKEN"] = other.environ_base["HTTP_X_CSRFTOKEN"]
    assert metrics(viewer, app).status_code == 403  # another session's token
    viewer.environ_base["HTTP_X_CSRFTOKEN"] = good
    viewer.environ_base["HTTP_ORIGIN"] = "https://evil.example"
    assert metrics(viewer, app).status_code == 403  # cross-site origin
    viewer.environ_base["HTTP_ORIGIN"] = "http://localhost"
    assert metrics(viewer, app).status_code == 200
    # the token Dash reads from the cookie is the one the server expects
    assert viewer.get_cookie("ll_csrf").value == good


def test_login_and_logout_forms_need_the_token(app):
    add_user(app, "viewer", "olga")
    client = app.server.test_client()
    client.get("/login")
    no_token = client.post("/login", data={"username": "olga", "password": PASSWORD})
    assert no_token.status_code == 400 and client.get_cookie("ll_session") is None
    client.set_cookie("ll_csrf", "a" * 43)
    mismatch = client.post("/login", data={"username": "olga", "password": PASSWORD, "csrf_token": "b" * 43})
    assert mismatch.status_code == 400
    assert login(client, "olga").status_code == 303
    assert client.get("/cohort").status_code == 200
    assert client.get("/logout").status_code == 200  # a GET only shows the button
    assert client.get("/cohort").status_code == 200
    assert client.post("/logout").status_code == 403  # no token
    token = client.get_cookie("ll_csrf").value
    out = client.post("/logout", data={"csrf_token": token})
    assert out.status_code == 303 and out.headers["Location"] == "/login"
    assert client.get_cookie("ll_session") is None
    assert is_login_redirect(client.get("/cohort"))
    assert is_login_redirect(client.post("/logout", data={"csrf_token": token}))


def _set_cookie(response, name):
    return next(h for h in response.headers.getlist("Set-Cookie") if h.startswith(name + "="))


def test_cookie_flags(tmp_path):
    app = fake_app(tmp_path / "plain")
    add_user(app, "viewer", "pat")
    response = login(app.server.test_client(), "pat")
    session, token = _set_cookie(response, "ll_session"), _set_cookie(response, "ll_csrf")
    assert "HttpOnly" in session and "SameSite=Lax" in session and "Secure" not in session
    assert "HttpOnly" not in token and "SameSite=Lax" in token
    app = fake_app(tmp_path / "secure", auth=AuthConfig(secure_cookies=True))  # LESIONLENS_SECURE_COOKIES=1
    add_user(app, "viewer", "pat")
    client = app.server.test_client()
    response = login(client, "pat")
    assert "Secure" in _set_cookie(response, "ll_session") and "Secure" in _set_cookie(response, "ll_csrf")


def test_responses_are_private_and_framed_nowhere(app, case_id, viewer):
    image = viewer.get(f"/files/{case_id}/display.png")
    assert image.status_code == 200 and "private" in image.headers["Cache-Control"]
    assert "public" not in image.headers["Cache-Control"]
    assert image.headers["X-Frame-Options"] == "DENY" and image.headers["X-Content-Type-Options"] == "nosniff"


# --------------------------------------------------------------- login
def test_login_messages_landing_and_next(app):
    add_user(app, "viewer", "quinn")
    add_user(app, "clinician", "rosa")
    client = app.server.test_client()
    wrong = login(client, "quinn", "not the password")
    unknown = login(client, "nobody-here", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert "Wrong username or password." in wrong.get_data(as_text=True)
    assert "Wrong username or password." in unknown.get_data(as_text=True)
    assert login(client, "quinn").headers["Location"] == "/cohort"
    assert client.get("/login").headers["Location"] == "/cohort"  # already signed in
    assert login(app.server.test_client(), "rosa").headers["Location"] == "/"
    for evil in ("//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"):
        assert login(app.server.test_client(), "rosa", next_path=evil).headers["Location"] == "/"
    assert login(app.server.test_client(), "rosa", next_path="/metrics?age=30-40").headers["Location"] == \
        "/metrics?age=30-40"
    anonymous = app.server.test_client()
    redirect = anonymous.get("/metrics?age=30-40")
    assert redirect.headers["Location"] == "/login?next=/metrics%3Fage%3D30-40"


def test_lockout_after_repeated_failures(app):
    add_user(app, "clinician", "sam")
    client = app.server.test_client()
    limit = auth_of(app).config.user_failures
    for _ in range(limit):
        assert login(client, "sam", "wrong password!").status_code == 401
    locked = login(client, "sam")  # even the right password waits
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    assert "Too many failed sign-ins" in locked.get_data(as_text=True)
    assert client.get_cookie("ll_session") is None
    assert [r["action"] for r in audit_rows(app, action="login.locked")] == ["login.locked"]
    auth_of(app).throttle.unlock("sam")
    assert login(client, "sam").status_code == 303


# --------------------------------------------------------------- audit trail
def test_audit_trail_of_a_working_day(app, case_id, clinician, admin):
    anonymous = app.server.test_client()
    login(anonymous, "patient-jane-doe", "hunter2hunter2")  # an unknown name is not recorded as typed
    failed = audit_rows(app, action="login.failed")[0]
    assert failed["target"] == "" and failed["actor"] == "" and "unknown user" in failed["detail"]
    assert "jane" not in str(audit_rows(app))

    assert "Case " + case_id in str(route_page(clinician, app, f"/case/{case_id}").get_json())
    upload(clinician, app, lesion_png(50, 40, seed=9))
    review(clinician, app, case_id)
    switch_model(admin, app)
    rows = audit_rows(app)
    by_action = {}
    for row in rows:
        by_action.setdefault(row["action"], []).append(row)
    view = by_action["case.view"][0]
    assert view["actor"] == clinician.user.username and view["role"] == "clinician" and view["target"] == case_id
    assert view["ip"] == "127.0.0.1" and view["at_utc"]
    uploaded = by_action["case.upload"][0]
    assert re.fullmatch(r"c[0-9a-f]{12}", uploaded["target"])
    assert "jane" not in str(rows) and "lump" not in str(rows) and "irregular" not in str(rows)  # no names, notes
    assert by_action["case.review"][0]["target"] == case_id
    assert by_action["model.switch"][0]["actor"] == admin.user.username
    assert {"login.ok", "case.view", "case.upload", "case.review", "model.switch"} <= set(by_action)

    export = admin.get("/admin/audit.csv?action=audit.export")
    assert export.status_code == 200 and export.mimetype == "text/csv"
    assert "attachment" in export.headers["Content-Disposition"]
    records = list(csv.DictReader(io.StringIO(export.get_data(as_text=True))))
    assert [r["action"] for r in records] == ["audit.export"]  # the export recorded itself first
    assert records[0]["actor"] == admin.user.username
    everything = list(csv.DictReader(io.StringIO(admin.get("/admin/audit.csv").get_data(as_text=True))))
    assert len(everything) == len(audit_rows(app)) and everything[-1]["action"] == "audit.export"
    assert [int(r["id"]) for r in everything] == sorted(int(r["id"]) for r in everything)  # oldest first

    viewer = logged_in_client(app, "viewer")
    viewer.get("/admin")
    denied = audit_rows(app, action="access.denied")[0]
    assert denied["actor"] == viewer.user.username and denied["target"] == "/admin"

    token = clinician.get_cookie("ll_csrf").value
    clinician.post("/logout", data={"csrf_token": token})
    assert audit_rows(app, action="logout")[0]["actor"] == clinician.user.username


def test_forwarded_for_only_when_trusted(tmp_path):
    app = fake_app(tmp_path / "direct")
    add_user(app, "viewer", "tara")
    client = app.server.test_client()
    client.environ_base["HTTP_X_FORWARDED_FOR"] = "198.51.100.7"
    login(client, "tara")
    assert audit_rows(app, action="login.ok")[0]["ip"] == "127.0.0.1"  # not trusted: the socket peer
    app = fake_app(tmp_path / "proxied", auth=AuthConfig(trust_proxy=1))  # LESIONLENS_TRUST_PROXY=1
    add_user(app, "viewer", "tara")
    client = app.server.test_client()
    client.environ_base["HTTP_X_FORWARDED_FOR"] = "203.0.113.50, 198.51.100.7"
    login(client, "tara")
    assert audit_rows(app, action="login.ok")[0]["ip"] == "198.51.100.7"  # the hop our proxy added


# --------------------------------------------------------------- navbar, API tokens
def test_navbar_shows_user_role_and_only_usable_links(app, viewer, admin):
    layout = str(viewer.get("/_dash-layout").get_json())
    assert viewer.user.username in layout and "'viewer'" in layout and "ll-logout-form" in layout
    assert "nav-cohort" in layout and "nav-new-case" not in layout and "nav-admin" not in layout
    layout = str(admin.get("/_dash-layout").get_json())
    assert "nav-new-case" in layout and "nav-admin" in layout and "nav-models" in layout


def test_api_tokens_per_user_and_revocable(app, case_id):
    add_user(app, "clinician", "uma")
    auth = auth_of(app)
    token_id, token = auth.store.create_token("uma", "script")
    client = app.server.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get(f"/api/v1/cases/{case_id}", headers=headers).status_code == 200
    assert client.get(f"/api/v1/cases/{case_id}", headers={"Authorization": f"Token {token}"}).status_code == 401
    denied = client.get(f"/api/v1/cases/{case_id}")
    assert denied.status_code == 401 and "Bearer" in denied.headers["WWW-Authenticate"]
    session_only = logged_in_client(app, "admin", api=False)  # the API takes no cookies (no CSRF surface)
    assert session_only.get(f"/api/v1/cases/{case_id}").status_code == 401
    view = audit_rows(app, action="case.view")[0]
    assert view["actor"] == "uma" and '"via": "api"' in view["detail"]
    auth.store.revoke_tokens("uma", token_id)
    assert client.get(f"/api/v1/cases/{case_id}", headers=headers).status_code == 401


# --------------------------------------------------------------- jobs
def test_jobs_need_clinician(app, viewer, clinician):
    """Roles only; owners and the audit of start/cancel: tests/unit/test_jobs_audit.py."""
    assert viewer.get("/jobs").status_code == 403 and clinician.get("/jobs").status_code == 200
    cancel = lambda client: call(client, app, "jobs-cancel-status", [("jobs-cancel", "n_clicks", 1)],  # noqa: E731
                                 [("jobs-current", "data", None)])
    assert cancel(viewer).status_code == 403
    assert cancel(clinician).status_code in (200, 204)  # nothing running: PreventUpdate
    assert audit_rows(app, action="job.cancel") == []  # nothing was cancelled
