"""A private PostgreSQL server for the scale-out tests: initdb in a temporary directory,
started on a free loopback port, stopped (and its files removed with the directory) after."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import psycopg

HOW_TO_GET = (
    "PostgreSQL's server programs (initdb, pg_ctl) were not found: install them "
    "(Debian/Ubuntu: apt-get install postgresql; macOS: brew install postgresql@16) "
    "or put their folder on PATH (it is often /usr/lib/postgresql/<version>/bin)"
)
TEMPLATE = "opendems_template"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_program(name: str) -> str:
    """A PostgreSQL server program from PATH or the usual Debian location."""
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True):
        return candidate
    raise RuntimeError(HOW_TO_GET)


class Postgres:
    """A running private server; ``admin_url`` reaches its ``postgres`` database."""

    def __init__(self, workdir: Path, port: int) -> None:
        self.workdir = workdir
        self.port = port
        self.data = workdir / "pgdata"
        self.log = workdir / "postgres.log"
        self.sudo: list[str] = []  # how to run its programs as the account that owns it

    def url(self, database: str = "postgres", driver: str = "postgresql+psycopg") -> str:
        return f"{driver}://postgres@127.0.0.1:{self.port}/{database}"

    @property
    def admin_url(self) -> str:
        return self.url(driver="postgresql")

    def stop(self) -> None:
        if self.data.exists():
            subprocess.run(
                [*self.sudo, find_program("pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"],
                capture_output=True,
                check=False,
                timeout=60,
            )
        if self.workdir.name.startswith("opendems-postgres-"):
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Postgres:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def as_server_user(workdir: Path) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run it as the ``postgres`` account (or
    ``nobody``), owning its directory."""
    if os.geteuid() != 0:
        return []
    for user in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(user)
        except KeyError:
            continue
        for path in (workdir, *workdir.rglob("*")):
            os.chown(path, entry.pw_uid, entry.pw_gid)
        parent = workdir.parent
        while parent != parent.parent:  # the account must be able to reach its directory
            os.chmod(parent, os.stat(parent).st_mode | 0o011)
            parent = parent.parent
        runner = shutil.which("runuser") or shutil.which("su")
        if runner is None:
            break
        if runner.endswith("runuser"):
            return [runner, "-u", user, "--"]
        break
    raise RuntimeError("PostgreSQL cannot run as root and no other account (postgres, nobody) was found")


def start_postgres(workdir: Path) -> Postgres:
    """initdb and start a server that trusts loopback connections. Durability is switched off
    (fsync, synchronous commit): the tests need a real server's semantics, not its disk safety.

    As root the server runs as another account, which must reach its directory: then the
    directory is a fresh one directly under the system's temporary folder (``workdir`` gets a
    note of where). Not inside pytest's own temporary tree: every pytest session that starts
    sets that tree back to owner-only, which would cut a running server off its files."""
    if os.geteuid() == 0:
        workdir.mkdir(parents=True, exist_ok=True)
        private = Path(tempfile.mkdtemp(prefix="opendems-postgres-"))
        (workdir / "where.txt").write_text(f"{private}\n")
        workdir = private
    workdir.mkdir(parents=True, exist_ok=True)
    pg = Postgres(workdir, free_port())
    sudo = as_server_user(workdir)
    pg.sudo = sudo
    env = {**os.environ, "LC_ALL": "C.UTF-8"}
    subprocess.run(
        [*sudo, find_program("initdb"), "-D", str(pg.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
         "--no-sync"],
        capture_output=True, check=True, timeout=120, env=env,
    )  # fmt: skip
    options = (
        f"-p {pg.port} -c listen_addresses=127.0.0.1 -k {workdir} -c fsync=off"
        " -c synchronous_commit=off -c full_page_writes=off -c max_connections=400"
        " -c shared_buffers=256MB"
    )
    subprocess.run(
        [*sudo, find_program("pg_ctl"), "-D", str(pg.data), "-l", str(pg.log), "-o", options, "-w", "-t", "60",
         "start"],
        capture_output=True, check=True, timeout=90, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while True:
        try:
            with psycopg.connect(pg.admin_url, connect_timeout=2):
                return pg
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL did not start: {pg.log.read_text()[-2000:]}") from None
            time.sleep(0.2)


def create_database(admin_url: str, name: str, template: str | None = None) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        clause = f' TEMPLATE "{template}"' if template else ""
        conn.execute(f'CREATE DATABASE "{name}"{clause}')  # type: ignore[arg-type]


def drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]
