"""Jobs table (background cohort re-scoring / batch inference); image_sha256 for integrity checks.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ll_cases") as batch:
        batch.add_column(sa.Column("image_sha256", sa.String(length=64), nullable=True))
    op.create_table(
        "ll_jobs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("model_name", sa.String(length=80), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("runner", sa.String(length=80), nullable=True),
        sa.Column("owner", sa.String(length=80), nullable=True),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("started", sa.DateTime(), nullable=True),
        sa.Column("finished", sa.DateTime(), nullable=True),
        sa.Column("heartbeat", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_ll_jobs_created"), "ll_jobs", ["created"], unique=False)
    op.create_index(op.f("ix_ll_jobs_status"), "ll_jobs", ["status"], unique=False)


def downgrade() -> None:
    op.drop_table("ll_jobs")
    with op.batch_alter_table("ll_cases") as batch:
        batch.drop_column("image_sha256")
