"""Meaning search on a real database with the real model: paraphrases of transcripts and
descriptions are found, filters, negations and access apply, exact words still rank, and the
vectors follow every change (edits, new transcripts, a rebuild)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, select

from opendems.adapters.db.tables import search_vectors
from opendems.bootstrap import Container
from opendems.domain.access import Role
from opendems.domain.errors import Forbidden, Invalid
from opendems.domain.search import SearchFilters, SearchResult
from opendems.services import evidence as ev_svc
from opendems.services import search as search_svc
from opendems.services.context import Actor
from opendems.services.ingest import IngestRequest, ingest_stream
from tests.factories import admin, make_container, png_bytes, user_actor

RIVER = "the suspect ran off toward the river carrying a black backpack"
FLED = "man fled to the water with a bag"
OTHER_TALK = [
    "the driver was asked for license and registration during the traffic stop",
    "the neighbours complained about loud music late at night",
    "a woman reported her car stolen from the parking garage",
]
_seed = iter(range(5000, 100000))


class World:
    def __init__(self, c: Container, olga: Actor, otto: Actor, cora: Actor, ids: dict[str, str]) -> None:
        self.c, self.olga, self.otto, self.cora, self.ids = c, olga, otto, cora, ids

    def find(self, q: str, who: Actor | None = None, **extra: Any) -> SearchResult:
        return search_svc.search(
            who or self.cora,
            q,
            SearchFilters(**extra) if extra else None,
            limit=50,
            offset=0,
            facets=True,
            uow=self.c.uow(),
            clock=self.c.clock,
        )

    def names(self, q: str, who: Actor | None = None, **extra: Any) -> list[str]:
        by_id = {v: k for k, v in self.ids.items()}
        return [by_id.get(h.evidence_id, h.evidence_id) for h in self.find(q, who, **extra).hits]


def ingest(c: Container, who: Actor, **fields: Any) -> str:
    req = IngestRequest(filename=fields.pop("filename", "x.png"), **fields)
    return ingest_stream(
        who, req, [png_bytes(seed=next(_seed))], uow=c.uow(), blobs=c.blobs, clock=c.clock, limits=c.limits
    ).item.id


def transcript(c: Container, evidence_id: str, segments: list[tuple[float | None, str]]) -> None:
    with c.uow() as uow:
        uow.search.add_text(evidence_id, "transcript", segments)
        uow.commit()


def build(root: Path) -> World:
    c = make_container(root, meaning_search=True)
    olga = user_actor(c, "olga", Role.OFFICER, unit="north")
    otto = user_actor(c, "otto", Role.OFFICER, unit="south")
    cora = user_actor(c, "cora", Role.CUSTODIAN)
    ids: dict[str, str] = {}
    ids["river"] = ingest(c, olga, title="Body camera 1", tags=["foot-chase"])
    transcript(
        c,
        ids["river"],
        [
            (0.0, "this is officer hansen starting the recording"),
            (7.5, "dispatch says units are on the way"),
            (14.25, RIVER),
            (21.0, "we lost sight of him near the old mill"),
        ],
    )
    for n, said in enumerate(OTHER_TALK):
        ids[f"talk{n}"] = ingest(c, olga, title=f"Body camera {n + 2}")
        transcript(c, ids[f"talk{n}"], [(0.0, "recording started"), (5.0, said)])
    ids["shop"] = ingest(
        c,
        olga,
        title="Jeweller, High Street",
        description="Two men broke into the jewellery store through the back window during the night.",
    )
    ids["party"] = ingest(c, olga, title="Noise complaint", description="A birthday party with a live band.")
    ids["bike"] = ingest(
        c, otto, title="Shed", description="Someone took a bicycle from the garden shed behind the house."
    )
    return World(c, olga, otto, cora, ids)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return build(Path(tmp_path_factory.mktemp("meaning")))


@pytest.fixture
def fresh(tmp_path: Path) -> World:
    return build(tmp_path)


def test_meaning_search_ranks_the_paraphrased_transcript_first(world: World) -> None:
    result = world.find(FLED)
    assert result.hits, "the paraphrase found nothing"
    top = result.hits[0]
    assert top.evidence_id == world.ids["river"]
    assert top.source == "transcript" and top.by_meaning
    assert top.at_seconds == 14.25  # the segment that says it, not the window's start
    assert "river" in top.snippet and "\x02" not in top.snippet
    assert world.ids["party"] not in {h.evidence_id for h in result.hits}


def test_words_only_does_not_find_a_paraphrase(world: World) -> None:
    assert world.names(FLED + " match:words") == []
    assert world.names(FLED + " match:meaning")[0] == "river"


def test_a_description_paraphrase_is_found(world: World) -> None:
    assert world.names("burglars entered a shop")[0] == "shop"
    hit = world.find("burglars entered a shop").hits[0]
    assert hit.source == "metadata" and hit.at_seconds is None and "jewellery" in hit.snippet


def test_exact_words_still_rank_first_and_are_marked(world: World) -> None:
    result = world.find("backpack")
    assert result.hits[0].evidence_id == world.ids["river"]
    assert "\x02backpack\x03" in result.hits[0].snippet.lower()
    assert result.hits[0].at_seconds == 14.25 and not result.hits[0].by_meaning
    assert world.names("jewellery")[0] == "shop"


def test_filters_and_negations_apply_to_meaning_search(world: World) -> None:
    assert world.names(FLED + " tag:foot-chase")[0] == "river"
    assert "river" not in world.names(FLED + " tag:night")
    assert "river" not in world.names(FLED, cases=("NO-SUCH-CASE",))
    assert world.names(FLED + " kind:image")[0] == "river"  # (every item here is a photo)
    # A negated word drops an item wherever it is said, by meaning as by words.
    assert "river" not in world.names(FLED + " -backpack")
    assert "shop" not in world.names("burglars entered a shop -jewellery")


def test_meaning_search_never_reaches_an_item_its_user_cannot_see(world: World) -> None:
    query = "a bike was stolen from the shed"
    assert world.names(query, world.cora)[0] == "bike"
    assert world.names(query, world.otto)[0] == "bike"
    as_olga = world.find(query, world.olga)
    assert world.ids["bike"] not in {h.evidence_id for h in as_olga.hits}
    assert all(f.value != "Shed" for counts in as_olga.facets.values() for f in counts)
    # Otto sees only his own item: none of Olga's comes back by meaning either.
    assert set(world.names(FLED, world.otto)) <= {"bike"}


def test_the_vectors_follow_edits(fresh: World) -> None:
    c = fresh.c
    ev_svc.edit_evidence(
        admin(c),
        fresh.ids["party"],
        {"description": "A horse escaped from the farm and ran along the motorway."},
        reason="test",
        uow=c.uow(),
        clock=c.clock,
        limits=c.limits,
    )
    assert fresh.names("an animal loose on the highway")[0] == "party"
    assert "party" not in fresh.names("a birthday celebration with musicians")
    # A new transcript replaces the old one's vectors.
    transcript(c, fresh.ids["river"], [(3.0, "the horse was caught by the farmer")])
    assert "river" not in fresh.names(FLED)


def test_rebuild_recomputes_every_vector(fresh: World) -> None:
    c = fresh.c
    with c.engine.begin() as conn:
        held = conn.execute(select(func.count()).select_from(search_vectors)).scalar_one()
        conn.execute(delete(search_vectors))
    assert held >= 1 + 1 + len(OTHER_TALK) + 3
    assert fresh.names(FLED) == []  # no vectors: words only, and no word matches
    search_svc.reindex(admin(c), uow=c.uow(), clock=c.clock)
    with c.engine.begin() as conn:
        assert conn.execute(select(func.count()).select_from(search_vectors)).scalar_one() == held
    assert fresh.names(FLED)[0] == "river"


def test_meaning_only_is_refused_where_meaning_search_is_off(tmp_path: Path) -> None:
    c = make_container(tmp_path)  # the tests' default: off
    with pytest.raises(Invalid, match="meaning search is turned off"):
        search_svc.search(
            admin(c), "anything match:meaning", limit=10, offset=0, facets=False, uow=c.uow(), clock=c.clock
        )
    with c.engine.begin() as conn:
        assert conn.execute(select(func.count()).select_from(search_vectors)).scalar_one() == 0


def test_the_api_says_which_hits_were_found_by_meaning(world: World) -> None:
    from fastapi.testclient import TestClient

    from opendems.services.accounts import create_token
    from opendems.web.app import create_app

    token = create_token(admin(world.c), "cora", "t", uow=world.c.uow(), clock=world.c.clock).token
    auth = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(world.c)) as client:
        both = client.get("/api/v1/search", params={"q": FLED}, headers=auth).json()
        words = client.get("/api/v1/search", params={"q": FLED, "match": "words"}, headers=auth).json()
        bad = client.get("/api/v1/search", params={"q": FLED, "match": "vibes"}, headers=auth)
    top = both["hits"][0]
    assert top["evidence_id"] == world.ids["river"] and top["by_meaning"] is True
    assert top["source"] == "transcript" and top["at_seconds"] == 14.25 and top["highlights"] == []
    assert words["hits"] == [] and words["total"] == 0
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"


def vector_count(c: Container, evidence_id: str | None = None) -> int:
    query = select(func.count()).select_from(search_vectors)
    if evidence_id is not None:
        query = query.where(search_vectors.c.evidence_id == evidence_id)
    with c.engine.begin() as conn:
        return int(conn.execute(query).scalar_one())


def test_items_committed_without_the_model_get_their_vectors_afterwards(tmp_path: Path) -> None:
    """As ``opendems ingest`` does: words at each file's commit, meaning after the last."""
    c = make_container(tmp_path, meaning_search=True)
    who = user_actor(c, "olga", Role.OFFICER)
    req = IngestRequest(filename="x.png", title="Shed", description=FLED)
    item = ingest_stream(
        who, req, [png_bytes(seed=1)], uow=c.uow(meaning=False), blobs=c.blobs, clock=c.clock, limits=c.limits
    ).item.id
    cora = user_actor(c, "cora", Role.CUSTODIAN)
    world = World(c, who, who, cora, {"shed": item})
    assert vector_count(c) == 0
    assert world.names("shed") == ["shed"]  # its words are searchable at once
    assert world.names(RIVER + " match:meaning") == []
    search_svc.index_meaning(who, [item], uow=c.uow())
    assert vector_count(c, item) >= 1
    assert world.names(RIVER + " match:meaning") == ["shed"]
    search_svc.index_meaning(who, [item], uow=c.uow())  # again: nothing is embedded twice
    assert vector_count(c, item) == vector_count(c)


def test_the_catch_up_embeds_every_document_that_has_none(fresh: World) -> None:
    c = fresh.c
    held = vector_count(c)
    lost = (fresh.ids["river"], fresh.ids["shop"], fresh.ids["bike"])
    with c.engine.begin() as conn:
        conn.execute(delete(search_vectors).where(search_vectors.c.evidence_id.in_(lost)))
    assert fresh.names(FLED + " match:meaning") == [] and vector_count(c) < held
    # A scan of two documents at a time: it must page through all of them and end.
    assert search_svc.catch_up_meaning(admin(c), uow=c.uow(), batch=2) == len(lost)
    assert vector_count(c) == held
    assert fresh.names(FLED)[0] == "river"
    assert search_svc.catch_up_meaning(admin(c), uow=c.uow()) == 0  # nothing left to do


def test_two_processes_embedding_the_same_documents_do_not_collide(fresh: World) -> None:
    """A server's catch-up beside the last step of ``opendems ingest``: both find the same
    documents without vectors. The second to commit must neither fail nor store them twice."""
    c = fresh.c
    held = vector_count(c)
    lost = [fresh.ids["river"], fresh.ids["shop"]]
    with c.engine.begin() as conn:
        conn.execute(delete(search_vectors).where(search_vectors.c.evidence_id.in_(lost)))
    first_in, errors = threading.Event(), []

    def first() -> None:
        try:
            with c.uow() as uow:
                uow.search.fill_vectors(lost)  # written, not yet committed
                first_in.set()
                time.sleep(1.0)  # the second starts meanwhile and finds no vector committed
                uow.commit()
        except BaseException as exc:
            errors.append(exc)
            first_in.set()

    other = threading.Thread(target=first)
    other.start()
    assert first_in.wait(30)
    second = c.uow()
    with second:
        second.search.fill_vectors(lost)
        second.commit()
    other.join(30)
    assert errors == []
    assert vector_count(c) == held
    assert fresh.names(FLED + " match:meaning")[0] == "river"


def test_completing_the_index_asks_the_policy(fresh: World) -> None:
    c = fresh.c
    auditor = user_actor(c, "ada", Role.AUDITOR)
    with pytest.raises(Forbidden, match="evidence:create"):
        search_svc.index_meaning(auditor, [fresh.ids["river"]], uow=c.uow())
    with pytest.raises(Forbidden, match="evidence:verify"):
        search_svc.catch_up_meaning(fresh.olga, uow=c.uow())
