"""redaction plans: one row per version of an item's plan, never rewritten

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 04:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import opendems.adapters.db.tables

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "redaction_plans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("evidence_id", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=False),
        sa.Column("created_at", opendems.adapters.db.tables.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["evidence_id"], ["evidence.id"], name=op.f("fk_redaction_plans_evidence_id_evidence")
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_redaction_plans_created_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_redaction_plans")),
    )
    op.create_index(
        "uq_redaction_plans_item_version", "redaction_plans", ["evidence_id", "version"], unique=True
    )


def downgrade() -> None:
    op.drop_index("uq_redaction_plans_item_version", table_name="redaction_plans")
    op.drop_table("redaction_plans")
