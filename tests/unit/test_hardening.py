"""Issue 15, items 4 and 6: HEAD, minimal /healthz, CSP, weak passwords, API rate limit, atomic login
back-off (one app, two apps on one database, PostgreSQL) and no username enumeration."""

from __future__ import annotations

import io
import re
import statistics
import threading
import time

import pytest

from dashboard.auth import passwords
from dashboard.auth.passwords import PasswordPolicyError, check_policy
from tests.auth_helpers import PASSWORD, add_user, auth_of, logged_in_client
from tests.fakes_predictor import fake_app, lesion_png


@pytest.fixture
def app(tmp_path):
    return fake_app(tmp_path)


def login_post(client, username: str, password: str):
    client.get("/login")
    token = client.get_cookie("ll_csrf").value
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token})


# ------------------------------------------------------------------ item 6
def test_head_is_answered_like_get_and_never_signs_out(app):
    anonymous = app.server.test_client()
    assert anonymous.head("/login").status_code == 200
    assert anonymous.head("/healthz").status_code == 200
    client = logged_in_client(app, "viewer", api=False)
    assert client.head("/logout").status_code == 200
    assert client.get("/cohort").status_code == 200  # HEAD /logout did not end the session


def test_healthz_is_minimal_for_anonymous_and_hides_failures(app, monkeypatch):
    anonymous = app.server.test_client()
    response = anonymous.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}
    assert set(logged_in_client(app, "clinician").get("/healthz").get_json()) == {"status"}
    store = app.server.extensions["lesionlens"].store

    def broken():
        raise RuntimeError("connection to db-secret-host:5432 refused")

    monkeypatch.setattr(store, "ping", broken)
    failed = anonymous.get("/healthz")
    assert failed.status_code == 503 and failed.get_json() == {"status": "not ok"}
    details = logged_in_client(app, "admin").get("/healthz")
    assert details.status_code == 503 and details.get_json()["store"] == {"ok": False, "error": "RuntimeError"}
    assert "db-secret-host" not in details.get_data(as_text=True)


def test_every_page_has_a_csp_and_file_routes_keep_theirs(app):
    client = logged_in_client(app, "admin")
    case_id = client.post("/api/v1/predict", data={"file": (io.BytesIO(lesion_png(80, 64)), "a.png")},
                          content_type="multipart/form-data").get_json()["case_id"]
    anonymous = app.server.test_client()
    for response in (anonymous.get("/login"), client.get("/cohort"), client.get("/metrics"),
                     client.get(f"/case/{case_id}"), client.get("/admin"), client.get("/no/such/page")):
        policy = response.headers["Content-Security-Policy"]
        assert "script-src 'self' 'sha256-" in policy and "'unsafe-eval'" not in policy
        assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
    assert client.get(f"/files/{case_id}/display.png").headers["Content-Security-Policy"].endswith("sandbox")
    assert "sandbox" in client.get(f"/api/v1/cases/{case_id}").headers["Content-Security-Policy"]


@pytest.mark.parametrize("weak", ["password12", "Password12!", "qwertyuiop", "iloveyou12", "abc123abc123"])
def test_common_passwords_are_refused(weak, app):
    with pytest.raises(PasswordPolicyError, match="too common"):
        check_policy(weak)
    with pytest.raises(PasswordPolicyError):
        auth_of(app).store.add("newcomer", "viewer", weak)
    check_policy(PASSWORD)  # the tests' password is long and unpredictable enough


def test_api_rate_limit_per_user(tmp_path):
    app = fake_app(tmp_path, predict_rate="3/minute")
    first, second = logged_in_client(app, "clinician"), logged_in_client(app, "clinician")

    def predict(client):
        return client.post("/api/v1/predict", data={"file": (io.BytesIO(lesion_png(64, 48)), "a.png")},
                           content_type="multipart/form-data")

    assert [predict(first).status_code for _ in range(4)] == [200, 200, 200, 429]
    refused = predict(first)
    assert refused.status_code == 429 and "rate limit" in refused.get_json()["error"]
    assert predict(second).status_code == 200  # counted per user


# ------------------------------------------------------------------ item 4
def count_checks(monkeypatch) -> list[int]:
    calls = []
    real = passwords.verify_password

    def counting(stored_hash, password):
        calls.append(1)
        return real(stored_hash, password)

    monkeypatch.setattr(passwords, "verify_password", counting)
    return calls


def hammer(apps, username: str, attempts: int = 40) -> list[int]:
    clients = [apps[i % len(apps)].server.test_client() for i in range(attempts)]
    for client in clients:
        client.get("/login")
    statuses: list[int] = []
    barrier = threading.Barrier(attempts)

    def attempt(client):
        token = client.get_cookie("ll_csrf").value
        barrier.wait()
        response = client.post("/login", data={"username": username, "password": "wrong-password-123",
                                               "csrf_token": token})
        statuses.append(response.status_code)

    threads = [threading.Thread(target=attempt, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def test_parallel_wrong_passwords_get_at_most_five_checks(app, monkeypatch):
    add_user(app, "admin", "chief")
    calls = count_checks(monkeypatch)
    statuses = hammer([app], "chief")
    assert len(calls) <= 5 and statuses.count(401) == len(calls) and statuses.count(429) == 40 - len(calls)
    assert login_post(app.server.test_client(), "chief", PASSWORD).status_code == 429  # locked: even the right one


def test_two_apps_on_one_sqlite_database_share_the_limit(tmp_path, monkeypatch):
    apps = [fake_app(tmp_path), fake_app(tmp_path)]  # two "workers": own engines, one database file
    add_user(apps[0], "admin", "chief")
    calls = count_checks(monkeypatch)
    hammer(apps, "chief")
    assert 1 <= len(calls) <= 5


@pytest.mark.services
def test_two_nodes_on_postgresql_share_the_limit(tmp_path, postgres_schema_url, monkeypatch):
    shared = {"database_url": postgres_schema_url, "secret_key": "one-secret-for-every-node"}  # as deployed
    apps = [fake_app(tmp_path / "a", **shared), fake_app(tmp_path / "b", **shared)]
    add_user(apps[0], "admin", "chief")
    calls = count_checks(monkeypatch)
    hammer(apps, "chief")
    assert 1 <= len(calls) <= 5


def test_no_username_enumeration(app):
    add_user(app, "admin", "admin")
    known = login_post(app.server.test_client(), "admin", "wrong-password-123")
    unknown = login_post(app.server.test_client(), "nobody-here", "wrong-password-123")
    assert known.status_code == unknown.status_code == 401
    assert 'value="admin"' in known.get_data(as_text=True)
    assert 'value="nobody-here"' in unknown.get_data(as_text=True)  # echoed the same way
    def page(response, name):  # the form's random CSRF token aside, the same page
        return re.sub(r'value="[A-Za-z0-9_-]{32,}"', "", response.get_data(as_text=True)).replace(f'"{name}"', "X")

    assert page(known, "admin") == page(unknown, "nobody-here")
    for name in ("admin", "nobody-here"):  # both reach the back-off the same way
        client = app.server.test_client()
        statuses = [login_post(client, name, "wrong-password-123").status_code for _ in range(5)]
        assert statuses[-1] == 429, (name, statuses)


def test_login_timing_does_not_reveal_accounts(app):
    for i in range(4):
        add_user(app, "viewer", f"staff{i}")
    times: dict[bool, list[float]] = {True: [], False: []}
    for round_ in range(3):
        for i in range(4):
            for exists in (True, False):
                client = app.server.test_client()
                client.environ_base["REMOTE_ADDR"] = f"10.{round_}.{i}.{int(exists)}"
                name = f"staff{i}" if exists else f"ghost{round_}{i}"
                started = time.perf_counter()
                assert login_post(client, name, "wrong-password-123").status_code == 401
                times[exists].append(time.perf_counter() - started)
    known, unknown = statistics.median(times[True]), statistics.median(times[False])
    assert abs(known - unknown) < max(0.25 * min(known, unknown), 0.02), (known, unknown)
