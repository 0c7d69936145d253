"""Sharing through the API and the share portal, on the real app, database, disk and job
steps: a case shared with a prosecutor's account and by link, access codes and their lock,
watermarked copies, download limits, whole-share ZIPs resumed by Range, revocation, reshares
and receipts -- every access and refusal in custody."""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import av
import numpy as np
import pypdfium2
import pytest
from fastapi.testclient import TestClient

from opendems.bootstrap import Container
from opendems.services.accounts import create_token
from opendems.web.app import create_app
from tests.api.test_cases_api import create_case, ingest
from tests.factories import FakeClock, admin, make_container, mp4_bytes, user_actor
from tests.media import jpeg_bytes, video_bytes


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    """Over https: the portal's visit cookie is Secure."""
    with TestClient(create_app(container), base_url="https://testserver") as c:
        yield c


def actions(c: Container, action: str, outcome: str | None = None) -> list:
    with c.uow() as uow:
        found = [e for e in uow.custody.iter_all() if e.action == action]
    return [e for e in found if outcome is None or e.outcome == outcome]


def case_with_media(client: TestClient, c: Container, auth: dict[str, str]) -> tuple[str, str, bytes]:
    create_case(client, auth, "2026-0042")
    clip = video_bytes(width=320, height=240, seconds=1.0)
    photo = jpeg_bytes(width=320, height=240)
    video = ingest(client, auth, clip, filename="bwc.mp4", case="2026-0042")
    image = ingest(client, auth, photo, filename="scene.jpg", case="2026-0042")
    c.processor.run_until_idle("w")
    return video["id"], image["id"], clip


def share(client: TestClient, auth: dict[str, str], **body: object) -> dict:
    r = client.post("/api/v1/shares", headers=auth, json=body)
    assert r.status_code == 201, r.text
    return r.json()


def token_of(link: str) -> str:
    return link.rsplit("/s/", 1)[1]


def test_a_link_share_with_a_code_watermark_limit_zip_and_revocation(
    client: TestClient, container: Container, auth: dict[str, str]
) -> None:
    c = container
    video_id, image_id, clip = case_with_media(client, c, auth)
    made = share(
        client,
        auth,
        recipient_kind="link",
        recipient_name="Dana Defence",
        recipient_email="dana@law.example",
        case_number="2026-0042",
        access="download",
        max_downloads=3,
        watermark=True,
        note="Discovery, part 1",
    )
    s, link, code = made["share"], made["link"], made["access_code"]
    assert s["objects"] == [f"evidence:{video_id}", f"evidence:{image_id}"]
    assert code and code not in link and len(token_of(link)) >= 40
    token = token_of(link)

    # Without the code: the code form, nothing else.
    page = client.get(f"/s/{token}")
    assert page.status_code == 200 and 'name="code"' in page.text and video_id not in page.text
    assert client.get(f"/s/{token}/files/{video_id}").status_code == 401
    # A guessed link: a clear answer and an audit entry.
    r = client.post("/s/" + "A" * 43, data={"code": code})
    assert r.status_code == 404 and "not valid" in r.text
    assert actions(c, "share:open", "denied")[-1].object_id == "unknown"

    # A wrong code is counted; the right one opens a 12-hour visit.
    r = client.post(f"/s/{token}", data={"code": "WRONG-CODE0"})
    assert r.status_code == 401 and "4 tries left" in r.text
    r = client.post(f"/s/{token}", data={"code": code.lower().replace("-", " ")}, follow_redirects=False)
    assert r.status_code == 303
    page = client.get(f"/s/{token}")
    assert page.status_code == 200 and video_id in page.text and "Discovery, part 1" in page.text

    # The watermarked copies are made by jobs; until then the item waits.
    c.processor.run_until_idle("w")
    page = client.get(f"/s/{token}")
    assert "being made" not in page.text
    r = client.get(f"/s/{token}/files/{video_id}", headers={"Range": "bytes=0-99"})
    assert r.status_code == 206 and len(r.content) == 100
    r = client.get(f"/s/{token}/files/{video_id}/download")
    assert r.status_code == 200
    marked = r.content
    assert hashlib.sha256(marked).hexdigest() == r.headers["x-content-sha256"]
    assert hashlib.sha256(marked).hexdigest() != hashlib.sha256(clip).hexdigest()
    with av.open(io.BytesIO(marked)) as got, av.open(io.BytesIO(clip)) as src:
        a = next(got.decode(video=0)).to_ndarray(format="gray").astype(float)
        b = next(src.decode(video=0)).to_ndarray(format="gray").astype(float)
    assert a.shape == b.shape and np.abs(a - b).mean() > 2  # the mark is in the picture
    # The original is untouched.
    r = client.get(f"/api/v1/evidence/{video_id}/original", headers=auth)
    assert r.content == clip

    # The whole share as a ZIP, broken off and resumed by Range: the same bytes.
    r = client.get(f"/s/{token}/all.zip")
    assert r.status_code == 200
    whole = r.content
    assert int(r.headers["content-length"]) == len(whole)
    cut = int(len(whole) * 0.9)
    r = client.get(f"/s/{token}/all.zip", headers={"Range": f"bytes={cut}-"})
    assert r.status_code == 206 and r.content == whole[cut:]
    z = zipfile.ZipFile(io.BytesIO(whole))
    assert z.testzip() is None
    names = z.namelist()
    assert f"{s['id']}/SHA256SUMS" in names
    sums = z.read(f"{s['id']}/SHA256SUMS").decode()
    for name in names:
        if name.endswith(".mp4") or name.endswith(".jpg"):
            assert hashlib.sha256(z.read(name)).hexdigest() in sums
    # Three downloads allowed: one file, one ZIP (the resumed range was not another), one more.
    r = client.get(f"/s/{token}/files/{image_id}/download")
    assert r.status_code == 200
    r = client.get(f"/s/{token}/files/{image_id}/download")
    assert r.status_code == 410 and "3 of its downloads" in r.json()["detail"]
    assert client.get(f"/s/{token}/files/{image_id}").status_code == 200  # viewing goes on

    # The recipient's receipt (recorded like everything else).
    r = client.get(f"/s/{token}/receipt.pdf")
    assert r.status_code == 200 and r.content.startswith(b"%PDF")

    # The sharer follows who opened what and when, and revokes it.
    detail = client.get(f"/api/v1/shares/{s['id']}", headers=auth).json()
    acts = [e["action"] for e in detail["activity"]]
    for expected in (
        "share:create",
        "share:code_failed",
        "share:open",
        "share:view",
        "evidence:download",
        "share:download",
        "evidence:view",
        "share:receipt",
    ):
        assert expected in acts, expected
    r = client.post(f"/api/v1/shares/{s['id']}/revoke", headers=auth, json={"reason": "case dismissed"})
    assert r.status_code == 200 and r.json()["state"] == "revoked"
    r = client.get(f"/s/{token}/files/{video_id}")
    assert r.status_code == 410 and "revoked" in r.json()["detail"]
    assert client.get(f"/s/{token}").status_code == 410
    # Each item's own custody history shows it was shared and downloaded through the share.
    r = client.get(f"/api/v1/evidence/{video_id}/custody", headers=auth)
    item_acts = [(e["action"], e["details"].get("share")) for e in r.json()]
    assert ("evidence:share", s["id"]) in item_acts and ("evidence:download", s["id"]) in item_acts


def test_five_wrong_codes_lock_the_share_until_a_new_code(
    client: TestClient, container: Container, auth: dict[str, str]
) -> None:
    item = ingest(client, auth, jpeg_bytes(), filename="a.jpg")
    c = container
    c.processor.run_until_idle("w")
    made = share(
        client, auth, recipient_kind="link", recipient_email="x@y.example", evidence_ids=[item["id"]]
    )
    token = token_of(made["link"])
    for left in (4, 3, 2, 1):
        r = client.post(f"/s/{token}", data={"code": "AAAAA-AAAAA"})
        assert r.status_code == 401 and f"{left} tries left" in r.text
    r = client.post(f"/s/{token}", data={"code": "AAAAA-AAAAA"})
    assert r.status_code == 403 and "locked" in r.text
    # Locked: even the right code is refused.
    r = client.post(f"/s/{token}", data={"code": made["access_code"]})
    assert r.status_code == 403 and "locked" in r.text
    assert len(actions(c, "share:code_failed")) == 5 and len(actions(c, "share:locked")) == 1
    # The sharer issues a new code: the lock is lifted and the old code is dead.
    new = client.post(f"/api/v1/shares/{made['share']['id']}/code", headers=auth).json()["access_code"]
    assert client.post(f"/s/{token}", data={"code": made["access_code"]}).status_code == 401
    assert client.post(f"/s/{token}", data={"code": new}, follow_redirects=False).status_code == 303


def test_an_account_share_a_reshare_expiry_and_what_others_may_not_do(
    client: TestClient, container: Container, auth: dict[str, str], token_for
) -> None:  # type: ignore[no-untyped-def]
    c = container
    video_id, image_id, _ = case_with_media(client, c, auth)
    pat = token_for("pat", "prosecutor")
    made = share(
        client,
        auth,
        recipient_kind="user",
        recipient_username="pat",
        evidence_ids=[video_id],
        access="view",
        reshare=True,
        content="proxy",
    )
    s = made["share"]
    assert made["link"] is None and made["access_code"] is None
    # The prosecutor sees it among the shares made to them, and may view but not download.
    got = client.get("/api/v1/shares", headers=pat).json()
    assert [x["id"] for x in got["received"]] == [s["id"]]
    # Only through the share: the normal API still hides the item from them.
    assert client.get(f"/api/v1/evidence/{video_id}", headers=pat).status_code == 404
    # A reshare cannot widen the terms, nor reach an item the share does not hold.
    r = client.post(
        "/api/v1/shares",
        headers=pat,
        json={
            "recipient_kind": "link",
            "recipient_email": "co@da.example",
            "evidence_ids": [video_id],
            "access": "download",
            "content": "proxy",
            "from_share": s["id"],
        },
    )
    assert r.status_code == 422 and "viewing only" in r.json()["detail"]
    r = client.post(
        "/api/v1/shares",
        headers=pat,
        json={
            "recipient_kind": "link",
            "recipient_email": "co@da.example",
            "evidence_ids": [image_id],
            "content": "proxy",
            "from_share": s["id"],
        },
    )
    assert r.status_code == 404
    r = client.post(
        "/api/v1/shares",
        headers=pat,
        json={
            "recipient_kind": "link",
            "recipient_email": "co@da.example",
            "evidence_ids": [video_id],
            "content": "proxy",
            "from_share": s["id"],
        },
    )
    assert r.status_code == 201, r.text
    child = r.json()["share"]
    assert child["parent_id"] == s["id"]
    # Revoking the share revokes the reshare with it.
    client.post(f"/api/v1/shares/{s['id']}/revoke", headers=auth, json={"reason": "wrong prosecutor"})
    got = client.get(f"/api/v1/shares/{child['id']}", headers=auth)
    assert got.status_code == 200 and got.json()["share"]["state"] == "revoked"

    # Someone who cannot see a sealed item cannot share it (and learns nothing of it).
    ia = token_for("ira", "internal_affairs")
    sealed = ingest(client, ia, jpeg_bytes(width=70), filename="s.jpg", restriction="sealed")
    other = token_for("otto", "investigator")
    r = client.post(
        "/api/v1/shares",
        headers=other,
        json={"recipient_kind": "user", "recipient_username": "pat", "evidence_ids": [sealed["id"]]},
    )
    assert r.status_code == 404
    # A share may not outlive a year, nor expire in the past; an unknown account is named.
    for body, words in (
        ({"expires_at": (c.clock.now() + timedelta(days=400)).isoformat()}, "at most a year"),
        ({"expires_at": (c.clock.now() - timedelta(days=1)).isoformat()}, "in the future"),
        ({"recipient_username": "nobody"}, "no account"),
    ):
        r = client.post(
            "/api/v1/shares",
            headers=auth,
            json={"recipient_kind": "user", "recipient_username": "pat", "evidence_ids": [image_id], **body},
        )
        assert r.status_code == 422 and words in r.json()["detail"], r.text


def test_an_expired_share_is_refused_and_the_receipt_lists_items_and_hashes(tmp_path: Path) -> None:
    clock = FakeClock()
    c = make_container(tmp_path, clock=clock)
    with TestClient(create_app(c), base_url="https://testserver") as client:
        _expiry_and_receipt(client, c, clock)


def _expiry_and_receipt(client: TestClient, c: Container, clock: FakeClock) -> None:
    user_actor(c, "ivy", "investigator")
    auth = {"Authorization": "Bearer " + create_token(admin(c), "ivy", "t", uow=c.uow(), clock=c.clock).token}
    photo = jpeg_bytes()
    item = ingest(client, auth, photo, filename="a.jpg")
    made = share(
        client,
        auth,
        recipient_kind="link",
        recipient_name="Zoë Ångström",
        recipient_email="z@law.example",
        evidence_ids=[item["id"]],
        access="download",
        expires_at=(c.clock.now() + timedelta(days=2)).isoformat(),
    )
    sid = made["share"]["id"]
    r = client.get(f"/api/v1/shares/{sid}/receipt.pdf", headers=auth)
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    pdf = pypdfium2.PdfDocument(r.content)
    text = " ".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
    pdf.close()
    flat = "".join(text.split())
    assert sid in text and "Zoë Ångström" in text and hashlib.sha256(photo).hexdigest() in flat
    token = token_of(made["link"])
    assert (
        client.post(f"/s/{token}", data={"code": made["access_code"]}, follow_redirects=False).status_code
        == 303
    )
    clock.advance(days=3)
    r = client.get(f"/s/{token}/files/{item['id']}/download")
    assert r.status_code == 410 and "expired" in r.json()["detail"]
    assert actions(c, "share:open", "denied")


def test_a_shared_court_export(client: TestClient, container: Container, auth: dict[str, str]) -> None:
    c = container
    video_id, _, _ = case_with_media(client, c, auth)
    export = client.post(
        "/api/v1/exports", headers=auth, json={"title": "People v. Doe", "case_number": "2026-0042"}
    )
    assert export.status_code == 202, export.text
    c.processor.run_until_idle("w")
    eid = export.json()["id"]
    made = share(client, auth, recipient_kind="link", recipient_email="d@law.example", export_ids=[eid],
                 evidence_ids=[video_id], access="download")  # fmt: skip
    assert made["share"]["objects"] == [f"evidence:{video_id}", f"export:{eid}"]
    token = token_of(made["link"])
    client.post(f"/s/{token}", data={"code": made["access_code"]}, follow_redirects=False)
    page = client.get(f"/s/{token}")
    assert f"/s/{token}/exports/{eid}.zip" in page.text
    r = client.get(f"/s/{token}/exports/{eid}.zip")
    assert r.status_code == 200
    bag = zipfile.ZipFile(io.BytesIO(r.content))
    assert f"{eid}/manifest-sha256.txt" in bag.namelist() and bag.testzip() is None
    # The same package, downloaded by its maker, is the same bytes.
    assert client.get(f"/api/v1/exports/{eid}/package.zip", headers=auth).content == r.content
    # The whole share nests the package as a ZIP of its own.
    whole = zipfile.ZipFile(io.BytesIO(client.get(f"/s/{token}/all.zip").content))
    assert whole.read(f"{made['share']['id']}/{eid}.zip") == r.content


def test_access_codes_are_rate_limited_per_address(tmp_path: Path) -> None:
    c = make_container(tmp_path, sign_in_rate_per_address=3)
    with TestClient(create_app(c), base_url="https://testserver") as client:
        for n in range(3):
            assert client.post(f"/s/{'B' * 42}{n}", data={"code": "x"}).status_code == 404
        r = client.post(f"/s/{'B' * 43}", data={"code": "x"})
        assert r.status_code == 429 and "too many attempts" in r.text
        assert (
            actions(c, "share:open", "denied")[-1].details_dict["why"]
            == "too many attempts from this address"
        )


def test_a_watermarked_copy_that_cannot_be_made_is_said_so(
    client: TestClient, container: Container, auth: dict[str, str]
) -> None:
    c = container
    item = ingest(client, auth, mp4_bytes(), filename="damaged.mp4")
    assert item["kind"] == "video"
    made = share(client, auth, recipient_kind="link", recipient_email="d@law.example", evidence_ids=[item["id"]],
                 watermark=True)  # fmt: skip
    c.processor.run_until_idle("w")
    token = token_of(made["link"])
    client.post(f"/s/{token}", data={"code": made["access_code"]}, follow_redirects=False)
    page = client.get(f"/s/{token}")
    assert "could not be made" in page.text and "being made" not in page.text
    r = client.get(f"/s/{token}/files/{item['id']}")
    assert r.status_code == 409  # never the unmarked file
