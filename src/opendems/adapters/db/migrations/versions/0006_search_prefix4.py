"""search: a prefix index for four-letter prefixes too (``burg*`` no longer merges every word)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 00:10:00.000000
"""

from __future__ import annotations

from alembic import op


revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# The table as release 0005 made it, and as it is made now (FTS_CREATE of this release).
BEFORE = "prefix = '2 3')"
AFTER = "prefix = '2 3 4')"


def _remake(new: str) -> None:
    """Copy the FTS5 table into one made with other options, in this transaction: an FTS5
    table cannot change its prefix indexes in place. The rowids -- which ``search_rows``
    refers to -- are kept."""
    from opendems.adapters.db.search_repo import FTS_CREATE, FTS_RANK

    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    made = bind.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = 'search_fts'").scalar()
    if made is None or new in made:
        return
    create = FTS_CREATE.replace(AFTER, new).replace("IF NOT EXISTS search_fts", "search_fts_new")
    op.execute(create)
    op.execute(
        "INSERT INTO search_fts_new (rowid, title, keywords, body, marks)"
        " SELECT rowid, title, keywords, body, marks FROM search_fts"
    )
    op.execute("DROP TABLE search_fts")
    op.execute("ALTER TABLE search_fts_new RENAME TO search_fts")
    op.execute(FTS_RANK)
    op.execute("INSERT INTO search_fts(search_fts) VALUES ('optimize')")


def upgrade() -> None:
    _remake(AFTER)


def downgrade() -> None:
    _remake(BEFORE)
