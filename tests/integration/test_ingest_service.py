"""Ingest on the real database and disk: one pass, atomic commit, nothing half-stored."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from opendems.bootstrap import Container, initialise
from opendems.domain.errors import DigestMismatch, Invalid, NotFound, StorageFull
from opendems.domain.evidence import EvidenceFilter
from opendems.services.ingest import IngestRequest, ingest_stream, recover_storage
from opendems.services.verify import verify
from tests.backends import staged_parts, stored_blobs, unsettled
from tests.factories import admin, make_container, make_settings, png_bytes


def ingest(c: Container, data: bytes | list[bytes], **fields: object) -> object:
    chunks = [data] if isinstance(data, bytes) else data
    req = IngestRequest(**{"filename": "evidence.bin", **fields})  # type: ignore[arg-type]
    return ingest_stream(admin(c), req, chunks, uow=c.uow(), blobs=c.blobs, clock=c.clock, limits=c.limits)


def stored_files(c: Container) -> list[str]:
    """Committed objects and staged writes, in whichever store the container uses."""
    return stored_blobs(c) + staged_parts(c)


def item_count(c: Container) -> int:
    from opendems.domain.access import visibility

    with c.uow() as uow:
        return uow.evidence.page(EvidenceFilter(), visibility(admin(c).principal), limit=10, offset=0)[1]


def test_ingest_commits_item_original_and_custody_together(tmp_path: Path) -> None:
    c = make_container(tmp_path)
    data = os.urandom(300_000)  # several 64 KiB segments
    result = ingest(c, [data[:1000], data[1000:200_000], data[200_000:]], filename="clip.dat", title="Clip")
    item = result.item  # type: ignore[attr-defined]
    assert item.original.sha256 == hashlib.sha256(data).hexdigest()
    assert item.original.size == len(data)
    assert b"".join(c.blobs.read_all(item.original.blob_key)) == data
    with c.uow() as uow:
        [event] = [e for e in uow.custody.for_object("evidence", item.id) if e.action == "evidence:ingest"]
    assert event.details_dict["sha256"] == item.original.sha256
    assert unsettled(c) == []
    assert staged_parts(c) == []


def test_evidence_ids_count_up_per_year(tmp_path: Path) -> None:
    c = make_container(tmp_path)
    ids = [ingest(c, png_bytes(seed=i), filename=f"{i}.png").item.id for i in range(3)]  # type: ignore[attr-defined]
    year = ids[0][3:7]
    assert ids == [f"EV-{year}-{n:06d}" for n in (1, 2, 3)]


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"expected_sha256": "0" * 64}, DigestMismatch),
        ({"case_number": "NO-SUCH-CASE"}, NotFound),
        ({"filename": "../../etc/passwd"}, Invalid),
        ({"filename": "bad\nname.png"}, Invalid),
        ({"title": "x" * 201}, Invalid),
    ],
)
def test_refused_ingest_leaves_nothing(
    tmp_path: Path, fields: dict[str, object], error: type[Exception]
) -> None:
    c = make_container(tmp_path)
    with pytest.raises(error):
        ingest(c, os.urandom(100_000), **fields)
    assert stored_files(c) == []
    assert item_count(c) == 0
    assert verify(
        admin(c), None, uow=c.uow(), blobs=c.blobs, anchor=c.anchor, signer=c.signer, clock=c.clock
    ).ok


def test_empty_stream_is_refused(tmp_path: Path) -> None:
    c = make_container(tmp_path)
    with pytest.raises(Invalid, match="empty"):
        ingest(c, [b"", b""])
    assert stored_files(c) == []


def test_failing_source_midway_leaves_nothing(tmp_path: Path) -> None:
    c = make_container(tmp_path)

    def source() -> Iterator[bytes]:
        yield os.urandom(200_000)
        raise OSError("camera disconnected")

    with pytest.raises(OSError, match="camera disconnected"):
        ingest(c, source())  # type: ignore[arg-type]
    assert stored_files(c) == []
    assert item_count(c) == 0


def test_crash_between_blob_commit_and_record_is_recovered(tmp_path: Path) -> None:
    """A process dies after its blob was renamed into place but before the database record
    committed: on the next start the orphan is found and removed. (On the local disk, where
    a file lock tells work in progress from a crash's leftovers; the S3 store's leases are
    tested in test_s3_blob_store.)"""
    settings = make_settings(tmp_path, blob_store="local")
    script = f"""
import os
from pathlib import Path
from opendems.bootstrap import Container, initialise
from opendems.config import Settings
c = Container(Settings.load(Path({str(settings.data_dir)!r}), segment_size={settings.segment_size}, blob_store="local"))
initialise(c)
w = c.blobs.writer(); w.write(os.urandom(150_000)); key = c.blobs.commit(w.finish())
print(key, flush=True)
os._exit(1)
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=120
    )
    key = out.stdout.strip()
    assert key.startswith("sha256/"), out.stderr
    c = Container(settings)
    assert c.blobs.exists(key)
    result = initialise(c)
    assert result.recovered["blobs"] == 1
    assert not c.blobs.exists(key)
    assert recover_storage(c.uow(), c.blobs, older_than_s=0) == {"parts": 0, "blobs": 0}


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 4 MiB file system (tmpfs) for the data directory."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (CI runs as root)")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_disk_full_midway_is_a_clear_error_and_loses_nothing(tiny_disk: Path) -> None:
    c = Container(make_settings(tiny_disk, data_dir=tiny_disk / "data", blob_store="local"))
    initialise(c)
    kept = ingest(c, png_bytes(seed=1), filename="kept.png").item  # type: ignore[attr-defined]
    with pytest.raises(StorageFull, match="out of space"):
        ingest(c, [os.urandom(1024 * 1024) for _ in range(8)], filename="too-big.bin")
    assert staged_parts(c) == []
    assert item_count(c) == 1
    # The vault still works and verifies after the failure.
    report = verify(
        admin(c), None, uow=c.uow(), blobs=c.blobs, anchor=c.anchor, signer=c.signer, clock=c.clock
    )
    assert report.ok, report.problems
    assert [i.evidence_id for i in report.items] == [kept.id]
    again = ingest(c, png_bytes(seed=2), filename="after.png").item  # type: ignore[attr-defined]
    assert again.id != kept.id


def test_disk_full_during_http_upload_is_a_507_problem(tiny_disk: Path) -> None:
    from fastapi.testclient import TestClient

    from opendems.services.accounts import create_token
    from opendems.web.app import create_app
    from tests.factories import user_actor

    c = Container(make_settings(tiny_disk, data_dir=tiny_disk / "data", blob_store="local"))
    initialise(c)
    user_actor(c, "ofc.full", "officer")
    token = create_token(admin(c), "ofc.full", "t", uow=c.uow(), clock=c.clock).token
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(c)) as client:
        r = client.post(
            "/api/v1/evidence?filename=big.bin", content=os.urandom(8 * 1024 * 1024), headers=headers
        )
        assert r.status_code == 507, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert "out of space" in r.json()["detail"]
        assert client.get("/api/v1/evidence", headers=headers).json()["total"] == 0
        small = client.post("/api/v1/evidence?filename=ok.png", content=png_bytes(seed=8), headers=headers)
        assert small.status_code == 201, small.text
    assert staged_parts(c) == []
