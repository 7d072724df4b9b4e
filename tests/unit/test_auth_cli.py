"""`python -m dashboard users …` and the first admin made by `ensure-admin`."""

from __future__ import annotations

import io
import re
import sys

import pytest

from dashboard.__main__ import main
from dashboard.auth.audit_log import AuditFilter
from dashboard.cli.ensure_admin import ensure_first_admin
from tests.auth_helpers import PASSWORD, auth_of
from tests.fakes_predictor import fake_app, make_fake_bundle


@pytest.fixture
def env(tmp_path, monkeypatch):
    make_fake_bundle(tmp_path / "models")
    monkeypatch.setenv("LESIONLENS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LESIONLENS_MODELS", str(tmp_path / "models"))
    for name in ("DATABASE_URL", "LESIONLENS_ADMIN_USER", "LESIONLENS_ADMIN_PASSWORD", "SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def cli(args, capsys, stdin: str | None = None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def auth_for(env):
    from dashboard.auth import build_auth
    from dashboard.settings import Settings

    return build_auth(Settings.from_env())


def test_users_commands(env, capsys, monkeypatch):
    code, out, _ = cli(["users", "add", "dr.who", "--role", "clinician", "--password-stdin"], capsys,
                       PASSWORD + "\n", monkeypatch)
    assert code == 0 and "created dr.who (clinician)" in out and PASSWORD not in out
    code, out, _ = cli(["users", "add", "viewer1", "--role", "viewer", "--generate"], capsys)
    generated = re.search(r"password \(shown once\): (\S+)", out).group(1)
    auth = auth_for(env)
    assert auth.store.authenticate("viewer1", generated) and auth.store.authenticate("dr.who", PASSWORD)
    code, _, err = cli(["users", "add", "dr.who", "--role", "viewer", "--generate"], capsys)
    assert code == 2 and "exists" in err
    code, _, err = cli(["users", "add", "weak", "--role", "viewer", "--password-stdin"], capsys, "short\n", monkeypatch)
    assert code == 2 and "at least 10 characters" in err
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # not a terminal, no flag: refuse rather than hang
    with pytest.raises(SystemExit, match="password-stdin or --generate"):
        main(["users", "add", "someone", "--role", "viewer"])
    capsys.readouterr()

    code, out, _ = cli(["users", "set-role", "dr.who", "admin"], capsys)
    assert code == 0 and "clinician -> admin" in out
    code, out, _ = cli(["users", "reset-password", "viewer1", "--generate"], capsys)
    new = re.search(r"password \(shown once\): (\S+)", out).group(1)
    assert auth.store.authenticate("viewer1", new) and not auth.store.authenticate("viewer1", generated)
    for _ in range(auth.config.user_failures):
        auth.throttle.failed("viewer1", "10.0.0.1")
    assert auth.throttle.wait_seconds("viewer1", "10.0.0.2") > 0
    assert cli(["users", "unlock", "viewer1"], capsys)[0] == 0
    assert auth.throttle.wait_seconds("viewer1", "10.0.0.2") == 0

    code, out, _ = cli(["users", "token", "create", "viewer1", "--label", "PACS bridge"], capsys)
    token = out.strip().splitlines()[-1]
    assert code == 0 and token.startswith("llt_") and auth.store.token_user(token).username == "viewer1"
    code, out, _ = cli(["users", "token", "list", "viewer1"], capsys)
    assert "PACS bridge" in out and token not in out and "live" in out
    code, _, err = cli(["users", "token", "revoke", "viewer1"], capsys)
    assert code == 2 and "--all" in err
    code, out, _ = cli(["users", "token", "revoke", "viewer1", "1"], capsys)
    assert code == 0 and "revoked 1 token" in out and auth.store.token_user(token) is None

    code, out, _ = cli(["users", "remove", "viewer1"], capsys)
    assert code == 0 and "removed viewer1" in out
    code, out, _ = cli(["users", "list"], capsys)
    assert re.search(r"dr\.who\s+admin\s+active", out) and re.search(r"viewer1\s+viewer\s+removed", out)
    code, _, err = cli(["users", "set-role", "nobody", "viewer"], capsys)
    assert code == 2 and "no user" in err

    rows, _ = auth.audit.page(AuditFilter())
    actions = {r["action"] for r in rows}
    assert {"user.add", "user.set_role", "user.reset_password", "user.unlock", "token.create", "token.revoke",
            "user.remove"} <= actions
    assert all(r["actor"].startswith("cli:") for r in rows)
    assert PASSWORD not in str(rows) and generated not in str(rows) and new not in str(rows)


def test_first_admin_random_password_printed_once(tmp_path):
    auth = auth_of(fake_app(tmp_path))
    lines = ensure_first_admin(auth)
    text = "\n".join(lines)
    assert "created the first admin account: admin" in text
    password = re.search(r"shown once.*\n\s+(\S+)", text).group(1)
    assert auth.store.authenticate("admin", password).role == "admin"
    again = ensure_first_admin(auth)  # idempotent: never a second admin, never a password again
    assert password not in "\n".join(again) and "admin account(s): admin" in again[0]
    assert [u.username for u in auth.store.list()] == ["admin"]
    bootstrap = auth.audit.page(AuditFilter())[0]
    assert bootstrap[0]["action"] == "user.bootstrap" and password not in str(bootstrap)


def test_first_admin_from_environment(tmp_path):
    auth = auth_of(fake_app(tmp_path))
    lines = ensure_first_admin(auth, " Chief", PASSWORD)
    assert "LESIONLENS_ADMIN_PASSWORD" in "\n".join(lines) and PASSWORD not in "\n".join(lines)
    assert auth.store.authenticate("chief", PASSWORD).role == "admin"


def test_first_admin_refuses_weak_env_password_and_taken_name(tmp_path):
    auth = auth_of(fake_app(tmp_path))
    assert "rejected" in ensure_first_admin(auth, password="admin")[0]
    assert auth.store.list() == []
    auth.store.add("admin", "viewer", PASSWORD)
    assert "warning: no active admin" in ensure_first_admin(auth)[0]
    assert auth.store.get("admin").role == "viewer"  # never silently promoted


def test_ensure_admin_command(env, capsys):
    code, out, _ = cli(["ensure-admin"], capsys)
    assert code == 0 and "active model: fake" in out and "created the first admin account: admin" in out
    code, out, _ = cli(["ensure-admin"], capsys)
    assert code == 0 and "created" not in out and "admin account(s): admin" in out
