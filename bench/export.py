"""Court export benchmark.

Stores a case of N GiB of originals (default 10, in 1 GiB files) and prints, measured in this
run on this machine:
  (a) SHA-256 throughput of hashlib.file_digest over the same bytes (the plaintext files, read
      from the disk as the export reads the stored originals: both are flushed and dropped
      from the page cache first): the limit, since an export must re-read and re-hash every
      byte it hands over;
  (b) export throughput: the export job (fixity re-check of every original from the
      encrypted store, custody reports as PDF and JSON, the CASE/UCO graph, the certificate,
      the BagIt manifests) from queued to ready, over the payload bytes; and its ratio to (a).
      Target >= 0.6;
  (c) the time until a recipient's whole-share ZIP download (the case shared by link, code
      entered) sends its first byte, and the same for the export package's ZIP. Target < 1 s;
  (d) for reference, the ZIP download's own throughput (decrypting and streaming every byte).
Usage: python bench/export.py [--gib N] [--keep]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fastapi.testclient import TestClient  # noqa: E402
from tests.factories import admin, make_container, user_actor  # noqa: E402

from opendems.services.accounts import create_token  # noqa: E402
from opendems.services.ingest import IngestRequest, ingest_stream  # noqa: E402
from opendems.web.app import create_app  # noqa: E402

GIB = 1024**3
MIB = 1024**2


def make_file(path: Path, size: int, seed: int) -> None:
    block = bytearray(os.urandom(64 * MIB))
    with path.open("wb") as f:
        for i in range(size // len(block)):
            block[:8] = (seed * 100_000 + i).to_bytes(8, "big")
            f.write(block)


def chunks(path: Path):  # type: ignore[no-untyped-def]
    with path.open("rb") as f:
        while chunk := f.read(8 * MIB):
            yield chunk


def evict(paths: list[Path]) -> None:
    """Flush and drop these files from the page cache, so the next read comes from the disk."""
    os.sync()
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def first_byte(client: TestClient, url: str, headers: dict[str, str]) -> tuple[float, float, int]:
    """(seconds to the first byte, seconds for the whole body, bytes)."""
    start = time.perf_counter()
    with client.stream("GET", url, headers=headers) as r:
        assert r.status_code == 200, r.read()
        it = r.iter_raw()
        got = len(next(it))
        ttfb = time.perf_counter() - start
        for chunk in it:
            got += len(chunk)
    return ttfb, time.perf_counter() - start, got


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=int, default=10)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="opendems-bench-export-"))
    try:
        c = make_container(work / "server")
        ivy = user_actor(c, "ivy", "investigator")
        token = create_token(admin(c), "ivy", "bench", uow=c.uow(), clock=c.clock).token
        auth = {"Authorization": f"Bearer {token}"}
        files = []
        print(f"writing {args.gib} GiB of originals ...", flush=True)
        for n in range(args.gib):
            path = work / f"bwc-{n:02d}.mp4"
            make_file(path, GIB, n)
            files.append(path)
        total = sum(p.stat().st_size for p in files)

        with TestClient(create_app(c), base_url="https://testserver") as client:
            client.post("/api/v1/cases", headers=auth, json={"number": "B-1", "title": "Bench"})
            print("storing them ...", flush=True)
            for p in files:
                req = IngestRequest(filename=p.name, case_number="B-1")
                ingest_stream(ivy, req, chunks(p), uow=c.uow(), blobs=c.blobs, clock=c.clock, limits=c.limits)
            with c.uow() as uow:  # only the export job runs below: the media jobs are not its work
                for job in uow.jobs.listing(None, 1000):
                    uow.jobs.cancel(job.id, c.clock.now(), "benchmark")
                uow.commit()

            # The limit, measured now on the same bytes read from the disk, as the export reads
            # the stored originals: everything written is flushed and dropped from the page
            # cache first, the plaintext files before each baseline run and the store before
            # the export.
            rates = []
            for _ in range(2):
                evict(files)
                start = time.perf_counter()
                for p in files:
                    with p.open("rb") as f:
                        hashlib.file_digest(f, "sha256")
                rates.append(total / (time.perf_counter() - start))
            limit = max(rates)
            evict([p for p in c.settings.blob_dir.rglob("*") if p.is_file()])

            start = time.perf_counter()
            r = client.post("/api/v1/exports", headers=auth, json={"title": "Bench", "case_number": "B-1"})
            assert r.status_code == 202, r.text
            export = r.json()["id"]
            c.processor.run_until_idle("bench")
            export_s = time.perf_counter() - start
            state = client.get(f"/api/v1/exports/{export}", headers=auth).json()
            assert state["state"] == "ready", state
            export_rate = total / export_s

            made = client.post(
                "/api/v1/shares",
                headers=auth,
                json={
                    "recipient_kind": "link",
                    "recipient_email": "dana@law.example",
                    "case_number": "B-1",
                    "access": "download",
                },
            ).json()
            link = made["link"].split("://", 1)[1].split("/", 1)[1]
            r = client.post(f"/{link}", data={"code": made["access_code"]}, follow_redirects=False)
            assert r.status_code == 303, r.text
            share_ttfb, share_s, share_bytes = first_byte(client, f"/{link}/all.zip", {})
            pkg_ttfb, _, _ = first_byte(client, f"/api/v1/exports/{export}/package.zip", auth)

        print()
        print(f"originals: {args.gib} x 1 GiB = {total / GIB:.1f} GiB, in {len(files)} files")
        print(f"(a) hashlib.file_digest SHA-256:     {limit / MIB:8.0f} MiB/s   (the limit)")
        print(
            f"(b) export job, queued to ready:     {export_rate / MIB:8.0f} MiB/s   {export_s:.1f} s   "
            f"ratio {export_rate / limit:.2f}   (target >= 0.6)"
        )
        print(
            f"(c) share ZIP, first byte after:     {share_ttfb * 1000:8.0f} ms        "
            f"ratio {share_ttfb:.3f} of the 1 s limit"
        )
        print(
            f"    package ZIP, first byte after:   {pkg_ttfb * 1000:8.0f} ms        "
            f"ratio {pkg_ttfb:.3f} of the 1 s limit"
        )
        print(
            f"(d) share ZIP, whole download:       {share_bytes / share_s / MIB:8.0f} MiB/s   "
            f"{share_bytes / GIB:.2f} GiB in {share_s:.1f} s (for reference)"
        )
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
