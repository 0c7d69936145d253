"""The evidence API through the real app: streaming upload, listing, editing, custody, download, access."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient

from opendems.bootstrap import Container
from opendems.domain.custody import CustodyEvent
from tests.backends import staged_parts, stored_blobs
from tests.factories import mp4_bytes, pdf_bytes, png_bytes, wav_bytes

API = "/api/v1/evidence"
PROBLEM = "application/problem+json"
ID_RE = re.compile(r"^EV-(\d{4})-(\d{6})$")
TokenFor = Callable[[str, str], dict[str, str]]


# -- helpers ---------------------------------------------------------------------------------


def upload(
    client: TestClient,
    headers: dict[str, str],
    body: bytes,
    filename: str = "upload.dat",
    extra_headers: dict[str, str] | None = None,
    **params: str,
) -> httpx.Response:
    return client.post(
        API,
        params={"filename": filename, **params},
        content=body,
        headers={**headers, **(extra_headers or {})},
    )


def ingest(client: TestClient, headers: dict[str, str], body: bytes, **params: str) -> dict[str, Any]:
    r = upload(client, headers, body, **params)
    assert r.status_code == 201, r.text
    item: dict[str, Any] = r.json()["item"]
    return item


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def b64_digest(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def events(container: Container) -> list[CustodyEvent]:
    with container.uow() as uow:
        return list(uow.custody.iter_all())


def assert_problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].split(";")[0] == PROBLEM
    body: dict[str, Any] = r.json()
    assert body["status"] == status
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    return body


def assert_nothing_stored(client: TestClient, auth: dict[str, str], container: Container) -> None:
    page = client.get(API, headers=auth).json()
    assert page["total"] == 0 and page["items"] == []
    assert stored_blobs(container) == []
    assert staged_parts(container) == []
    with container.uow() as uow:
        ingests = [
            e for e in uow.custody.iter_all() if e.action == "evidence:ingest" and e.outcome == "success"
        ]
    assert ingests == []


def list_ids(client: TestClient, headers: dict[str, str], **params: str) -> list[str]:
    r = client.get(API, headers=headers, params=params)
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["total"] == len(page["items"])
    return [i["id"] for i in page["items"]]


# -- upload ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "kind", "mimes"),
    [
        (png_bytes, "image", {"image/png"}),
        (wav_bytes, "audio", {"audio/x-wav", "audio/wav", "audio/vnd.wave"}),
        (pdf_bytes, "document", {"application/pdf"}),
        (mp4_bytes, "video", {"video/mp4"}),
    ],
)
def test_upload_detects_kind_from_content(
    client: TestClient,
    auth: dict[str, str],
    container: Container,
    make: Callable[[], bytes],
    kind: str,
    mimes: set[str],
) -> None:
    data = make()
    # The name makes no claim about the kind: the content alone decides.
    r = upload(client, auth, data, filename="exhibit-17.dat", title="Exhibit 17")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["duplicate"] is False
    assert body["warnings"] == []
    item = body["item"]
    m = ID_RE.match(item["id"])
    assert m, item["id"]
    assert int(m.group(1)) == datetime.now(UTC).year
    assert r.headers["location"] == f"{API}/{item['id']}"
    assert item["kind"] == kind
    assert item["title"] == "Exhibit 17"
    assert item["status"] == "ready"
    assert item["original"]["sha256"] == sha(data)
    assert item["original"]["size"] == len(data)
    assert item["original"]["filename"] == "exhibit-17.dat"
    assert item["original"]["mime_type"] in mimes
    # The stored bytes are the uploaded bytes.
    assert client.get(f"{API}/{item['id']}/original", headers=auth).content == data
    assert len(stored_blobs(container)) == 1
    assert staged_parts(container) == []


def test_upload_title_defaults_to_filename_and_metadata_is_kept(
    client: TestClient, auth: dict[str, str]
) -> None:
    item = ingest(
        client,
        auth,
        png_bytes(seed=3),
        filename="scene.png",
        officer="Officer Reyes",
        device="BWC-0042",
        device_make="Axon",
        device_model="Body 4",
        category="traffic",
        tags="night, plate ,night",
        captured_at="2026-03-01T14:05:00+02:00",
        description="Front of the vehicle",
    )
    assert item["title"] == "scene.png"
    assert item["captured_by"] == "Officer Reyes"
    assert item["device_serial"] == "BWC-0042"
    assert item["device_make"] == "Axon"
    assert item["device_model"] == "Body 4"
    assert item["category"] == "traffic"
    assert item["description"] == "Front of the vehicle"
    assert sorted(item["tags"]) == ["night", "plate"]
    assert datetime.fromisoformat(item["captured_at"]) == datetime(2026, 3, 1, 12, 5, tzinfo=UTC)


def test_ids_are_sequential(client: TestClient, auth: dict[str, str]) -> None:
    first = ingest(client, auth, png_bytes(seed=1))
    second = ingest(client, auth, png_bytes(seed=2))
    a, b = ID_RE.match(first["id"]), ID_RE.match(second["id"])
    assert a and b
    assert int(b.group(2)) == int(a.group(2)) + 1


def test_same_bytes_again_is_a_duplicate_with_the_same_id(
    client: TestClient, auth: dict[str, str], container: Container
) -> None:
    data = png_bytes(seed=9)
    first = upload(client, auth, data, filename="a.png")
    assert first.status_code == 201
    again = upload(client, auth, data, filename="copy-of-a.png", title="Another title")
    assert again.status_code == 200, again.text
    body = again.json()
    assert body["duplicate"] is True
    assert body["item"]["id"] == first.json()["item"]["id"]
    # The first record is unchanged; only one item and one blob exist.
    assert body["item"]["title"] == "a.png"
    assert body["item"]["original"]["filename"] == "a.png"
    assert list_ids(client, auth) == [first.json()["item"]["id"]]
    assert len(stored_blobs(container)) == 1
    assert staged_parts(container) == []
    dup = [e for e in events(container) if e.action == "evidence:duplicate"]
    assert len(dup) == 1 and dup[0].object_id == body["item"]["id"]
    assert dup[0].details_dict["filename"] == "copy-of-a.png"


BAD_AUTH: list[dict[str, str]] = [
    {},
    {"Authorization": "Bearer odt_not-a-real-token"},
    {"Authorization": "Bearer garbage"},
    {"Authorization": "Basic dXNlcjpwYXNz"},
    {"Authorization": "Bearer "},
]


def test_upload_without_a_valid_token_is_401_problem(
    client: TestClient, container: Container, auth: dict[str, str]
) -> None:
    for headers in BAD_AUTH:
        r = upload(client, headers, png_bytes())
        assert_problem(r, 401)
        assert r.headers["www-authenticate"].lower().startswith("bearer"), headers
    assert_nothing_stored(client, auth, container)


@pytest.mark.parametrize(
    ("method", "suffix"), [("GET", ""), ("GET", "/EV-2026-000001"), ("GET", "/EV-2026-000001/original")]
)
def test_reads_without_a_token_are_401(client: TestClient, method: str, suffix: str) -> None:
    assert_problem(client.request(method, API + suffix), 401)


def test_empty_body_is_refused_and_nothing_stored(
    client: TestClient, auth: dict[str, str], container: Container
) -> None:
    r = upload(client, auth, b"", filename="empty.png")
    assert_problem(r, 422)
    assert_nothing_stored(client, auth, container)


def test_empty_chunked_body_is_refused_and_nothing_stored(
    client: TestClient, auth: dict[str, str], container: Container
) -> None:
    def nothing() -> Any:
        yield from ()

    r = client.post(API, params={"filename": "empty.png"}, content=nothing(), headers=auth)
    assert "content-length" not in r.request.headers
    assert_problem(r, 422)
    assert_nothing_stored(client, auth, container)


def test_sha256_param_mismatch_stores_nothing(
    client: TestClient, auth: dict[str, str], container: Container
) -> None:
    data = png_bytes(seed=4)
    r = upload(client, auth, data, filename="x.png", sha256=sha(b"something else"))
    body = assert_problem(r, 422)
    assert sha(data) in body["detail"]
    assert_nothing_stored(client, auth, container)
    failed = [e for e in events(container) if e.action == "evidence:ingest"]
    assert len(failed) == 1 and failed[0].outcome == "failed"
    assert failed[0].details_dict["sha256"] == sha(data)


def test_repr_digest_mismatch_stores_nothing(
    client: TestClient, auth: dict[str, str], container: Container
) -> None:
    data = png_bytes(seed=5)
    r = upload(
        client,
        auth,
        data,
        filename="x.png",
        extra_headers={"Repr-Digest": f"sha-256=:{b64_digest(b'other')}:"},
    )
    assert_problem(r, 422)
    assert_nothing_stored(client, auth, container)


def test_digest_header_and_param_disagreeing_is_422(
    client: TestClient, auth: dict[str, str], container: Container
) -> None:
    data = png_bytes(seed=6)
    r = upload(
        client,
        auth,
        data,
        filename="x.png",
        sha256=sha(data),
        extra_headers={"Repr-Digest": f"sha-256=:{b64_digest(b'other')}:"},
    )
    assert_problem(r, 422)
    assert_nothing_stored(client, auth, container)


@pytest.mark.parametrize("digest", ["sha-256=:not base64!:", "sha-256=:AAAA:"])
def test_malformed_digest_header_is_422(
    client: TestClient, auth: dict[str, str], container: Container, digest: str
) -> None:
    r = upload(client, auth, png_bytes(), filename="x.png", extra_headers={"Repr-Digest": digest})
    assert_problem(r, 422)
    assert_nothing_stored(client, auth, container)


def test_malformed_sha256_param_is_422(
    client: TestClient, auth: dict[str, str], container: Container
) -> None:
    assert_problem(upload(client, auth, png_bytes(), filename="x.png", sha256="abc123"), 422)
    assert_nothing_stored(client, auth, container)


def test_correct_digests_are_accepted(client: TestClient, auth: dict[str, str]) -> None:
    a, b, c = png_bytes(seed=7), png_bytes(seed=8), png_bytes(seed=10)
    r1 = upload(client, auth, a, filename="a.png", sha256=sha(a).upper())
    assert r1.status_code == 201, r1.text
    assert r1.json()["item"]["original"]["sha256"] == sha(a)
    r2 = upload(
        client, auth, b, filename="b.png", extra_headers={"Repr-Digest": f"sha-256=:{b64_digest(b)}:"}
    )
    assert r2.status_code == 201, r2.text
    assert r2.json()["item"]["original"]["sha256"] == sha(b)
    r3 = upload(
        client,
        auth,
        c,
        filename="c.png",
        sha256=sha(c),
        extra_headers={
            "Repr-Digest": f"sha-512=:{base64.b64encode(os.urandom(64)).decode()}:, sha-256=:{b64_digest(c)}:"
        },
    )
    assert r3.status_code == 201, r3.text


UNSAFE_NAMES = [
    "../evil.png",
    "../../etc/passwd",
    "dir/photo.png",
    "/abs.png",
    "back\\slash.png",
    "bell\x07.png",
    "new\nline.png",
    "esc\x1b[31m.png",
    "rtl\u202egnp.exe",
    "..",
    ".",
    "",
    "   ",
    "x" * 256 + ".png",
]


def test_unsafe_filenames_are_422(client: TestClient, auth: dict[str, str], container: Container) -> None:
    for filename in UNSAFE_NAMES:
        r = upload(client, auth, png_bytes(), filename=filename)
        assert r.status_code == 422, (filename, r.text)
        assert_problem(r, 422)
    assert_nothing_stored(client, auth, container)


def test_missing_filename_is_422(client: TestClient, auth: dict[str, str], container: Container) -> None:
    assert_problem(client.post(API, content=png_bytes(), headers=auth), 422)
    assert_nothing_stored(client, auth, container)


def test_title_length_limit(client: TestClient, auth: dict[str, str], container: Container) -> None:
    assert_problem(upload(client, auth, png_bytes(), filename="a.png", title="t" * 201), 422)
    assert_nothing_stored(client, auth, container)
    item = ingest(client, auth, png_bytes(), filename="a.png", title="t" * 200)
    assert item["title"] == "t" * 200


def test_bad_captured_at_is_422(client: TestClient, auth: dict[str, str], container: Container) -> None:
    for captured_at in ["yesterday", "2026-13-01T00:00:00Z", "2026-03-01T14:05:00", "2026-03-01"]:
        r = upload(client, auth, png_bytes(), filename="a.png", captured_at=captured_at)
        assert r.status_code == 422, (captured_at, r.text)
        assert_problem(r, 422)
    assert_nothing_stored(client, auth, container)


def test_bad_restriction_is_422(client: TestClient, auth: dict[str, str], container: Container) -> None:
    assert_problem(upload(client, auth, png_bytes(), filename="a.png", restriction="top-secret"), 422)
    assert_nothing_stored(client, auth, container)


def test_unknown_case_is_404_and_nothing_stored(
    client: TestClient, auth: dict[str, str], container: Container
) -> None:
    assert_problem(upload(client, auth, png_bytes(), filename="a.png", case="NO-SUCH-CASE"), 404)
    assert_nothing_stored(client, auth, container)


def test_content_contradicting_extension_is_415(
    client: TestClient, auth: dict[str, str], container: Container
) -> None:
    data = png_bytes(seed=11)
    r = upload(client, auth, data, filename="clip.mp4")
    body = assert_problem(r, 415)
    assert "clip.mp4" in body["detail"]
    assert_nothing_stored(client, auth, container)

    r = upload(client, auth, data, filename="clip.mp4", allow_mismatch="1")
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["item"]["kind"] == "image"
    assert out["item"]["original"]["filename"] == "clip.mp4"
    assert len(out["warnings"]) == 1 and "clip.mp4" in out["warnings"][0]
    ingest_event = [e for e in events(container) if e.action == "evidence:ingest" and e.outcome == "success"]
    assert len(ingest_event) == 1
    assert ingest_event[0].details_dict["warnings"] == out["warnings"]


def test_matching_extension_gives_no_warning(client: TestClient, auth: dict[str, str]) -> None:
    r = upload(client, auth, mp4_bytes(), filename="clip.MP4")
    assert r.status_code == 201, r.text
    assert r.json()["warnings"] == []
    assert r.json()["item"]["kind"] == "video"


# -- listing ---------------------------------------------------------------------------------


def test_list_pagination_newest_first(client: TestClient, auth: dict[str, str]) -> None:
    ids = [ingest(client, auth, png_bytes(seed=20 + i), filename=f"p{i}.png")["id"] for i in range(5)]
    newest_first = list(reversed(ids))
    seen: list[str] = []
    for offset in (0, 2, 4):
        r = client.get(API, headers=auth, params={"limit": 2, "offset": offset})
        assert r.status_code == 200, r.text
        page = r.json()
        assert page["total"] == 5
        assert page["limit"] == 2 and page["offset"] == offset
        assert len(page["items"]) == (1 if offset == 4 else 2)
        seen += [i["id"] for i in page["items"]]
    assert seen == newest_first
    beyond = client.get(API, headers=auth, params={"limit": 2, "offset": 10}).json()
    assert beyond["items"] == [] and beyond["total"] == 5


def test_list_bad_paging_is_422(client: TestClient, auth: dict[str, str]) -> None:
    for params in [{"limit": "0"}, {"limit": "501"}, {"offset": "-1"}, {"limit": "x"}]:
        assert_problem(client.get(API, headers=auth, params=params), 422)


def test_list_filters(client: TestClient, auth: dict[str, str]) -> None:
    r = client.post("/api/v1/cases", headers=auth, json={"number": "C-100", "title": "Burglary"})
    assert r.status_code == 201, r.text
    a = ingest(
        client,
        auth,
        png_bytes(seed=30),
        filename="a.png",
        officer="alice",
        device="CAM-1",
        tags="night,traffic",
        captured_at="2026-01-10T10:00:00Z",
        case="C-100",
    )["id"]
    b = ingest(
        client,
        auth,
        wav_bytes(),
        filename="b.wav",
        officer="bob",
        device="CAM-2",
        tags="night",
        captured_at="2026-02-10T10:00:00Z",
    )["id"]
    c = ingest(client, auth, pdf_bytes(), filename="c.pdf")["id"]

    assert set(list_ids(client, auth)) == {a, b, c}
    assert list_ids(client, auth, kind="image") == [a]
    assert list_ids(client, auth, kind="audio") == [b]
    assert list_ids(client, auth, kind="document") == [c]
    assert list_ids(client, auth, kind="video") == []
    assert list_ids(client, auth, case="C-100") == [a]
    assert list_ids(client, auth, officer="bob") == [b]
    assert list_ids(client, auth, officer="nobody") == []
    assert list_ids(client, auth, device="CAM-1") == [a]
    assert set(list_ids(client, auth, tag="night")) == {a, b}
    assert list_ids(client, auth, tag="traffic") == [a]
    assert list_ids(client, auth, captured_from="2026-02-01T00:00:00Z") == [b]
    assert list_ids(client, auth, captured_to="2026-02-01T00:00:00Z") == [a]
    jan, mar = "2026-01-01T00:00:00Z", "2026-03-01T00:00:00Z"
    assert set(list_ids(client, auth, captured_from=jan, captured_to=mar)) == {a, b}
    exact = "2026-01-10T10:00:00Z"  # both bounds are inclusive
    assert list_ids(client, auth, captured_from=exact, captured_to=exact) == [a]
    # A bound in another time zone means the same instant.
    assert list_ids(client, auth, captured_from="2026-01-10T12:00:00+02:00", captured_to=exact) == [a]
    assert list_ids(client, auth, kind="audio", tag="night", officer="bob", device="CAM-2") == [b]
    assert list_ids(client, auth, kind="image", officer="bob") == []


def test_list_state_words_mine_and_sort(client: TestClient, auth: dict[str, str], token_for: Any) -> None:
    other = token_for("quinn", "investigator")
    custodian = token_for("cara", "evidence_custodian")  # sees the whole agency
    zebra = ingest(client, auth, png_bytes(seed=50), filename="z.png", title="Zebra crossing")["id"]
    apple = ingest(client, auth, png_bytes(seed=51), filename="a.png", title="Apple store front")["id"]
    theirs = ingest(client, other, png_bytes(seed=52), filename="t.png", title="Zebra mural")["id"]

    assert list_ids(client, custodian, q="zebra", sort="title") == [zebra, theirs]
    assert list_ids(client, auth, q="zebra", mine="true") == [zebra]
    assert list_ids(client, other, mine="true") == [theirs]
    assert list_ids(client, custodian, mine="true") == []
    assert list_ids(client, custodian, sort="title") == [apple, zebra, theirs]
    assert list_ids(client, custodian, sort="-title") == [theirs, zebra, apple]
    assert list_ids(client, custodian, sort="created_at") == [zebra, apple, theirs]
    assert list_ids(client, custodian, q=apple) == [apple]  # part of an id finds it
    assert list_ids(client, custodian, q="100%_") == []  # wildcards are plain text
    states = {s: set(list_ids(client, custodian, status=s)) for s in ("ready", "processing", "failed")}
    assert set().union(*states.values()) == {zebra, apple, theirs}
    assert list_ids(client, custodian, status="disposed") == []
    for params in [{"sort": "password_hash"}, {"status": "lost"}, {"q": "x" * 201}]:
        assert_problem(client.get(API, headers=custodian, params=params), 422)


def test_list_bad_filters_are_422(client: TestClient, auth: dict[str, str]) -> None:
    for params in [
        {"captured_from": "not-a-date"},
        {"captured_to": "2026-02-30T00:00:00Z"},
        {"captured_from": "2026-03-01T00:00:00Z", "captured_to": "2026-01-01T00:00:00Z"},
        {"kind": "hologram"},
    ]:
        r = client.get(API, headers=auth, params=params)
        assert r.status_code == 422, (params, r.text)
        assert_problem(r, 422)


# -- one item: view, edit, tags ---------------------------------------------------------------


def test_get_item_is_recorded_as_a_view(
    client: TestClient, auth: dict[str, str], container: Container
) -> None:
    item = ingest(client, auth, png_bytes(seed=40), filename="v.png")
    before = [e for e in events(container) if e.action == "evidence:view"]
    r = client.get(f"{API}/{item['id']}", headers=auth)
    assert r.status_code == 200, r.text
    assert r.json() == item
    views = [e for e in events(container) if e.action == "evidence:view"]
    assert len(views) == len(before) + 1
    v = views[-1]
    assert v.object_type == "evidence" and v.object_id == item["id"]
    assert v.actor_name == "ivy" and v.outcome == "success"
    assert v.service == "api" and v.endpoint == "GET /api/v1/evidence/{evidence_id}"


def test_get_item_accepts_lowercase_id(client: TestClient, auth: dict[str, str]) -> None:
    item = ingest(client, auth, png_bytes(seed=41))
    r = client.get(f"{API}/{item['id'].lower()}", headers=auth)
    assert r.status_code == 200, r.text
    assert r.json()["id"] == item["id"]


def test_get_unknown_or_malformed_item(client: TestClient, auth: dict[str, str]) -> None:
    assert_problem(client.get(f"{API}/EV-2020-999999", headers=auth), 404)
    assert_problem(client.get(f"{API}/not-an-id", headers=auth), 422)


def test_patch_records_old_and_new_values(
    client: TestClient, auth: dict[str, str], container: Container
) -> None:
    item = ingest(client, auth, png_bytes(seed=42), filename="e.png", title="Old title", category="misc")
    r = client.patch(
        f"{API}/{item['id']}",
        headers=auth,
        json={
            "reason": "corrected per officer report",
            "title": "New title",
            "category": "misc",  # unchanged: not recorded as a change
            "captured_at": "2026-02-03T04:05:06Z",
            "latitude": 51.5,
        },
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["title"] == "New title"
    assert out["latitude"] == 51.5
    assert datetime.fromisoformat(out["captured_at"]) == datetime(2026, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert out["updated_at"] is not None
    # The change is durable.
    assert client.get(f"{API}/{item['id']}", headers=auth).json()["title"] == "New title"

    edits = [e for e in events(container) if e.action == "evidence:edit"]
    assert len(edits) == 1
    e = edits[0]
    assert e.object_id == item["id"] and e.outcome == "success"
    assert e.reason == "corrected per officer report"
    changes = e.details_dict["changes"]
    assert set(changes) == {"title", "captured_at", "latitude"}
    assert changes["title"] == {"old": "Old title", "new": "New title"}
    assert changes["latitude"] == {"old": None, "new": 51.5}
    assert changes["captured_at"]["old"] is None
    assert datetime.fromisoformat(changes["captured_at"]["new"]) == datetime(2026, 2, 3, 4, 5, 6, tzinfo=UTC)


@pytest.mark.parametrize(
    "body",
    [
        {"title": "No reason"},
        {"reason": "", "title": "Empty reason"},
        {"reason": "   ", "title": "Blank reason"},
        {"reason": "ok", "title": "x" * 201},
        {"reason": "ok", "sha256": "0" * 64},
        {"reason": "ok", "latitude": 91},
        {"reason": "ok", "captured_at": "2026-02-03T04:05:06"},
        {"reason": "ok"},
    ],
)
def test_bad_patch_is_422_and_changes_nothing(
    client: TestClient, auth: dict[str, str], container: Container, body: dict[str, Any]
) -> None:
    item = ingest(client, auth, png_bytes(seed=43), title="Keep me")
    assert_problem(client.patch(f"{API}/{item['id']}", headers=auth, json=body), 422)
    after = client.get(f"{API}/{item['id']}", headers=auth).json()
    assert after["title"] == "Keep me" and after["latitude"] is None and after["captured_at"] is None
    assert [e for e in events(container) if e.action == "evidence:edit"] == []


def test_tags_add_and_remove(client: TestClient, auth: dict[str, str], container: Container) -> None:
    item = ingest(client, auth, png_bytes(seed=44), tags="initial")
    url = f"{API}/{item['id']}/tags"
    r = client.post(url, headers=auth, json={"tags": ["night", "plate", "night"], "reason": "triage"})
    assert r.status_code == 200, r.text
    assert sorted(r.json()["tags"]) == ["initial", "night", "plate"]
    r = client.delete(f"{url}/night", headers=auth, params={"reason": "wrong"})
    assert r.status_code == 200, r.text
    assert sorted(r.json()["tags"]) == ["initial", "plate"]
    assert sorted(client.get(f"{API}/{item['id']}", headers=auth).json()["tags"]) == ["initial", "plate"]
    assert list_ids(client, auth, tag="night") == []
    assert list_ids(client, auth, tag="plate") == [item["id"]]

    tag_events = [e for e in events(container) if e.action == "evidence:tag"]
    assert [(e.details_dict["added"], e.details_dict["removed"], e.reason) for e in tag_events] == [
        (["night", "plate"], [], "triage"),
        ([], ["night"], "wrong"),
    ]
    assert_problem(client.post(url, headers=auth, json={"tags": ["bad\ttag"]}), 422)
    assert_problem(client.post(url, headers=auth, json={"tags": []}), 422)


# -- custody history -------------------------------------------------------------------------

HASHED = [
    "seq",
    "prev_hash",
    "at",
    "action",
    "actor_id",
    "actor_name",
    "object_type",
    "object_id",
    "service",
    "endpoint",
    "client_address",
    "user_agent",
    "outcome",
    "reason",
]


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def recompute_hash(event: dict[str, Any]) -> str:
    fields = {k: event[k] for k in HASHED}
    fields["details"] = _canonical(event["details"])
    return hashlib.sha256(_canonical(fields).encode()).hexdigest()


def test_custody_history_is_ordered_and_chained(
    client: TestClient, auth: dict[str, str], container: Container
) -> None:
    item = ingest(client, auth, png_bytes(seed=45))
    other = ingest(client, auth, png_bytes(seed=46))  # interleaved events about another item
    assert client.get(f"{API}/{item['id']}", headers=auth).status_code == 200
    assert client.get(f"{API}/{other['id']}", headers=auth).status_code == 200
    r = client.patch(f"{API}/{item['id']}", headers=auth, json={"reason": "fix", "title": "T2"})
    assert r.status_code == 200
    assert client.get(f"{API}/{item['id']}/original", headers=auth).status_code == 200

    r = client.get(f"{API}/{item['id']}/custody", headers=auth)
    assert r.status_code == 200, r.text
    history = r.json()
    assert [e["action"] for e in history] == [
        "evidence:ingest",
        "evidence:view",
        "evidence:edit",
        "evidence:download",
        "evidence:transfer",
    ]
    assert all(e["object_type"] == "evidence" and e["object_id"] == item["id"] for e in history)
    seqs = [e["seq"] for e in history]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)

    chain = {e.seq: e for e in events(container)}
    assert sorted(chain) == list(range(1, len(chain) + 1))
    for e in history:
        assert re.fullmatch(r"[0-9a-f]{64}", e["event_hash"])
        assert recompute_hash(e) == e["event_hash"]
        assert chain[e["seq"]].event_hash == e["event_hash"]
        # Each event commits to the one right before it in the whole chain.
        assert e["prev_hash"] == (chain[e["seq"] - 1].event_hash if e["seq"] > 1 else "0" * 64)
    for seq in range(2, len(chain) + 1):
        assert chain[seq].prev_hash == chain[seq - 1].event_hash

    # Reading the history is itself recorded (after the history returned).
    reads = [e for e in events(container) if e.action == "custody:read"]
    assert len(reads) == 1 and reads[0].object_id == item["id"] and reads[0].seq > seqs[-1]


# -- download --------------------------------------------------------------------------------


@pytest.fixture
def big(client: TestClient, auth: dict[str, str]) -> tuple[str, bytes]:
    data = os.urandom(200_000)  # a little over three 64 KiB segments
    item = ingest(client, auth, data, filename="dump.bin")
    assert item["kind"] == "other"
    return item["id"], data


def test_download_full(
    client: TestClient, auth: dict[str, str], container: Container, big: tuple[str, bytes]
) -> None:
    evidence_id, data = big
    r = client.get(f"{API}/{evidence_id}/original", headers=auth)
    assert r.status_code == 200, r.text
    assert r.content == data
    digest = sha(data)
    assert r.headers["x-content-sha256"] == digest
    assert r.headers["repr-digest"] == f"sha-256=:{b64_digest(data)}:"
    assert r.headers["etag"] == f'"{digest}"'
    assert r.headers["accept-ranges"] == "bytes"
    assert r.headers["content-length"] == str(len(data))
    assert "content-range" not in r.headers
    cd = r.headers["content-disposition"]
    assert cd.startswith("attachment;")
    assert 'filename="dump.bin"' in cd
    assert "filename*=UTF-8''dump.bin" in cd


def test_download_content_disposition_escapes_odd_names(client: TestClient, auth: dict[str, str]) -> None:
    name = 'Zeugenaussage "Müller" ü.png'
    item = ingest(client, auth, png_bytes(seed=47), filename=name)
    r = client.get(f"{API}/{item['id']}/original", headers=auth)
    assert r.status_code == 200
    cd = r.headers["content-disposition"]
    fallback = re.search(r'filename="([^"]*)"', cd)
    assert fallback is not None
    assert all(32 <= ord(ch) < 127 for ch in fallback.group(1))
    assert "filename*=UTF-8''Zeugenaussage%20%22M%C3%BCller%22%20%C3%BC.png" in cd


RANGES = [
    ("bytes=0-99", 0, 99),
    ("bytes=100-", 100, 199_999),
    ("bytes=-50", 199_950, 199_999),
    ("bytes=65000-140000", 65000, 140000),  # crosses two 64 KiB segment boundaries
    ("bytes=65535-65536", 65535, 65536),  # the last byte of one segment and the first of the next
    ("bytes=131072-131072", 131072, 131072),  # exactly the first byte of the third segment
    ("bytes=196600-999999", 196600, 199_999),  # an end past the file is clamped
    ("bytes=-300000", 0, 199_999),  # a suffix longer than the file is the whole file
]


def test_download_ranges(
    client: TestClient, auth: dict[str, str], container: Container, big: tuple[str, bytes]
) -> None:
    evidence_id, data = big
    for range_header, start, end in RANGES:
        r = client.get(f"{API}/{evidence_id}/original", headers={**auth, "Range": range_header})
        assert r.status_code == 206, (range_header, r.text)
        assert r.content == data[start : end + 1], range_header
        assert r.headers["content-range"] == f"bytes {start}-{end}/{len(data)}"
        assert r.headers["content-length"] == str(end - start + 1)
        # Digest headers describe the whole representation, not the slice.
        assert r.headers["x-content-sha256"] == sha(data)
        assert r.headers["accept-ranges"] == "bytes"

        dl = [e for e in events(container) if e.action == "evidence:download"]
        tr = [e for e in events(container) if e.action == "evidence:transfer"]
        assert dl[-1].details_dict["range"] == [start, end]
        assert dl[-1].details_dict["bytes_requested"] == end - start + 1
        assert tr[-1].details_dict["bytes_sent"] == end - start + 1
        assert tr[-1].details_dict["complete"] is True and tr[-1].outcome == "success"
        assert tr[-1].seq > dl[-1].seq
    assert len(dl) == len(tr) == len(RANGES)


def test_unsatisfiable_range_is_416(
    client: TestClient, auth: dict[str, str], container: Container, big: tuple[str, bytes]
) -> None:
    evidence_id, data = big
    for range_header in ["bytes=200000-", "bytes=500000-600000", "bytes=-0", "bytes=10-5"]:
        r = client.get(f"{API}/{evidence_id}/original", headers={**auth, "Range": range_header})
        assert r.status_code == 416, (range_header, r.text)
        assert_problem(r, 416)
        assert r.headers["content-range"] == f"bytes */{len(data)}"
    assert [e for e in events(container) if e.action == "evidence:transfer"] == []


def test_each_download_is_in_custody_with_bytes_sent(
    client: TestClient, auth: dict[str, str], container: Container, big: tuple[str, bytes]
) -> None:
    evidence_id, data = big
    url = f"{API}/{evidence_id}/original"
    assert client.get(url, headers=auth).status_code == 200
    assert client.get(url, headers={**auth, "Range": "bytes=0-99"}).status_code == 206
    assert client.get(url, headers={**auth, "Range": "bytes=-50"}).status_code == 206

    history = client.get(f"{API}/{evidence_id}/custody", headers=auth).json()
    downloads = [e for e in history if e["action"] == "evidence:download"]
    transfers = [e for e in history if e["action"] == "evidence:transfer"]
    assert [d["details"]["range"] for d in downloads] == [None, [0, 99], [len(data) - 50, len(data) - 1]]
    assert [t["details"]["bytes_sent"] for t in transfers] == [len(data), 100, 50]
    assert all(t["details"]["complete"] is True and t["outcome"] == "success" for t in transfers)
    assert all(e["actor_name"] == "ivy" for e in downloads + transfers)
    assert all(d["details"]["sha256"] == sha(data) for d in downloads)
    # Each download is followed by its transfer.
    actions = [e["action"] for e in history if e["action"] in {"evidence:download", "evidence:transfer"}]
    assert actions == ["evidence:download", "evidence:transfer"] * 3


# -- access ----------------------------------------------------------------------------------


def denials(container: Container) -> list[CustodyEvent]:
    return [e for e in events(container) if e.outcome == "denied"]


def test_officer_cannot_see_another_officers_item(
    client: TestClient, token_for: TokenFor, container: Container
) -> None:
    olga, otto = token_for("olga", "officer"), token_for("otto", "officer")
    mine = ingest(client, olga, png_bytes(seed=50), filename="olga.png")
    theirs = ingest(client, otto, png_bytes(seed=51), filename="otto.png")
    eid = mine["id"]

    assert list_ids(client, olga) == [eid]
    assert list_ids(client, otto) == [theirs["id"]]

    attempts = [
        ("evidence:view", client.get(f"{API}/{eid}", headers=otto)),
        ("evidence:download", client.get(f"{API}/{eid}/original", headers=otto)),
        ("custody:read", client.get(f"{API}/{eid}/custody", headers=otto)),
        (
            "evidence:edit",
            client.patch(f"{API}/{eid}", headers=otto, json={"reason": "x", "title": "hijack"}),
        ),
        ("evidence:tag", client.post(f"{API}/{eid}/tags", headers=otto, json={"tags": ["x"]})),
    ]
    for _, r in attempts:
        body = assert_problem(r, 404)  # not 403: the item's existence is not revealed
        assert "denied" not in body["detail"].lower()
    # An unknown item answers the same way.
    unknown = client.get(f"{API}/EV-2020-999999", headers=otto)
    assert unknown.status_code == 404

    denied = denials(container)
    assert [(e.action, e.object_id, e.actor_name) for e in denied] == [(a, eid, "otto") for a, _ in attempts]
    assert all(e.details_dict["permission"] for e in denied)
    # Nothing changed, and olga still sees her item as it was.
    still = client.get(f"{API}/{eid}", headers=olga).json()
    assert still["title"] == "olga.png" and still["tags"] == []


def test_duplicate_upload_does_not_disclose_an_item_outside_scope(
    client: TestClient, token_for: TokenFor
) -> None:
    olga, otto = token_for("olga", "officer"), token_for("otto", "officer")
    data = png_bytes(seed=50)
    hidden = ingest(client, olga, data, filename="olga.png", title="Informant photo")
    r = upload(client, otto, data, filename="guess.png")
    assert r.status_code < 500, r.text
    # Whatever the answer, it must not hand otto an item he may not see.
    assert hidden["id"] not in r.text
    assert hidden["id"] not in r.headers.get("location", "")
    assert "Informant photo" not in r.text


def test_custodian_sees_officers_items_investigator_only_through_a_case(
    client: TestClient, token_for: TokenFor, auth: dict[str, str]
) -> None:
    olga = token_for("olga", "officer")
    item = ingest(client, olga, png_bytes(seed=52))
    custodian = token_for("cora", "evidence_custodian")
    assert list_ids(client, custodian) == [item["id"]]
    assert client.get(f"{API}/{item['id']}", headers=custodian).status_code == 200
    assert list_ids(client, auth) == []
    assert_problem(client.get(f"{API}/{item['id']}", headers=auth), 404)
    # Once the item is in a case the investigator works, she sees it.
    assert (
        client.post("/api/v1/cases", headers=auth, json={"number": "C-52", "title": "t"}).status_code == 201
    )
    # The custodian's agency-wide scope covers the case; she files the item into it.
    r = client.post("/api/v1/cases/C-52/evidence", headers=custodian, json={"evidence_id": item["id"]})
    assert r.status_code == 201, r.text
    assert list_ids(client, auth) == [item["id"]]


def test_auditor_reads_custody_but_cannot_download(
    client: TestClient, token_for: TokenFor, auth: dict[str, str], container: Container
) -> None:
    item = ingest(client, auth, png_bytes(seed=53))
    audrey = token_for("audrey", "auditor")

    assert client.get(f"{API}/{item['id']}", headers=audrey).status_code == 200
    assert list_ids(client, audrey) == [item["id"]]
    r = client.get(f"{API}/{item['id']}/custody", headers=audrey)
    assert r.status_code == 200, r.text
    assert r.json()[0]["action"] == "evidence:ingest"

    assert_problem(client.get(f"{API}/{item['id']}/original", headers=audrey), 403)
    assert_problem(client.get(f"{API}/{item['id']}/original", headers={**audrey, "Range": "bytes=0-9"}), 403)
    assert_problem(
        client.patch(f"{API}/{item['id']}", headers=audrey, json={"reason": "x", "title": "y"}), 403
    )
    assert_problem(upload(client, audrey, png_bytes(seed=54), filename="a.png"), 403)

    denied = denials(container)
    assert [(e.action, e.actor_name) for e in denied] == [
        ("evidence:download", "audrey"),
        ("evidence:download", "audrey"),
        ("evidence:edit", "audrey"),
        ("evidence:ingest", "audrey"),
    ]
    assert [e.object_id for e in denied[:3]] == [item["id"]] * 3
    assert [e for e in events(container) if e.action == "evidence:transfer"] == []
    assert list_ids(client, auth) == [item["id"]]
    assert client.get(f"{API}/{item['id']}", headers=auth).json()["title"] == item["title"]


def test_restricted_item_is_hidden_from_other_investigators(
    client: TestClient, token_for: TokenFor, auth: dict[str, str], container: Container
) -> None:
    # Investigators may not restrict at upload; a supervisor may, and is named on the item.
    assert (
        upload(client, auth, png_bytes(seed=55), filename="r.png", restriction="restricted").status_code
        == 403
    )
    sue = token_for("sue", "supervisor")
    item = ingest(client, sue, png_bytes(seed=55), restriction="restricted")
    assert item["restriction"] == "restricted"
    assert client.get(f"{API}/{item['id']}/members", headers=sue).json()["members"] == ["sue"]
    other = token_for("ian", "investigator")
    boss = token_for("ada", "administrator")
    custodian = token_for("cora", "evidence_custodian")
    assert list_ids(client, other) == []
    assert_problem(client.get(f"{API}/{item['id']}", headers=other), 404)
    # Administrators are not named on it, and hold no access:restricted: invisible.
    assert list_ids(client, boss) == []
    assert_problem(client.get(f"{API}/{item['id']}", headers=boss), 404)
    assert list_ids(client, custodian) == [item["id"]]
    assert client.get(f"{API}/{item['id']}/original", headers=custodian).content == png_bytes(seed=55)
    assert [(e.action, e.actor_name) for e in denials(container)] == [
        ("evidence:ingest", "ivy"),
        ("evidence:view", "ian"),
        ("evidence:view", "ada"),
    ]


def test_changing_restriction_needs_the_restrict_permission(
    client: TestClient, token_for: TokenFor, auth: dict[str, str]
) -> None:
    olga = token_for("olga", "officer")
    item = ingest(client, olga, png_bytes(seed=60))
    r = client.patch(f"{API}/{item['id']}", headers=olga, json={"reason": "hide it", "restriction": "sealed"})
    assert_problem(r, 403)
    custodian = token_for("cora", "evidence_custodian")
    r = client.patch(
        f"{API}/{item['id']}", headers=custodian, json={"reason": "sensitive", "restriction": "restricted"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["restriction"] == "restricted"
    assert client.get(f"{API}/{item['id']}", headers=olga).status_code == 200  # the creator still sees it
    # Sealing names the sealer on the item, so it stays visible to them -- and to internal
    # affairs -- but no longer to its uploader or the custodians.
    ia = token_for("irene", "internal_affairs")
    r = client.patch(f"{API}/{item['id']}", headers=ia, json={"reason": "IA 26-14", "restriction": "sealed"})
    assert r.status_code == 200, r.text
    assert client.get(f"{API}/{item['id']}/members", headers=ia).json()["members"] == ["cora", "irene"]
    assert_problem(client.get(f"{API}/{item['id']}", headers=olga), 404)
    assert list_ids(client, olga) == []
    # cora was named when she restricted it, so she still sees it; another custodian does not.
    assert client.get(f"{API}/{item['id']}", headers=custodian).status_code == 200
    assert_problem(client.get(f"{API}/{item['id']}", headers=token_for("carl", "evidence_custodian")), 404)


def test_processing_state_and_probe_results_through_the_api(
    client: TestClient, auth: dict[str, str], container: Container
) -> None:
    from tests.media import video_bytes

    item = ingest(client, auth, video_bytes(), filename="clip.mp4")
    r = client.get(f"{API}/{item['id']}/jobs", headers=auth)
    assert r.status_code == 200 and [(j["kind"], j["state"]) for j in r.json()] == [
        ("probe", "queued"),
        ("proxy", "queued"),
        ("transcribe", "queued"),
    ]
    assert client.get(f"{API}/{item['id']}", headers=auth).json()["media"] is None
    container.processor.run_until_idle("test")
    jobs = client.get(f"{API}/{item['id']}/jobs", headers=auth).json()
    assert all(j["state"] == "done" and j["progress"] == 1.0 and j["attempts"] == 1 for j in jobs)
    listed = client.get(f"{API}/{item['id']}", headers=auth).json()["derivatives"]
    assert {d["kind"] for d in listed} == {"proxy", "poster", "sprite", "waveform"}
    media = client.get(f"{API}/{item['id']}", headers=auth).json()["media"]
    assert media["kind"] == "video" and media["width"] == 320 and media["video_codec"] == "h264"


def test_the_queue_shows_only_jobs_on_evidence_the_reader_may_see(
    client: TestClient, token_for: TokenFor, auth: dict[str, str]
) -> None:
    olga = token_for("olga", "officer")
    theirs = ingest(client, olga, png_bytes(seed=90), filename="o.png")
    mine = ingest(client, auth, png_bytes(seed=91), filename="i.png")
    assert_problem(client.get("/api/v1/jobs", headers=olga), 403)  # officers hold no evidence:verify
    seen = {j["evidence_id"] for j in client.get("/api/v1/jobs", headers=auth).json()}
    assert seen == {mine["id"]}
    custodian = token_for("cora", "evidence_custodian")
    queued = client.get("/api/v1/jobs", headers=custodian, params={"state": "queued"}).json()
    assert {j["evidence_id"] for j in queued} == {mine["id"], theirs["id"]}
    assert {j["kind"] for j in queued} == {"probe", "previews", "ocr"}
    assert client.get("/api/v1/jobs", headers=custodian, params={"state": "done"}).json() == []
