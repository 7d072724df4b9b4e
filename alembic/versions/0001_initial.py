"""Initial schema: cases, predictions, reviews, settings (as create_all made them before migrations).

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ll_cases",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("dataset", sa.String(length=80), nullable=False),
        sa.Column("source_case_id", sa.String(length=200), nullable=True),
        sa.Column("patient_key", sa.String(length=32), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("spacing_row_mm", sa.Float(), nullable=True),
        sa.Column("spacing_col_mm", sa.Float(), nullable=True),
        sa.Column("modality", sa.String(length=16), nullable=True),
        sa.Column("source_format", sa.String(length=16), nullable=False),
        sa.Column("window_low", sa.Float(), nullable=False),
        sa.Column("window_high", sa.Float(), nullable=False),
        sa.Column("pixel_min", sa.Float(), nullable=False),
        sa.Column("pixel_max", sa.Float(), nullable=False),
        sa.Column("true_label", sa.String(length=16), nullable=True),
        sa.Column("has_truth_mask", sa.Boolean(), nullable=False),
        sa.Column("age", sa.Integer(), nullable=True),
        sa.Column("sex", sa.String(length=8), nullable=True),
        sa.Column("device", sa.String(length=80), nullable=True),
        sa.Column("birads", sa.String(length=8), nullable=True),
        sa.Column("birads_major", sa.Integer(), nullable=True),
        sa.Column("history", sa.Boolean(), nullable=True),
        sa.Column("study_date", sa.String(length=10), nullable=True),
        sa.Column("case_date", sa.String(length=10), nullable=False),
        sa.Column("review_status", sa.String(length=16), nullable=True),
        sa.Column("reviewed_label", sa.String(length=16), nullable=True),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dataset", "source_case_id", name="uq_ll_cases_source"),
    )
    for column in ("age", "birads", "case_date", "created", "dataset", "device", "history", "patient_key",
                   "review_status", "sex", "true_label"):
        op.create_index(op.f(f"ix_ll_cases_{column}"), "ll_cases", [column], unique=False)
    op.create_index("ix_ll_cases_sha256", "ll_cases", ["sha256"], unique=False)

    op.create_table(
        "ll_predictions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.String(length=32), nullable=False),
        sa.Column("model_name", sa.String(length=80), nullable=False),
        sa.Column("model_version", sa.String(length=40), nullable=False),
        sa.Column("label", sa.String(length=16), nullable=False),
        sa.Column("probability", sa.Float(), nullable=False),
        sa.Column("uncertainty", sa.Float(), nullable=False),
        sa.Column("lesion_found", sa.Boolean(), nullable=False),
        sa.Column("area_px", sa.Integer(), nullable=False),
        sa.Column("area_mm2", sa.Float(), nullable=True),
        sa.Column("box", sa.JSON(), nullable=True),
        sa.Column("dice", sa.Float(), nullable=True),
        sa.Column("iou", sa.Float(), nullable=True),
        sa.Column("timings_ms", sa.JSON(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["ll_cases.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "model_name", "model_version", name="uq_ll_predictions_model"),
    )
    op.create_index(op.f("ix_ll_predictions_label"), "ll_predictions", ["label"], unique=False)
    op.create_index("ix_ll_predictions_model", "ll_predictions", ["model_name", "model_version"], unique=False)

    op.create_table(
        "ll_reviews",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.String(length=32), nullable=False),
        sa.Column("user", sa.String(length=80), nullable=False),
        sa.Column("agree", sa.Boolean(), nullable=True),
        sa.Column("corrected_label", sa.String(length=16), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["ll_cases.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_ll_reviews_case_id"), "ll_reviews", ["case_id"], unique=False)
    op.create_index(op.f("ix_ll_reviews_created"), "ll_reviews", ["created"], unique=False)

    op.create_table(
        "ll_settings",
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("ll_settings")
    op.drop_table("ll_reviews")
    op.drop_table("ll_predictions")
    op.drop_table("ll_cases")
