"""A recipient's whole-share ZIP broken off at 90 % over a real connection and resumed by Range
against the real server: the custody log shows the broken transfer, the resumed range is not
another download, and the joined bytes are the archive."""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import os
import re
import socket
import time
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

from tests.e2e.server import Server, cli
from tests.e2e.ui import add_user

MIB = 1024 * 1024


def call(server: Server, method: str, path: str, *, headers: dict[str, str] | None = None,
         body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:  # fmt: skip
    host = urlsplit(server.url)
    conn = http.client.HTTPConnection(host.hostname, host.port, timeout=60)
    conn.request(method, path, body=body, headers=headers or {})
    reply = conn.getresponse()
    data = reply.read()
    conn.close()
    return reply.status, {k.lower(): v for k, v in reply.getheaders()}, data


class SmallWindow(http.client.HTTPConnection):
    """A client whose socket asks for a small receive buffer before it connects, so the kernel
    cannot take the rest of the archive off the server's hands once the reader stops: what the
    server counts as sent is what was sent."""

    def connect(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        sock.settimeout(self.timeout)
        sock.connect((self.host, self.port))
        self.sock = sock


def test_a_zip_broken_off_at_90_percent_resumes(app_server: Server, tmp_path: Path) -> None:
    server = app_server
    add_user(server, "resume_ivy", "investigator")
    token = cli(server.data_dir, "token", "create", "--user", "resume_ivy", "--name", "t").stdout.strip()
    original = os.urandom(96 * MIB)  # well beyond what the sockets buffer
    (tmp_path / "dvr-export.bin").write_bytes(original)
    out = cli(server.data_dir, "--as", "resume_ivy", "ingest", str(tmp_path / "dvr-export.bin")).stdout
    item = re.search(r"EV-\d{4}-\d{6,}", out).group(0)  # type: ignore[union-attr]
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    body = {"recipient_kind": "link", "recipient_email": "d@law.example", "evidence_ids": [item],
            "access": "download", "max_downloads": 1}  # fmt: skip
    status, _, raw = call(server, "POST", "/api/v1/shares", headers=auth, body=json.dumps(body).encode())
    assert status == 201, raw
    made = json.loads(raw)
    path = urlsplit(made["link"]).path
    status, headers, _ = call(
        server, "POST", path, body=f"code={made['access_code']}".encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )  # fmt: skip
    assert status == 303
    cookie = {"Cookie": headers["set-cookie"].split(";", 1)[0]}

    # Read 90 % of the ZIP, then drop the connection.
    host = urlsplit(server.url)
    conn = SmallWindow(host.hostname or "127.0.0.1", host.port, timeout=60)
    conn.request("GET", f"{path}/all.zip", headers=cookie)
    reply = conn.getresponse()
    assert reply.status == 200
    size = int(reply.getheader("content-length") or 0)
    cut = int(size * 0.9)
    first = b""
    while len(first) < cut:
        first += reply.read(min(256 * 1024, cut - len(first)))
    conn.sock.close()  # type: ignore[union-attr]
    conn.close()

    # The rest, by Range: not a second download (the share allows one).
    status, headers, rest = call(
        server, "GET", f"{path}/all.zip", headers={**cookie, "Range": f"bytes={cut}-"}
    )
    assert status == 206 and headers["content-range"] == f"bytes {cut}-{size - 1}/{size}"
    archive = zipfile.ZipFile(io.BytesIO(first + rest))
    assert archive.testzip() is None
    member = next(n for n in archive.namelist() if n.endswith("dvr-export.bin"))
    assert hashlib.sha256(archive.read(member)).digest() == hashlib.sha256(original).digest()
    # A new download from the start is refused: the one allowed was used.
    status, _, raw = call(server, "GET", f"{path}/all.zip", headers=cookie)
    assert status == 410 and b"downloads" in raw

    # The broken transfer is in custody with what was actually sent; the sharer sees it.
    deadline = time.monotonic() + 15
    while True:
        _, _, raw = call(server, "GET", f"/api/v1/shares/{made['share']['id']}", headers=auth)
        detail = json.loads(raw)
        broken = [
            e for e in detail["activity"] if e["action"] == "share:transfer" and e["outcome"] == "failed"
        ]
        if broken or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert broken, detail["activity"]
    details = broken[0]["details"]
    assert details["complete"] is False and 0 < details["bytes_sent"] < size
    assert detail["share"]["downloads"] == 1

    # A share revoked while a download runs: the download stops part-way.
    body = {
        "recipient_kind": "link",
        "recipient_email": "e@law.example",
        "evidence_ids": [item],
        "access": "download",
    }
    made = json.loads(call(server, "POST", "/api/v1/shares", headers=auth, body=json.dumps(body).encode())[2])
    path = urlsplit(made["link"]).path
    headers = call(server, "POST", path, body=f"code={made['access_code']}".encode(),
                   headers={"Content-Type": "application/x-www-form-urlencoded"})[1]  # fmt: skip
    cookie = {"Cookie": headers["set-cookie"].split(";", 1)[0]}
    conn = http.client.HTTPConnection(host.hostname, host.port, timeout=60)
    conn.request("GET", f"{path}/files/{item}/download", headers=cookie)
    reply = conn.getresponse()
    assert reply.status == 200
    got = len(reply.read(8 * MIB))
    revoke = json.dumps({"reason": "sent to the wrong address"}).encode()
    assert (
        call(server, "POST", f"/api/v1/shares/{made['share']['id']}/revoke", headers=auth, body=revoke)[0]
        == 200
    )
    try:
        while chunk := reply.read(MIB):
            got += len(chunk)
    except http.client.IncompleteRead as short:
        got += len(short.partial)
    conn.close()
    assert 8 * MIB <= got < len(original)
