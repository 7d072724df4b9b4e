"""Tables of the access layer, on the case store's declarative Base (same database, same schema step).

* `ll_users`           accounts: username, scrypt hash, role, active
* `ll_sessions`        server-side browser sessions (the cookie holds a random token; the row its sha256)
* `ll_api_tokens`      per-user API tokens, stored as sha256, revocable
* `ll_login_attempts`  failed/successful logins for lockout, keyed by a keyed hash of the username
                       and by client address; operational data, pruned after two days
* `ll_audit`           the audit log: insert-only (no update/delete code path; database triggers on
                       SQLite and PostgreSQL refuse UPDATE and DELETE)

The tables are created by the Alembic migration alembic/versions/0003_auth_tables.py:
a change here needs a new revision (tests/unit/test_alembic*.py compares them).

Rows reference users by id within the access tables only; the audit log keeps the
username as text, so it never changes or cascades when an account does.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Engine, ForeignKey, Index, Integer, String, event, inspect, text
from sqlalchemy.orm import Mapped, mapped_column

from dashboard.store.tables import Base, utcnow

log = logging.getLogger(__name__)


class UserRow(Base):
    __tablename__ = "ll_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(40), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    password_changed: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_login: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class SessionRow(Base):
    __tablename__ = "ll_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the cookie token
    user_id: Mapped[int] = mapped_column(ForeignKey("ll_users.id", ondelete="CASCADE"), index=True)
    created: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires: Mapped[datetime] = mapped_column(DateTime, index=True)
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    revoked: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class ApiTokenRow(Base):
    __tablename__ = "ll_api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("ll_users.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(80), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # shown by `users token list`, never enough to use
    created: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_used: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    revoked: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class LoginAttemptRow(Base):
    __tablename__ = "ll_login_attempts"
    __table_args__ = (Index("ix_ll_login_attempts_user", "user_key", "at"), Index("ix_ll_login_attempts_ip", "ip", "at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    user_key: Mapped[str] = mapped_column(String(32))  # HMAC of the lower-cased username, never the text
    ip: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(8))  # "failed" | "ok" | "unlock"


class AuditRow(Base):
    __tablename__ = "ll_audit"
    __table_args__ = (Index("ix_ll_audit_actor_at", "actor", "at"), Index("ix_ll_audit_action_at", "action", "at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    actor: Mapped[str | None] = mapped_column(String(80), nullable=True)  # username, "cli:<os user>" or None
    role: Mapped[str | None] = mapped_column(String(16), nullable=True)
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str | None] = mapped_column(String(120), nullable=True)  # case id, username, model…
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


AUTH_TABLES = [UserRow.__table__, SessionRow.__table__, ApiTokenRow.__table__, LoginAttemptRow.__table__,
               AuditRow.__table__]


class AppendOnlyError(RuntimeError):
    pass


@event.listens_for(AuditRow, "before_update")
def _no_update(_mapper, _connection, _target):
    raise AppendOnlyError("the audit log is append-only")


@event.listens_for(AuditRow, "before_delete")
def _no_delete(_mapper, _connection, _target):
    raise AppendOnlyError("the audit log is append-only")


SQLITE_TRIGGERS = (
    "CREATE TRIGGER IF NOT EXISTS ll_audit_no_update BEFORE UPDATE ON ll_audit "
    "BEGIN SELECT RAISE(ABORT, 'll_audit is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS ll_audit_no_delete BEFORE DELETE ON ll_audit "
    "BEGIN SELECT RAISE(ABORT, 'll_audit is append-only'); END",
)
POSTGRES_TRIGGERS = (
    "SELECT pg_advisory_xact_lock(74231)",  # workers starting together take turns
    "CREATE OR REPLACE FUNCTION ll_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION 'll_audit is append-only'; END $$",
    "CREATE OR REPLACE TRIGGER ll_audit_no_change BEFORE UPDATE OR DELETE ON ll_audit "
    "FOR EACH ROW EXECUTE FUNCTION ll_audit_append_only()",
    "CREATE OR REPLACE TRIGGER ll_audit_no_truncate BEFORE TRUNCATE ON ll_audit "
    "FOR EACH STATEMENT EXECUTE FUNCTION ll_audit_append_only()",
)


def ensure_schema(engine: Engine) -> None:
    """Install the audit log's append-only triggers (the tables come from the Alembic migrations).

    Idempotent and safe when several workers start at once (IF NOT EXISTS on
    SQLite; an advisory lock and a presence check on PostgreSQL).
    """
    if not inspect(engine).has_table(AuditRow.__tablename__):
        log.warning("table %s is missing (schema not migrated?): no append-only trigger installed",
                    AuditRow.__tablename__)
        return
    dialect = engine.dialect.name
    statements = SQLITE_TRIGGERS if dialect == "sqlite" else POSTGRES_TRIGGERS if dialect == "postgresql" else ()
    if not statements:
        log.warning("no append-only trigger for %s: the audit log relies on the application alone", dialect)
        return
    with engine.begin() as connection:
        if dialect == "postgresql":
            present = connection.execute(text(
                "SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "WHERE c.relname = 'll_audit' AND t.tgname IN ('ll_audit_no_change', 'll_audit_no_truncate') "
                "AND pg_table_is_visible(c.oid)")).scalar()
            if present == 2:
                return
        for statement in statements:
            connection.exec_driver_sql(statement)
