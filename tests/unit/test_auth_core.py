"""dashboard/auth without HTTP: passwords, accounts, sessions, tokens, back-off, audit log, policy tables."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from dashboard.auth import AccountError, roles
from dashboard.auth.audit_log import AuditFilter, csv_lines
from dashboard.settings import AuthConfig
from dashboard.auth.tables import AppendOnlyError, AuditRow, LoginAttemptRow, UserRow
from dashboard.auth.passwords import PasswordPolicyError, check_policy, generate_password, hash_password, verify_password
from dashboard.store.tables import utcnow
from tests.auth_helpers import PASSWORD, auth_of
from tests.fakes_predictor import fake_app

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def app(tmp_path):
    return fake_app(tmp_path)


@pytest.fixture
def auth(app):
    return auth_of(app)


# ------------------------------------------------------------------ passwords
def test_scrypt_hash_and_verify():
    stored = hash_password("a long enough pass")
    assert stored.startswith("scrypt:") and "a long enough pass" not in stored
    assert verify_password(stored, "a long enough pass")
    assert not verify_password(stored, "a long enough pasS")
    assert not verify_password(None, "anything at all")  # unknown user: dummy check, False
    assert not verify_password("not-a-hash", "anything at all")
    assert not verify_password(stored, "x" * 300)


def test_password_policy_and_generator():
    for bad in ("short", "aaaaaaaaaaaaaaa", "x" * 300):
        with pytest.raises(PasswordPolicyError):
            check_policy(bad)
    with pytest.raises(PasswordPolicyError):
        check_policy("dr.jones.2024", username="dr.jones.2024")
    check_policy(PASSWORD)
    generated = {generate_password() for _ in range(20)}
    assert len(generated) == 20 and all(len(p) >= 16 for p in generated)
    for p in generated:
        check_policy(p)


def test_no_default_password_in_code():
    """No password literal anywhere in dashboard/: no `password = "..."`, no env default for one."""
    assignment = re.compile(r"password\w*\s*[:=]\s*(str\s*=\s*)?[\"'][^\"']+[\"']", re.IGNORECASE)
    env_default = re.compile(r"PASSWORD[\"']\s*,\s*[\"'][^\"']+[\"']")
    offenders = [str(p) for p in (REPO / "dashboard").rglob("*.py")
                 if assignment.search(p.read_text()) or env_default.search(p.read_text())]
    assert offenders == []
    assert assignment.search('admin_password = "changeme"') and env_default.search('get("X_PASSWORD", "admin")')


# ------------------------------------------------------------------ accounts
def test_accounts_roles_and_last_admin(auth):
    admin = auth.store.add("Root.Admin", "admin", PASSWORD)
    assert admin.username == "root.admin" and admin.role == "admin"
    with pytest.raises(AccountError):
        auth.store.add("root.admin", "viewer", PASSWORD)
    with pytest.raises(AccountError):
        auth.store.add("bad name!", "viewer", PASSWORD)
    with pytest.raises(AccountError):
        auth.store.add("someone", "superuser", PASSWORD)
    with pytest.raises(PasswordPolicyError):
        auth.store.add("someone", "viewer", "short")
    with pytest.raises(AccountError):
        auth.store.set_role("root.admin", "viewer")  # the last admin stays admin
    with pytest.raises(AccountError):
        auth.store.remove("root.admin")
    auth.store.add("second", "clinician", PASSWORD)
    assert auth.store.set_role("second", "admin") == ("clinician", "admin")
    assert auth.store.set_role("root.admin", "viewer") == ("admin", "viewer")
    auth.store.remove("root.admin")
    assert auth.store.get("root.admin").active is False
    assert auth.store.authenticate("root.admin", PASSWORD) is None
    with pytest.raises(AccountError):  # names are not reused: the audit log stays unambiguous
        auth.store.add("root.admin", "viewer", PASSWORD)
    assert [u.username for u in auth.store.list()] == ["root.admin", "second"]
    with auth.store.sessions() as session:
        stored = session.scalar(select(UserRow.password_hash).where(UserRow.username == "second"))
    assert stored.startswith("scrypt:") and PASSWORD not in stored


def test_authenticate(auth):
    auth.store.add("carol", "viewer", PASSWORD)
    assert auth.store.authenticate("carol", PASSWORD).role == "viewer"
    assert auth.store.authenticate(" CAROL ", PASSWORD) is not None
    assert auth.store.authenticate("carol", PASSWORD + "x") is None
    assert auth.store.authenticate("nobody", PASSWORD) is None
    assert auth.store.get("carol").last_login is not None


def test_sessions_expire_idle_and_are_revoked(auth, monkeypatch):
    user = auth.store.add("dave", "clinician", PASSWORD)
    token = auth.store.create_session(user, "10.0.0.1")
    assert auth.store.session_user(token).username == "dave"
    assert auth.store.session_user(token + "x") is None and auth.store.session_user(None) is None
    with auth.store.sessions() as session:  # only the hash is stored
        assert session.execute(text("SELECT count(*) FROM ll_sessions WHERE id = :t"), {"t": token}).scalar() == 0

    import dashboard.auth.store as store_module

    now = utcnow()
    monkeypatch.setattr(store_module, "utcnow", lambda: now + timedelta(minutes=auth.config.idle_minutes + 1))
    assert auth.store.session_user(token) is None  # idle too long
    monkeypatch.setattr(store_module, "utcnow", lambda: now + timedelta(minutes=5))
    assert auth.store.session_user(token) is not None
    monkeypatch.setattr(store_module, "utcnow", lambda: now + timedelta(hours=auth.config.session_hours, minutes=1))
    assert auth.store.session_user(token) is None  # absolute lifetime
    monkeypatch.undo()

    token = auth.store.create_session(user, None)
    auth.store.set_password("dave", "another password 99")
    assert auth.store.session_user(token) is None  # a new password ends every session
    token = auth.store.create_session(user, None)
    auth.store.end_session(token)
    assert auth.store.session_user(token) is None
    token = auth.store.create_session(user, None)
    auth.store.add("keeper", "admin", PASSWORD)
    auth.store.remove("dave")
    assert auth.store.session_user(token) is None


def test_api_tokens_hashed_and_revocable(auth):
    auth.store.add("erin", "clinician", PASSWORD)
    token_id, token = auth.store.create_token("erin", "PACS bridge")
    assert token.startswith("llt_") and len(token) > 40
    assert auth.store.token_user(token).username == "erin"
    assert auth.store.token_user("llt_" + secrets.token_urlsafe(32)) is None
    assert auth.store.token_user(token[:-1]) is None and auth.store.token_user("") is None
    listed = auth.store.list_tokens("erin")
    assert listed[0]["label"] == "PACS bridge" and token not in str(listed)
    with auth.store.sessions() as session:
        assert session.execute(text("SELECT count(*) FROM ll_api_tokens WHERE token_hash = :t OR prefix = :t"),
                               {"t": token}).scalar() == 0
    second_id, second = auth.store.create_token("erin")
    assert auth.store.revoke_tokens("erin", token_id) == 1
    assert auth.store.token_user(token) is None and auth.store.token_user(second) is not None
    assert auth.store.revoke_tokens("erin") == 1 and auth.store.token_user(second) is None
    _id, third = auth.store.create_token("erin")
    auth.store.add("keeper", "admin", PASSWORD)
    auth.store.remove("erin")  # removal revokes tokens
    assert auth.store.token_user(third) is None


# ------------------------------------------------------------------ back-off
def test_backoff_per_user_doubles_and_resets(auth):
    throttle, cfg = auth.throttle, auth.config
    start = utcnow()
    for i in range(cfg.user_failures - 1):
        throttle.failed("frank", f"10.0.0.{i}", now=start)
    assert throttle.wait_seconds("frank", "10.0.0.99", now=start) == 0
    throttle.failed("frank", "10.0.0.50", now=start)
    assert throttle.wait_seconds("frank", "10.0.0.99", now=start) == pytest.approx(cfg.base_delay_s)
    assert throttle.wait_seconds("FRANK", "10.0.0.99", now=start) > 0  # usernames are case-insensitive
    assert throttle.wait_seconds("grace", "10.0.0.99", now=start) == 0  # other users unaffected
    later = start + timedelta(seconds=cfg.base_delay_s + 1)
    assert throttle.wait_seconds("frank", "10.0.0.99", now=later) == 0
    throttle.failed("frank", "10.0.0.51", now=later)
    assert throttle.wait_seconds("frank", "x", now=later) == pytest.approx(2 * cfg.base_delay_s)  # doubled
    for _ in range(10):
        throttle.failed("frank", "10.0.0.52", now=later)
    assert throttle.wait_seconds("frank", "x", now=later) == pytest.approx(cfg.max_delay_s)  # capped
    throttle.unlock("frank", now=later + timedelta(seconds=1))
    assert throttle.wait_seconds("frank", "x", now=later + timedelta(seconds=2)) == 0
    with auth.store.sessions() as session:  # usernames are stored as keyed hashes only
        keys = set(session.scalars(select(LoginAttemptRow.user_key)))
    assert "frank" not in str(keys) and throttle.user_key("frank") in keys


def test_backoff_per_address_and_window(auth):
    throttle, cfg = auth.throttle, auth.config
    start = utcnow()
    for i in range(cfg.ip_failures):
        throttle.failed(f"user{i}", "203.0.113.9", now=start)  # spraying many usernames from one address
    assert throttle.wait_seconds("someone-new", "203.0.113.9", now=start) > 0
    assert throttle.wait_seconds("someone-new", "198.51.100.1", now=start) == 0
    throttle.succeeded("user0", "203.0.113.9", now=start)  # a success does not reset the address count
    assert throttle.wait_seconds("someone-new", "203.0.113.9", now=start) > 0
    outside = start + timedelta(minutes=cfg.window_minutes + 1)
    assert throttle.wait_seconds("someone-new", "203.0.113.9", now=outside) == 0


def test_backoff_is_shared_by_workers(tmp_path):
    """Two app instances on one database (two gunicorn workers) see the same failures."""
    first, second = auth_of(fake_app(tmp_path)), auth_of(fake_app(tmp_path))
    for _ in range(first.config.user_failures):
        first.throttle.failed("henry", "10.1.1.1")
    assert second.throttle.wait_seconds("henry", "10.9.9.9") > 0


# ------------------------------------------------------------------ audit log
def test_audit_is_append_only(auth):
    auth.audit.record("login.ok", actor="ivy", role="viewer", target="ivy", ip="10.0.0.1")
    with auth.store.sessions() as session:
        row = session.scalar(select(AuditRow))
        row.action = "logout"
        with pytest.raises(AppendOnlyError):
            session.commit()
        session.rollback()
        session.delete(session.scalar(select(AuditRow)))
        with pytest.raises(AppendOnlyError):
            session.commit()
    with auth.store.sessions() as session:  # the database itself refuses, whatever the code path
        for statement in ("UPDATE ll_audit SET action = 'logout'", "DELETE FROM ll_audit"):
            with pytest.raises(Exception, match="append-only"):
                session.execute(text(statement))
            session.rollback()
        assert session.scalar(select(AuditRow.action)) == "login.ok"
    with pytest.raises(ValueError):
        auth.audit.record("made.up")


def test_no_update_or_delete_code_path_for_the_audit_log():
    source = "\n".join(p.read_text() for p in (REPO / "dashboard").rglob("*.py"))
    assert not re.search(r"(update|delete)\(\s*AuditRow", source)
    assert not re.search(r"(UPDATE|DELETE FROM)\s+ll_audit", source.replace("BEFORE UPDATE", "").replace(
        "BEFORE DELETE", "").replace("UPDATE OR DELETE", ""))


def test_audit_paging_filters_and_csv(auth):
    for i in range(7):
        auth.audit.record("case.view", actor="jo" if i % 2 else "kim", role="viewer", target=f"c{i:012x}")
    auth.audit.record("login.failed", target=None, detail={"reason": "unknown user"})
    auth.audit.record("user.add", actor="=cmd|' /C calc'!A0", target="-2+3", detail={"role": "viewer"})
    rows, total = auth.audit.page(AuditFilter(), offset=0, limit=3)
    assert total == 9 and len(rows) == 3 and rows[0]["action"] == "user.add"  # newest first
    rows, total = auth.audit.page(AuditFilter.parse(actor="jo", action="case.view"))
    assert total == 3 and {r["actor"] for r in rows} == {"jo"}
    today = utcnow().date().isoformat()
    assert auth.audit.page(AuditFilter.parse(date_from=today, date_to=today))[1] == 9
    assert auth.audit.page(AuditFilter.parse(date_to="2000-01-01"))[1] == 0
    text_csv = "".join(csv_lines(auth.audit.iter_rows(AuditFilter(), batch=2)))
    lines = text_csv.strip().splitlines()
    assert lines[0] == "id,at_utc,actor,role,action,target,ip,detail" and len(lines) == 10
    assert "'=cmd" in text_csv and "'-2+3" in text_csv  # spreadsheet formulas neutralised
    assert auth.audit.facets()["actor"] == ["=cmd|' /C calc'!A0", "jo", "kim"]


@pytest.mark.services
def test_postgres_triggers(tmp_path, postgres_schema_url):
    """The append-only triggers on PostgreSQL (skipped when no server on 127.0.0.1)."""
    from dashboard.auth import build_auth
    from dashboard.settings import Settings

    settings = Settings(home=tmp_path, database_url=postgres_schema_url)
    auth = build_auth(settings)
    build_auth(settings)  # idempotent
    auth.audit.record("login.ok", actor="pg", target="pg")
    with auth.store.sessions() as session:
        for statement in ("UPDATE ll_audit SET action = 'x'", "DELETE FROM ll_audit", "TRUNCATE ll_audit"):
            with pytest.raises(Exception, match="append-only"):
                session.execute(text(statement))
            session.rollback()
    auth.store.add("pguser", "admin", PASSWORD)
    assert auth.store.authenticate("pguser", PASSWORD) is not None


# ------------------------------------------------------------------ policy tables
def test_policy_tables():
    assert roles.allows("admin", "clinician") and roles.allows("clinician", "viewer")
    assert not roles.allows("viewer", "clinician") and not roles.allows(None, "viewer")
    assert not roles.allows("superuser", "viewer")
    assert roles.page_role("/") == "clinician" and roles.page_role("/admin/") == "admin"
    assert roles.page_role("/case/c123") == "viewer" and roles.page_role("//admin") == "admin"
    assert roles.callback_role("..new-batch.data...new-tick.disabled@abc...new-status.children..") == "clinician"
    assert roles.callback_role("..models-status.children...ll-active-model.children@x..") == "admin"
    assert roles.callback_role("..cohort-table.data...cohort-count.children..") == "viewer"
    assert roles.callback_role("review-user.value") == "clinician"
    assert roles.callback_role("case-analyse-out.children") == "clinician"
    assert roles.callback_role('{"index":1,"type":"admin-row"}.children') == "admin"
    assert roles.callback_role("something-new.children") == "admin"  # fail closed
    assert roles.landing_path("viewer") == "/cohort" and roles.landing_path("clinician") == "/"


def test_config_from_env(monkeypatch):
    monkeypatch.setenv("LESIONLENS_SECURE_COOKIES", "1")
    monkeypatch.setenv("LESIONLENS_TRUST_PROXY", "1")
    config = AuthConfig.from_env()
    assert config.secure_cookies and config.trust_proxy == 1
    monkeypatch.setenv("LESIONLENS_TRUST_PROXY", "2")
    assert AuthConfig.from_env().trust_proxy == 2
    monkeypatch.delenv("LESIONLENS_SECURE_COOKIES")
    monkeypatch.delenv("LESIONLENS_TRUST_PROXY")
    config = AuthConfig.from_env()
    assert not config.secure_cookies and config.trust_proxy == 0
    monkeypatch.setenv("LESIONLENS_SESSION_HOURS", "abc")
    with pytest.raises(ValueError):
        AuthConfig.from_env()
