"""The search page through the real app with a browser session: results with marked
snippets (escaped first), a jump link for transcript hits, facet links that add their filter
to the query, order and pages, and a clear message with 422 for a query that cannot be read."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from opendems.bootstrap import Container
from opendems.domain.evidence import Restriction
from opendems.services.ingest import IngestRequest, ingest_stream
from tests.api.test_ui_library import HTML, Browser, sign_in
from tests.factories import admin, make_container, png_bytes, user_actor

HTMX = {"HX-Request": "true", "HX-Target": "search-results"}
FILLER = " ".join(f"filler{n}" for n in range(70))


@dataclass
class World:
    c: Container
    ids: dict[str, str]
    olga: Browser


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    c = make_container(Path(tmp_path_factory.mktemp("search-ui")))
    olga = user_actor(c, "olga", "officer", unit="north")

    def add(who: object, name: str, seed: int, **fields: object) -> str:
        req = IngestRequest(filename=name, **fields)  # type: ignore[arg-type]
        return ingest_stream(
            who,  # type: ignore[arg-type]
            req,
            [png_bytes(seed=seed)],
            uow=c.uow(),
            blobs=c.blobs,
            clock=c.clock,
            limits=c.limits,
        ).item.id

    ids = {
        "tricky": add(olga, "a.png", 1, title="<b>Bold</b> & bakery", tags=["night"], category="burglary"),
        "plain": add(olga, "b.png", 2, title="Bakery delivery van", tags=["day shift"], category="traffic"),
        "talk": add(olga, "c.png", 3, title="Interview"),
        "hidden": add(
            admin(c), "d.png", 4, title="Bakery sealed matter", restriction=Restriction.SEALED, tags=["night"]
        ),
    }
    for n in range(27):
        add(olga, f"r{n}.png", 100 + n, title=f"routine photo {n:02d}", tags=["routine"])
    with c.uow() as uow:
        uow.search.add_text(
            ids["talk"], "transcript", [(0.0, FILLER), (75.0, "we met at the bakery at dawn")]
        )
        uow.commit()
    browser = sign_in(c, "olga")
    yield World(c, ids, browser)
    browser.web.close()


def hits(page: str) -> list[str]:
    return re.findall(r'<li class="search-hit" id="hit-(EV-\d{4}-\d+)"', page)


def get(world: World, url: str, status: int = 200, htmx: bool = False) -> str:
    r = world.olga.web.get(url, headers=HTMX if htmx else HTML)
    assert r.status_code == status, r.text
    return r.text


def test_the_page_before_a_search_explains_the_language(world: World) -> None:
    page = get(world, "/search")
    assert '<input type="search" id="search-q" name="q"' in page
    assert 'id="search-help"' in page and "near:52.37,4.89,2km" in page
    assert 'id="search-intro"' in page and hits(page) == []
    assert '<script type="module" src="/static/app/js/search.js"></script>' in page


def test_results_show_escaped_text_with_marked_matches(world: World) -> None:
    page = get(world, "/search?q=bakery")
    assert set(hits(page)) == {world.ids["tricky"], world.ids["plain"], world.ids["talk"]}
    assert world.ids["hidden"] not in page and "sealed matter" not in page
    assert "&lt;b&gt;Bold&lt;/b&gt; &amp; <mark>bakery</mark>" in page
    assert "<b>Bold</b>" not in page
    assert 'id="search-count"' in page and "3 items found" in page


def test_a_transcript_hit_links_to_its_moment(world: World) -> None:
    page = get(world, "/search?q=dawn")
    assert hits(page) == [world.ids["talk"]]
    assert f'href="/evidence/{world.ids["talk"]}?t=75.0"' in page
    assert "Jump to 1:15" in page
    assert "we met at the bakery at <mark>dawn</mark>" in page


def test_facet_links_add_their_filter_to_the_query(world: World) -> None:
    page = get(world, "/search?q=bakery")
    links = {
        (m.group(2), html.unescape(m.group(1)))
        for m in re.finditer(r'<a href="([^"]+)"[^>]*data-facet="tag" data-value="([^"]+)"', page, re.S)
    }
    by_value = {value: parse_qs(urlsplit(url).query)["q"][0] for value, url in links}
    assert by_value == {"night": "bakery tag:night", "day shift": 'bakery tag:"day shift"'}
    night = next(url for value, url in links if value == "night")
    narrowed = get(world, night)
    assert hits(narrowed) == [world.ids["tricky"]]
    # The applied filter is shown as applied, not offered again.
    assert 'data-facet="tag" data-value="night"' not in narrowed
    assert 'class="facet-applied" aria-current="true">night' in narrowed
    # The count next to each value counts only visible items (the sealed one is tagged night too).
    assert re.search(r'data-value="night">night</a>\s*<span class="facet-count"[^>]*>1</span>', page)


def test_htmx_gets_the_results_region_only(world: World) -> None:
    part = get(world, "/search?q=bakery", htmx=True)
    assert "<html" not in part and 'id="search-state"' in part and len(hits(part)) == 3
    assert 'data-q="bakery"' in part


def test_order_and_pages(world: World) -> None:
    first = get(world, "/search?q=&sort=newest")
    assert "30 items found, showing 1 to 25" in first and len(hits(first)) == 25
    assert 'id="search-next"' in first and "page=2" in first
    second = get(world, "/search?q=&sort=newest&page=2")
    assert len(hits(second)) == 5 and "Page 2 of 2" in second
    assert hits(second)[-1] == world.ids["tricky"]  # the oldest, last
    oldest = get(world, "/search?q=&sort=oldest")
    assert hits(oldest)[0] == world.ids["tricky"]
    # An order written in the query wins over the form's, and the select shows it.
    written = get(world, "/search?q=sort:oldest&sort=newest")
    assert hits(written)[0] == world.ids["tricky"]
    assert '<option value="oldest" selected>' in written
    # Past the end: the last page.
    assert "Page 2 of 2" in get(world, "/search?q=&page=9")


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("/search?q=color:red", "unknown search field"),
        ("/search?q=captured:2026-02-01..2026-01-01", "starts after it ends"),
        ("/search?q=-tag:night", "cannot be negated"),
        ("/search?q=near:1,2", "near: expects"),
        ("/search?q=x&page=0", "page must be a whole number"),
        ("/search?q=x&sort=sideways", "sort must be one of"),
    ],
)
def test_a_query_that_cannot_be_read_is_a_clear_message(world: World, url: str, says: str) -> None:
    page = get(world, url, status=422)
    assert 'id="search-error"' in page and 'role="alert"' in page
    assert says in html.unescape(page)
    assert 'id="search-q"' in page  # the whole page, with the box to correct it
    part = get(world, url, status=422, htmx=True)
    assert "<html" not in part and says in html.unescape(part)


def test_the_query_is_kept_in_the_box_escaped(world: World) -> None:
    page = get(world, '/search?q="><script>alert(1)</script>')
    assert "<script>alert(1)</script>" not in page
    assert 'value="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in page
