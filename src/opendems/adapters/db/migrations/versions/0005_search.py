"""search: the full-text index of every item's metadata and text derivatives

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # One row per indexed document: an item's metadata, or a window of a text derivative
    # (transcript, OCR text) with the second it starts at. Its id is the FTS5 rowid.
    op.create_table(
        "search_rows",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("evidence_id", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("start_s", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_search_rows")),
    )
    op.create_index("ix_search_rows_item_source", "search_rows", ["evidence_id", "source"])
    # The columns search filters on without a text match.
    op.create_index("ix_evidence_status", "evidence", ["status"])
    op.create_index("ix_evidence_location", "evidence", ["latitude", "longitude"])
    # Who captured an item, case-folded as the access rule compares it: a search as someone
    # who sees only their own items starts from those.
    op.create_index("ix_evidence_captured_by_lower", "evidence", [sa.text("lower(captured_by)")])

    # The FTS5 index exists on SQLite, the embedded default, only. PostgreSQL gets its own
    # design (a tsvector column with a GIN index behind the same SearchIndex port) with the
    # scale-out backend; until then these rows are simply not written there.
    if op.get_bind().dialect.name != "sqlite":
        return
    from opendems.adapters.db.search_repo import FTS_CREATE, SqliteSearchIndex

    op.execute(FTS_CREATE)
    SqliteSearchIndex(op.get_bind()).rebuild_all()  # the items held before this release


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS search_fts")
    op.drop_index("ix_evidence_captured_by_lower", table_name="evidence")
    op.drop_index("ix_evidence_location", table_name="evidence")
    op.drop_index("ix_evidence_status", table_name="evidence")
    op.drop_index("ix_search_rows_item_source", table_name="search_rows")
    op.drop_table("search_rows")
