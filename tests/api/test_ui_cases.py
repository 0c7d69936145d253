"""The cases pages on the real app and database: list, filter and paging, opening a case,
editing, closing and reopening with a reason, adding evidence item by item (a hidden item is
"not found", never revealed), members, the policy's 403 and 404 pages, and CSRF."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from opendems.bootstrap import Container
from opendems.domain.totp import code_at, step_of
from opendems.services import cases as case_svc
from opendems.services.context import Actor
from opendems.services.ingest import IngestRequest, ingest_stream
from opendems.web.app import create_app
from tests.factories import PASSWORD, FakeClock, make_container, png_bytes, user_actor


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def c(tmp_path: Path, clock: FakeClock) -> Container:
    return make_container(tmp_path, clock=clock, sign_in_rate_per_address=1000)


def token_in(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


class Browser:
    """A signed-in person: a TestClient with their session cookie and the page's CSRF token."""

    def __init__(self, c: Container, clock: FakeClock, name: str, role: str, unit: str | None = None) -> None:
        self.actor: Actor = user_actor(c, name, role, unit=unit)
        self.web = TestClient(create_app(c), base_url="https://testserver", follow_redirects=False)
        page = self.web.get("/sign-in")
        r = self.web.post(
            "/sign-in", data={"username": name, "password": PASSWORD, "csrf_token": token_in(page.text)}
        )
        assert r.headers["location"] == "/sign-in/mfa/enrol", r.text
        page = self.web.get("/sign-in/mfa/enrol")
        secret = re.search(r'<code id="secret">([A-Z2-7]+)</code>', page.text).group(1)  # type: ignore[union-attr]
        r = self.web.post(
            "/sign-in/mfa/enrol",
            data={"code": code_at(secret, step_of(clock.now())), "csrf_token": token_in(page.text)},
        )
        assert r.status_code == 200, r.text
        self.csrf = token_in(self.web.get("/cases").text)

    def get(self, url: str) -> object:
        return self.web.get(url, headers={"Accept": "text/html"})

    def post(self, url: str, **data: str) -> object:
        return self.web.post(url, data={"csrf_token": self.csrf, **data}, headers={"Accept": "text/html"})


@pytest.fixture
def cora(c: Container, clock: FakeClock) -> Iterator[Browser]:
    """An evidence custodian: sees the agency's cases, manages them, may restrict."""
    b = Browser(c, clock, "cora", "evidence_custodian", unit="north")
    yield b
    b.web.close()


@pytest.fixture
def ivan(c: Container, clock: FakeClock) -> Iterator[Browser]:
    """An investigator: manages the cases he is a member of, sees nothing else."""
    b = Browser(c, clock, "ivan", "investigator", unit="north")
    yield b
    b.web.close()


@pytest.fixture
def otto(c: Container, clock: FakeClock) -> Iterator[Browser]:
    """An officer: may see cases he is named on, may not manage any."""
    b = Browser(c, clock, "otto", "officer", unit="south")
    yield b
    b.web.close()


def ingest(c: Container, actor: Actor, seed: int, title: str) -> str:
    req = IngestRequest(filename=f"p{seed}.png", title=title)
    return ingest_stream(
        actor, req, [png_bytes(seed=seed)], uow=c.uow(), blobs=c.blobs, clock=c.clock, limits=c.limits
    ).item.id


def rows(html: str, table: str) -> list[str]:
    body = html.split(f'id="{table}"', 1)[1].split("</table>", 1)[0]
    return re.findall(r'<tr id="[^"]*-row-([^"]+)"', body)


def text(r: object) -> str:
    return r.text  # type: ignore[attr-defined,no-any-return]


def status(r: object) -> int:
    return r.status_code  # type: ignore[attr-defined,no-any-return]


def test_list_filters_by_status_and_pages(c: Container, cora: Browser) -> None:
    for n in range(27):
        case_svc.create_case(cora.actor, f"L-{n:02d}", {"title": f"Case {n}"}, uow=c.uow(), clock=c.clock)
    for n in (3, 5, 7):
        case_svc.set_case_status(
            cora.actor, f"L-{n:02d}", close=True, reason="done", uow=c.uow(), clock=c.clock
        )

    first = cora.get("/cases")
    assert status(first) == 200
    assert len(rows(text(first), "case-table")) == 25
    assert "27 cases" in text(first) and 'rel="next"' in text(first)
    second = cora.get("/cases?page=2")
    assert len(rows(text(second), "case-table")) == 2
    assert not set(rows(text(first), "case-table")) & set(rows(text(second), "case-table"))

    closed = cora.get("/cases?status=closed")
    assert sorted(rows(text(closed), "case-table")) == ["L-03", "L-05", "L-07"]
    assert text(closed).count('<span class="badge plain">Closed</span>') == 3
    opened = cora.get("/cases?status=open")
    assert "24 cases (open)" in text(opened) and "L-03" not in rows(text(opened), "case-table")

    assert status(cora.get("/cases?page=99999999999999999999")) == 422  # not a server error

    go = cora.get("/cases?number=L-04")
    assert status(go) == 303 and go.headers["location"] == "/cases/L-04"  # type: ignore[attr-defined]


def test_create_and_duplicate_number(c: Container, cora: Browser) -> None:
    page = cora.get("/cases")
    assert 'id="new-case-form"' in text(page)
    r = cora.post("/cases", number="INC-7", title="Harbour fire", case_type="arson", description="Pier 4")
    assert status(r) == 303 and r.headers["location"] == "/cases/INC-7?m=created"  # type: ignore[attr-defined]
    shown = cora.get("/cases/INC-7?m=created")
    assert "The case is open." in text(shown) and "Harbour fire" in text(shown) and "arson" in text(shown)

    again = cora.post("/cases", number="INC-7", title="Other title")
    assert status(again) == 409
    assert 'id="new-case-error"' in text(again) and "case INC-7 already exists" in text(again)
    assert 'value="Other title"' in text(again)  # what was typed is kept
    cases, total = case_svc.list_cases(cora.actor, status=None, limit=10, offset=0, uow=c.uow())
    assert total == 1 and cases[0].title == "Harbour fire"

    bad = cora.post("/cases", number="no spaces allowed", title="x")
    assert status(bad) == 422 and "is not a valid case number" in text(bad)


def test_edit_close_and_reopen_need_a_reason(c: Container, cora: Browser) -> None:
    cora.post("/cases", number="E-1", title="First title")
    r = cora.post("/cases/E-1/edit", title="Second title", description="more", reason="")
    assert status(r) == 422 and 'id="edit-error"' in text(r) and "every edit needs a reason" in text(r)
    assert case_svc.get_case(cora.actor, "E-1", uow=c.uow(), clock=c.clock).title == "First title"
    r = cora.post("/cases/E-1/edit", title="Second title", description="more", reason="typo")
    assert status(r) == 303 and r.headers["location"] == "/cases/E-1?m=edited"  # type: ignore[attr-defined]
    case = case_svc.get_case(cora.actor, "E-1", uow=c.uow(), clock=c.clock)
    assert case.title == "Second title" and case.description == "more"

    r = cora.post("/cases/E-1/status", action="close", reason=" ")
    assert status(r) == 422 and 'id="status-error"' in text(r) and "needs a reason" in text(r)
    assert cora.post("/cases/E-1/status", action="close", reason="court done").status_code == 303  # type: ignore[attr-defined]
    page = text(cora.get("/cases/E-1?m=closed"))
    assert "The case is closed." in page and "Reopen case" in page and 'id="evidence-closed-note"' in page
    assert 'id="evidence-add-form"' not in page
    assert cora.post("/cases/E-1/status", action="reopen", reason="appeal").status_code == 303  # type: ignore[attr-defined]
    assert case_svc.get_case(cora.actor, "E-1", uow=c.uow(), clock=c.clock).status.value == "open"


def test_add_evidence_reports_each_id_and_hides_what_is_hidden(
    c: Container, ivan: Browser, otto: Browser
) -> None:
    mine = ingest(c, ivan.actor, 1, "Doorbell photo")
    theirs = ingest(c, otto.actor, 2, "Secret photo of otto")
    ivan.post("/cases", number="A-1", title="Burglary")
    r = ivan.post("/cases/A-1/evidence", ids=f"{mine.lower()}, {theirs}  EV-bogus")
    assert status(r) == 200
    page = text(r)
    outcomes = dict(re.findall(r'<li data-id="([^"]+)" class="(ok|failed)">', page))
    assert outcomes == {mine: "ok", theirs: "failed", "EV-bogus": "failed"}
    assert f"evidence {theirs} not found" in page
    assert "Secret photo" not in page  # the hidden item's existence and title are not revealed
    assert "1 of 3 added" in page
    assert rows(page, "case-evidence") == [mine]
    assert [i.id for i in case_svc.case_evidence(ivan.actor, "A-1", uow=c.uow(), clock=c.clock)] == [mine]

    # Again: already there, said so.
    again = text(ivan.post("/cases/A-1/evidence", ids=mine))
    assert f"{mine} is already in case A-1" in again

    # Taking it out needs a reason.
    r = ivan.post("/cases/A-1/evidence/remove", evidence_id=mine, reason="")
    assert status(r) == 422 and 'id="remove-error"' in text(r)
    r = ivan.post("/cases/A-1/evidence/remove", evidence_id=mine, reason="wrong case")
    assert status(r) == 303
    assert 'id="case-evidence-empty"' in text(ivan.get("/cases/A-1?m=removed"))


def test_members_are_added_and_removed(c: Container, ivan: Browser, otto: Browser) -> None:
    ivan.post("/cases", number="M-1", title="Members")
    assert status(otto.get("/cases/M-1")) == 404
    r = ivan.post("/cases/M-1/members", username="otto", reason="first on scene")
    assert status(r) == 303 and r.headers["location"] == "/cases/M-1?m=member_added"  # type: ignore[attr-defined]
    page = text(ivan.get("/cases/M-1"))
    members = page.split('id="case-members"', 1)[1].split("</ul>", 1)[0]
    assert "<li>otto</li>" in members and "<li>ivan</li>" in members
    # Now the officer sees the case, but gets no forms to change it.
    seen = otto.get("/cases/M-1")
    assert status(seen) == 200 and 'id="member-add-form"' not in text(seen)

    unknown = ivan.post("/cases/M-1/members", username="nobody")
    assert (
        status(unknown) == 404 and 'id="members-error"' in text(unknown) and "no user named" in text(unknown)
    )
    r = ivan.post("/cases/M-1/members/remove", username="otto")
    assert status(r) == 303
    assert status(otto.get("/cases/M-1")) == 404


def test_officer_gets_the_policys_refusal(c: Container, ivan: Browser, otto: Browser) -> None:
    assert 'id="new-case-form"' not in text(otto.get("/cases"))
    r = otto.post("/cases", number="O-1", title="Not mine to open")
    assert status(r) == 403 and "you may not case manage" in text(r)
    assert case_svc.list_cases(ivan.actor, status=None, limit=5, offset=0, uow=c.uow())[1] == 0

    ivan.post("/cases", number="O-2", title="Shared")
    ivan.post("/cases/O-2/members", username="otto")
    r = otto.post("/cases/O-2/edit", title="Changed", reason="mine now")
    assert status(r) == 403 and "you may not case manage" in text(r)
    r = otto.post("/cases/O-2/status", action="close", reason="x")
    assert status(r) == 403


def test_a_hidden_case_answers_not_found(c: Container, cora: Browser, ivan: Browser) -> None:
    cora.post("/cases", number="H-1", title="Internal matter")
    for r in (
        ivan.get("/cases/H-1"),
        ivan.get("/cases/H-1/play"),
        ivan.post("/cases/H-1/edit", title="x", reason="y"),
        ivan.post("/cases/H-1/evidence", ids="EV-2024-000001"),
    ):
        assert status(r) == 404, text(r)
        assert "case H-1 not found" in text(r) and "Internal matter" not in text(r)
    listing = text(ivan.get("/cases"))
    assert "H-1" not in listing and 'id="case-empty"' in listing


def test_restriction_needs_the_permission(c: Container, cora: Browser, ivan: Browser) -> None:
    cora.post("/cases", number="R-1", title="Sensitive")
    page = text(cora.get("/cases/R-1"))
    assert 'id="restriction-form"' in page
    r = cora.post("/cases/R-1/restriction", level="restricted", reason="")
    assert status(r) == 422 and 'id="restriction-error"' in text(r)
    r = cora.post("/cases/R-1/restriction", level="restricted", reason="witness names")
    assert status(r) == 303
    assert '<span class="badge warn">Restricted</span>' in text(cora.get("/cases/R-1"))
    ivan.post("/cases", number="R-2", title="His own")
    assert 'id="restriction-form"' not in text(ivan.get("/cases/R-2"))
    r = ivan.post("/cases/R-2/restriction", level="sealed", reason="x")
    assert status(r) == 403


def test_csrf_is_refused(c: Container, cora: Browser) -> None:
    r = cora.web.post(
        "/cases",
        data={"csrf_token": "forged", "number": "X-1", "title": "t"},
        headers={"Accept": "text/html"},
    )
    assert status(r) == 403 and "CSRF" in text(r)
    r = cora.web.post("/cases", data={"number": "X-2", "title": "t"}, headers={"Accept": "text/html"})
    assert status(r) == 403
    assert case_svc.list_cases(cora.actor, status=None, limit=5, offset=0, uow=c.uow())[1] == 0


def test_player_lists_what_it_cannot_place(c: Container, ivan: Browser) -> None:
    photo = ingest(c, ivan.actor, 3, "Scene photo")
    ivan.post("/cases", number="P-1", title="Player")
    ivan.post("/cases/P-1/evidence", ids=photo)
    assert 'id="case-play-link" href="/cases/P-1/play"' in text(ivan.get("/cases/P-1"))
    page = text(ivan.get("/cases/P-1/play"))
    assert 'id="sync-empty"' in page and 'id="sync-player"' not in page
    assert f'id="other-{photo}"' in page and "image: not a recording" in page
    assert "/static/app/js/sync.js" in page


def test_case_page_shows_pictures_only_to_those_who_may_see_content(
    c: Container, clock: FakeClock, cora: Browser
) -> None:
    photo = ingest(c, cora.actor, 4, "Scene photo")
    cora.post("/cases", number="T-1", title="Thumbnails")
    cora.post("/cases/T-1/evidence", ids=photo)
    c.processor.run_until_idle("test")
    picture = f'src="/api/v1/evidence/{photo}/derivatives/thumbnail"'
    assert picture in text(cora.get("/cases/T-1"))
    # The auditor reads the record, never the content: the page must not make the browser ask
    # for it (each refused request would land in the item's custody as a denied view).
    aud = Browser(c, clock, "aud", "auditor")
    page = text(aud.get("/cases/T-1"))
    assert f'href="/evidence/{photo}"' in page  # the record is listed
    assert "/derivatives/" not in page
    aud.web.close()


def test_player_is_only_for_those_who_may_see_content(c: Container, clock: FakeClock, ivan: Browser) -> None:
    ivan.post("/cases", number="P-2", title="Player")
    aud = Browser(c, clock, "aud", "auditor")
    page = text(aud.get("/cases/P-2"))
    assert 'id="case-heading"' in page and 'id="case-play-link"' not in page
    # The player's videos would each be refused and recorded as a denied view.
    r = aud.get("/cases/P-2/play")
    assert status(r) == 403 and 'id="sync-player"' not in text(r) and "/derivatives/" not in text(r)
    aud.web.close()
