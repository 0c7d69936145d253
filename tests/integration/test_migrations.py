"""The migrations create exactly the tables the code describes, and upgrade a database
created by an earlier release without losing or invalidating its rows."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, text

from opendems.adapters.db.migrate import alembic_config, include_name, upgrade
from opendems.adapters.db.tables import metadata


def test_migrations_match_the_tables(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(engine)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_name": include_name})
        diffs = compare_metadata(context, metadata)
    assert diffs == []


def test_upgrade_from_the_evidence_vault_release_keeps_rows(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    cfg = alembic_config(url)
    with engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        now = datetime.now(UTC).replace(tzinfo=None)
        conn.execute(
            text(
                "INSERT INTO users (id, username, display_name, role, must_change_password, is_builtin, status, created_at)"
                " VALUES (1, 'olga', '', 'officer', 0, 0, 'active', :now)"
            ),
            {"now": now},
        )
        conn.execute(
            text(
                "INSERT INTO cases (number, title, description, status, created_at, created_by)"
                " VALUES ('C-1', 'Old case', '', 'open', :now, 1)"
            ),
            {"now": now},
        )
        conn.commit()
    upgrade(engine)
    with engine.connect() as conn:
        user = conn.execute(text("SELECT username, auth_source, failed_logins FROM users")).one()
        case = conn.execute(text("SELECT number, restriction FROM cases")).one()
    assert tuple(user) == ("olga", "local", 0)
    assert tuple(case) == ("C-1", "normal")


def test_a_database_at_the_newest_revision_is_told_without_alembic(tmp_path: Path) -> None:
    from alembic.script import ScriptDirectory

    from opendems.adapters.db.migrate import at_head, head_revision

    url = f"sqlite:///{tmp_path / 'h.db'}"
    assert head_revision() == ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    engine = create_engine(url)
    assert not at_head(engine)  # new: no version table
    command.upgrade(alembic_config(url), "0008")
    assert not at_head(engine)  # a release behind
    upgrade(engine)
    assert at_head(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == head_revision()
