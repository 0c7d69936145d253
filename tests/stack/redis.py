"""A private Redis server for the scale-out tests: started on a free loopback port in a
temporary directory, nothing written to disk, stopped after."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

HOW_TO_GET = (
    "the Redis server (redis-server) was not found: install it "
    "(Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis) or put it on PATH"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _program() -> str:
    found = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )
    if found is None:
        raise RuntimeError(HOW_TO_GET)
    return found


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class Redis:
    """A running server; ``url`` is its database 0."""

    def __init__(self, workdir: Path, port: int, proc: subprocess.Popen[bytes]) -> None:
        self.workdir = workdir
        self.port = port
        self.proc = proc
        self.log = workdir / "redis.log"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def start_redis(workdir: Path) -> Redis:
    """Start ``redis-server`` on loopback, without persistence; returns once it answers."""
    workdir.mkdir(parents=True, exist_ok=True)
    program = _program()
    for _ in range(5):  # a free port can be taken by someone else before the server binds it
        port = free_port()
        log = (workdir / "redis.log").open("ab")
        proc = subprocess.Popen(
            [program, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(workdir), "--protected-mode", "yes"],
            stdout=log, stderr=subprocess.STDOUT, cwd=workdir,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and proc.poll() is None:
            if _ping(port):
                return Redis(workdir, port, proc)
            time.sleep(0.05)
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
    tail = (workdir / "redis.log").read_text(errors="replace")[-2000:]
    raise RuntimeError(f"Redis did not start: {tail}")
