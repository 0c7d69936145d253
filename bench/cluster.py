"""Cluster benchmark on the scale-out stack.

Starts a private PostgreSQL, Redis and SeaweedFS (the S3 server) on loopback, two
``opendems serve`` processes sharing them, and measures in the same run:
  (a) the S3 server's own multipart throughput: boto3 uploading the same N files at once
      (same part size, same concurrency, same client settings) straight to SeaweedFS -- the
      limit;
  (b) N concurrent tus uploads (tuspy) of those files through the 2 API processes (half
      each), each hashed, encrypted and stored as evidence; aggregate throughput and its
      ratio to (a) (target >= 0.7);
  (a) and (b) are measured in turn ``--runs`` times, each run on new files (new first bytes:
      every run stores new evidence, never a duplicate), and the medians compared: the store
      changes speed as it fills and writes back, and one run can stray by a tenth either way
      on a shared machine, so each limit is taken beside the upload it is compared with;
  (c) custody appends per second from 8 processes at once on PostgreSQL.
Beside each phase it counts the CPU time every part used (read from /proc) per GiB uploaded:
where the parts share a few cores, the ratio is what the API processes add to the work the
S3 server and a bare client do anyway, and the API's own figure sizes API nodes.

Usage: python bench/cluster.py [--uploads 16] [--size-mib 200] [--chunk-mib 16] [--tus-chunk-mib N]
       [--runs 5] [--appends 200]   (--tus-chunk-mib: the tus PATCH size, when it should differ from the
       S3 part size)
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.e2e.server import Server, cli  # noqa: E402
from tests.stack.services import running_services  # noqa: E402
from tests.stack.settings import prepare_data_dir  # noqa: E402

MIB = 1024 * 1024
TARGET = 0.7
BASELINE_BUCKET = "baseline"


def make_files(folder: Path, count: int, size: int) -> list[Path]:
    """``count`` different files of ``size`` random bytes (distinct content: nothing dedups)."""
    base = os.urandom(size)
    files = []
    for n in range(count):
        path = folder / f"bwc-{n:02d}.mp4"
        with path.open("wb") as f:
            f.write(hashlib.sha256(str(n).encode()).digest())
            f.write(memoryview(base)[32:])
        files.append(path)
    return files


def renew(files: list[Path], run: int) -> None:
    """New first bytes for every file, so the next run stores new evidence (same sizes, and
    the rest of each file stays in the page cache)."""
    for n, path in enumerate(files):
        with path.open("r+b") as f:
            f.write(hashlib.sha256(f"{run}/{n}".encode()).digest())


def s3_client(files: list[Path], s3: dict[str, Any]) -> Any:
    """A boto3 client with OpenDEMS's store settings, and the bucket the baseline writes to."""
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "s3",
        endpoint_url=s3["endpoint_url"],
        aws_access_key_id=s3["access_key"],
        aws_secret_access_key=s3["secret_key"],
        region_name=s3["region"],
        # The same client settings as OpenDEMS's store (no extra CRC32 over the bytes).
        config=Config(
            s3={"addressing_style": "path"},
            max_pool_connections=len(files) * 2,
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )
    client.create_bucket(Bucket=BASELINE_BUCKET)
    return client


GIB = 1024 * MIB
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _processes() -> dict[int, tuple[int, str, float]]:
    """Every process: its parent, command line and CPU seconds so far (user + system)."""
    found = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # ended meanwhile
            continue
        found[int(entry.name)] = (int(fields[1]), cmd, (int(fields[11]) + int(fields[12])) / CLOCK_TICKS)
    return found


@dataclass
class Stack:
    """The parts of the stack whose CPU time is counted: the API processes, the S3 server
    (started under ``root``), PostgreSQL (its server on ``pg_port`` and every backend) and this
    process (the client)."""

    api: set[int]
    root: Path
    pg_port: int

    def cpu(self) -> dict[str, float]:
        procs = _processes()
        parts = {"API": 0.0, "S3 server": 0.0, "PostgreSQL": 0.0, "client": procs[os.getpid()][2]}
        postmasters = {
            pid
            for pid, (_, cmd, _) in procs.items()
            if cmd.split(" ")[0].endswith("postgres") and f" -p {self.pg_port} " in cmd
        }
        for pid, (parent, cmd, cpu) in procs.items():
            if pid in self.api or parent in self.api:
                parts["API"] += cpu
            elif pid in postmasters or parent in postmasters:
                parts["PostgreSQL"] += cpu
            elif str(self.root) in cmd and cmd.split(" ")[0].endswith("weed"):
                parts["S3 server"] += cpu
        return parts


def per_gib(before: dict[str, float], after: dict[str, float], size: int) -> dict[str, float]:
    return {part: (after[part] - before[part]) / (size / GIB) for part in before}


def s3_baseline(client: Any, files: list[Path], part: int, run: int) -> float:
    """Aggregate bytes/s of boto3 multipart uploads of every file at once, straight to S3."""
    from boto3.s3.transfer import TransferConfig

    transfer = TransferConfig(multipart_threshold=part, multipart_chunksize=part, max_concurrency=1)

    def put(path: Path) -> None:
        client.upload_file(str(path), BASELINE_BUCKET, f"{run}/{path.name}", Config=transfer)

    start = time.perf_counter()
    with ThreadPoolExecutor(len(files)) as pool:
        list(pool.map(put, files))
    return sum(p.stat().st_size for p in files) / (time.perf_counter() - start)


def tus_uploads(files: list[Path], servers: list[Server], token: str, chunk: int) -> float:
    """Aggregate bytes/s of tus uploads of every file at once, alternating between servers."""
    from tusclient import client as tus

    errors: list[BaseException] = []
    gate = threading.Barrier(len(files))

    def upload(n: int, path: Path) -> None:
        try:
            server = servers[n % len(servers)]
            c = tus.TusClient(f"{server.url}/api/v1/uploads", headers={"Authorization": f"Bearer {token}"})
            uploader = c.uploader(
                file_path=str(path), chunk_size=chunk, metadata={"filename": path.name}, retries=0
            )
            gate.wait()
            uploader.upload()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=upload, args=(n, p)) for n, p in enumerate(files)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise SystemExit(f"{len(errors)} upload(s) failed: {errors[0]!r}")
    return sum(p.stat().st_size for p in files) / elapsed


def _append(data_dir: str, evidence_id: str, count: int, start: Any, done: Any) -> None:
    from opendems.bootstrap import Container
    from opendems.config import Settings
    from opendems.services.evidence import get_evidence

    c = Container(Settings.load(Path(data_dir), workers=0))
    actor = c.system_actor("bench")
    start.wait(120)
    for _ in range(count):
        get_evidence(actor, evidence_id, uow=c.uow(), clock=c.clock)  # one custody event each
    done.put(time.perf_counter())


def custody_appends(data_dir: Path, evidence_id: str, processes: int, each: int) -> float:
    ctx = multiprocessing.get_context("spawn")
    start, done = ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(target=_append, args=(str(data_dir), evidence_id, each, start, done))
        for _ in range(processes)
    ]
    for p in procs:
        p.start()
    time.sleep(3)  # every process connected and waiting
    began = time.perf_counter()
    start.set()
    ends = [done.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
    return processes * each / (max(ends) - began)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--uploads", type=int, default=16)
    parser.add_argument("--size-mib", type=int, default=200)
    parser.add_argument("--chunk-mib", type=int, default=16, help="tus PATCH size and S3 part size")
    parser.add_argument("--appends", type=int, default=200, help="custody appends per process (8 processes)")
    parser.add_argument(
        "--runs", type=int, default=5, help="runs of (a) then (b); their medians are compared"
    )
    parser.add_argument(
        "--tus-chunk-mib", type=int, default=0, help="tus PATCH size (default: the part size)"
    )
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    chunk = args.chunk_mib * MIB
    tus_chunk = (args.tus_chunk_mib or args.chunk_mib) * MIB

    with tempfile.TemporaryDirectory(prefix="opendems-cluster-bench-") as tmp:
        root = Path(tmp)
        os.chmod(root, 0o755)
        print(
            f"Cluster benchmark: {args.uploads} x {args.size_mib} MiB uploads through 2 API processes"
            f" ({os.cpu_count()} cores, shared by every part)"
        )
        files = make_files(root, args.uploads, args.size_mib * MIB)
        with running_services(root / "services") as services:
            data = root / "data"
            prepare_data_dir(
                data, services, extra={"OPENDEMS_WORKERS": "0", "OPENDEMS_S3_PART_SIZE": str(chunk)}
            )
            cli(data, "user", "add", "bench", "--role", "officer")
            token = cli(data, "token", "create", "--user", "bench", "--name", "bench").stdout.strip()

            client = s3_client(files, services["s3"])
            servers = [Server(data).start(), Server(data).start()]
            limits: list[float] = []
            rates: list[float] = []
            size = sum(p.stat().st_size for p in files)
            cpu: dict[str, list[dict[str, float]]] = {"S3": [], "OpenDEMS": []}
            stack = Stack(
                {s.proc.pid for s in servers if s.proc is not None},
                root,
                urlsplit(services["postgres"]["url"]).port or 5432,
            )
            expected: set[str] = set()
            try:
                # Each run measures the limit and then OpenDEMS, on the store as it is by then:
                # both see the same store (as full, as busy writing back) at each step.
                for run in range(args.runs):
                    if run:
                        renew(files, run)
                    expected |= {hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
                    before = stack.cpu()
                    limits.append(s3_baseline(client, files, chunk, run))
                    between = stack.cpu()
                    rates.append(tus_uploads(files, servers, token, tus_chunk))
                    cpu["S3"].append(per_gib(before, between, size))
                    cpu["OpenDEMS"].append(per_gib(between, stack.cpu(), size))
                    print(
                        f"    run {run + 1}: S3 {limits[-1] / MIB:6.1f} MiB/s, OpenDEMS {rates[-1] / MIB:6.1f} MiB/s"
                        f" (ratio {rates[-1] / limits[-1]:.2f})",
                        flush=True,
                    )
                listed = requests.get(
                    f"{servers[1].url}/api/v1/evidence?limit=500",
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=30,
                ).json()
            finally:
                for s in servers:
                    s.stop()
            stored = {i["original"]["sha256"] for i in listed["items"]}
            if not expected <= stored:
                raise SystemExit(f"stored {len(stored & expected)} of {len(expected)} files intact")
            baseline = statistics.median(limits)
            rate = statistics.median(rates)
            print(f"(a) S3 multipart, boto3 straight to SeaweedFS: {baseline / MIB:8.1f} MiB/s (the limit)")
            print(
                f"(b) tus through 2 API processes into S3:      {rate / MIB:8.1f} MiB/s"
                f"   ratio {rate / baseline:.2f} (target >= {TARGET})"
            )
            print(f"    medians of {args.runs} runs")
            print("    CPU seconds per GiB uploaded (medians):")
            for phase, label in (("S3", "(a) boto3 to S3"), ("OpenDEMS", "(b) tus through the API")):
                figures = {part: statistics.median(r[part] for r in cpu[phase]) for part in cpu[phase][0]}
                shown = ", ".join(f"{part} {value:.2f}" for part, value in figures.items() if value >= 0.005)
                print(f"      {label:24} {shown}; all {sum(figures.values()):.2f}")
            per_s = custody_appends(data, listed["items"][0]["id"], 8, args.appends)
            print(f"(c) custody appends, 8 processes on PostgreSQL: {per_s:8.0f} events/s")
            verdict = "meets" if rate / baseline >= TARGET else "does NOT meet"
            print(f"Upload ratio {rate / baseline:.2f}: {verdict} the {TARGET} target")


if __name__ == "__main__":
    main()
