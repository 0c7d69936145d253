"""A real tus client uploads a 50 MB file, stops midway, the server restarts (killed, not
stopped cleanly), and a new client instance resumes. The stored original must hash to the
file's SHA-256, and a server killed in the middle of a chunk must lose nothing it confirmed."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from tusclient import client as tus
from tusclient.storage.filestorage import FileStorage

from tests.backends import container_of, staged_parts
from tests.e2e.server import Server, cli
from tests.factories import mp4_bytes

MB = 1024 * 1024
pytestmark = pytest.mark.slow


@pytest.fixture
def big_video(tmp_path: Path) -> Path:
    path = tmp_path / "bwc-0042.mp4"
    path.write_bytes(mp4_bytes(payload=50 * MB))
    return path


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = Server(tmp_path / "data").start()
    yield srv
    srv.stop()


def _token(data_dir: Path) -> str:
    cli(data_dir, "user", "add", "ofc.lee", "--role", "officer")
    return cli(data_dir, "token", "create", "--user", "ofc.lee", "--name", "dock").stdout.strip()


def _sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _uploader(url: str, token: str, path: Path, storage: Path) -> tus.Uploader:
    c = tus.TusClient(f"{url}/api/v1/uploads", headers={"Authorization": f"Bearer {token}"})
    return c.uploader(
        file_path=str(path),
        chunk_size=5 * MB,
        metadata={"filename": path.name, "officer": "Ofc. Lee", "device": "BWC-0042"},
        store_url=True,
        url_storage=FileStorage(str(storage)),
        retries=0,
    )


def _evidence(url: str, token: str, evidence_id: str) -> dict:  # type: ignore[type-arg]
    r = requests.get(f"{url}/api/v1/evidence/{evidence_id}", headers={"Authorization": f"Bearer {token}"})
    r.raise_for_status()
    return r.json()  # type: ignore[no-any-return]


def test_resume_after_client_stop_and_server_restart(server: Server, big_video: Path, tmp_path: Path) -> None:
    token = _token(server.data_dir)
    storage = tmp_path / "tus-urls.json"
    first = _uploader(server.url, token, big_video, storage)
    for _ in range(4):
        first.upload_chunk()
    assert first.offset == 20 * MB
    upload_url = first.url

    server.kill()
    server.start()

    second = _uploader(server.url, token, big_video, storage)  # a new client instance
    assert second.url == upload_url
    assert second.offset == 20 * MB, "the server must still hold every byte it confirmed"
    second.upload()
    headers = second.request.response_headers
    evidence_id = headers["opendems-evidence-id"]
    item = _evidence(server.url, token, evidence_id)
    assert item["original"]["sha256"] == _sha256(big_video)
    assert item["original"]["size"] == big_video.stat().st_size
    assert item["kind"] == "video"
    assert item["device_serial"] == "BWC-0042"

    # The bytes served back are the bytes sent.
    r = requests.get(
        f"{server.url}/api/v1/evidence/{evidence_id}/original",
        headers={"Authorization": f"Bearer {token}"},
        stream=True,
    )
    digest = hashlib.sha256()
    for chunk in r.iter_content(1 * MB):
        digest.update(chunk)
    assert digest.hexdigest() == _sha256(big_video)
    assert r.headers["X-Content-SHA256"] == digest.hexdigest()

    server.stop()
    result = cli(server.data_dir, "verify", "--all")
    assert "OK" in result.stdout
    assert staged_parts(container_of(server.data_dir)) == [], "no staged part may be left behind"


def test_server_killed_mid_chunk_keeps_only_confirmed_bytes(
    server: Server, big_video: Path, tmp_path: Path
) -> None:
    token = _token(server.data_dir)
    storage = tmp_path / "tus-urls.json"
    first = _uploader(server.url, token, big_video, storage)
    first.upload_chunk()  # 5 MB confirmed
    data = big_video.read_bytes()

    # Send the next 40 MB slowly in one PATCH and kill the server while it is arriving: the
    # server saves progress every 32 MiB inside a long request, so at least that survives.
    sent = {"bytes": 0}

    killed = threading.Event()

    def slow_body() -> Iterator[bytes]:
        for start in range(5 * MB, 45 * MB, MB):
            if start == 44 * MB:
                killed.wait(120)  # hold the last megabyte back until the server is gone
            yield data[start : start + MB]
            sent["bytes"] += MB
            time.sleep(0.01)

    outcome: dict[str, object] = {}

    def patch() -> None:
        try:
            outcome["response"] = requests.patch(
                first.url,
                data=slow_body(),
                headers={
                    "Authorization": f"Bearer {token}",
                    "Tus-Resumable": "1.0.0",
                    "Upload-Offset": str(5 * MB),
                    "Content-Type": "application/offset+octet-stream",
                },
                timeout=30,
            )
        except requests.RequestException as exc:  # expected: the server dies mid-request
            outcome["error"] = exc

    def saved_offset() -> int:
        """What the server says it holds (tus HEAD), while the PATCH is still arriving."""
        head = requests.head(
            first.url, headers={"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0"}, timeout=10
        )
        assert head.status_code == 200, head.text
        return int(head.headers["Upload-Offset"])

    sender = threading.Thread(target=patch)
    sender.start()
    # Kill it once the server confirms a save inside the request (37 MiB: the 5 before it and
    # 32 of this one). Bytes the client has sent may still sit in socket buffers, so waiting
    # on what was sent, not on what the server confirms, guesses (and a slow machine loses).
    deadline = time.monotonic() + 60
    while (confirmed := saved_offset()) < 37 * MB:
        if not sender.is_alive() or time.monotonic() > deadline:
            killed.set()  # (let the sender finish)
            raise AssertionError(f"no save inside the request: {confirmed} bytes confirmed; {outcome}")
        time.sleep(0.05)
    server.kill()
    killed.set()
    sender.join(timeout=30)
    server.start()

    second = _uploader(server.url, token, big_video, storage)
    # Everything it confirmed survives the kill; nothing of the unfinished rest is counted.
    assert confirmed <= second.offset <= 44 * MB, (confirmed, second.offset)
    second.upload()
    evidence_id = second.request.response_headers["opendems-evidence-id"]
    assert _evidence(server.url, token, evidence_id)["original"]["sha256"] == _sha256(big_video)
