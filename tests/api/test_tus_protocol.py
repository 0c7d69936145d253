"""The tus 1.0 resumable-upload protocol at /api/v1/uploads, spoken through the TestClient."""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Callable
from typing import Any

import httpx2 as httpx
from fastapi.testclient import TestClient

from opendems.bootstrap import Container
from tests.backends import staged_parts, stored_blobs, upload_staging
from tests.factories import png_bytes

UPLOADS = "/api/v1/uploads"
EVIDENCE = "/api/v1/evidence"
TUS = {"Tus-Resumable": "1.0.0"}
OCTETS = "application/offset+octet-stream"
TokenFor = Callable[[str, str], dict[str, str]]


# -- helpers ---------------------------------------------------------------------------------


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def metadata(**values: str) -> str:
    return ",".join(f"{k} {b64(v)}" for k, v in values.items())


def create(
    client: TestClient, headers: dict[str, str], length: int, raw_metadata: str | None = None, **values: str
) -> httpx.Response:
    h = {**headers, **TUS, "Upload-Length": str(length)}
    meta = raw_metadata if raw_metadata is not None else metadata(**values)
    if meta:
        h["Upload-Metadata"] = meta
    return client.post(UPLOADS, headers=h)


def open_upload(client: TestClient, headers: dict[str, str], length: int, **values: str) -> str:
    values.setdefault("filename", "capture.bin")
    r = create(client, headers, length, **values)
    assert r.status_code == 201, r.text
    location: str = r.headers["location"]
    return location


def send(
    client: TestClient,
    headers: dict[str, str],
    url: str,
    offset: int,
    data: bytes,
    checksum: str | None = None,
    content_type: str = OCTETS,
) -> httpx.Response:
    h = {**headers, **TUS, "Upload-Offset": str(offset), "Content-Type": content_type}
    if checksum is not None:
        h["Upload-Checksum"] = checksum
    return client.patch(url, headers=h, content=data)


def sha256_checksum(data: bytes) -> str:
    return "sha256 " + base64.b64encode(hashlib.sha256(data).digest()).decode()


def head(client: TestClient, headers: dict[str, str], url: str) -> httpx.Response:
    return client.head(url, headers={**headers, **TUS})


def offset_of(client: TestClient, headers: dict[str, str], url: str) -> int:
    r = head(client, headers, url)
    assert r.status_code == 200, r.status_code
    return int(r.headers["upload-offset"])


def evidence_total(client: TestClient, headers: dict[str, str]) -> int:
    total: int = client.get(EVIDENCE, headers=headers).json()["total"]
    return total


def assert_problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].split(";")[0] == "application/problem+json"
    assert r.headers["tus-resumable"] == "1.0.0"
    body: dict[str, Any] = r.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


# -- discovery and creation ------------------------------------------------------------------


def test_options_advertises_the_protocol(client: TestClient) -> None:
    r = client.options(UPLOADS)
    assert r.status_code in {200, 204}
    assert "1.0.0" in [v.strip() for v in r.headers["tus-version"].split(",")]
    extensions = {v.strip() for v in r.headers["tus-extension"].split(",")}
    assert {"creation", "termination", "checksum"} <= extensions
    assert "sha256" in {v.strip() for v in r.headers["tus-checksum-algorithm"].split(",")}
    assert int(r.headers["tus-max-size"]) > 0
    assert r.headers["tus-resumable"] == "1.0.0"


def test_create_needs_tus_resumable(client: TestClient, auth: dict[str, str]) -> None:
    h = {**auth, "Upload-Length": "10", "Upload-Metadata": metadata(filename="a.bin")}
    r = client.post(UPLOADS, headers=h)
    assert r.status_code == 412, r.text
    r = client.post(UPLOADS, headers={**h, "Tus-Resumable": "0.2.2"})
    assert r.status_code == 412, r.text


def test_unsupported_version_answer_names_the_supported_versions(
    client: TestClient, auth: dict[str, str]
) -> None:
    # tus 1.0 core: a 412 for an unsupported version MUST include the Tus-Version header.
    h = {
        **auth,
        "Tus-Resumable": "0.2.2",
        "Upload-Length": "10",
        "Upload-Metadata": metadata(filename="a.bin"),
    }
    r = client.post(UPLOADS, headers=h)
    assert r.status_code == 412
    assert "1.0.0" in r.headers.get("tus-version", "")


def test_create_refuses_bad_announcements(
    client: TestClient, auth: dict[str, str], container: Container
) -> None:
    assert_problem(create(client, auth, 0, filename="a.bin"), 422)
    r = client.post(UPLOADS, headers={**auth, **TUS, "Upload-Metadata": metadata(filename="a.bin")})
    assert_problem(r, 422)  # no Upload-Length (deferred length is not offered)
    assert_problem(create(client, auth, 10, title="no file name"), 422)
    assert_problem(create(client, auth, 10), 422)  # no metadata at all
    assert_problem(create(client, auth, 10, raw_metadata="filename !!!not-base64!!!"), 422)
    assert_problem(
        create(client, auth, 10, raw_metadata=f"filename {b64('a.bin')},filename {b64('b.bin')}"), 422
    )
    assert_problem(create(client, auth, 10, filename="../escape.bin"), 422)
    assert_problem(create(client, auth, 10, filename="a.bin", captured_at="2026-03-01T10:00:00"), 422)
    assert_problem(create(client, auth, 10, filename="a.bin", case="NO-SUCH-CASE"), 404)
    with container.uow() as uow:
        created = [e for e in uow.custody.iter_all() if e.action == "upload:create"]
    assert created == []
    assert upload_staging(container) == []


def test_create_needs_a_token(client: TestClient) -> None:
    r = client.post(
        UPLOADS, headers={**TUS, "Upload-Length": "10", "Upload-Metadata": metadata(filename="a")}
    )
    assert_problem(r, 401)


def test_create_and_head(client: TestClient, auth: dict[str, str], container: Container) -> None:
    meta = metadata(filename="scene.bin", title="Scene", officer="Reyes")
    r = create(client, auth, 1234, raw_metadata=meta)
    assert r.status_code == 201, r.text
    assert r.headers["tus-resumable"] == "1.0.0"
    assert r.headers["upload-offset"] == "0"
    location = r.headers["location"]
    assert re.fullmatch(r"/api/v1/uploads/[0-9a-f]{32}", location), location
    assert r.headers.get("upload-expires")

    h = head(client, auth, location)
    assert h.status_code == 200
    assert h.headers["upload-offset"] == "0"
    assert h.headers["upload-length"] == "1234"
    assert h.headers["cache-control"] == "no-store"
    assert h.headers["tus-resumable"] == "1.0.0"
    assert h.headers["upload-metadata"] == meta

    status = client.get(location, headers=auth).json()
    assert status["status"] == "open" and status["offset"] == 0 and status["length"] == 1234
    assert status["evidence_id"] is None
    with container.uow() as uow:
        created = [e for e in uow.custody.iter_all() if e.action == "upload:create"]
    assert [(e.object_id, e.details_dict["length"]) for e in created] == [(location.rsplit("/", 1)[1], 1234)]


# -- appending -------------------------------------------------------------------------------


def test_patch_preconditions(client: TestClient, auth: dict[str, str]) -> None:
    url = open_upload(client, auth, 100)
    data = os.urandom(100)
    assert_problem(send(client, auth, url, 0, data[:10], content_type="application/octet-stream"), 415)
    r = client.patch(url, headers={**auth, "Upload-Offset": "0", "Content-Type": OCTETS}, content=data[:10])
    assert r.status_code == 412
    assert_problem(send(client, auth, url, 5, data[:10]), 409)
    r = client.patch(url, headers={**auth, **TUS, "Content-Type": OCTETS}, content=data[:10])
    assert r.status_code in {400, 422}
    assert_problem(send(client, auth, url, 0, data[:10], checksum="md5 AAAA"), 422)
    assert offset_of(client, auth, url) == 0
    # After all those refusals the upload still works from offset 0.
    r = send(client, auth, url, 0, data[:40])
    assert r.status_code == 204, r.text
    assert r.headers["upload-offset"] == "40"
    assert_problem(send(client, auth, url, 0, data[:10]), 409)  # a stale offset
    assert offset_of(client, auth, url) == 40


def test_chunk_checksums(client: TestClient, auth: dict[str, str]) -> None:
    data = os.urandom(3000)
    url = open_upload(client, auth, len(data))

    first = data[:1000]
    r = send(client, auth, url, 0, first, checksum=sha256_checksum(first))
    assert r.status_code == 204, r.text
    assert r.headers["upload-offset"] == "1000"
    assert r.headers["tus-resumable"] == "1.0.0"
    assert offset_of(client, auth, url) == 1000

    second = data[1000:2000]
    r = send(client, auth, url, 1000, second, checksum=sha256_checksum(b"not the chunk"))
    assert r.status_code == 460, r.text
    assert r.headers["tus-resumable"] == "1.0.0"
    assert offset_of(client, auth, url) == 1000  # the bad chunk was not kept
    # A corrupted copy of the right chunk is refused too.
    corrupted = bytes([second[0] ^ 1]) + second[1:]
    assert send(client, auth, url, 1000, corrupted, checksum=sha256_checksum(second)).status_code == 460
    assert offset_of(client, auth, url) == 1000

    r = send(client, auth, url, 1000, second, checksum=sha256_checksum(second))
    assert r.status_code == 204, r.text
    assert r.headers["upload-offset"] == "2000"
    third = data[2000:]
    r = send(client, auth, url, 2000, third, checksum=sha256_checksum(third))
    assert r.status_code == 204, r.text
    evidence_id = r.headers["opendems-evidence-id"]
    item = client.get(f"{EVIDENCE}/{evidence_id}", headers=auth).json()
    assert item["original"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert client.get(f"{EVIDENCE}/{evidence_id}/original", headers=auth).content == data


def test_sha1_checksum_is_also_understood(client: TestClient, auth: dict[str, str]) -> None:
    data = os.urandom(500)
    url = open_upload(client, auth, 1000)
    good = "sha1 " + base64.b64encode(hashlib.sha1(data).digest()).decode()
    assert send(client, auth, url, 0, data, checksum=good).status_code == 204
    bad = "sha1 " + base64.b64encode(hashlib.sha1(b"x").digest()).decode()
    assert send(client, auth, url, 500, data, checksum=bad).status_code == 460
    assert offset_of(client, auth, url) == 500


def test_upload_in_several_patches_becomes_evidence(
    client: TestClient, auth: dict[str, str], container: Container
) -> None:
    data = os.urandom(200_000)  # several 64 KiB segments; chunk edges fall inside segments
    digest = hashlib.sha256(data).hexdigest()
    url = open_upload(client, auth, len(data), filename="dashcam.bin", title="Dashcam dump", officer="Reyes")
    upload_id = url.rsplit("/", 1)[1]

    offset = 0
    responses = []
    for size in (70_000, 1, 65_535, 50_000, 14_464):
        chunk = data[offset : offset + size]
        r = send(client, auth, url, offset, chunk)
        assert r.status_code == 204, r.text
        offset += size
        assert r.headers["upload-offset"] == str(offset)
        responses.append(r)
        if offset < len(data):
            assert "opendems-evidence-id" not in r.headers
            assert offset_of(client, auth, url) == offset
            assert client.get(url, headers=auth).json()["status"] == "open"
    assert offset == len(data)

    final = responses[-1]
    evidence_id = final.headers["opendems-evidence-id"]
    assert re.fullmatch(r"EV-\d{4}-\d{6}", evidence_id)
    assert final.headers["opendems-duplicate"] == "false"
    assert final.headers["opendems-sha256"] == digest

    status = client.get(url, headers=auth)
    assert status.status_code == 200
    assert status.json()["status"] == "completed"
    assert status.json()["evidence_id"] == evidence_id
    assert status.json()["offset"] == len(data) and status.json()["length"] == len(data)
    h = head(client, auth, url)
    assert h.status_code == 200 and h.headers["upload-offset"] == str(len(data))

    item = client.get(f"{EVIDENCE}/{evidence_id}", headers=auth).json()
    assert item["original"]["sha256"] == digest
    assert item["original"]["size"] == len(data)
    assert item["original"]["filename"] == "dashcam.bin"
    assert item["title"] == "Dashcam dump" and item["captured_by"] == "Reyes"
    assert client.get(f"{EVIDENCE}/{evidence_id}/original", headers=auth).content == data
    assert len(stored_blobs(container)) == 1
    assert staged_parts(container) == []
    assert upload_id not in upload_staging(container)
    with container.uow() as uow:
        ingests = [e for e in uow.custody.iter_all() if e.action == "evidence:ingest"]
    assert len(ingests) == 1 and ingests[0].details_dict["via"] == "tus"

    # A completed upload takes no more bytes.
    assert send(client, auth, url, len(data), b"x").status_code in {403, 404, 409, 410}


def test_same_bytes_again_by_tus_is_a_duplicate(client: TestClient, auth: dict[str, str]) -> None:
    data = png_bytes(seed=12)
    first = client.post(EVIDENCE, params={"filename": "a.png"}, content=data, headers=auth)
    assert first.status_code == 201
    url = open_upload(client, auth, len(data), filename="a-again.png")
    r = send(client, auth, url, 0, data)
    assert r.status_code == 204, r.text
    assert r.headers["opendems-evidence-id"] == first.json()["item"]["id"]
    assert r.headers["opendems-duplicate"] == "true"
    assert client.get(url, headers=auth).json()["duplicate"] is True
    assert evidence_total(client, auth) == 1


def test_declared_sha256_mismatch_stores_nothing(
    client: TestClient, auth: dict[str, str], container: Container
) -> None:
    data = os.urandom(100_000)
    url = open_upload(client, auth, len(data), sha256=hashlib.sha256(b"something else").hexdigest())
    upload_id = url.rsplit("/", 1)[1]
    assert send(client, auth, url, 0, data[:60_000]).status_code == 204
    r = send(client, auth, url, 60_000, data[60_000:])
    body = assert_problem(r, 422)
    assert hashlib.sha256(data).hexdigest() in body["detail"]

    status = client.get(url, headers=auth).json()
    assert status["status"] == "failed"
    assert status["evidence_id"] is None
    assert status["error"]
    assert evidence_total(client, auth) == 0
    assert stored_blobs(container) == []
    assert staged_parts(container) == []
    assert upload_id not in upload_staging(container)
    assert head(client, auth, url).status_code in {404, 410}
    assert send(client, auth, url, 0, data[:10]).status_code in {404, 409, 410}


def test_correct_declared_sha256_is_accepted(client: TestClient, auth: dict[str, str]) -> None:
    data = os.urandom(5000)
    url = open_upload(client, auth, len(data), sha256=hashlib.sha256(data).hexdigest())
    r = send(client, auth, url, 0, data)
    assert r.status_code == 204, r.text
    assert r.headers["opendems-sha256"] == hashlib.sha256(data).hexdigest()


def test_contradicting_content_fails_the_upload(
    client: TestClient, auth: dict[str, str], container: Container
) -> None:
    data = png_bytes(seed=13)
    url = open_upload(client, auth, len(data), filename="clip.mp4")
    assert_problem(send(client, auth, url, 0, data), 415)
    assert client.get(url, headers=auth).json()["status"] == "failed"
    assert evidence_total(client, auth) == 0
    assert stored_blobs(container) == []


def test_more_bytes_than_announced_is_413(
    client: TestClient, auth: dict[str, str], container: Container
) -> None:
    data = os.urandom(1000)
    url = open_upload(client, auth, 1000)
    assert_problem(send(client, auth, url, 0, data + b"extra"), 413)
    assert offset_of(client, auth, url) == 0
    assert send(client, auth, url, 0, data[:600]).status_code == 204
    assert_problem(send(client, auth, url, 600, data[600:] + b"!"), 413)
    assert offset_of(client, auth, url) == 600
    r = send(client, auth, url, 600, data[600:])
    assert r.status_code == 204, r.text
    evidence_id = r.headers["opendems-evidence-id"]
    assert client.get(f"{EVIDENCE}/{evidence_id}/original", headers=auth).content == data
    assert staged_parts(container) == []


def test_terminate(client: TestClient, auth: dict[str, str], container: Container) -> None:
    url = open_upload(client, auth, 1000)
    upload_id = url.rsplit("/", 1)[1]
    assert send(client, auth, url, 0, os.urandom(300)).status_code == 204

    r = client.delete(url, headers=auth)
    assert r.status_code == 412  # termination also needs the protocol version
    assert offset_of(client, auth, url) == 300

    r = client.delete(url, headers={**auth, **TUS})
    assert r.status_code == 204, r.text
    assert r.headers["tus-resumable"] == "1.0.0"
    assert head(client, auth, url).status_code in {404, 410}
    assert upload_id not in upload_staging(container)
    assert evidence_total(client, auth) == 0
    with container.uow() as uow:
        terminated = [e for e in uow.custody.iter_all() if e.action == "upload:terminate"]
    assert [e.object_id for e in terminated] == [upload_id]


def test_terminated_upload_is_gone_for_patch_too(client: TestClient, auth: dict[str, str]) -> None:
    # tus termination: later requests to the upload URL SHOULD be answered 404 or 410, as HEAD is.
    url = open_upload(client, auth, 1000)
    assert send(client, auth, url, 0, os.urandom(300)).status_code == 204
    assert client.delete(url, headers={**auth, **TUS}).status_code == 204
    assert head(client, auth, url).status_code in {404, 410}
    assert send(client, auth, url, 300, os.urandom(10)).status_code in {404, 410}


def test_completed_upload_cannot_be_terminated(client: TestClient, auth: dict[str, str]) -> None:
    data = os.urandom(100)
    url = open_upload(client, auth, len(data))
    evidence_id = send(client, auth, url, 0, data).headers["opendems-evidence-id"]
    assert_problem(client.delete(url, headers={**auth, **TUS}), 409)
    assert client.get(f"{EVIDENCE}/{evidence_id}/original", headers=auth).content == data


def test_unknown_upload_is_404(client: TestClient, auth: dict[str, str]) -> None:
    url = f"{UPLOADS}/{'0' * 32}"
    assert head(client, auth, url).status_code == 404
    assert_problem(send(client, auth, url, 0, b"abc"), 404)
    assert_problem(client.get(url, headers=auth), 404)
    assert_problem(client.delete(url, headers={**auth, **TUS}), 404)


def test_another_users_upload_is_not_found(
    client: TestClient, auth: dict[str, str], token_for: TokenFor
) -> None:
    data = os.urandom(2000)
    url = open_upload(client, auth, len(data))
    assert send(client, auth, url, 0, data[:500]).status_code == 204

    for name, role in (("ian", "investigator"), ("ada", "administrator")):
        other = token_for(name, role)
        assert head(client, other, url).status_code == 404
        assert_problem(send(client, other, url, 500, data[500:]), 404)
        assert_problem(client.get(url, headers=other), 404)
        assert_problem(client.delete(url, headers={**other, **TUS}), 404)

    # The owner's upload is untouched and completes.
    assert offset_of(client, auth, url) == 500
    r = send(client, auth, url, 500, data[500:])
    assert r.status_code == 204, r.text
    assert (
        client.get(f"{EVIDENCE}/{r.headers['opendems-evidence-id']}/original", headers=auth).content == data
    )


def test_uploads_need_a_token(client: TestClient, auth: dict[str, str]) -> None:
    url = open_upload(client, auth, 10)
    assert head(client, {}, url).status_code == 401
    assert_problem(send(client, {}, url, 0, b"abc"), 401)
    assert offset_of(client, auth, url) == 0


def test_auditor_cannot_create_uploads(client: TestClient, token_for: TokenFor) -> None:
    audrey = token_for("audrey", "auditor")
    assert_problem(create(client, audrey, 10, filename="a.bin"), 403)
