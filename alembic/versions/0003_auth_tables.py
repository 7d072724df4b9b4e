"""Access tables of dashboard/auth (users, sessions, API tokens, login attempts, audit log).

The audit log's append-only triggers are installed by `dashboard.auth.tables.ensure_schema`
after the tables exist. A later change to these models needs its own revision
(`alembic revision --autogenerate -m ...`); tests/unit/test_alembic.py fails while models
and migrations disagree.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ll_users",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("username", sa.String(length=40), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("password_changed", sa.DateTime(), nullable=False),
        sa.Column("last_login", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
    )
    op.create_table(
        "ll_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("last_seen", sa.DateTime(), nullable=False),
        sa.Column("expires", sa.DateTime(), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("revoked", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["ll_users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_ll_sessions_expires"), "ll_sessions", ["expires"], unique=False)
    op.create_index(op.f("ix_ll_sessions_user_id"), "ll_sessions", ["user_id"], unique=False)
    op.create_table(
        "ll_api_tokens",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=80), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("last_used", sa.DateTime(), nullable=True),
        sa.Column("revoked", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["ll_users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index(op.f("ix_ll_api_tokens_user_id"), "ll_api_tokens", ["user_id"], unique=False)
    op.create_table(
        "ll_login_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("user_key", sa.String(length=32), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=8), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_ll_login_attempts_at"), "ll_login_attempts", ["at"], unique=False)
    op.create_index("ix_ll_login_attempts_ip", "ll_login_attempts", ["ip", "at"], unique=False)
    op.create_index("ix_ll_login_attempts_user", "ll_login_attempts", ["user_key", "at"], unique=False)
    op.create_table(
        "ll_audit",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=True),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("target", sa.String(length=120), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_ll_audit_at"), "ll_audit", ["at"], unique=False)
    op.create_index("ix_ll_audit_action_at", "ll_audit", ["action", "at"], unique=False)
    op.create_index("ix_ll_audit_actor_at", "ll_audit", ["actor", "at"], unique=False)


def downgrade() -> None:
    op.drop_table("ll_audit")
    op.drop_table("ll_login_attempts")
    op.drop_table("ll_api_tokens")
    op.drop_table("ll_sessions")
    op.drop_table("ll_users")
