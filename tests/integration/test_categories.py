"""Evidence categories: the agency's list, every change in the audit trail, and the rule that
evidence is filed under an active category once the agency defines any."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, text

from opendems.adapters.db.migrate import alembic_config, upgrade
from opendems.bootstrap import Container
from opendems.domain.access import Role
from opendems.domain.errors import Conflict, Forbidden, Invalid, NotFound
from opendems.services import categories as svc
from opendems.services import evidence as ev_svc
from opendems.services.ingest import IngestRequest, ingest_stream
from tests.factories import admin, make_container, png_bytes, user_actor


@pytest.fixture
def c(tmp_path: Path) -> Container:
    return make_container(tmp_path)


def _ingest(c: Container, actor: object, seed: int, category: str | None) -> str:
    req = IngestRequest(filename=f"c{seed}.png", category=category)
    return ingest_stream(
        actor,  # type: ignore[arg-type]
        req,
        [png_bytes(seed=seed)],
        uow=c.uow(),
        blobs=c.blobs,
        clock=c.clock,
        limits=c.limits,
    ).item.id


def _events(c: Container, prefix: str) -> list[tuple[str, str, dict[str, object]]]:
    with c.uow() as uow:
        return [
            (e.action, e.object_id, json.loads(e.details))
            for e in uow.custody.iter_all()
            if e.action.startswith(prefix)
        ]


def test_create_change_deactivate_each_recorded(c: Container) -> None:
    custodian = user_actor(c, "cora", Role.CUSTODIAN)
    made = svc.create_category(
        custodian, "  Traffic   stop ", description="Stops", retention_days=365, uow=c.uow(), clock=c.clock
    )
    assert (made.name, made.retention_days, made.active, made.created_by) == (
        "Traffic stop",
        365,
        True,
        "cora",
    )
    with pytest.raises(Conflict, match="already exists"):
        svc.create_category(custodian, "traffic STOP", uow=c.uow(), clock=c.clock)
    changed = svc.update_category(
        custodian, made.id, {"retention_days": "730", "name": "Traffic stops"}, uow=c.uow(), clock=c.clock
    )
    assert (changed.name, changed.retention_days) == ("Traffic stops", 730)
    gone = svc.deactivate_category(custodian, "traffic stops", reason="merged", uow=c.uow(), clock=c.clock)
    assert not gone.active
    listed = svc.list_categories(custodian, include_inactive=False, uow=c.uow(), clock=c.clock)
    assert listed == []
    assert [x.name for x in svc.list_categories(custodian, uow=c.uow(), clock=c.clock)] == ["Traffic stops"]
    events = _events(c, "category:")
    assert [(a, o) for a, o, _ in events] == [
        ("category:create", "Traffic stop"),
        ("category:change", "Traffic stop"),
        ("category:deactivate", "Traffic stops"),
    ]
    assert events[1][2]["changes"] == {
        "name": {"old": "Traffic stop", "new": "Traffic stops"},
        "retention_days": {"old": 365, "new": 730},
    }


def test_validation_and_permissions(c: Container) -> None:
    custodian = user_actor(c, "cora", Role.CUSTODIAN)
    officer = user_actor(c, "olga", Role.OFFICER)
    auditor = user_actor(c, "audrey", Role.AUDITOR)
    for bad, message in (("", "needs a name"), ("<script>", "may hold only"), ("x" * 101, "at most 100")):
        with pytest.raises(Invalid, match=message):
            svc.create_category(custodian, bad, uow=c.uow(), clock=c.clock)
    for days in ("0", "abc", 40_000):
        with pytest.raises(Invalid, match="retention period"):
            svc.create_category(custodian, "Theft", retention_days=days, uow=c.uow(), clock=c.clock)
    with pytest.raises(Forbidden, match="category manage"):
        svc.create_category(officer, "Theft", uow=c.uow(), clock=c.clock)
    made = svc.create_category(custodian, "Theft", uow=c.uow(), clock=c.clock)
    with pytest.raises(Forbidden):
        svc.deactivate_category(auditor, made.id, uow=c.uow(), clock=c.clock)
    with pytest.raises(NotFound, match="no category 999"):
        svc.update_category(custodian, 999, {"active": False}, uow=c.uow(), clock=c.clock)
    # Reading the list: anyone who sees evidence, and the managers.
    assert [x.name for x in svc.list_categories(officer, uow=c.uow(), clock=c.clock)] == ["Theft"]
    assert svc.list_categories(admin(c), manage=True, uow=c.uow(), clock=c.clock)
    with pytest.raises(Forbidden):
        svc.list_categories(officer, manage=True, uow=c.uow(), clock=c.clock)
    denied = [e for e in _events(c, "category:") if e[0] == "category:create"]
    assert len(denied) == 2  # the officer's refused attempt is recorded too, and the real one


def test_free_text_until_the_agency_defines_categories(c: Container) -> None:
    officer = user_actor(c, "olga", Role.OFFICER)
    custodian = user_actor(c, "cora", Role.CUSTODIAN)
    free = _ingest(c, officer, 1, "whatever I like")
    svc.create_category(custodian, "Traffic stop", uow=c.uow(), clock=c.clock)
    svc.create_category(custodian, "Arrest", uow=c.uow(), clock=c.clock)
    with pytest.raises(
        Invalid, match="unknown or inactive category 'Burglary'; categories: Arrest, Traffic stop"
    ):
        _ingest(c, officer, 2, "Burglary")
    # Matched regardless of case and spacing; stored in the category's own spelling.
    item = _ingest(c, officer, 3, "traffic  STOP")
    with c.uow() as uow:
        stored = uow.evidence.get(item)
    assert stored is not None and stored.category == "Traffic stop"
    # Editing: a new category must be a known one; an old free-text one stays while other fields change.
    with pytest.raises(Invalid, match="categories: Arrest, Traffic stop"):
        ev_svc.edit_evidence(
            officer, item, {"category": "Burglary"}, reason="r", uow=c.uow(), clock=c.clock, limits=c.limits
        )
    edited = ev_svc.edit_evidence(
        officer, free, {"category": "whatever I like", "title": "New"}, reason="r", uow=c.uow(), clock=c.clock,
        limits=c.limits,
    )  # fmt: skip
    assert (edited.category, edited.title) == ("whatever I like", "New")
    edited = ev_svc.edit_evidence(
        officer, free, {"category": "arrest"}, reason="r", uow=c.uow(), clock=c.clock, limits=c.limits
    )
    assert edited.category == "Arrest"
    # An inactive category is refused for new filings; with none active, free text is back.
    svc.deactivate_category(custodian, "Arrest", uow=c.uow(), clock=c.clock)
    with pytest.raises(Invalid, match="'Arrest'; categories: Traffic stop"):
        _ingest(c, officer, 4, "Arrest")
    svc.deactivate_category(custodian, "Traffic stop", uow=c.uow(), clock=c.clock)
    assert _ingest(c, officer, 5, "Anything")


def test_upgrade_from_0003_keeps_rows_and_grants_category_manage(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    cfg = alembic_config(url)
    now = datetime.now(UTC).replace(tzinfo=None)
    with engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0003")
        for name, perms in (
            ("administrator", ["user:manage", "role:manage"]),
            ("evidence_custodian", ["evidence:view"]),
            ("officer", ["evidence:view"]),
        ):
            conn.execute(
                text("INSERT INTO roles (name, description, permissions, builtin, updated_at) VALUES (:n, '', :p, 1, :now)"),
                {"n": name, "p": json.dumps(perms), "now": now},
            )  # fmt: skip
        conn.execute(
            text(
                "INSERT INTO users (id, username, display_name, role, must_change_password, is_builtin, status,"
                " created_at, auth_source, failed_logins) VALUES (1, 'olga', '', 'officer', 0, 0, 'active', :now,"
                " 'local', 0)"
            ),
            {"now": now},
        )
        conn.commit()
    upgrade(engine)
    with engine.connect() as conn:
        roles = {n: json.loads(p) for n, p in conn.execute(text("SELECT name, permissions FROM roles"))}
        user = conn.execute(text("SELECT username, role FROM users")).one()
        conn.execute(
            text(
                "INSERT INTO categories (name, name_key, description, active, created_at, created_by, updated_at,"
                " updated_by) VALUES ('Theft', 'theft', '', 1, :now, 1, :now, 1)"
            ),
            {"now": now},
        )
        conn.commit()
    assert "category:manage" in roles["administrator"] and "user:manage" in roles["administrator"]
    assert roles["evidence_custodian"] == ["category:manage", "evidence:view"]
    assert roles["officer"] == ["evidence:view"]
    assert tuple(user) == ("olga", "officer")
