"""Run Alembic migrations from inside the package (no alembic.ini needed by operators).

Every process start (a server, each command line call) upgrades the database; a database
already at the newest revision is told by one query, without loading Alembic and its scripts
(a fifth of a command's start-up time)."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
_REVISION = re.compile(r'^(down_revision|revision)\s*=\s*"([^"]*)"', re.MULTILINE)


@cache
def head_revision() -> str:
    """The newest revision: the one no migration names as the revision before it."""
    revisions: set[str] = set()
    earlier: set[str] = set()
    for script in (MIGRATIONS / "versions").glob("*.py"):
        for name, value in _REVISION.findall(script.read_text(encoding="utf-8")):
            (revisions if name == "revision" else earlier).add(value)
    heads = revisions - earlier
    if len(heads) != 1:
        raise RuntimeError(f"the migrations have {len(heads)} heads: {sorted(heads)}")
    return heads.pop()


def at_head(engine: Engine) -> bool:
    try:
        with engine.connect() as connection:
            found = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    except SQLAlchemyError:
        return False  # a new database: no version table yet
    return found == [head_revision()]


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """What comparing the database with ``tables.metadata`` looks at: everything but the
    full-text index, made by SQL (an SQLite FTS5 virtual table and its shadow tables; the
    PostgreSQL documents table)."""
    return not (type_ == "table" and ((name or "").startswith("search_fts") or name == "search_docs"))


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine) -> None:
    if at_head(engine):
        return
    from alembic import command

    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.connect() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")
