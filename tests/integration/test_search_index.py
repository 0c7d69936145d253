"""The SQLite FTS5 search index on a real database: relevance, every filter, sorting, facets,
snippets, transcript timestamps, geography, and the index following every committed change."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from opendems.bootstrap import Container
from opendems.domain.access import Role, visibility
from opendems.domain.errors import Invalid
from opendems.domain.evidence import EvidenceKind, EvidenceStatus, Restriction
from opendems.domain.search import (
    And,
    GeoBox,
    GeoCircle,
    Not,
    Or,
    SearchFilters,
    SearchQuery,
    SearchResult,
    Word,
)
from opendems.services import cases as case_svc
from opendems.services import evidence as ev_svc
from opendems.services import search as search_svc
from opendems.services.context import Actor
from opendems.services.ingest import IngestRequest, ingest_stream
from tests.factories import admin, make_container, pdf_bytes, png_bytes, user_actor

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class World:
    def __init__(self, c: Container, olga: Actor, cora: Actor, ids: dict[str, str]) -> None:
        self.c, self.olga, self.cora, self.ids = c, olga, cora, ids

    def find(self, q: str, who: Actor | None = None, *, limit: int = 100, **extra: Any) -> SearchResult:
        return search_svc.search(
            who or self.cora,
            q,
            SearchFilters(**extra) if extra else None,
            limit=limit,
            offset=0,
            facets=True,
            uow=self.c.uow(),
            clock=self.c.clock,
        )

    def names(self, q: str, **extra: Any) -> list[str]:
        by_id = {v: k for k, v in self.ids.items()}
        return [by_id.get(h.evidence_id, h.evidence_id) for h in self.find(q, **extra).hits]


_seed = iter(range(1000, 100000))


def ingest(c: Container, who: Actor, name: str, *, data: bytes | None = None, **fields: Any) -> str:
    req = IngestRequest(filename=fields.pop("filename", f"{name}.png"), **fields)
    return ingest_stream(
        who,
        req,
        [data or png_bytes(seed=next(_seed))],
        uow=c.uow(),
        blobs=c.blobs,
        clock=c.clock,
        limits=c.limits,
    ).item.id


def edit(c: Container, evidence_id: str, **changes: Any) -> None:
    ev_svc.edit_evidence(
        admin(c), evidence_id, changes, reason="test", uow=c.uow(), clock=c.clock, limits=c.limits
    )


def transcript(c: Container, evidence_id: str, segments: list[tuple[float | None, str]]) -> None:
    with c.uow() as uow:
        uow.search.add_text(evidence_id, "transcript", segments)
        uow.commit()


FILL = "officer walked along the street and spoke with several people about the weather today"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    c = make_container(Path(tmp_path_factory.mktemp("search")))
    olga = user_actor(c, "olga", Role.OFFICER, unit="north")
    cora = user_actor(c, "cora", Role.CUSTODIAN)
    ids: dict[str, str] = {}
    for n in range(16):  # a corpus large enough for bm25's document frequencies to mean something
        ids[f"filler{n}"] = ingest(
            c,
            olga,
            f"filler{n}",
            title=f"Routine patrol {n}",
            description=FILL,
            captured_at=T0 - timedelta(days=30),
        )
    ids["title"] = ingest(
        c,
        olga,
        "title",
        title="Burglary at the bakery",
        description="window broken",
        tags=["night", "priority"],
        captured_by="olga",
        device_serial="CAM-1",
        captured_at=T0,
    )
    ids["desc"] = ingest(
        c,
        olga,
        "desc",
        title="Traffic stop on Main",
        description="two burglaries reported nearby at the Café Noir",
        tags=["night"],
        captured_by="otto",
        device_serial="CAM-2",
        captured_at=T0 + timedelta(days=2),
    )
    ids["phrase"] = ingest(
        c,
        olga,
        "phrase",
        title="Red pickup truck",
        description="a red pickup truck drove away",
        captured_at=T0 + timedelta(days=4),
    )
    ids["words"] = ingest(
        c,
        olga,
        "words",
        title="Truck seen",
        description="the pickup was red, the truck old",
        captured_at=T0 + timedelta(days=6),
    )
    ids["doc"] = ingest(
        c,
        olga,
        "doc",
        data=pdf_bytes("Statement"),
        filename="statement-kowalski.pdf",
        title="Witness statement",
        description="signed by the witness",
    )
    ids["audio"] = ingest(
        c, olga, "audio", title="Interview recording", description="recorded at the station"
    )
    transcript(
        c,
        ids["audio"],
        [
            (0.0, " ".join(["hello this is the start of the interview"] * 4)),
            (31.5, " ".join(["we talked about the weather and other things"] * 4)),
            (64.25, " ".join(["then the suspect mentioned a crowbar near the door"] * 4)),
            (97.0, " ".join(["the interview ended with thanks to everyone present"] * 4)),
        ],
    )
    edit(c, ids["title"], latitude=52.3702, longitude=4.8952)  # Amsterdam
    edit(c, ids["desc"], latitude=52.3780, longitude=4.9000)  # about 1 km away
    edit(c, ids["phrase"], latitude=51.9244, longitude=4.4777)  # Rotterdam, 57 km away
    edit(c, ids["words"], restriction="restricted", category="Vehicles")
    edit(c, ids["phrase"], category="Vehicles")
    case_svc.create_case(admin(c), "K-100", {"title": "Bakery burglary"}, uow=c.uow(), clock=c.clock)
    case_svc.add_evidence(admin(c), "K-100", ids["title"], reason=None, uow=c.uow(), clock=c.clock)
    case_svc.add_evidence(admin(c), "K-100", ids["doc"], reason=None, uow=c.uow(), clock=c.clock)
    return World(c, olga, cora, ids)


# -- relevance ---------------------------------------------------------------------------------


def test_a_title_match_outranks_a_description_match_and_stems(world: World) -> None:
    assert world.names("burglary") == ["title", "desc"]  # "burglaries" stems to the same word
    assert world.names("burglaries") == ["title", "desc"]


def test_phrase_against_words(world: World) -> None:
    assert world.names('"red pickup truck"') == ["phrase"]
    assert set(world.names("red pickup truck")) == {"phrase", "words"}


def test_prefix_diacritics_and_case(world: World) -> None:
    assert set(world.names("burg*")) == {"title", "desc"}
    assert world.names("cafe") == ["desc"]
    assert world.names("CAFÉ") == ["desc"]
    assert world.names("noir") == ["desc"]


def test_boolean_operators(world: World) -> None:
    assert set(world.names("bakery OR pickup")) == {"title", "phrase", "words"}
    assert world.names("burglary AND window") == ["title"]
    assert world.names("burglary NOT bakery") == ["desc"]
    assert world.names("burglary -bakery") == ["desc"]
    assert world.names("(bakery OR cafe) -window") == ["desc"]
    # A pure negation lists everything else the actor sees.
    everything = world.find("", limit=100).total
    assert world.find("NOT burglary").total == everything - 2
    # ...also where a narrow filter (officer, case, place) is where the search starts from.
    assert world.names("officer:olga") == ["title"]
    assert world.names("officer:olga -bakery") == []
    assert world.names("officer:otto -bakery") == ["desc"]


def test_the_index_reads_the_query_tree(world: World) -> None:
    """Trees the parser may build, given straight to the index (nested negations included)."""
    scope = visibility(world.cora.principal)

    def ids(expr: Any) -> set[str]:
        with world.c.uow().for_reading() as uow:
            result = uow.search.search(
                SearchQuery(expr, SearchFilters()), scope, limit=100, offset=0, facets=False
            )
        by_id = {v: k for k, v in world.ids.items()}
        return {by_id[h.evidence_id] for h in result.hits}

    assert ids(Or((Word("bakery"), Not(Word("burglary"))))) >= {"title", "phrase", "filler0"}
    assert "desc" not in ids(Or((Word("bakery"), Not(Word("burglary")))))
    assert ids(And((Not(Word("burglary")), Not(Word("truck")), Word("red")))) == set()
    assert ids(Not(Not(Word("bakery")))) == {"title"}
    assert ids(Word("")) == ids(None)  # nothing to match: every item


def test_metadata_fields_are_searchable(world: World) -> None:
    assert world.names("kowalski") == ["doc"]  # the file name
    assert world.names("night") == ["title", "desc"] or set(world.names("night")) == {"title", "desc"}
    assert world.names("k 100") == ["title", "doc"] or set(world.names("k 100")) == {"title", "doc"}
    assert "title" in world.names("cam")
    assert set(world.names("vehicles")) == {"phrase", "words"}


def test_injection_looking_words_are_searched_literally(world: World) -> None:
    for q in [
        '"; DROP TABLE evidence; --',
        "title:burglary OR 1=1",
        "NEAR(burglary bakery)",
        "burglary*)*",
        "\"'",
    ]:
        try:
            result = world.find(q)
        except Invalid:
            continue
        assert all(h.evidence_id in world.ids.values() for h in result.hits)
    assert world.find('"; DROP TABLE evidence; --').total == 0
    with world.c.uow() as uow:  # the table is still there
        assert uow.evidence.get(world.ids["title"]) is not None


# -- snippets and transcripts -----------------------------------------------------------------


def test_snippets_mark_the_matched_words(world: World) -> None:
    hits = {h.evidence_id: h for h in world.find("burglary").hits}
    title = hits[world.ids["title"]]
    assert "\x02Burglary\x03" in title.snippet
    assert title.source == "metadata" and title.at_seconds is None
    assert "\x02burglaries\x03" in hits[world.ids["desc"]].snippet


def test_a_transcript_hit_returns_where_to_jump(world: World) -> None:
    [hit] = world.find("crowbar").hits
    assert hit.evidence_id == world.ids["audio"]
    assert hit.source == "transcript"
    assert hit.at_seconds == 64.25
    assert "\x02crowbar\x03" in hit.snippet
    [ended] = world.find('"interview ended"').hits
    assert ended.at_seconds == 97.0


def test_a_hit_in_metadata_and_transcript_counts_once(world: World) -> None:
    result = world.find("interview")
    assert result.total == 1
    assert [h.evidence_id for h in result.hits] == [world.ids["audio"]]
    assert result.hits[0].source == "metadata"  # the title is the strongest match


def test_the_words_of_a_query_may_be_split_between_metadata_and_speech(world: World) -> None:
    # "recording" is only in the title, "crowbar" only in what was said.
    [hit] = world.find("recording crowbar").hits
    assert hit.evidence_id == world.ids["audio"]
    assert hit.source == "transcript" and hit.at_seconds == 64.25
    assert "\x02crowbar\x03" in hit.snippet
    [hit] = world.find('recording "interview ended"').hits
    assert hit.at_seconds == 97.0
    # tags, officer and the like travel with the windows as well
    assert world.find("recording crowbar -crowbar").total == 0
    assert world.find("bakery crowbar").total == 0  # not in one item


def test_a_match_only_in_the_metadata_does_not_claim_a_moment(world: World) -> None:
    # Every window of the transcript carries the title, so each matches "recording"; the hit
    # still comes from the metadata, with no second to jump to.
    [hit] = world.find("recording").hits
    assert hit.source == "metadata" and hit.at_seconds is None
    assert "\x02recording\x03" in hit.snippet
    assert world.find("recording OR crowbar").total == 1


def test_a_broad_match_is_counted_as_a_lower_bound(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from opendems.adapters.db import search_repo

    fillers = {v for k, v in world.ids.items() if k.startswith("filler")}
    exact = world.find("patrol")
    assert exact.total == 16 and exact.total_exact
    monkeypatch.setattr(search_repo, "MATCH_WINDOW", 5)
    cut = world.find("patrol")
    assert not cut.total_exact
    assert 1 <= cut.total <= 5  # the newest five matching documents' items
    assert {h.evidence_id for h in cut.hits} <= fillers
    assert sum(f.count for f in cut.facets["kind"]) == cut.total  # facets of those candidates
    assert world.find("crowbar").total_exact  # a match within the window stays exact
    monkeypatch.setattr(search_repo, "LIST_WINDOW", 5)
    listed = world.find("")
    assert not listed.total_exact and listed.total <= 5
    newest = world.find("sort:newest", limit=3)
    assert [h.evidence_id for h in newest.hits] == [h.evidence_id for h in listed.hits[:3]]


def test_excluded_words_drop_items_whichever_document_holds_them(world: World) -> None:
    assert world.names("recording -crowbar") == []  # the transcript holds it
    assert world.names("interview -weather") == []
    assert set(world.names("burglary -bakery")) == {"desc"}
    assert len(world.names("patrol -nothing")) == 16


def test_an_exclusion_looks_only_at_the_items_own_documents(fresh_sqlite: World) -> None:
    """Exclusions list matches within each run of an item's documents: a run that spans
    another item's document must not exclude the item for what that one says."""
    from opendems.adapters.db.search_repo import SqliteSearchIndex

    w, c = fresh_sqlite, fresh_sqlite.c
    x = ingest(c, w.olga, "x", title="Harbour patrol")
    y = ingest(c, w.olga, "y", title="Market patrol")
    w.ids.update(x=x, y=y)
    with c.uow() as uow:
        index = uow.search
        assert isinstance(index, SqliteSearchIndex)
        index._insert(  # the rowids of x's windows on either side of y's
            [
                (x, "ocr", None, "Harbour patrol", "", "the crane was idle", ""),
                (y, "ocr", None, "Market patrol", "", "a stolen moped", ""),
                (x, "ocr", None, "Harbour patrol", "", "the ferry left late", ""),
            ]
        )
        uow.commit()
    assert w.names("patrol -moped") == ["x"]
    assert w.names("crane -moped") == ["x"]
    assert w.names("patrol -ferry") == ["y"]


# -- filters ------------------------------------------------------------------------------------


def test_every_filter(world: World) -> None:
    w = world
    assert set(w.names("", kinds=(EvidenceKind.DOCUMENT,))) == {"doc"}
    assert set(w.names("kind:document")) == {"doc"}
    assert set(w.names("officer:olga")) == {"title"}
    assert set(w.names("officer:OTTO")) == {"desc"}
    assert set(w.names("device:cam-2")) == {"desc"}
    assert set(w.names("case:K-100")) == {"title", "doc"}
    assert set(w.names("case:k-100 burglary")) == {"title"}
    assert set(w.names('category:"vehicles"')) == {"phrase", "words"}
    assert set(w.names("tag:night")) == {"title", "desc"}
    assert set(w.names("tag:night tag:priority")) == {"title"}  # every tag must match
    assert set(w.names("tag:night tag:nothing")) == set()
    assert set(w.names("restriction:restricted")) == {"words"}
    assert "words" not in w.names("restriction:normal")
    assert len(w.names("state:ready")) == w.find("").total
    assert w.names("", states=(EvidenceStatus.DISPOSED,)) == []
    assert set(w.names("captured:2026-03-01..2026-03-03")) == {"title", "desc"}
    assert set(w.names("captured:2026-03-05..")) == {"phrase", "words"}
    assert set(w.names("captured:..2026-03-01")) == {"title"} | {f"filler{n}" for n in range(16)}
    assert set(w.names("", kinds=(EvidenceKind.IMAGE,), restrictions=(Restriction.RESTRICTED,))) == {"words"}
    assert set(w.names("burglary", captured_from=T0 + timedelta(days=1))) == {"desc"}


def test_several_values_of_one_field_are_either(world: World) -> None:
    assert set(world.names("officer:olga officer:otto")) == {"title", "desc"}
    assert set(world.names("kind:document kind:video")) == {"doc"}
    assert len(world.names("kind:document kind:image")) == len(world.ids)


def test_geography(world: World) -> None:
    assert set(world.names("near:52.3702,4.8952,500m")) == {"title"}
    assert set(world.names("near:52.3702,4.8952,2km")) == {"title", "desc"}
    assert set(world.names("near:52.3702,4.8952,60km")) == {"title", "desc", "phrase"}
    assert set(world.names("near:52.3702,4.8952,60km burglary")) == {"title", "desc"}
    assert set(world.names("", near=GeoCircle(52.3702, 4.8952, 1100))) == {"title", "desc"}
    assert set(world.names("bbox:52.36,4.89,52.375,4.90")) == {"title"}
    assert set(world.names("", box=GeoBox(51.0, 4.0, 53.0, 5.0))) == {"title", "desc", "phrase"}
    assert world.names("", box=GeoBox(-10.0, 170.0, 10.0, -170.0)) == []  # across the 180th meridian


# -- sorting, paging, facets -------------------------------------------------------------------


def test_sort_orders(world: World) -> None:
    w = world
    newest = w.names("(truck OR burglary) sort:newest")
    assert newest == ["words", "phrase", "desc", "title"]
    assert w.names("(truck OR burglary) sort:oldest") == ["title", "desc", "phrase", "words"]
    assert w.names("(truck OR burglary) sort:captured") == ["words", "phrase", "desc", "title"]
    # Without words to rank, a filtered list comes newest first.
    assert w.names("tag:night") == ["desc", "title"]


def test_paging_keeps_the_total(world: World) -> None:
    first = search_svc.search(
        world.cora, "", None, limit=5, offset=0, facets=False, uow=world.c.uow(), clock=world.c.clock
    )
    second = search_svc.search(
        world.cora, "", None, limit=5, offset=5, facets=False, uow=world.c.uow(), clock=world.c.clock
    )
    beyond = search_svc.search(
        world.cora, "", None, limit=5, offset=500, facets=False, uow=world.c.uow(), clock=world.c.clock
    )
    assert first.total == second.total == beyond.total == len(world.ids)
    assert not {h.evidence_id for h in first.hits} & {h.evidence_id for h in second.hits}
    assert beyond.hits == []
    with pytest.raises(Invalid):
        search_svc.search(
            world.cora, "", None, limit=0, offset=0, facets=False, uow=world.c.uow(), clock=world.c.clock
        )


@pytest.mark.parametrize("q", ["", "burglary OR truck OR interview", "tag:night", "-burglary"])
def test_facets_count_exactly_the_matching_set(world: World, q: str) -> None:
    result = world.find(q, limit=200)
    assert result.total == len(result.hits)
    items = []
    with world.c.uow() as uow:
        for h in result.hits:
            item = uow.evidence.get(h.evidence_id)
            assert item is not None
            items.append((item, uow.access.evidence_attrs(item).restriction))
    expected: dict[str, Counter[str]] = {
        "kind": Counter(i.kind.value for i, _ in items),
        "category": Counter(i.category for i, _ in items if i.category),
        "officer": Counter(i.captured_by for i, _ in items if i.captured_by),
        "device": Counter(i.device_serial for i, _ in items if i.device_serial),
        "case": Counter(n for i, _ in items for n in i.case_numbers),
        "tag": Counter(t for i, _ in items for t in i.tags),
        "restriction": Counter(level.value for _, level in items),
        "state": Counter(i.status.value for i, _ in items),
    }
    got = {name: Counter({f.value: f.count for f in counts}) for name, counts in result.facets.items()}
    assert got == expected
    for counts in result.facets.values():
        assert [f.count for f in counts] == sorted((f.count for f in counts), reverse=True)


# -- consistency with the database -------------------------------------------------------------


@pytest.fixture
def fresh(tmp_path: Path) -> World:
    c = make_container(tmp_path)
    olga = user_actor(c, "olga", Role.OFFICER)
    cora = user_actor(c, "cora", Role.CUSTODIAN)
    return World(c, olga, cora, {})


@pytest.fixture
def fresh_sqlite(tmp_path: Path) -> World:
    """``fresh`` on SQLite whatever the run's database: for the checks that read the FTS5
    table itself (test_search_postgresql.py reads PostgreSQL's)."""
    c = make_container(tmp_path, database_url=f"sqlite:///{tmp_path / 'search.db'}")
    return World(c, user_actor(c, "olga", Role.OFFICER), user_actor(c, "cora", Role.CUSTODIAN), {})


def test_the_index_follows_every_committed_change(fresh: World) -> None:
    w, c = fresh, fresh.c
    item = ingest(c, w.olga, "x", title="Stolen bicycle", description="blue frame")
    assert [h.evidence_id for h in w.find("bicycle").hits] == [item]
    edit(c, item, title="Recovered scooter")
    assert w.find("bicycle").total == 0
    assert [h.evidence_id for h in w.find("scooter").hits] == [item]
    ev_svc.change_tags(w.olga, item, add=["harbour"], uow=c.uow(), clock=c.clock, limits=c.limits)
    assert w.find("harbour").total == 1
    ev_svc.change_tags(w.olga, item, remove=["harbour"], uow=c.uow(), clock=c.clock, limits=c.limits)
    assert w.find("harbour").total == 0
    assert w.find("case:K-7").total == 0
    case_svc.create_case(admin(c), "K-7", {"title": "Bikes"}, uow=c.uow(), clock=c.clock)
    case_svc.add_evidence(admin(c), "K-7", item, reason=None, uow=c.uow(), clock=c.clock)
    assert [h.evidence_id for h in w.find("case:K-7").hits] == [item]
    assert w.find('"k 7"').total == 1  # the case number is in the item's words as well
    case_svc.remove_evidence(admin(c), "K-7", item, reason="test", uow=c.uow(), clock=c.clock)
    assert w.find("case:K-7").total == 0
    assert w.find('"k 7"').total == 0
    with c.uow() as uow:  # a probe result: what the processing step writes
        uow.evidence.update_fields(
            item, {"media": {"container": "matroska", "streams": [{"codec": "hevc"}]}}, c.clock.now()
        )
        uow.commit()
    assert w.find("hevc").total == 1


def test_a_hit_deep_in_a_window_jumps_to_its_own_segment(fresh: World) -> None:
    w, c = fresh, fresh.c
    item = ingest(c, w.olga, "x", title="Long interview")
    words = ["we", "kept", "talking", "about", "nothing", "much", "at", "all"]
    segments: list[tuple[float | None, str]] = [(n * 3.0, " ".join(words)) for n in range(60)]
    segments[37] = (111.0, "and then the getaway driver said hello")
    transcript(c, item, segments)
    [hit] = w.find("getaway").hits
    assert hit.source == "transcript" and hit.at_seconds == 111.0
    [hit] = w.find("long getaway").hits  # title and speech together
    assert hit.at_seconds == 111.0
    transcript(c, item, [(5.0, " ".join(["word"] * 450 + ["zeppelin"]))])  # one huge segment
    [hit] = w.find("zeppelin").hits
    assert hit.at_seconds == 5.0 and "\x02zeppelin\x03" in hit.snippet


def test_editing_an_item_updates_the_words_its_windows_carry(fresh_sqlite: World) -> None:
    w, c = fresh_sqlite, fresh_sqlite.c
    item = ingest(c, w.olga, "x", title="Parked van")
    with c.uow() as uow:  # a long text: 2,000 words in 20 windows
        uow.search.add_text(item, "ocr", [(None, f"line {n} about the weather") for n in range(400)])
        uow.commit()
    transcript(c, item, [(2.0, "the suspect dropped a crowbar")])
    assert w.find("van crowbar").total == 1
    edit(c, item, title="Moved lorry")
    ev_svc.change_tags(w.olga, item, add=["harbour"], uow=c.uow(), clock=c.clock, limits=c.limits)
    assert w.find("van crowbar").total == 0
    [hit] = w.find("lorry crowbar").hits
    assert hit.at_seconds == 2.0
    assert w.find("harbour crowbar").total == 1
    assert w.find("lorry weather").hits[0].source == "ocr"
    with c.engine.connect() as conn:  # every window was rewritten, none duplicated
        windows = conn.exec_driver_sql(
            "SELECT count(*) FROM search_fts WHERE search_fts MATCH 'title:lorry'"
        ).scalar()
        stale = conn.exec_driver_sql("SELECT count(*) FROM search_fts WHERE search_fts MATCH 'van'").scalar()
    assert (windows, stale) == (22, 0)  # the metadata, 20 windows of text and 1 of speech


def test_nothing_reaches_the_index_without_a_commit(fresh: World) -> None:
    w, c = fresh, fresh.c
    item = ingest(c, w.olga, "x", title="Parked van")
    with pytest.raises(RuntimeError), c.uow() as uow:
        uow.evidence.update_fields(item, {"title": "Moved lorry"}, c.clock.now())
        uow.search.add_text(item, "transcript", [(1.0, "lorry lorry lorry")])
        raise RuntimeError("crash before commit")
    assert w.find("lorry").total == 0
    assert w.find("van").total == 1
    # An explicit rollback forgets the marks as well: a later commit does not index them.
    with c.uow() as uow:
        uow.evidence.update_fields(item, {"title": "Moved lorry"}, c.clock.now())
        uow.rollback()
        uow.commit()
    assert w.find("lorry").total == 0


def test_rebuild_all_reproduces_the_results(world: World) -> None:
    queries = ["burglary", "crowbar", "red pickup", "tag:night", "near:52.3702,4.8952,60km", "-burglary"]
    before = [world.find(q) for q in queries]
    count = search_svc.reindex(admin(world.c), uow=world.c.uow(), clock=world.c.clock)
    assert count == len(world.ids)
    after = [world.find(q) for q in queries]
    for a, b in zip(before, after, strict=True):
        assert [(h.evidence_id, h.snippet, h.at_seconds) for h in a.hits] == [
            (h.evidence_id, h.snippet, h.at_seconds) for h in b.hits
        ]
        assert a.total == b.total and a.facets == b.facets
    with world.c.uow() as uow:
        [event] = [e for e in uow.custody.for_object("system", "search") if e.action == "search:reindex"]
    assert event.details_dict["items"] == len(world.ids)


def test_rebuild_all_repairs_a_damaged_index(fresh_sqlite: World) -> None:
    w, c = fresh_sqlite, fresh_sqlite.c
    item = ingest(c, w.olga, "x", title="Broken lamp")
    with c.engine.begin() as conn:  # lose the item's document behind the application's back
        conn.exec_driver_sql("DELETE FROM search_fts")
        conn.exec_driver_sql("DELETE FROM search_rows")
        conn.exec_driver_sql(
            "INSERT INTO search_rows (id, evidence_id, source) VALUES (99, 'EV-1999-000001', 'metadata')"
        )
    assert w.find("lamp").total == 0
    search_svc.reindex(admin(c), uow=c.uow(), clock=c.clock)
    assert [h.evidence_id for h in w.find("lamp").hits] == [item]


def test_reindex_needs_a_permission(fresh: World) -> None:
    from opendems.domain.errors import Forbidden

    with pytest.raises(Forbidden):
        search_svc.reindex(fresh.olga, uow=fresh.c.uow(), clock=fresh.c.clock)


def test_bad_queries_are_refused_clearly(world: World) -> None:
    for q in ["title:x", "x" * 1001, "captured:2026-02-01..2026-01-01"]:
        with pytest.raises(Invalid):
            world.find(q)
    assert world.find('"unbalanced').total == 0
    assert world.find("AND").total >= 0
