"""Run a command -- by default the whole test suite -- against real scale-out services.

    python -m tests.stack [--parts postgres,redis,s3] [pytest arguments...]

starts a private PostgreSQL (initdb in a temporary directory), Redis and SeaweedFS (a real S3
server with authentication) on loopback, prepares a migrated template database, runs
``pytest`` with ``OPENDEMS_TEST_STACK`` naming them (see ``tests.stack.settings``), and
stops them all, whatever the outcome. A missing program fails the run with a line saying how
to get it: nothing is skipped. ``--parts`` starts only some of them (the others stay the
embedded defaults), to work on one adapter at a time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from tests.stack.services import PARTS, running_services
from tests.stack.settings import STACK_ENV


def main(argv: list[str]) -> int:
    parts = set(PARTS)
    if argv and argv[0].startswith("--parts"):
        chosen = argv[0].split("=", 1)[1] if "=" in argv[0] else argv[1]
        argv = argv[1:] if "=" in argv[0] else argv[2:]
        parts = {p.strip() for p in chosen.split(",") if p.strip()}
        if not parts <= set(PARTS) or "postgres" not in parts:
            print(f"--parts: choose among {', '.join(PARTS)} (postgres always)", file=sys.stderr)
            return 2
    with tempfile.TemporaryDirectory(prefix="opendems-stack-") as tmp, ExitStack() as stack:
        root = Path(tmp)
        started = time.monotonic()
        try:
            services = stack.enter_context(running_services(root, tuple(p for p in PARTS if p in parts)))
        except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
            print(f"scale-out test services could not start: {exc}", file=sys.stderr)
            return 2
        described = root / "stack.json"
        described.write_text(json.dumps(services))
        where = ", ".join(f"{k} {v.get('url') or v.get('endpoint_url')}" for k, v in services.items())
        print(f"Scale-out services up in {time.monotonic() - started:.1f} s: {where}", flush=True)
        env = {
            **os.environ,
            STACK_ENV: str(described),
            "OPENDEMS_TEST_POSTGRES": services["postgres"]["admin_url"],
        }
        if "redis" in services:
            env["OPENDEMS_TEST_REDIS"] = services["redis"]["url"]
        if "s3" in services:
            env["OPENDEMS_TEST_S3"] = json.dumps(services["s3"])
        return subprocess.call([sys.executable, "-m", "pytest", *argv], env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
