"""meaning search: a sentence-embedding vector for every search document

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-10 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # One row per part of a search document (``search_rows`` on SQLite, ``search_docs`` on
    # PostgreSQL): its vector as signed bytes, the model that made it, the digest of the text
    # embedded and, for a window's part, the second it starts at.
    op.create_table(
        "search_vectors",
        sa.Column(
            "doc_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("part", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("evidence_id", sa.String(length=32), nullable=False),
        sa.Column("start_s", sa.Float(), nullable=True),
        sa.Column("model", sa.String(length=64), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("doc_id", "part", name=op.f("pk_search_vectors")),
    )
    op.create_index(op.f("ix_search_vectors_evidence_id"), "search_vectors", ["evidence_id"])
    # The documents indexed before this release get their vectors now (the model ships in a
    # pinned package; a database without documents loads nothing). Where the model cannot be
    # loaded, ``opendems search --reindex`` makes them later.
    bind = op.get_bind()
    if bind.dialect.name not in ("sqlite", "postgresql"):
        return
    from opendems.adapters.db.search_vectors import SearchVectors
    from opendems.adapters.db.tables import evidence
    from opendems.adapters.text.embeddings import EmbedderUnavailable, shared_embedder

    ids = list(bind.execute(sa.select(evidence.c.id)).scalars())
    if not ids:
        return
    try:
        SearchVectors(bind, shared_embedder()).fill(ids)
    except EmbedderUnavailable as exc:
        import logging

        logging.getLogger("opendems").warning("meaning search vectors not made: %s", exc)


def downgrade() -> None:
    op.drop_index(op.f("ix_search_vectors_evidence_id"), table_name="search_vectors")
    op.drop_table("search_vectors")
