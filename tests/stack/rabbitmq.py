"""A private RabbitMQ broker for the Celery tests on AMQP: its own node name, ports, database
and logs in a temporary directory, no plugins, stopped after."""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

from tests.stack.postgres import free_port

HOW_TO_GET = (
    "the RabbitMQ server was not found: install it (Debian/Ubuntu: apt-get install "
    "rabbitmq-server; macOS: brew install rabbitmq) or use Redis as the broker"
)
SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"


class RabbitMQ:
    """A running broker; ``url`` reaches its default virtual host as ``guest`` (loopback only)."""

    def __init__(self, workdir: Path, port: int) -> None:
        self.workdir = workdir
        self.port = port
        self.log = workdir / "rabbitmq.log"

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def stop(self) -> None:
        pid_file = self.workdir / "pid"
        if pid_file.exists():
            try:
                pid = int(pid_file.read_text().strip())
                os.kill(pid, signal.SIGTERM)
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline:
                    os.kill(pid, 0)
                    time.sleep(0.2)
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass

    def __enter__(self) -> RabbitMQ:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _program() -> str:
    found = SERVER if Path(SERVER).exists() else shutil.which("rabbitmq-server")
    if found is None:
        raise RuntimeError(HOW_TO_GET)
    return found


def start_rabbitmq(workdir: Path, timeout_s: float = 60) -> RabbitMQ:
    """Start a broker on a free loopback port. As root it runs as the ``rabbitmq`` account
    (the Erlang node refuses nothing, but its files should not be root's)."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "enabled_plugins").write_text("[].\n")
    port, dist = free_port(), free_port()
    broker = RabbitMQ(workdir, port)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(workdir),
        "RABBITMQ_NODENAME": f"opendems-{secrets.token_hex(4)}@localhost",
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(port),
        "RABBITMQ_DIST_PORT": str(dist),
        "RABBITMQ_MNESIA_BASE": str(workdir / "mnesia"),
        "RABBITMQ_LOG_BASE": str(workdir / "log"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(workdir / "enabled_plugins"),
        "RABBITMQ_PID_FILE": str(workdir / "pid"),
        "RABBITMQ_CONFIG_FILE": str(workdir / "none"),
    }
    command = [_program()]
    if os.geteuid() == 0:
        try:
            account = pwd.getpwnam("rabbitmq")
        except KeyError:
            account = pwd.getpwnam("nobody")
        for path in (workdir, *workdir.rglob("*")):
            os.chown(path, account.pw_uid, account.pw_gid)
        parent = workdir.parent
        while parent != parent.parent:
            os.chmod(parent, os.stat(parent).st_mode | 0o011)
            parent = parent.parent
        runner = shutil.which("runuser")
        if runner is None:
            raise RuntimeError("RabbitMQ should not run as root and runuser was not found")
        command = [
            runner,
            "-u",
            account.pw_name,
            "--",
            "env",
            *(f"{k}={v}" for k, v in env.items()),
            *command,
        ]
    with broker.log.open("wb") as log:
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return broker
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                broker.stop()
                raise RuntimeError(f"RabbitMQ did not start: {broker.log.read_text()[-2000:]}") from None
            time.sleep(0.2)
