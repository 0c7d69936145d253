"""The home page and the evidence library, through the real app with a browser session:
filters, orders, pages, table and grid, bulk actions item by item, the processing queue,
and never anything outside the signed-in user's scope."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from opendems.bootstrap import Container
from opendems.domain.evidence import EvidenceStatus
from opendems.domain.totp import code_at, step_of
from opendems.services import cases as case_svc
from opendems.services import members as member_svc
from opendems.services.context import Actor
from opendems.services.ingest import IngestRequest, ingest_stream
from opendems.web.app import create_app
from tests.factories import PASSWORD, admin, make_container, pdf_bytes, png_bytes, user_actor

HTML = {"Accept": "text/html"}
HTMX = {"HX-Request": "true", "HX-Target": "results"}


@dataclass
class Browser:
    """A signed-in browser session (cookie) and the CSRF token its pages carry."""

    web: TestClient
    csrf: str

    def rows(self, url: str) -> list[str]:
        r = self.web.get(url, headers=HTML)
        assert r.status_code == 200, r.text
        return re.findall(r'<tr id="row-(EV-\d{4}-\d+)"', r.text)

    def cards(self, url: str) -> list[str]:
        r = self.web.get(url, headers=HTML)
        assert r.status_code == 200, r.text
        return re.findall(r'<li class="evidence-card" id="card-(EV-\d{4}-\d+)"', r.text)

    def bulk(self, ids: list[str], **fields: str) -> tuple[int, str]:
        data: dict[str, str | list[str]] = {"csrf_token": self.csrf, "ids": ids, **fields}
        r = self.web.post("/evidence/bulk", data=data, headers=HTML)
        return r.status_code, r.text


def form_token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def sign_in(c: Container, username: str) -> Browser:
    """Sign in through the pages, as a person does: password, then authenticator enrolment."""
    # https: the session cookie is Secure, and a browser only sends it over TLS.
    web = TestClient(create_app(c), base_url="https://testserver", follow_redirects=False)
    page = web.get("/sign-in")
    r = web.post(
        "/sign-in", data={"username": username, "password": PASSWORD, "csrf_token": form_token(page.text)}
    )
    assert r.status_code == 303 and r.headers["location"] == "/sign-in/mfa/enrol", r.text
    page = web.get("/sign-in/mfa/enrol")
    secret = re.search(r'<code id="secret">([A-Z2-7]+)</code>', page.text).group(1)  # type: ignore[union-attr]
    code = code_at(secret, step_of(c.clock.now()))
    r = web.post("/sign-in/mfa/enrol", data={"code": code, "csrf_token": form_token(page.text)})
    assert r.status_code == 200, r.text
    home = web.get("/", headers=HTML)
    assert home.status_code == 200 and "<h1>Welcome" in home.text
    return Browser(web, form_token(home.text))


def ingest(c: Container, who: Actor, name: str, data: bytes, **fields: object) -> str:
    req = IngestRequest(filename=name, **fields)  # type: ignore[arg-type]
    return ingest_stream(who, req, [data], uow=c.uow(), blobs=c.blobs, clock=c.clock, limits=c.limits).item.id


@dataclass
class World:
    c: Container
    ids: dict[str, str]
    browsers: dict[str, Browser]
    routine: list[str]  # olga's plain photos, oldest first


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    c = make_container(Path(tmp_path_factory.mktemp("library")))
    system = admin(c)
    olga = user_actor(c, "olga", "officer", unit="north")
    otto = user_actor(c, "otto", "officer", unit="south")
    ivy = user_actor(c, "ivy", "investigator", unit="detectives")
    user_actor(c, "sue", "supervisor", unit="north")
    user_actor(c, "aud", "auditor")
    case_svc.create_case(ivy, "C-1", {"title": "Bridge collision"}, uow=c.uow(), clock=c.clock)
    member_svc.change_member(ivy, "case", "C-1", "olga", add=True, uow=c.uow(), clock=c.clock)
    routine = [
        ingest(c, olga, f"r{n}.png", png_bytes(seed=100 + n), title=f"routine photo {n:02d}")
        for n in range(26)
    ]
    ids = {
        "special": ingest(
            c,
            olga,
            "bridge.png",
            png_bytes(seed=1),
            title="Bridge camera",
            captured_at=datetime(2026, 2, 10, 8, 0, tzinfo=UTC),
            captured_by="olga",
            device_serial="BWC-9",
            category="traffic",
            tags=["night"],
            case_number="C-1",
        ),
        "statement": ingest(c, olga, "statement.pdf", pdf_bytes("statement"), title="Witness statement"),
        # Captured by olga, uploaded by the system: hers to see, not hers as uploader.
        "held": ingest(c, system, "held.png", png_bytes(seed=2), title="Held item", captured_by="olga"),
        "south": ingest(c, otto, "south.png", png_bytes(seed=3), title="South secret", captured_by="otto"),
        "ivy1": ingest(c, ivy, "i1.png", png_bytes(seed=4), title="Ivy one"),
        "ivy2": ingest(c, ivy, "i2.png", png_bytes(seed=5), title="Ivy two"),
        "ivy3": ingest(c, ivy, "i3.png", png_bytes(seed=6), title="Ivy three"),
    }
    with c.uow() as uow:
        uow.evidence.update_fields(ids["held"], {"status": EvidenceStatus.ON_HOLD.value}, c.clock.now())
        uow.commit()
    browsers = {name: sign_in(c, name) for name in ("olga", "otto", "ivy", "sue", "aud")}
    yield World(c, ids, browsers, routine)
    for b in browsers.values():
        b.web.close()


def test_each_filter_narrows_the_list(world: World) -> None:
    olga, ids = world.browsers["olga"], world.ids
    every = olga.rows("/evidence?size=100")
    assert len(every) == 29 and ids["south"] not in every and ids["ivy1"] not in every
    assert olga.rows("/evidence?kind=document") == [ids["statement"]]
    assert olga.rows("/evidence?state=on_hold") == [ids["held"]]
    assert set(olga.rows("/evidence?officer=olga")) == {ids["special"], ids["held"]}
    assert olga.rows("/evidence?device=BWC-9") == [ids["special"]]
    assert olga.rows("/evidence?category=traffic") == [ids["special"]]
    assert olga.rows("/evidence?tag=night") == [ids["special"]]
    assert olga.rows("/evidence?case=C-1") == [ids["special"]]
    assert olga.rows("/evidence?captured_from=2026-02-10&captured_to=2026-02-10") == [ids["special"]]
    assert olga.rows("/evidence?captured_from=2026-02-11") == []
    assert olga.rows("/evidence?q=bridge") == [ids["special"]]
    mine = olga.rows("/evidence?mine=1&size=100")
    assert len(mine) == 28 and ids["held"] not in mine
    # Empty fields (as a form sends them) mean "any".
    assert len(olga.rows("/evidence?kind=&state=&q=&officer=&size=100&captured_from=")) == 29
    r = olga.web.get("/evidence?kind=document", headers=HTML)
    assert '<option value="document" selected>' in r.text  # the form shows what is filtered
    assert "1 item" in r.text


def test_orders_and_pages(world: World) -> None:
    olga = world.browsers["olga"]
    newest = olga.rows("/evidence?size=100")
    assert newest[:3] == [world.ids["held"], world.ids["statement"], world.ids["special"]]
    assert olga.rows("/evidence?size=100&sort=created_at") == list(reversed(newest))
    by_title = olga.rows("/evidence?size=100&sort=title")
    assert by_title[0] == world.ids["special"] and by_title[-1] == world.ids["statement"]
    assert by_title[2:28] == world.routine  # "routine photo 00" ... "25"
    assert olga.rows("/evidence?size=100&sort=-captured_at")[0] == world.ids["special"]
    assert olga.rows("/evidence?size=100&sort=id") == sorted(newest)

    first = olga.web.get("/evidence", headers=HTML).text
    assert len(re.findall(r'<tr id="row-', first)) == 25
    assert "29 items, showing 1 to 25" in first and 'id="page-of">Page 1 of 2<' in first
    assert 'id="next-page" rel="next" href="/evidence?page=2"' in first and 'id="prev-page"' not in first
    second = olga.rows("/evidence?page=2")
    assert len(second) == 4 and not set(second) & set(olga.rows("/evidence"))
    assert olga.rows("/evidence?page=9") == second  # past the end: the last page
    assert len(olga.rows("/evidence?size=50")) == 29
    assert "aria-sort" not in olga.web.get("/evidence?sort=created_at", headers=HTML).text
    assert 'aria-sort="ascending">Title<' in olga.web.get("/evidence?sort=title", headers=HTML).text


def test_a_bad_query_is_a_clear_message(world: World) -> None:
    olga = world.browsers["olga"]
    for query, words in (
        ("kind=hologram", "kind 'hologram' is not one of"),
        ("sort=password", "sort 'password' is not one of"),
        ("size=7", "page size must be one of 25, 50, 100"),
        ("captured_from=2026-13-01", "is not a date"),
        ("captured_from=2026-03-02&captured_to=2026-03-01", "after"),
        ("view=carousel", "view must be table or grid"),
        ("page=-1", "not a positive whole number"),
        ("page=%C2%B2", "not a positive whole number"),  # a superscript two is a digit, not a number
        ("size=%C2%B2", "not a positive whole number"),
    ):
        r = olga.web.get(f"/evidence?{query}", headers=HTML)
        assert r.status_code == 422, query
        assert 'id="filter-error"' in r.text and words in html.unescape(r.text), query
        assert 'id="filters"' in r.text  # the form stays, to correct the mistake


def test_htmx_gets_only_the_results(world: World) -> None:
    olga = world.browsers["olga"]
    r = olga.web.get("/evidence?kind=document", headers=HTMX)
    assert r.status_code == 200
    assert "<html" not in r.text and 'id="filters"' not in r.text
    assert re.findall(r'<tr id="row-(EV-[\d-]+)"', r.text) == [world.ids["statement"]]
    # Going back in history restores the whole page.
    restore = olga.web.get("/evidence", headers={**HTMX, "HX-History-Restore-Request": "true"})
    assert "<html" in restore.text and 'id="filters"' in restore.text


def test_nobody_sees_outside_their_scope_in_table_grid_or_bulk(world: World) -> None:
    ids = world.ids
    olga, otto, sue = world.browsers["olga"], world.browsers["otto"], world.browsers["sue"]
    assert otto.rows("/evidence?size=100") == [ids["south"]]
    assert otto.cards("/evidence?size=100&view=grid") == [ids["south"]]
    assert ids["south"] not in olga.cards("/evidence?size=100&view=grid")
    assert olga.rows(f"/evidence?q={ids['south']}") == []
    # A supervisor sees the unit's items (north), not another unit's.
    north = sue.rows("/evidence?size=100")
    assert ids["special"] in north and ids["south"] not in north
    # Naming a hidden item in a bulk action changes nothing and reveals nothing.
    status, page = olga.bulk([ids["south"]], action="tag", tags="mine-now")
    assert status == 200
    assert re.search(rf'id="outcome-{ids["south"]}">.*?refused.*?not found', page, re.S)
    assert "South secret" not in page
    with world.c.uow() as uow:
        south = uow.evidence.get(ids["south"])
    assert south is not None and south.tags == []


def test_bulk_tags_each_item_and_reports_each_outcome(world: World) -> None:
    ivy, ids, c = world.browsers["ivy"], world.ids, world.c
    status, page = ivy.bulk([ids["ivy1"], ids["ivy2"], ids["south"]], action="tag", tags="scene, reviewed")
    assert status == 200
    assert 'id="bulk-result"' in page and "2 done, 1 refused." in page
    assert re.search(rf'id="outcome-{ids["ivy1"]}">.*?done', page, re.S)
    assert re.search(
        rf'id="outcome-{ids["south"]}">.*?refused.*?evidence {ids["south"]} not found', page, re.S
    )
    table = ivy.web.get("/evidence?tag=reviewed", headers=HTML).text
    assert set(re.findall(r'<tr id="row-(EV-[\d-]+)"', table)) == {ids["ivy1"], ids["ivy2"]}
    assert '<span class="tag">scene</span>' in table
    with c.uow() as uow:
        tags = [(e.object_id, e.outcome) for e in uow.custody.iter_all() if e.action == "evidence:tag"]
    # Each change is its own custody event; the hidden item's attempt is recorded as denied.
    assert (ids["ivy1"], "success") in tags and (ids["ivy2"], "success") in tags
    assert (ids["south"], "success") not in tags and (ids["south"], "denied") in tags


def test_bulk_add_to_case_and_change_category(world: World) -> None:
    ivy, ids, c = world.browsers["ivy"], world.ids, world.c
    status, page = ivy.bulk([ids["ivy3"]], action="case", case_number="C-1")
    assert status == 200 and "1 done." in page and "added to case C-1" in page
    status, page = ivy.bulk([ids["ivy3"], ids["ivy2"]], action="case", case_number="C-1")
    assert "1 done, 1 refused." in page and f"{ids['ivy3']} is already in case C-1" in page
    assert set(ivy.rows("/evidence?case=C-1")) >= {ids["ivy2"], ids["ivy3"]}

    r = ivy.web.post(
        "/evidence/bulk",
        data={"csrf_token": ivy.csrf, "ids": [ids["ivy1"]], "action": "category", "category": "assault"},
        headers=HTML,
    )
    assert r.status_code == 422 and "needs a reason" in r.text
    status, page = ivy.bulk(
        [ids["ivy1"], ids["ivy2"]], action="category", category="assault", reason="filed wrong"
    )
    assert "2 done." in page
    assert set(ivy.rows("/evidence?category=assault")) == {ids["ivy1"], ids["ivy2"]}
    with c.uow() as uow:
        edits = [
            e for e in uow.custody.iter_all() if e.action == "evidence:edit" and e.object_id == ids["ivy1"]
        ]
    assert edits and edits[-1].reason == "filed wrong"


def test_bulk_refusals(world: World) -> None:
    ivy, aud, ids = world.browsers["ivy"], world.browsers["aud"], world.ids
    r = ivy.web.post(
        "/evidence/bulk", data={"csrf_token": ivy.csrf, "action": "tag", "tags": "x"}, headers=HTML
    )
    assert r.status_code == 422 and "select at least one item" in r.text
    r = ivy.web.post(
        "/evidence/bulk", data={"csrf_token": ivy.csrf, "ids": [ids["ivy1"]], "action": "burn"}, headers=HTML
    )
    assert r.status_code == 422 and "choose a bulk action" in r.text
    # Without the CSRF token nothing happens, however well-formed the rest.
    r = ivy.web.post(
        "/evidence/bulk", data={"ids": [ids["ivy1"]], "action": "tag", "tags": "forged"}, headers=HTML
    )
    assert r.status_code == 403
    r = ivy.web.post(
        "/evidence/bulk",
        data={"csrf_token": "wrong", "ids": [ids["ivy1"]], "action": "tag", "tags": "forged"},
        headers=HTML,
    )
    assert r.status_code == 403
    with world.c.uow() as uow:
        item = uow.evidence.get(ids["ivy1"])
    assert item is not None and "forged" not in item.tags
    # An auditor sees the records but may not change them: no bulk controls, and a forged
    # request is refused item by item by the policy.
    assert 'id="bulk-actions"' not in aud.web.get("/evidence", headers=HTML).text
    status, page = aud.bulk([ids["ivy1"]], action="tag", tags="audited")
    assert status == 200 and "0 done, 1 refused." in page and "evidence:edit" in page


def test_grid_shows_thumbnails_or_a_text_fallback(tmp_path: Path) -> None:
    c = make_container(tmp_path)
    ivy = user_actor(c, "ivy", "investigator")
    user_actor(c, "aud", "auditor")
    photo = ingest(c, ivy, "p.png", png_bytes(width=64, height=48, seed=7), title="Photo")
    c.processor.run_until_idle("test")
    doc = ingest(c, ivy, "d.pdf", pdf_bytes(), title="Not processed yet")
    browser = sign_in(c, "ivy")
    grid = browser.web.get("/evidence?view=grid", headers=HTML).text
    img = re.search(
        rf'<img src="(/api/v1/evidence/{photo}/derivatives/thumbnail)" alt="([^"]+)" loading="lazy">', grid
    )
    assert img and "Photo" in img.group(2)
    picture = browser.web.get(img.group(1))
    assert picture.status_code == 200 and picture.headers["content-type"] == "image/jpeg"
    card = grid.split(f'id="card-{doc}"')[1].split("</li>")[0]
    assert "<img" not in card and "no picture" in card
    auditor = sign_in(c, "aud")  # sees records, never content: no pictures
    assert "<img" not in auditor.web.get("/evidence?view=grid", headers=HTML).text


def test_home_desk_and_its_live_queue(tmp_path: Path) -> None:
    c = make_container(tmp_path)
    olga = user_actor(c, "olga", "officer", unit="north")
    otto = user_actor(c, "otto", "officer", unit="south")
    ivy = user_actor(c, "ivy", "investigator")
    case_svc.create_case(ivy, "C-9", {"title": "Theft"}, uow=c.uow(), clock=c.clock)
    case_svc.create_case(ivy, "C-10", {"title": "Other"}, uow=c.uow(), clock=c.clock)
    member_svc.change_member(ivy, "case", "C-9", "olga", add=True, uow=c.uow(), clock=c.clock)
    mine = ingest(c, olga, "m.png", png_bytes(seed=1), title="My photo")
    theirs = ingest(c, otto, "t.png", png_bytes(seed=2), title="Their photo")
    browser = sign_in(c, "olga")

    home = browser.web.get("/", headers=HTML).text
    recent = home.split('id="recent-panel"')[1].split("</section>")[0]
    assert mine in recent and theirs not in recent and '<span class="badge ok">ready</span>' in recent
    queue = home.split('id="queue-panel"')[1].split("</section>")[0]
    assert 'hx-trigger="every 2s"' in queue and 'hx-get="/home/queue"' in queue
    assert "<progress" in queue and mine in queue and theirs not in queue
    assert 'id="queue-summary" aria-live="polite">3 queued.' in queue  # probe, previews, ocr
    cases = home.split('id="cases-panel"')[1].split("</section>")[0]
    assert 'href="/cases/C-9"' in cases and "C-10" not in cases  # named on C-9 only

    # The worker runs: the next refresh shows the jobs done and stops polling.
    c.processor.run_until_idle("test")
    fragment = browser.web.get("/home/queue", headers={"HX-Request": "true", "X-Opendems-Background": "1"})
    assert fragment.status_code == 200
    assert fragment.text.lstrip().startswith('<div id="queue"') and "<html" not in fragment.text
    assert "hx-trigger" not in fragment.text and 'data-pending="false"' in fragment.text
    assert fragment.text.count('<span class="badge ok">done</span>') == 3
    assert theirs not in fragment.text
    assert 'data-summary="Processing finished."' in fragment.text
    # An investigator opened both cases: both are theirs.
    ivy_home = sign_in(c, "ivy").web.get("/", headers=HTML).text
    assert 'href="/cases/C-9"' in ivy_home and 'href="/cases/C-10"' in ivy_home
