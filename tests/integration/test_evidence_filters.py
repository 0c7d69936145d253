"""The evidence list's filters and orders on a real SQLite database: each filter narrows
the list to exactly the matching items, every order is the one asked for, words typed into
the search are matched as text (never as LIKE patterns), and the scope rule still applies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from opendems.bootstrap import Container
from opendems.domain.access import Role, visibility
from opendems.domain.evidence import EvidenceFilter, EvidenceKind, EvidenceSort, EvidenceStatus
from opendems.services import cases as case_svc
from opendems.services import members as member_svc
from opendems.services.context import Actor
from opendems.services.ingest import IngestRequest, ingest_stream
from tests.factories import FakeClock, admin, make_container, pdf_bytes, png_bytes, user_actor

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _ingest(c: Container, who: Actor, name: str, data: bytes, **fields: object) -> str:
    c.clock.advance(minutes=1)  # type: ignore[attr-defined]
    req = IngestRequest(filename=name, **fields)  # type: ignore[arg-type]
    return ingest_stream(who, req, [data], uow=c.uow(), blobs=c.blobs, clock=c.clock, limits=c.limits).item.id


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Container, dict[str, str], dict[str, Actor]]:
    c = make_container(Path(tmp_path_factory.mktemp("filters")), clock=FakeClock(T0))
    system = admin(c)
    people = {
        "olga": user_actor(c, "olga", Role.OFFICER, unit="north"),
        "otto": user_actor(c, "otto", Role.OFFICER, unit="south"),
    }
    case_svc.create_case(system, "K-1", {"title": "Robbery"}, uow=c.uow(), clock=c.clock)
    member_svc.change_member(system, "case", "K-1", "olga", add=True, uow=c.uow(), clock=c.clock)
    ids = {
        "bridge": _ingest(
            c,
            people["olga"],
            "a.png",
            png_bytes(seed=1),
            title="Bridge camera",
            captured_at=T0 - timedelta(days=3),
            captured_by="olga",
            device_serial="BWC-1",
            category="traffic",
            tags=["night"],
        ),
        "report": _ingest(
            c,
            people["olga"],
            "b.pdf",
            pdf_bytes(),
            title="100% certain report",
            captured_at=T0 - timedelta(days=1),
            captured_by="olga",
            device_serial="BWC-2",
            category="burglary",
            case_number="K-1",
        ),
        "alley": _ingest(
            c,
            people["otto"],
            "c.png",
            png_bytes(seed=2),
            title="alley photo",
            captured_by="otto",
            device_serial="BWC-1",
            category="burglary",
            tags=["night", "rain"],
        ),
    }
    with c.uow() as uow:
        uow.evidence.update_fields(ids["alley"], {"status": EvidenceStatus.ON_HOLD.value}, c.clock.now())
        uow.commit()
    return c, ids, people


def listing(c: Container, f: EvidenceFilter, who: Actor | None = None) -> list[str]:
    scope = visibility((who or admin(c)).principal)
    with c.uow().for_reading() as reader:
        items, total = reader.evidence.page(f, scope, limit=100, offset=0)
    assert total == len(items)
    return [i.id for i in items]


def test_each_filter_narrows_to_the_matching_items(
    world: tuple[Container, dict[str, str], dict[str, Actor]],
) -> None:
    c, ids, people = world
    bridge, report, alley = ids["bridge"], ids["report"], ids["alley"]
    assert set(listing(c, EvidenceFilter())) == {bridge, report, alley}
    assert listing(c, EvidenceFilter(kind=EvidenceKind.DOCUMENT)) == [report]
    assert listing(c, EvidenceFilter(status=EvidenceStatus.ON_HOLD)) == [alley]
    assert set(listing(c, EvidenceFilter(status=EvidenceStatus.READY))) == {bridge, report}
    assert set(listing(c, EvidenceFilter(uploaded_by=people["olga"].principal.id))) == {bridge, report}
    assert listing(c, EvidenceFilter(uploaded_by=people["otto"].principal.id)) == [alley]
    assert listing(c, EvidenceFilter(officer="otto")) == [alley]
    assert set(listing(c, EvidenceFilter(device="BWC-1"))) == {bridge, alley}
    assert set(listing(c, EvidenceFilter(category="burglary"))) == {report, alley}
    assert listing(c, EvidenceFilter(tag="rain")) == [alley]
    assert listing(c, EvidenceFilter(case_number="K-1")) == [report]
    assert listing(c, EvidenceFilter(captured_from=T0 - timedelta(days=2))) == [report]
    assert listing(c, EvidenceFilter(captured_to=T0 - timedelta(days=2))) == [bridge]
    # Filters combine.
    assert listing(c, EvidenceFilter(device="BWC-1", tag="night", officer="olga")) == [bridge]
    assert listing(c, EvidenceFilter(kind=EvidenceKind.VIDEO)) == []


def test_words_match_the_title_or_id_as_plain_text(
    world: tuple[Container, dict[str, str], dict[str, Actor]],
) -> None:
    c, ids, _ = world
    assert listing(c, EvidenceFilter(q="BRIDGE")) == [ids["bridge"]]  # any case
    assert listing(c, EvidenceFilter(q=" photo ")) == [ids["alley"]]
    assert listing(c, EvidenceFilter(q="100%")) == [ids["report"]]
    assert listing(c, EvidenceFilter(q="%")) == [ids["report"]]  # a percent sign is a character here
    assert listing(c, EvidenceFilter(q="_")) == []  # and so is an underscore
    number = ids["alley"].split("-")[-1]
    assert listing(c, EvidenceFilter(q=ids["alley"].lower())) == [ids["alley"]]
    assert listing(c, EvidenceFilter(q=number)) == [ids["alley"]]


def test_every_order(world: tuple[Container, dict[str, str], dict[str, Actor]]) -> None:
    c, ids, _ = world
    bridge, report, alley = ids["bridge"], ids["report"], ids["alley"]
    expected = {
        EvidenceSort.NEWEST: [alley, report, bridge],
        EvidenceSort.OLDEST: [bridge, report, alley],
        EvidenceSort.CAPTURED_NEWEST: [report, bridge, alley],  # no capture time: last either way
        EvidenceSort.CAPTURED_OLDEST: [bridge, report, alley],
        EvidenceSort.TITLE: [report, alley, bridge],  # "100%...", "alley...", "Bridge..." (any case)
        EvidenceSort.TITLE_DESC: [bridge, alley, report],
        EvidenceSort.ID: sorted([bridge, report, alley]),
        EvidenceSort.ID_DESC: sorted([bridge, report, alley], reverse=True),
    }
    assert set(expected) == set(EvidenceSort)
    for sort, order in expected.items():
        assert listing(c, EvidenceFilter(sort=sort)) == order, sort
    assert EvidenceFilter().sort is EvidenceSort.NEWEST


def test_paging_follows_the_order(world: tuple[Container, dict[str, str], dict[str, Actor]]) -> None:
    c, ids, _ = world
    scope = visibility(admin(c).principal)
    f = EvidenceFilter(sort=EvidenceSort.OLDEST)
    with c.uow().for_reading() as reader:
        pages = [reader.evidence.page(f, scope, limit=2, offset=o) for o in (0, 2)]
    assert [i.id for i in pages[0][0]] == [ids["bridge"], ids["report"]]
    assert [i.id for i in pages[1][0]] == [ids["alley"]]
    assert pages[0][1] == pages[1][1] == 3


def test_filters_never_widen_the_scope(world: tuple[Container, dict[str, str], dict[str, Actor]]) -> None:
    c, ids, people = world
    olga = people["olga"]
    assert set(listing(c, EvidenceFilter(), olga)) == {ids["bridge"], ids["report"]}
    assert listing(c, EvidenceFilter(q="alley"), olga) == []
    assert listing(c, EvidenceFilter(uploaded_by=people["otto"].principal.id), olga) == []
    assert listing(c, EvidenceFilter(status=EvidenceStatus.ON_HOLD), olga) == []
