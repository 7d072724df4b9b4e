"""Out-of-distribution verdict of each prediction (issue 14.2): flag and score beside the summary.

Rows stored before the guard existed keep NULL ("not checked"); new rows copy
`summary["out_of_distribution"]` / `summary["ood_score"]` (dashboard/store/tables.py).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ll_predictions") as batch:
        batch.add_column(sa.Column("out_of_distribution", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("ood_score", sa.Float(), nullable=True))
    op.create_index(op.f("ix_ll_predictions_out_of_distribution"), "ll_predictions", ["out_of_distribution"],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_ll_predictions_out_of_distribution"), table_name="ll_predictions")
    with op.batch_alter_table("ll_predictions") as batch:
        batch.drop_column("ood_score")
        batch.drop_column("out_of_distribution")
