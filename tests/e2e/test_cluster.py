"""The application as a cluster on the scale-out stack: two API processes and two Celery
workers sharing PostgreSQL, Redis and an S3 server (SeaweedFS).

- a tus upload started through API 1 survives API 1 being killed and finishes through API 2;
- a worker killed during the transcode leaves a job the other worker finishes;
- 8 processes append custody events at once;
then ``opendems verify --all`` passes and nothing is lost.

``make test-scale`` runs it on the harness's services (``make test`` keeps to the embedded
default and leaves it out); run on its own with pytest, it starts its own private PostgreSQL,
Redis and SeaweedFS for this module.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from tusclient import client as tus

from tests.e2e.server import OPENDEMS, Server, cli
from tests.integration.test_custody_concurrency import PROCESSES, VIEWS, _view_many
from tests.media import video_bytes
from tests.stack.settings import prepare_data_dir

pytestmark = pytest.mark.slow
CHUNK = 128 * 1024
LEASE_S = 4


def _jobs(data: Path) -> list[dict[str, Any]]:
    return list(json.loads(cli(data, "jobs", "--json").stdout)["jobs"])


def _wait_for(what: str, check: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def test_two_apis_two_workers_lose_nothing(tmp_path: Path, scale_services: dict[str, Any]) -> None:
    data = tmp_path / "data"
    prepare_data_dir(
        data, scale_services, extra={"OPENDEMS_JOB_LEASE_SECONDS": str(LEASE_S), "OPENDEMS_WORKERS": "0"}
    )
    cli(data, "user", "add", "ofc.lee", "--role", "officer")
    token = cli(data, "token", "create", "--user", "ofc.lee", "--name", "dock").stdout.strip()
    headers = {"Authorization": f"Bearer {token}"}

    # Long enough that the transcode is still running when a worker is killed.
    clip = tmp_path / "bwc-0042.mp4"
    clip.write_bytes(video_bytes(seconds=90, width=640, height=480))
    digest = hashlib.sha256(clip.read_bytes()).hexdigest()
    assert clip.stat().st_size > 4 * CHUNK

    api1, api2 = Server(data), Server(data)
    workers: list[subprocess.Popen[bytes]] = []
    try:
        api1.start()
        api2.start()
        # 1. A tus upload through API 1, which is killed midway; the rest goes through API 2.
        first = tus.TusClient(f"{api1.url}/api/v1/uploads", headers=headers).uploader(
            file_path=str(clip), chunk_size=CHUNK, metadata={"filename": clip.name}, retries=0
        )
        first.upload_chunk()
        first.upload_chunk()
        assert first.offset == 2 * CHUNK
        api1.kill()
        resumed_at = first.url.replace(api1.url, api2.url)
        second = tus.TusClient(f"{api2.url}/api/v1/uploads", headers=headers).uploader(
            file_path=str(clip), url=resumed_at, chunk_size=CHUNK, retries=0
        )
        assert second.get_offset() == 2 * CHUNK  # API 2 knows what API 1 stored
        second.upload()
        listed = requests.get(f"{api2.url}/api/v1/evidence", headers=headers, timeout=10).json()
        [item] = [i for i in listed["items"] if i["original"]["sha256"] == digest]  # the whole file, once

        # 2. Two workers; the one running the transcode is killed; the other finishes it.
        env = {**os.environ}
        for _ in range(2):
            workers.append(subprocess.Popen([*OPENDEMS, "--data-dir", str(data), "worker"], env=env))

        def proxy_running() -> dict[str, Any] | None:
            proxy = next((j for j in _jobs(data) if j["kind"] == "proxy"), None)
            return proxy if proxy and proxy["state"] == "running" and proxy["progress"] > 0 else None

        running = _wait_for("the proxy job to get going", proxy_running, 120)
        pid = int(str(running["worker"]).split(":")[1])
        [victim] = [w for w in workers if w.pid == pid]
        victim.send_signal(signal.SIGKILL)  # mid-transcode, no clean-up of any kind
        victim.wait(timeout=30)

        def proxy_done() -> dict[str, Any] | None:
            proxy = next(j for j in _jobs(data) if j["kind"] == "proxy")
            assert proxy["state"] != "failed", proxy
            return proxy if proxy["state"] == "done" else None

        finished = _wait_for("the other worker to finish the proxy", proxy_done, 240)
        assert finished["attempts"] == 2
        assert victim.returncode == -signal.SIGKILL  # so the survivor finished it
        _wait_for("every job done", lambda: all(j["state"] == "done" for j in _jobs(data)) or None, 120)
        shown = json.loads(cli(data, "show", item["id"], "--json").stdout)
        # (the clip is silent: its transcript says no speech was found, and there are no captions)
        kinds = sorted(d["kind"] for d in shown["derivatives"])
        assert kinds == ["poster", "proxy", "sprite", "transcript", "waveform"]
    finally:
        for w in workers:
            if w.poll() is None:
                w.send_signal(signal.SIGTERM)
        for w in workers:
            try:
                w.wait(timeout=30)
            except subprocess.TimeoutExpired:
                w.kill()
        api1.stop()
        api2.stop()

    # 3. Custody events from 8 processes at once, on the shared database.
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    appenders = [
        ctx.Process(target=_view_many, args=(str(data), item["id"], start)) for _ in range(PROCESSES)
    ]
    for p in appenders:
        p.start()
    start.set()
    for p in appenders:
        p.join(180)
    assert [p.exitcode for p in appenders] == [0] * PROCESSES

    # Nothing lost: the chain, every stored object and its hash.
    verified = cli(data, "verify", "--all", check=False)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    history = json.loads(cli(data, "custody", item["id"], "--json").stdout)
    views = [e for e in history if e["action"] == "evidence:view"]
    assert len(views) >= PROCESSES * VIEWS
