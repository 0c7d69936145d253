"""jobs: when the current attempt started (for an estimate of the time left); a job may be
cancelled (state "cancelled")

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 07:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import opendems.adapters.db.tables

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(
            sa.Column("started_at", opendems.adapters.db.tables.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("started_at")
