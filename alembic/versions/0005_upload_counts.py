"""Per-user, per-UTC-day upload counter: the daily upload quota reserved atomically (dashboard/services/quota.py).

The quota used to count the user's `case.upload` audit rows before each file
was stored, so uploads in flight at the same moment were not counted yet.
A row here is reserved with one conditional UPDATE before a file is stored
and released if the store fails. Counting starts at zero on the day of the upgrade.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ll_upload_counts",
        sa.Column("username", sa.String(length=80), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("username", "day"),
    )


def downgrade() -> None:
    op.drop_table("ll_upload_counts")
