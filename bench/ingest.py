"""Ingest throughput benchmark.

Creates a 1 GiB file and prints, measured in this run on this machine:
  (a) SHA-256 throughput of hashlib.file_digest on that file: the limit, since every byte
      must be hashed;
  (b) `opendems ingest` throughput (as the command reports it: first byte read to record
      committed) and its ratio to (a), plus the command's whole wall time for reference (which
      also holds start-up and the meaning-search vectors, made after the last file);
  (c) tus upload throughput over loopback with the tuspy client against `opendems serve`,
      and its ratio to (a);
  (d) the same tuspy upload against a bare tus endpoint that keeps nothing (bench/tus_sink.py)
      on the same HTTP server: what the HTTP stack alone lets through on this machine, before
      OpenDEMS hashes, encrypts or stores a byte. (c) cannot exceed it, so its ratio to (a)
      bounds (c)'s, and (c)/(d) is the share of the stack's throughput OpenDEMS keeps.
Targets: (b) >= 0.75, (c) >= 0.5.  Usage: python bench/ingest.py [--size-mib N] [--keep]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.e2e.server import Server, cli  # noqa: E402

MIB = 1024 * 1024


def make_file(path: Path, size: int) -> None:
    block = os.urandom(64 * MIB)
    with path.open("wb") as f:
        written = 0
        while written < size:
            n = min(len(block), size - written)
            f.write(block[:n] if n < len(block) else block)
            # vary content so no two blocks are identical
            block = hashlib.sha256(block[:64]).digest() + block[32:]
            written += n


def hash_throughput(path: Path, runs: int = 3) -> tuple[float, str]:
    rates = []
    digest = ""
    for _ in range(runs):
        start = time.perf_counter()
        with path.open("rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()
        rates.append(path.stat().st_size / (time.perf_counter() - start))
    return max(rates), digest


def cli_ingest(path: Path, data_dir: Path) -> tuple[float, float]:
    """(throughput reported by the command, whole wall time in seconds)."""
    cli(data_dir, "init")
    start = time.perf_counter()
    result = cli(data_dir, "ingest", str(path))
    wall = time.perf_counter() - start
    match = re.search(r"([\d.]+) MiB/s", result.stdout)
    if not match:
        raise SystemExit(f"could not read the throughput from: {result.stdout}")
    return float(match.group(1)) * MIB, wall


def tus_upload(path: Path, data_dir: Path, chunk: int) -> tuple[float, str]:
    from tusclient import client as tus

    server = Server(data_dir).start()
    try:
        cli(data_dir, "user", "add", "bench", "--role", "officer")
        token = cli(data_dir, "token", "create", "--user", "bench", "--name", "bench").stdout.strip()
        c = tus.TusClient(f"{server.url}/api/v1/uploads", headers={"Authorization": f"Bearer {token}"})
        uploader = c.uploader(
            file_path=str(path), chunk_size=chunk, metadata={"filename": path.name}, retries=0
        )
        start = time.perf_counter()
        uploader.upload()
        elapsed = time.perf_counter() - start
        sha = uploader.request.response_headers.get("opendems-sha256", "")
        return path.stat().st_size / elapsed, sha
    finally:
        server.stop()


def sink_upload(path: Path, chunk: int) -> float:
    """tuspy against bench/tus_sink.py on uvicorn: the HTTP stack's own ceiling."""
    import requests
    from tusclient import client as tus

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.tus_sink:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
    )
    try:
        url = f"http://127.0.0.1:{port}/files"
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.options(url, timeout=1)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise SystemExit("the bare tus endpoint did not start") from None
                time.sleep(0.1)
        uploader = tus.TusClient(url).uploader(
            file_path=str(path), chunk_size=chunk, metadata={"filename": path.name}, retries=0
        )
        start = time.perf_counter()
        uploader.upload()
        return path.stat().st_size / (time.perf_counter() - start)
    finally:
        server.terminate()
        server.wait(10)


def prefault(gib: int) -> float:
    """Touch ``gib`` GiB of memory once and free it. On a virtual machine whose memory the
    host hands over lazily, the first touch of each page costs far more than any later use;
    without this the first run of anything measures the host, not OpenDEMS."""
    start = time.perf_counter()
    for _ in range(gib):
        block = bytearray(1024 * MIB)
        block[::4096] = b"\1" * (len(block) // 4096)
        del block
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--chunk-mib", type=int, default=64, help="tus PATCH size")
    parser.add_argument("--runs", type=int, default=3, help="repeat (b) and (c), report the median")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--prefault-gib", type=int, default=8, help="memory to touch once before measuring")
    args = parser.parse_args()
    took = prefault(args.prefault_gib)
    print(f"pre-faulted {args.prefault_gib} GiB of memory in {took:.1f} s")

    work = Path(tempfile.mkdtemp(prefix="opendems-bench-"))
    try:
        src = work / "bench-1GiB.bin"
        make_file(src, args.size_mib * MIB)
        size = src.stat().st_size
        limit, digest = hash_throughput(src)

        ingest_rates, walls, tus_rates, sink_rates = [], [], [], []
        for run in range(args.runs):
            rate, wall = cli_ingest(src, work / f"ingest-{run}")
            ingest_rates.append(rate)
            walls.append(wall)
            shutil.rmtree(work / f"ingest-{run}")
        for run in range(args.runs):
            rate, sha = tus_upload(src, work / f"tus-{run}", args.chunk_mib * MIB)
            if sha != digest:
                raise SystemExit(f"tus upload stored a different SHA-256 ({sha} != {digest})")
            tus_rates.append(rate)
            shutil.rmtree(work / f"tus-{run}")
            sink_rates.append(sink_upload(src, args.chunk_mib * MIB))

        b = statistics.median(ingest_rates)
        c = statistics.median(tus_rates)
        d = statistics.median(sink_rates)
        wall = statistics.median(walls)
        print(f"file: {size / MIB:.0f} MiB of random data; cpu cores: {os.cpu_count()}")
        print(f"(a) sha256 hashlib.file_digest : {limit / MIB:8.1f} MiB/s   (limit)")
        print(
            f"(b) opendems ingest            : {b / MIB:8.1f} MiB/s   ratio {b / limit:.2f}  (target >= 0.75)"
        )
        print(
            f"    whole command, wall        : {size / wall / MIB:8.1f} MiB/s   ratio {size / wall / limit:.2f}"
            f"  (includes process start and set-up)"
        )
        print(
            f"(c) tus upload (tuspy, {args.chunk_mib} MiB chunks): {c / MIB:8.1f} MiB/s   ratio {c / limit:.2f}"
            "  (target >= 0.5)"
        )
        print(
            f"(d) HTTP stack alone (tuspy to a bare tus endpoint on uvicorn): {d / MIB:8.1f} MiB/s   "
            f"ratio {d / limit:.2f}  (the ceiling for (c); (c)/(d) = {c / d:.2f})"
        )
        print(
            f"runs: {args.runs}, medians; ingest {[round(r / MIB) for r in ingest_rates]}, "
            f"tus {[round(r / MIB) for r in tus_rates]}, bare {[round(r / MIB) for r in sink_rates]} MiB/s"
        )
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
