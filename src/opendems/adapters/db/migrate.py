"""Run Alembic migrations from inside the package (no alembic.ini needed by operators)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).parent / "migrations"


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """What comparing the database with ``tables.metadata`` looks at: everything but the
    full-text index, made by SQL (an SQLite FTS5 virtual table and its shadow tables; the
    PostgreSQL documents table)."""
    return not (type_ == "table" and ((name or "").startswith("search_fts") or name == "search_docs"))


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine) -> None:
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.connect() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")
