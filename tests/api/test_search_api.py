"""``GET /api/v1/search`` through the real app: the query language, filters given as
parameters, facets, highlighted snippets, transcript hits, clear 422s for what cannot be
read, and nothing the caller may not see."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from opendems.bootstrap import Container
from opendems.domain.evidence import Restriction
from opendems.services.accounts import create_token
from opendems.services.context import Actor
from opendems.services.ingest import IngestRequest, ingest_stream
from opendems.web.app import create_app
from tests.factories import admin, make_container, pdf_bytes, png_bytes, user_actor

API = "/api/v1/search"
PROBLEM = "application/problem+json"
FILLER = " ".join(f"word{n}" for n in range(70))  # longer than one indexed window


@dataclass
class World:
    c: Container
    client: TestClient
    ids: dict[str, str]
    olga: dict[str, str]  # an officer's headers
    cus: dict[str, str]  # an evidence custodian's headers


def _ingest(c: Container, who: Actor, name: str, data: bytes, **fields: Any) -> str:
    req = IngestRequest(filename=name, **fields)
    return ingest_stream(who, req, [data], uow=c.uow(), blobs=c.blobs, clock=c.clock, limits=c.limits).item.id


def _token(c: Container, name: str, role: str, unit: str | None = None) -> dict[str, str]:
    user_actor(c, name, role, unit=unit)
    issued = create_token(admin(c), name, "test", uow=c.uow(), clock=c.clock)
    return {"Authorization": f"Bearer {issued.token}"}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    c = make_container(Path(tmp_path_factory.mktemp("search-api")))
    system = admin(c)
    olga_h = _token(c, "olga", "officer", unit="north")
    cus_h = _token(c, "cus", "evidence_custodian")
    olga = user_actor(c, "olga", "officer", unit="north")
    ids = {
        "traffic": _ingest(
            c,
            olga,
            "stop.png",
            png_bytes(seed=1),
            title="Traffic stop Elm Street",
            description="Driver stopped for speeding near the bakery",
            captured_by="olga",
            device_serial="BWC-1",
            category="traffic",
            tags=["night"],
            captured_at=datetime(2026, 3, 14, 21, 5, tzinfo=UTC),
        ),
        "burglary": _ingest(
            c,
            olga,
            "report.pdf",
            pdf_bytes("Burglary report"),
            title="Burglary at the bakery",
            captured_by="olga",
            category="burglary",
            tags=["night", "forced-entry"],
            captured_at=datetime(2026, 1, 5, 3, 0, tzinfo=UTC),
        ),
        "interview": _ingest(c, olga, "interview.png", png_bytes(seed=2), title="Interview recording"),
        "restricted": _ingest(
            c,
            system,
            "informant.png",
            png_bytes(seed=3),
            title="Bakery informant statement",
            captured_by="otto",
            category="burglary",
            tags=["night"],
            restriction=Restriction.RESTRICTED,
        ),
        "sealed": _ingest(
            c,
            system,
            "sealed.png",
            png_bytes(seed=4),
            title="Bakery sealed matter",
            category="burglary",
            tags=["night"],
            restriction=Restriction.SEALED,
        ),
    }
    with c.uow() as uow:
        uow.evidence.update_fields(ids["traffic"], {"latitude": 52.3702, "longitude": 4.8952}, c.clock.now())
        uow.search.add_text(
            ids["interview"],
            "transcript",
            [(0.0, FILLER), (42.5, "the suspect ran toward the bakery holding a crowbar")],
        )
        uow.search.add_text(
            ids["traffic"], "ocr", [(1.0, "citation form"), (3.0, "receipt for a green tarpaulin")]
        )
        uow.commit()
    with TestClient(create_app(c)) as client:
        yield World(c, client, ids, olga_h, cus_h)


def search(world: World, headers: dict[str, str] | None = None, **params: Any) -> dict[str, Any]:
    r = world.client.get(API, params=params, headers=headers or world.olga)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def found(body: dict[str, Any]) -> set[str]:
    return {h["evidence_id"] for h in body["hits"]}


def refused(world: World, **params: Any) -> str:
    r = world.client.get(API, params=params, headers=world.olga)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    detail: str = r.json()["detail"]
    assert detail and "Traceback" not in detail
    return detail


def test_words_are_ranked_with_highlighted_plain_snippets(world: World) -> None:
    ids = world.ids
    body = search(world, q="bakery")
    assert found(body) == {ids["traffic"], ids["burglary"], ids["interview"]}
    assert body["total"] == 3 and body["total_exact"] is True and body["limit"] == 25 and body["offset"] == 0
    assert body["hits"][0]["evidence_id"] == ids["burglary"]  # a title match outranks the rest
    hit = body["hits"][0]
    assert hit["snippet"] == "Burglary at the bakery"
    assert [hit["snippet"][a:b] for a, b in hit["highlights"]] == ["bakery"]
    assert hit["source"] == "metadata" and hit["at_seconds"] is None
    assert hit["item"]["title"] == "Burglary at the bakery"
    assert hit["item"]["kind"] == "document"
    assert hit["item"]["captured_at"].startswith("2026-01-05T03:00:00")
    assert hit["item"]["restriction"] == "normal"
    assert all("\x02" not in h["snippet"] and "\x03" not in h["snippet"] for h in body["hits"])
    assert body["facets"] == {}  # only when asked for

    stemmed = search(world, q="stopping")  # "stop" and "stopped" in the traffic stop
    assert found(stemmed) == {ids["traffic"]}
    assert found(search(world, q='"elm street"')) == {ids["traffic"]}
    assert found(search(world, q='"street elm"')) == set()
    assert found(search(world, q="burg*")) == {ids["burglary"]}
    assert found(search(world, q="bakery -burglary")) == {ids["traffic"], ids["interview"]}
    assert found(search(world, q="speeding OR crowbar")) == {ids["traffic"], ids["interview"]}


def test_a_transcript_hit_says_where_to_jump(world: World) -> None:
    body = search(world, q="crowbar")
    assert found(body) == {world.ids["interview"]}
    hit = body["hits"][0]
    assert hit["source"] == "transcript" and hit["at_seconds"] == 42.5
    assert [hit["snippet"][a:b] for a, b in hit["highlights"]] == ["crowbar"]
    assert hit["item"]["title"] == "Interview recording"


def test_an_ocr_hit_names_its_page(world: World) -> None:
    body = search(world, q="tarpaulin")
    assert found(body) == {world.ids["traffic"]}
    hit = body["hits"][0]
    assert (hit["source"], hit["page"], hit["at_seconds"]) == ("ocr", 3, None)
    assert search(world, q="crowbar")["hits"][0]["page"] is None


def test_filters_given_as_parameters_narrow_the_query(world: World) -> None:
    ids = world.ids
    assert found(search(world, q="bakery", kind="document")) == {ids["burglary"]}
    assert found(search(world, q="bakery", kind=["document", "image"])) == {
        ids["traffic"],
        ids["burglary"],
        ids["interview"],
    }
    assert found(search(world, tag=["night", "forced-entry"])) == {ids["burglary"]}
    assert found(search(world, tag="NIGHT")) == {ids["traffic"], ids["burglary"]}
    assert found(search(world, category="traffic")) == {ids["traffic"]}
    assert found(search(world, officer="olga", device="BWC-1")) == {ids["traffic"]}
    assert found(search(world, captured_from="2026-03-01")) == {ids["traffic"]}
    assert found(search(world, captured_to="2026-01-05")) == {ids["burglary"]}
    assert found(search(world, captured_from="2026-01-01", captured_to="2026-12-31")) == {
        ids["traffic"],
        ids["burglary"],
    }
    assert found(search(world, near="52.37,4.89,2km")) == {ids["traffic"]}
    assert found(search(world, near="52.37,4.89,100m")) == set()
    assert found(search(world, bbox="52.3,4.8,52.4,5.0")) == {ids["traffic"]}
    # The parameters add to the filters in the query.
    assert found(search(world, q="tag:night", category="burglary")) == {ids["burglary"]}
    assert found(search(world, q="kind:image", category="burglary")) == set()
    # Sort: by parameter, or in the query.
    newest = search(world, q="", sort="newest")
    assert [h["evidence_id"] for h in newest["hits"]] == [ids["interview"], ids["burglary"], ids["traffic"]]
    oldest = search(world, q="sort:oldest")
    assert [h["evidence_id"] for h in oldest["hits"]] == [ids["traffic"], ids["burglary"], ids["interview"]]
    # Paging.
    page = search(world, q="", sort="newest", limit=1, offset=1)
    assert [h["evidence_id"] for h in page["hits"]] == [ids["burglary"]] and page["total"] == 3


def test_facets_count_only_what_the_caller_may_see(world: World) -> None:
    body = search(world, q="", facets="true")
    facets = {name: {f["value"]: f["count"] for f in counts} for name, counts in body["facets"].items()}
    assert facets["tag"] == {"night": 2, "forced-entry": 1}
    assert facets["category"] == {"traffic": 1, "burglary": 1}
    assert facets["kind"] == {"image": 2, "document": 1}
    assert facets["restriction"] == {"normal": 3}
    assert facets["officer"] == {"olga": 2}
    assert facets["device"] == {"BWC-1": 1}
    # The custodian sees the restricted item too (not the sealed one): in counts and facets.
    wide = search(world, world.cus, q="bakery", facets="true")
    assert world.ids["restricted"] in found(wide) and world.ids["sealed"] not in found(wide)
    restriction = {f["value"]: f["count"] for f in wide["facets"]["restriction"]}
    assert restriction == {"normal": 3, "restricted": 1}


def test_hidden_items_never_appear(world: World) -> None:
    for q in ("informant", "sealed", "bakery", "Bakery informant statement", world.ids["sealed"]):
        body = search(world, q=q, facets="true")
        assert world.ids["restricted"] not in found(body) and world.ids["sealed"] not in found(body)
        assert "informant" not in str(body).lower() and "sealed matter" not in str(body).lower()
    assert search(world, q="informant", facets="true")["total"] == 0


def test_a_search_is_not_a_view_of_each_hit(world: World) -> None:
    def views() -> int:
        with world.c.uow() as uow:
            return sum(
                1
                for e in uow.custody.for_object("evidence", world.ids["burglary"])
                if e.action == "evidence:view"
            )

    before = views()
    search(world, q="burglary")
    assert views() == before


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"q": "color:red"}, "unknown search field 'color:'"),
        ({"q": "captured:2026-02-01..2026-01-01"}, "starts after it ends"),
        ({"q": "x" * 1001}, "too long"),
        ({"q": " ".join(["w"] * 65)}, "too many terms"),
        ({"q": "-kind:video"}, "cannot be negated"),
        ({"q": "kind:video OR kind:audio"}, "cannot be combined with OR"),
        ({"kind": "spaceship"}, "is not one of: video"),
        ({"near": "52.37,4.89"}, "near: expects LATITUDE,LONGITUDE,RADIUS"),
        ({"near": "52.37,4.89,9000km"}, "at most 500km"),
        ({"bbox": "53,4,52,5"}, "south edge lies north"),
        ({"captured_from": "yesterday"}, "is not a date"),
        ({"captured_from": "2026-03-01", "captured_to": "2026-02-01"}, "empty"),
        ({"officer": 'a"b'}, "cannot hold a double quote"),
        ({"q": "sort:newest", "sort": "oldest"}, "sort: given twice"),
        ({"limit": "0"}, "limit"),
        ({"offset": "20000"}, "offset"),
    ],
)
def test_what_cannot_be_read_is_a_clear_422(world: World, params: dict[str, str], says: str) -> None:
    assert says in refused(world, **params)


@pytest.mark.parametrize(
    "q",
    [
        '"unbalanced quote',
        "AND",
        "OR NOT",
        "((( bakery",
        "bakery )))",
        "') OR 1=1; DROP TABLE evidence; --",
        'NEAR(bakery street) "*" ^bakery {title}: bakery',
        "\x00\x02bakery\x03",
        "-",
        "*",
    ],
)
def test_odd_input_is_read_sensibly_never_a_server_error(world: World, q: str) -> None:
    body = search(world, q=q)
    assert body["total"] >= 0
    if "bakery" in q and "DROP" not in q:
        assert world.ids["sealed"] not in found(body)
    with world.c.uow() as uow:
        assert uow.evidence.get(world.ids["traffic"]) is not None  # nothing was dropped
