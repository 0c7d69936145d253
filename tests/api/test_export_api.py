"""A court export on the real app, database, disk and job steps: a case exported as a BagIt
package that verifies without this system -- ``bagit.py --validate``, ``sha256sum -c`` and
``case_validate`` (CASE/UCO) -- and fails all of them once one byte is changed."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pypdfium2
import pytest
from fastapi.testclient import TestClient

from opendems.bootstrap import Container
from opendems.web.app import create_app
from tests.api.test_cases_api import create_case, ingest
from tests.media import jpeg_bytes, video_bytes

BIN = Path(sys.executable).parent


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container), base_url="https://testserver") as c:
        yield c


def run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_a_case_exported_as_a_bag_verifies_without_opendems_and_tampering_is_caught(
    client: TestClient, container: Container, auth: dict[str, str], tmp_path: Path
) -> None:
    c = container
    create_case(client, auth, "2026-0077")
    clip = video_bytes(seconds=1.0)
    photo = jpeg_bytes(gps=(40.7128, -74.006))
    video = ingest(client, auth, clip, filename="bwc 0001.mp4", case="2026-0077", officer="J. Smith")
    image = ingest(client, auth, photo, filename="scene.jpg", case="2026-0077")
    c.processor.run_until_idle("w")

    r = client.post(
        "/api/v1/exports", headers=auth, json={"title": "People v. Doe", "case_number": "2026-0077"}
    )
    assert r.status_code == 202, r.text
    export = r.json()
    assert export["state"] == "building" and export["evidence_ids"] == [video["id"], image["id"]]
    r = client.get(f"/api/v1/exports/{export['id']}/package.zip", headers=auth)
    assert r.status_code == 409 and "being built" in r.json()["detail"]
    c.processor.run_until_idle("w")
    got = client.get(f"/api/v1/exports/{export['id']}", headers=auth).json()
    assert got["state"] == "ready" and got["job"]["state"] == "done", got

    r = client.get(f"/api/v1/exports/{export['id']}/package.zip", headers=auth)
    assert r.status_code == 200 and int(r.headers["content-length"]) == len(r.content) == got["size"]
    package = r.content
    # Resumed at 90 %: exactly the rest.
    cut = int(len(package) * 0.9)
    r = client.get(f"/api/v1/exports/{export['id']}/package.zip", headers={**auth, "Range": f"bytes={cut}-"})
    assert r.status_code == 206 and r.content == package[cut:]

    zipfile.ZipFile(io.BytesIO(package)).extractall(tmp_path)
    bag = tmp_path / export["id"]
    names = sorted(str(p.relative_to(bag)) for p in bag.rglob("*") if p.is_file())
    vid, img = video["id"], image["id"]
    for expected in (
        "bagit.txt",
        "bag-info.txt",
        "manifest-sha256.txt",
        "tagmanifest-sha256.txt",
        f"data/{vid}/original/bwc 0001.mp4",
        f"data/{vid}/custody-report.pdf",
        f"data/{vid}/custody-report.json",
        f"data/{img}/original/scene.jpg",
        "data/provenance.jsonld",
        "data/certificate-of-authenticity.txt",
    ):
        assert expected in names, (expected, names)
    assert (bag / f"data/{vid}/original/bwc 0001.mp4").read_bytes() == clip

    # 1. bagit.py --validate (the Library of Congress tool), 2. sha256sum -c, 3. case_validate.
    ok = run(BIN / "bagit.py", "--validate", bag)
    assert ok.returncode == 0, ok.stderr
    ok = run("sha256sum", "-c", "--strict", "manifest-sha256.txt", cwd=bag)
    assert ok.returncode == 0 and ok.stdout.count(": OK") == len(names) - 4, ok.stdout + ok.stderr
    ok = run("sha256sum", "-c", "--strict", "tagmanifest-sha256.txt", cwd=bag)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    ok = run(BIN / "case_validate", bag / "data/provenance.jsonld")
    assert ok.returncode == 0 and "Conforms: True" in ok.stdout, ok.stdout[-3000:]

    # What the package says.
    info = (bag / "bag-info.txt").read_text()
    assert f"External-Identifier: {export['id']}" in info and "Payload-Oxum:" in info
    report = json.loads((bag / f"data/{vid}/custody-report.json").read_text())
    assert report["files"][0]["sha256"] == hashlib.sha256(clip).hexdigest() and report["chain_ok"] is True
    assert [e["action"] for e in report["events"]][:1] == ["evidence:ingest"]
    assert "evidence:export" in [e["action"] for e in report["events"]]
    pdf = pypdfium2.PdfDocument((bag / f"data/{vid}/custody-report.pdf").read_bytes())
    text = "".join("".join(pdf[i].get_textpage().get_text_range().split()) for i in range(len(pdf)))
    pdf.close()
    assert hashlib.sha256(clip).hexdigest() in text and "VERIFIED" in text and vid in text
    cert = (bag / "data/certificate-of-authenticity.txt").read_text()
    assert "902(14)" in cert and hashlib.sha256(photo).hexdigest() in cert and "Signature:" in cert

    # One byte changed in one file: every check fails, and names the file.
    tampered = tmp_path / "tampered"
    shutil.copytree(bag, tampered)
    target = tampered / f"data/{img}/original/scene.jpg"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    bad = run(BIN / "bagit.py", "--validate", tampered)
    assert bad.returncode != 0 and "scene.jpg" in bad.stderr
    bad = run("sha256sum", "-c", "--strict", "manifest-sha256.txt", cwd=tampered)
    assert bad.returncode != 0 and "scene.jpg: FAILED" in bad.stdout
    # The custody log records the export's request, building and download.
    with c.uow() as uow:
        acts = [e.action for e in uow.custody.for_object("export", export["id"])]
    assert acts[:2] == ["export:create", "export:ready"] and "export:download" in acts


def test_an_export_of_an_item_the_caller_cannot_see_is_not_found(
    client: TestClient, container: Container, auth: dict[str, str], token_for
) -> None:  # type: ignore[no-untyped-def]
    item = ingest(client, auth, jpeg_bytes(), filename="a.jpg")
    other = token_for("otto", "officer")
    r = client.post("/api/v1/exports", headers=other, json={"title": "x", "evidence_ids": [item["id"]]})
    assert r.status_code == 404
    r = client.post("/api/v1/exports", headers=auth, json={"title": "  ", "evidence_ids": [item["id"]]})
    assert r.status_code == 422
    r = client.post(
        "/api/v1/exports",
        headers=auth,
        json={"title": "x", "evidence_ids": [item["id"]], "content": "redacted"},
    )
    assert r.status_code == 422 and "no redacted copy" in r.json()["detail"]
