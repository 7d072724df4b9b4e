"""Item ledger of a job: a chunk re-delivered after its worker was lost counts each item once.

Celery re-scoring chunks are now re-delivered when their worker dies
(`reject_on_worker_lost`, dashboard/jobs/tasks.py); `ll_job_items` records,
per item a chunk began, its outcome and how many deliveries began it, so
the re-run skips what was finished and gives up on an item that keeps
killing its worker. Rows are deleted when the job finishes.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ll_job_items",
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("item", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("predicted", sa.Boolean(), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["job_id"], ["ll_jobs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("job_id", "item"),
    )


def downgrade() -> None:
    op.drop_table("ll_job_items")
