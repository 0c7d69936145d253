"""Search never shows what the policy hides: not in hits, totals, facet counts or snippets.

Builds items of every combination of owner, captured-by, level, cases and named members, each
holding the same secret word in its metadata and in a transcript, with its own category and
device serial (so a facet value would betray the one item it came from). Then searches as
every default role and compares with what ``decide`` says about each item one by one.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from opendems.bootstrap import Container
from opendems.domain.access import DEFAULT_ROLES, Permission, Role, decide, visibility
from opendems.domain.evidence import EvidenceFilter
from opendems.domain.search import SearchFilters
from opendems.services import cases as case_svc
from opendems.services import evidence as ev_svc
from opendems.services import members as member_svc
from opendems.services import search as search_svc
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
}
SECRET = "zanzibar"


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Container, dict[str, Actor], dict[str, set[str]]]:
    c = make_container(Path(tmp_path_factory.mktemp("search-access")))
    actors = {name: user_actor(c, name, role, unit=unit) for name, (role, unit) in PEOPLE.items()}
    system = admin(c)
    for n, level in enumerate(("normal", "restricted", "sealed")):
        case_svc.create_case(system, f"K-{n}", {"title": level}, uow=c.uow(), clock=c.clock)
        member_svc.change_member(system, "case", f"K-{n}", "pat", add=True, uow=c.uow(), clock=c.clock)
        if level != "normal":
            member_svc.set_case_restriction(system, f"K-{n}", level, reason="t", uow=c.uow(), clock=c.clock)
    combos = itertools.product(
        ("olga", "otto"),  # uploader
        (None, "olga"),  # captured by
        ("normal", "restricted", "sealed"),  # item level
        ((), ("K-0",), ("K-1",), ("K-2",)),  # cases holding it
        (None, "ivy"),  # named on the item
    )
    for seed, (uploader, captured_by, level, held_in, named) in enumerate(combos, start=1):
        req = IngestRequest(
            filename=f"file{seed}.png",
            title=f"{SECRET} report {seed}",
            description=f"the {SECRET} matter, item {seed}",
            captured_by=captured_by,
            device_serial=f"SER{seed}",
            category=f"cat{seed}",
            tags=[f"tag{seed}", "shared"],
        )
        item = ingest_stream(
            actors[uploader],
            req,
            [png_bytes(seed=seed)],
            uow=c.uow(),
            blobs=c.blobs,
            clock=c.clock,
            limits=c.limits,
        ).item
        with c.uow() as uow:
            uow.search.add_text(item.id, "transcript", [(float(seed), f"they said {SECRET} {seed} " * 10)])
            uow.commit()
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
    expected: dict[str, set[str]] = {}
    with c.uow() as uow:
        everything, total = uow.evidence.page(
            EvidenceFilter(), visibility(system.principal), limit=500, offset=0
        )
        assert total == 2 * 2 * 3 * 4 * 2
        for name, who in actors.items():
            expected[name] = {
                i.id
                for i in everything
                if decide(who.principal, Permission.EVIDENCE_VIEW, uow.access.evidence_attrs(i)).allowed
            }
    return c, actors, expected


def test_every_default_role_is_covered() -> None:
    assert {role for role, _ in PEOPLE.values()} == set(DEFAULT_ROLES) - {Role.SYSTEM}


@pytest.mark.parametrize("name", sorted(PEOPLE))
@pytest.mark.parametrize(
    "q",
    [SECRET, f'"{SECRET} matter"', "zanzi*", f"{SECRET} OR nothing", "-nothing", "", "tag:shared", "said"],
)
def test_search_shows_only_what_the_policy_allows(
    world: tuple[Container, dict[str, Actor], dict[str, set[str]]], name: str, q: str
) -> None:
    c, actors, expected = world
    allowed = expected[name]
    result = search_svc.search(
        actors[name], q, None, limit=200, offset=0, facets=True, uow=c.uow(), clock=c.clock
    )
    hits = {h.evidence_id for h in result.hits}
    assert hits == allowed
    assert result.total == len(allowed)
    # Everybody with evidence:view sees something in this world; administrators hold none.
    assert bool(allowed) is (Permission.EVIDENCE_VIEW in actors[name].principal.permissions)
    if not allowed:
        assert result.facets == {} or all(not v for v in result.facets.values())
        return
    numbers = {h.evidence_id: h.evidence_id.rsplit("-", 1)[1].lstrip("0") for h in result.hits}
    with c.uow() as uow:
        seeds = {}
        for evidence_id in allowed:
            item = uow.evidence.get(evidence_id)
            assert item is not None and item.device_serial is not None
            seeds[evidence_id] = item.device_serial.removeprefix("SER")
    visible_seeds = set(seeds.values())
    facets = result.facets
    assert sum(f.count for f in facets["kind"]) == len(allowed)
    assert sum(f.count for f in facets["restriction"]) == len(allowed)
    assert sum(f.count for f in facets["state"]) == len(allowed)
    assert {f.value.removeprefix("cat") for f in facets["category"]} <= visible_seeds
    assert {f.value.removeprefix("SER") for f in facets["device"]} <= visible_seeds
    assert {f.value.removeprefix("tag") for f in facets["tag"]} - {"shared"} <= visible_seeds
    assert next(f.count for f in facets["tag"] if f.value == "shared") == len(allowed)
    assert all(f.count == 1 for f in facets["category"] + facets["device"])
    for h in result.hits:  # a snippet speaks only of its own item
        seed = seeds[h.evidence_id]
        digits = {tok for tok in h.snippet.replace("\x02", " ").replace("\x03", " ").split() if tok.isdigit()}
        assert digits <= {seed}, (h.snippet, seed, numbers[h.evidence_id])


def test_facets_of_a_narrowed_search_stay_inside_the_scope(
    world: tuple[Container, dict[str, Actor], dict[str, set[str]]],
) -> None:
    c, actors, expected = world
    for name in PEOPLE:
        for case_number in ("K-0", "K-1", "K-2"):
            result = search_svc.search(
                actors[name],
                SECRET,
                SearchFilters(cases=(case_number,)),
                limit=200,
                offset=0,
                facets=True,
                uow=c.uow(),
                clock=c.clock,
            )
            assert {h.evidence_id for h in result.hits} <= expected[name]
            assert result.total == len(result.hits)
            for f in result.facets.get("case", []):
                assert f.count <= result.total


@pytest.mark.parametrize("name", sorted(PEOPLE))
@pytest.mark.parametrize("q", [SECRET, "zanzi*", f"{SECRET} -nothing", "", "tag:shared", "said"])
def test_a_broad_search_cut_short_still_shows_only_what_is_allowed(
    world: tuple[Container, dict[str, Actor], dict[str, set[str]]],
    name: str,
    q: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With the candidate windows far smaller than the matching set, the total is a lower
    bound -- and still nothing hidden appears in hits, totals, facets or snippets."""
    from opendems.adapters.db import search_repo

    monkeypatch.setattr(search_repo, "MATCH_WINDOW", 7)
    monkeypatch.setattr(search_repo, "LIST_WINDOW", 7)
    c, actors, expected = world
    allowed = expected[name]
    result = search_svc.search(
        actors[name], q, None, limit=200, offset=0, facets=True, uow=c.uow(), clock=c.clock
    )
    hits = {h.evidence_id for h in result.hits}
    assert hits <= allowed
    assert result.total == len(hits) <= len(allowed)
    if result.total_exact:
        assert hits == allowed
    if not allowed:
        assert not hits and all(not v for v in result.facets.values())
        return
    if name in ("cora", "irene", "aud"):  # agency-wide: the match is cut to the window
        assert not result.total_exact
    with c.uow() as uow:
        seeds = {}
        for evidence_id in hits:
            item = uow.evidence.get(evidence_id)
            assert item is not None and item.device_serial is not None
            seeds[evidence_id] = item.device_serial.removeprefix("SER")
    facets = result.facets
    for field in ("kind", "restriction", "state"):
        assert sum(f.count for f in facets[field]) == result.total  # over the same candidates
    assert {f.value.removeprefix("cat") for f in facets["category"]} <= set(seeds.values())
    assert {f.value.removeprefix("SER") for f in facets["device"]} <= set(seeds.values())
    for h in result.hits:
        digits = {tok for tok in h.snippet.replace("\x02", " ").replace("\x03", " ").split() if tok.isdigit()}
        assert digits <= {seeds[h.evidence_id]}
