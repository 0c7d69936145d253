"""The list queries (SQL) must agree with the policy function on every object and person.

Builds a real database with items and cases of every combination of owner, captured-by,
unit, restriction level, item members, case membership and case level, then compares what
each role's list shows with what ``decide`` says about each object one by one.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from opendems.bootstrap import Container
from opendems.domain.access import Permission, Role, decide, visibility
from opendems.domain.evidence import EvidenceFilter, EvidenceItem, Restriction
from opendems.services import cases as case_svc
from opendems.services import evidence as ev_svc
from opendems.services import members as member_svc
from opendems.services.context import Actor
from opendems.services.ingest import IngestRequest, ingest_stream
from tests.factories import admin, make_container, png_bytes, user_actor

PEOPLE = {
    "olga": (Role.OFFICER, "north"),
    "otto": (Role.OFFICER, "south"),
    "sue": (Role.SUPERVISOR, "north"),
    "ivy": (Role.INVESTIGATOR, "detectives"),
    "cora": (Role.CUSTODIAN, None),
    "irene": (Role.INTERNAL_AFFAIRS, None),
    "pat": (Role.PROSECUTOR, None),
    "aud": (Role.AUDITOR, None),
    "ada": (Role.ADMINISTRATOR, None),
    "bob": (Role.OFFICER, "east"),  # named on the normal case K-0 only
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Container, dict[str, Actor]]:
    c = make_container(Path(tmp_path_factory.mktemp("access")))
    actors = {name: user_actor(c, name, role, unit=unit) for name, (role, unit) in PEOPLE.items()}
    system = admin(c)
    for n, level in enumerate(("normal", "restricted", "sealed")):
        case_svc.create_case(system, f"K-{n}", {"title": level}, uow=c.uow(), clock=c.clock)
        member_svc.change_member(system, "case", f"K-{n}", "pat", add=True, uow=c.uow(), clock=c.clock)
        if n == 0:
            member_svc.change_member(system, "case", "K-0", "bob", add=True, uow=c.uow(), clock=c.clock)
        if level != "normal":
            member_svc.set_case_restriction(system, f"K-{n}", level, reason="t", uow=c.uow(), clock=c.clock)
    combos = itertools.product(
        ("olga", "otto", "ivy"),  # uploader
        (None, "olga"),  # captured by
        ("normal", "restricted", "sealed"),  # item level
        ((), ("K-0",), ("K-1",), ("K-2",), ("K-0", "K-2"), ("K-0", "K-1")),  # cases holding it
        (None, "ivy"),  # named on the item
    )
    for seed, (uploader, captured_by, level, held_in, named) in enumerate(combos, start=1):
        req = IngestRequest(filename=f"{seed}.png", captured_by=captured_by)
        item = ingest_stream(
            actors[uploader],
            req,
            [png_bytes(seed=seed)],
            uow=c.uow(),
            blobs=c.blobs,
            clock=c.clock,
            limits=c.limits,
        ).item
        for number in held_in:
            case_svc.add_evidence(system, number, item.id, reason=None, uow=c.uow(), clock=c.clock)
        if level != "normal":
            ev_svc.edit_evidence(
                system,
                item.id,
                {"restriction": level},
                reason="t",
                uow=c.uow(),
                clock=c.clock,
                limits=c.limits,
            )
        if named:
            member_svc.change_member(system, "evidence", item.id, named, add=True, uow=c.uow(), clock=c.clock)
    return c, actors


def all_items(c: Container) -> list[EvidenceItem]:
    with c.uow() as uow:
        return uow.evidence.page(EvidenceFilter(), visibility(admin(c).principal), limit=500, offset=0)[0]


@pytest.mark.parametrize("name", sorted(PEOPLE))
def test_evidence_list_matches_the_policy(world: tuple[Container, dict[str, Actor]], name: str) -> None:
    c, actors = world
    who = actors[name]
    listed, total = ev_svc.list_evidence(
        who, EvidenceFilter(), limit=500, offset=0, uow=c.uow(), clock=c.clock
    )
    with c.uow() as uow:
        everything = all_items(c)
        expected = {
            i.id
            for i in everything
            if decide(who.principal, Permission.EVIDENCE_VIEW, uow.access.evidence_attrs(i)).allowed
        }
    assert len(everything) == 3 * 2 * 3 * 6 * 2
    assert {i.id for i in listed} == expected
    assert total == len(expected)
    # Everybody with evidence:view sees something in this world; administrators hold none.
    assert bool(expected) is (Permission.EVIDENCE_VIEW in who.principal.permissions)


@pytest.mark.parametrize("name", sorted(PEOPLE))
def test_case_list_matches_the_policy(world: tuple[Container, dict[str, Actor]], name: str) -> None:
    c, actors = world
    who = actors[name]
    listed, _ = case_svc.list_cases(who, status=None, limit=50, offset=0, uow=c.uow())
    with c.uow() as uow:
        expected = {
            n
            for n in ("K-0", "K-1", "K-2")
            if (case := uow.cases.get(n)) is not None
            and decide(who.principal, Permission.CASE_VIEW, uow.access.case_attrs(case)).allowed
        }
    assert {x.number for x in listed} == expected


def test_named_examples(world: tuple[Container, dict[str, Actor]]) -> None:
    """A few consequences spelled out, so a wrong policy cannot pass by being consistent."""
    c, actors = world

    def visible(name: str) -> set[str]:
        items, _ = ev_svc.list_evidence(
            actors[name], EvidenceFilter(), limit=500, offset=0, uow=c.uow(), clock=c.clock
        )
        return {i.id for i in items}

    items = all_items(c)
    with c.uow() as uow:
        level = {i.id: uow.access.evidence_attrs(i).restriction for i in items}
    by_id = {i.id: i for i in items}
    sealed = {i for i, lv in level.items() if lv is Restriction.SEALED}
    normal = {i for i, lv in level.items() if lv is Restriction.NORMAL}
    assert sealed and visible("ada") == set()  # administrators need an evidence permission
    assert sealed <= visible("irene")  # internal affairs sees all of it
    assert visible("cora") == set(by_id) - sealed  # custodians: everything not sealed
    # The prosecutor is a member of every case and sees only items in cases.
    assert visible("pat") and all(by_id[i].case_numbers for i in visible("pat"))
    # The north supervisor sees north's normal items (olga's), not south's (otto's).
    olga_id = actors["olga"].principal.id
    otto_id = actors["otto"].principal.id
    north = {i for i in normal if by_id[i].created_by == olga_id}
    south = {i for i in normal if by_id[i].created_by == otto_id and by_id[i].captured_by is None}
    assert north and north <= visible("sue")
    assert south and not south & visible("sue")
    # Captured by olga counts as hers, whoever uploaded it (unless restricted or sealed away).
    captured = {i for i in normal if by_id[i].captured_by == "olga"}
    assert captured <= visible("olga")
    # A normal case does not open what a sealed or restricted case holds: bob, on K-0 only,
    # sees K-0's normal items but none of those also held by K-1 or K-2.
    in_k0 = {
        i for i in by_id if "K-0" in by_id[i].case_numbers and by_id[i].restriction is Restriction.NORMAL
    }
    also_hidden = {i for i in in_k0 if {"K-1", "K-2"} & set(by_id[i].case_numbers)}
    assert also_hidden and not also_hidden & visible("bob")
    assert in_k0 - also_hidden and in_k0 - also_hidden <= visible("bob")
    # ...and to her unit: whoever uploaded it (a detective, a dock), it is north's evidence.
    assert {i for i in captured if by_id[i].created_by != olga_id} and captured <= visible("sue")
