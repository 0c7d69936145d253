"""The upload page and an item's detail page over HTTP, signed in through the pages: who may
open them, metadata edits that need a reason, tags, and downloads whose reason is recorded."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from opendems.bootstrap import Container
from opendems.domain.access import Role
from opendems.domain.custody import CustodyEvent
from opendems.domain.evidence import Restriction
from opendems.domain.totp import code_at, step_of
from opendems.services import evidence as ev_svc
from opendems.services.ingest import IngestRequest, ingest_stream
from opendems.web.app import create_app
from tests.factories import PASSWORD, admin, make_container, pdf_bytes, png_bytes, user_actor


@pytest.fixture
def c(tmp_path: Path) -> Container:
    return make_container(tmp_path, sign_in_rate_per_address=1000)


@pytest.fixture
def app(c: Container) -> Iterator[TestClient]:
    with TestClient(create_app(c), base_url="https://testserver", follow_redirects=False) as client:
        yield client


def form_token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html[:2000]
    return found.group(1)


def sign_in(web: TestClient, c: Container, name: str, role: Role, unit: str | None = None) -> str:
    """Sign ``name`` in through the pages (password, then TOTP enrolment); returns the CSRF token."""
    user_actor(c, name, role, unit=unit)
    web.cookies.clear()
    page = web.get("/sign-in")
    r = web.post(
        "/sign-in", data={"username": name, "password": PASSWORD, "csrf_token": form_token(page.text)}
    )
    assert r.status_code == 303 and r.headers["location"] == "/sign-in/mfa/enrol", r.text
    page = web.get("/sign-in/mfa/enrol")
    secret = re.search(r'<code id="secret">([A-Z2-7]+)</code>', page.text).group(1)  # type: ignore[union-attr]
    code = code_at(secret, step_of(c.clock.now()))
    r = web.post("/sign-in/mfa/enrol", data={"code": code, "csrf_token": form_token(page.text)})
    assert r.status_code == 200, r.text
    return form_token(web.get("/account").text)


def ingest(c: Container, owner: str, role: Role = Role.OFFICER, seed: int = 1) -> str:
    actor = user_actor(c, owner, role)
    req = IngestRequest(filename=f"photo{seed}.png", title=f"Photo {seed}")
    return ingest_stream(
        actor, req, [png_bytes(seed=seed)], uow=c.uow(), blobs=c.blobs, clock=c.clock, limits=c.limits
    ).item.id


def events(c: Container, evidence_id: str, action: str) -> list[CustodyEvent]:
    with c.uow() as uow:
        return [e for e in uow.custody.for_object("evidence", evidence_id) if e.action == action]


def test_upload_page_needs_evidence_create(app: TestClient, c: Container) -> None:
    sign_in(app, c, "audra", Role.AUDITOR)
    r = app.get("/upload", headers={"Accept": "text/html"})
    assert r.status_code == 403
    assert "you may not evidence create" in r.text and 'id="drop-zone"' not in r.text
    sign_in(app, c, "olga", Role.OFFICER)
    r = app.get("/upload", headers={"Accept": "text/html"})
    assert r.status_code == 200
    for element in ('id="drop-zone"', 'id="file-input"', 'id="folder-input"', "webkitdirectory"):
        assert element in r.text
    assert "/static/vendor/tus.min.js" in r.text
    assert 'id="batch-restriction"' not in r.text  # an officer may not restrict at upload
    sign_in(app, c, "carl", Role.CUSTODIAN)
    assert 'id="batch-restriction"' in app.get("/upload").text


def test_detail_page_shows_the_item_and_records_the_view(app: TestClient, c: Container) -> None:
    item_id = ingest(c, "olga")
    sign_in(app, c, "olga", Role.OFFICER)
    before = len(events(c, item_id, "evidence:view"))
    r = app.get(f"/evidence/{item_id}")
    assert r.status_code == 200, r.text
    assert len(events(c, item_id, "evidence:view")) == before + 1
    with c.uow() as uow:
        item = uow.evidence.get(item_id)
    assert item is not None and item.original is not None
    assert f'id="original-sha256">{item.original.sha256}<' in r.text
    assert 'id="custody-table"' in r.text and "evidence:ingest" in r.text
    assert 'id="download-form"' in r.text and 'id="edit-form"' in r.text


def test_a_hidden_item_is_a_not_found_page(app: TestClient, c: Container) -> None:
    theirs = ingest(c, "sam", seed=2)
    sealed = ingest(c, "olga", seed=3)
    ev_svc.edit_evidence(
        admin(c),
        sealed,
        {"restriction": Restriction.SEALED},
        reason="sealed by order",
        uow=c.uow(),
        clock=c.clock,
        limits=c.limits,
    )
    sign_in(app, c, "paul", Role.OFFICER)
    for evidence_id in (theirs, sealed):
        r = app.get(f"/evidence/{evidence_id}", headers={"Accept": "text/html"})
        assert r.status_code == 404, r.text
        assert "not found" in r.text and 'id="edit-form"' not in r.text
    r = app.get(f"/evidence/{theirs}/processing", headers={"Accept": "text/html"})
    assert r.status_code == 404


def test_an_edit_without_a_reason_changes_nothing(app: TestClient, c: Container) -> None:
    item_id = ingest(c, "olga")
    token = sign_in(app, c, "olga", Role.OFFICER)
    r = app.post(
        f"/evidence/{item_id}/edit",
        data={"csrf_token": token, "title": "Renamed", "description": "", "reason": "  "},
    )
    assert r.status_code == 422
    assert 'id="edit-error"' in r.text and "reason" in r.text
    assert 'value="Renamed"' in r.text  # what was typed stays in the form
    with c.uow() as uow:
        item = uow.evidence.get(item_id)
    assert item is not None and item.title == "Photo 1"
    assert events(c, item_id, "evidence:edit") == []
    # A bad date is shown next to the form too, and changes nothing.
    r = app.post(
        f"/evidence/{item_id}/edit",
        data={"csrf_token": token, "title": "Renamed", "captured_at": "yesterday", "reason": "typo"},
    )
    assert r.status_code == 422 and "not a date and time" in r.text
    # A moment whose zone puts it outside the years there are: refused the same way.
    for edge in ("9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59"):
        r = app.post(
            f"/evidence/{item_id}/edit",
            data={"csrf_token": token, "title": "Renamed", "captured_at": edge, "reason": "typo"},
        )
        assert r.status_code == 422 and "not a date and time" in r.text, edge
    assert events(c, item_id, "evidence:edit") == []


def test_an_edit_with_a_reason_is_in_custody(app: TestClient, c: Container) -> None:
    item_id = ingest(c, "olga")
    token = sign_in(app, c, "olga", Role.OFFICER)
    r = app.post(
        f"/evidence/{item_id}/edit",
        data={
            "csrf_token": token,
            "title": "Front door, north side",
            "description": "Taken at arrival",
            "captured_at": "2026-03-01T14:05:00Z",
            "device_serial": "BWC-0042",
            "category": "scene",
            "reason": "title from the incident report",
        },
    )
    assert r.status_code == 303 and r.headers["location"] == f"/evidence/{item_id}?notice=edited#metadata"
    (edit,) = events(c, item_id, "evidence:edit")
    assert edit.reason == "title from the incident report"
    changes = json.loads(edit.details)["changes"]
    assert changes["title"] == {"old": "Photo 1", "new": "Front door, north side"}
    assert changes["device_serial"]["new"] == "BWC-0042" and "captured_at" in changes
    page = app.get(r.headers["location"])
    assert "The metadata is saved" in page.text
    assert "title from the incident report" in page.text  # the reason, in the custody timeline
    # The same values again: nothing recorded, and the page says so.
    r = app.post(
        f"/evidence/{item_id}/edit",
        data={
            "csrf_token": token,
            "updated": re.search(r'name="updated" value="([^"]*)"', page.text).group(1),  # type: ignore[union-attr]
            "title": "Front door, north side",
            "description": "Taken at arrival",
            "captured_at": "2026-03-01T14:05:00+00:00",
            "device_serial": "BWC-0042",
            "category": "scene",
            "reason": "again",
        },
    )
    assert r.headers["location"].endswith("notice=unchanged#metadata")
    assert len(events(c, item_id, "evidence:edit")) == 1
    # Naming another capturing officer changes who may see it: the policy's refusal is shown
    # next to the form, and nothing changes.
    r = app.post(
        f"/evidence/{item_id}/edit",
        data={"csrf_token": token, "title": "Front door, north side", "captured_by": "sam", "reason": "r"},
    )
    assert r.status_code == 403 and 'id="edit-error"' in r.text and "evidence restrict" in r.text
    assert len(events(c, item_id, "evidence:edit")) == 1


def test_an_edit_without_the_csrf_token_is_refused(app: TestClient, c: Container) -> None:
    item_id = ingest(c, "olga")
    sign_in(app, c, "olga", Role.OFFICER)
    r = app.post(f"/evidence/{item_id}/edit", data={"title": "X", "reason": "r"})
    assert r.status_code == 403
    assert events(c, item_id, "evidence:edit") == []


def test_tags_are_added_and_removed(app: TestClient, c: Container) -> None:
    item_id = ingest(c, "olga")
    token = sign_in(app, c, "olga", Role.OFFICER)
    r = app.post(
        f"/evidence/{item_id}/tags", data={"csrf_token": token, "tags": "door, night", "reason": "sort"}
    )
    assert r.status_code == 303
    page = app.get(f"/evidence/{item_id}").text
    assert "Remove tag door" in page and "Remove tag night" in page
    r = app.post(f"/evidence/{item_id}/tags/remove", data={"csrf_token": token, "tag": "door"})
    assert r.status_code == 303
    with c.uow() as uow:
        item = uow.evidence.get(item_id)
    assert item is not None and item.tags == ["night"]
    added, removed = events(c, item_id, "evidence:tag")
    assert json.loads(added.details)["added"] == ["door", "night"] and added.reason == "sort"
    assert json.loads(removed.details)["removed"] == ["door"]
    r = app.post(f"/evidence/{item_id}/tags", data={"csrf_token": token, "tags": "bad<tag>"})
    assert r.status_code == 422 and 'id="tag-error"' in r.text
    assert len(events(c, item_id, "evidence:tag")) == 2


def test_download_records_the_reason(app: TestClient, c: Container) -> None:
    item_id = ingest(c, "olga")
    sign_in(app, c, "olga", Role.OFFICER)
    r = app.get(f"/api/v1/evidence/{item_id}/original", params={"reason": "court exhibit 7"})
    assert r.status_code == 200 and r.content == png_bytes(seed=1)
    (download,) = events(c, item_id, "evidence:download")
    assert download.reason == "court exhibit 7"
    assert "court exhibit 7" in app.get(f"/evidence/{item_id}").text
    r = app.get(f"/api/v1/evidence/{item_id}/original", params={"reason": "x" * 2001})
    assert r.status_code == 422
    assert len(events(c, item_id, "evidence:download")) == 1


def test_the_auditor_reads_the_record_but_not_the_content(app: TestClient, c: Container) -> None:
    item_id = ingest(c, "olga")
    sign_in(app, c, "audra", Role.AUDITOR)
    page = app.get(f"/evidence/{item_id}")
    assert page.status_code == 200
    assert 'id="viewer-message"' in page.text and "may read this item's record" in page.text
    assert 'id="download-form"' not in page.text and 'id="edit-form"' not in page.text
    assert 'id="custody-table"' in page.text


def test_processing_panel_polls_then_swaps_in_the_viewer(app: TestClient, c: Container) -> None:
    item_id = ingest(c, "olga")
    sign_in(app, c, "olga", Role.OFFICER)
    page = app.get(f"/evidence/{item_id}").text
    assert 'id="processing"' in page and 'hx-trigger="every 2s"' in page  # the preview job waits
    assert "A viewable copy is being made" in page
    r = app.get(f"/evidence/{item_id}/processing", headers={"HX-Request": "true"})
    assert r.status_code == 200 and 'hx-trigger="every 2s"' in r.text and 'id="viewer"' not in r.text
    c.processor.run_until_idle("test")
    r = app.get(f"/evidence/{item_id}/processing", headers={"HX-Request": "true"})
    assert 'hx-trigger="every' not in r.text  # polling stops
    assert 'id="viewer" class="viewer" aria-label="Content" hx-swap-oob="true"' in r.text
    assert f'src="/api/v1/evidence/{item_id}/derivatives/preview"' in r.text
    assert 'id="files" aria-labelledby="files-heading" hx-swap-oob="true"' in r.text  # derivatives too
    page = app.get(f"/evidence/{item_id}").text
    assert 'id="image-viewer"' in page and 'id="zoom-in"' in page
    assert 'data-kind="preview"' in page and 'data-kind="thumbnail"' in page  # the derivatives table


def test_a_document_shows_its_pages(app: TestClient, c: Container) -> None:
    actor = user_actor(c, "olga", Role.OFFICER)
    req = IngestRequest(filename="report.pdf")
    item_id = ingest_stream(
        actor,
        req,
        [pdf_bytes("Use of force report")],
        uow=c.uow(),
        blobs=c.blobs,
        clock=c.clock,
        limits=c.limits,
    ).item.id
    c.processor.run_until_idle("test")
    sign_in(app, c, "olga", Role.OFFICER)
    page = app.get(f"/evidence/{item_id}").text
    assert 'id="pdf-viewer"' in page and "data-pages='[\"page-1\"]'" in page
    assert f'id="page-image" src="/api/v1/evidence/{item_id}/derivatives/page-1"' in page
    assert 'id="page-status" aria-live="polite">Page 1 of 1<' in page
