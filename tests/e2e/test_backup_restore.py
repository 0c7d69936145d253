"""The backup and restore of docs/deploy.md, done for real on the scale-out stack.

Backup: the node's small files (the custody anchor, copied first, then the keys), a
``pg_dump`` of the database; the objects stay in the bucket (immutable, content-addressed).
Disaster: the database is gone. Restore: ``pg_restore`` into a new database, a new node with
the same keys and bucket; ``opendems verify --all`` passes and every item reads back."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from opendems.config import ENV_FILE
from tests.e2e.server import cli
from tests.factories import png_bytes
from tests.stack.postgres import create_database, drop_database, find_program
from tests.stack.settings import CREATED, prepare_data_dir

pytestmark = pytest.mark.slow


def _env(data: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in (data / ENV_FILE).read_text().splitlines() if "=" in line)


def test_restore_from_a_dump_and_the_object_store(tmp_path: Path, scale_services: dict[str, Any]) -> None:
    data = tmp_path / "data"
    prepare_data_dir(data, scale_services)
    files = []
    for n in range(3):
        f = tmp_path / f"scene-{n}.png"
        f.write_bytes(png_bytes(seed=n))
        files.append(f)
    cli(data, "ingest", *map(str, files), "--officer", "Ofc. Lee")
    listed = json.loads(cli(data, "search", "--json", "--limit", "10").stdout)
    ids = sorted(h["evidence_id"] for h in listed["hits"])
    assert len(ids) == 3

    # Backup, in this order: the anchor (so it never names an event the dump lacks), the
    # keys, then the database.
    backup = tmp_path / "backup"
    backup.mkdir()
    shutil.copy2(data / "custody-anchor.json", backup / "custody-anchor.json")
    shutil.copytree(data / "keys", backup / "keys")
    env = _env(data)
    url = env["OPENDEMS_DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
    dump = backup / "opendems.dump"
    subprocess.run(
        [find_program("pg_dump"), "--format=custom", "--file", str(dump), url], check=True, timeout=120
    )

    # Disaster: the database is lost.
    admin = scale_services["postgres"]["admin_url"]
    drop_database(admin, url.rsplit("/", 1)[1])

    # Restore onto a new node: a new database from the dump, the same keys and bucket.
    name = url.rsplit("/", 1)[1] + "_restored"
    create_database(admin, name)
    CREATED.append(name)  # dropped after the test
    restored_url = url.rsplit("/", 1)[0] + f"/{name}"
    subprocess.run(
        [find_program("pg_restore"), "--no-owner", "--exit-on-error", "--dbname", restored_url, str(dump)],
        check=True,
        timeout=120,
    )
    node = tmp_path / "restored"
    node.mkdir()
    shutil.copytree(backup / "keys", node / "keys")
    shutil.copy2(backup / "custody-anchor.json", node / "custody-anchor.json")
    env["OPENDEMS_DATABASE_URL"] = restored_url.replace("postgresql://", "postgresql+psycopg://")
    (node / ENV_FILE).write_text("".join(f"{k}={v}\n" for k, v in env.items()))

    verified = cli(node, "verify", "--all", check=False)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    for evidence_id, f in zip(ids, sorted(files), strict=True):
        shown = json.loads(cli(node, "show", evidence_id, "--json").stdout)
        assert shown["original"]["sha256"] == hashlib.sha256(f.read_bytes()).hexdigest()
