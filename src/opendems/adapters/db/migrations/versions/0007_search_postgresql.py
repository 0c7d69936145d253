"""search on PostgreSQL: documents with a weighted tsvector and a GIN index

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 09:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# The application's own text search configuration, so the index never depends on the
# server's default_text_search_config and an operator may tune it (another language's stemmer,
# a synonym dictionary) without a code change: English stemming (Snowball) that keeps every
# word -- no stop words, as SQLite's porter tokenizer -- so "the", "will" or "may" (a name)
# are found and a phrase keeps all its words. The words given to it are already folded by
# the application (case, accents: ``search_pg._fold``), so no extension is needed.
SETUP = (
    "CREATE TEXT SEARCH DICTIONARY opendems_english_stem (TEMPLATE = snowball, Language = english)",
    "CREATE TEXT SEARCH CONFIGURATION opendems (COPY = pg_catalog.english)",
    "ALTER TEXT SEARCH CONFIGURATION opendems ALTER MAPPING FOR"
    " asciiword, asciihword, hword_asciipart, word, hword, hword_part WITH opendems_english_stem",
)

TABLE = """
CREATE TABLE search_docs (
    id bigint GENERATED ALWAYS AS IDENTITY,
    evidence_id varchar(32) NOT NULL,
    source varchar(16) NOT NULL,
    start_s double precision,
    title text NOT NULL DEFAULT '',
    keywords text NOT NULL DEFAULT '',
    body text NOT NULL DEFAULT '',
    marks text NOT NULL DEFAULT '',
    document tsvector NOT NULL,
    CONSTRAINT pk_search_docs PRIMARY KEY (id)
)
"""


def upgrade() -> None:
    # One row per indexed document, as ``search_rows`` and the FTS5 table hold them on
    # SQLite (which keeps those; ``search_rows`` stays empty here).
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in SETUP:
        op.execute(statement)
    op.execute(TABLE)
    op.execute("CREATE INDEX ix_search_docs_document ON search_docs USING gin (document)")
    op.execute("CREATE INDEX ix_search_docs_item_source ON search_docs (evidence_id, source)")
    from opendems.adapters.db.search_pg import PostgresSearchIndex

    PostgresSearchIndex(op.get_bind()).rebuild_all()  # the items held before this release


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TABLE IF EXISTS search_docs")
    op.execute("DROP TEXT SEARCH CONFIGURATION IF EXISTS opendems")
    op.execute("DROP TEXT SEARCH DICTIONARY IF EXISTS opendems_english_stem")
