"""Scale-out test mode: point a test's data directory at the shared services.

``python -m tests.stack`` starts PostgreSQL, Redis and SeaweedFS and names them in the file
``OPENDEMS_TEST_STACK`` points to. Then every data directory a test makes (through
``tests.factories`` or the end-to-end helpers) gets its own database (a copy of a migrated
template), its own key prefix in the bucket and its own Celery queue, written to the data
directory's ``opendems.env`` -- the file every ``opendems`` process reads its settings from, so
servers and command lines the tests start use the same parts.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

from opendems.config import ENV_FILE
from tests.stack.postgres import TEMPLATE, create_database, drop_database

STACK_ENV = "OPENDEMS_TEST_STACK"
CREATED: list[str] = []  # the databases made for data directories, oldest first


def stack() -> dict[str, Any] | None:
    """The running services, when the tests run in scale-out mode."""
    path = os.environ.get(STACK_ENV)
    if not path:
        return None
    loaded: dict[str, Any] = json.loads(Path(path).read_text())
    return loaded


def prepare_data_dir(
    data_dir: Path, services: dict[str, Any] | None = None, extra: dict[str, str] | None = None
) -> None:
    """In scale-out mode (or given ``services``), give a new data directory its own database,
    key prefix and queue (once: a directory that has them keeps them, as a restarted server
    would). ``extra`` settings go into its ``opendems.env`` too."""
    services = services or stack()
    if services is None:
        return
    env_file = data_dir / ENV_FILE
    if env_file.exists():
        return
    data_dir.mkdir(parents=True, exist_ok=True)
    name = f"t_{secrets.token_hex(6)}"
    create_database(services["postgres"]["admin_url"], name, template=TEMPLATE)
    CREATED.append(name)
    values = {"OPENDEMS_DATABASE_URL": services["postgres"]["url"].rsplit("/", 1)[0] + f"/{name}"}
    if "s3" in services:
        s3 = services["s3"]
        values |= {
            "OPENDEMS_BLOB_STORE": "s3",
            "OPENDEMS_S3_ENDPOINT_URL": s3["endpoint_url"],
            "OPENDEMS_S3_REGION": s3["region"],
            "OPENDEMS_S3_BUCKET": s3["bucket"],
            "OPENDEMS_S3_PREFIX": f"{name}/",
            "OPENDEMS_S3_ACCESS_KEY_ID": s3["access_key"],
            "OPENDEMS_S3_SECRET_ACCESS_KEY": s3["secret_key"],
            "OPENDEMS_S3_PART_SIZE": str(5 * 1024 * 1024),
        }
    if "redis" in services:
        values |= {
            "OPENDEMS_JOB_QUEUE": "celery",
            "OPENDEMS_BROKER_URL": services["redis"]["url"],
            "OPENDEMS_CELERY_QUEUE": name,
        }
    values |= extra or {}
    env_file.write_text("".join(f"{k}={v}\n" for k, v in values.items()))


def drop_databases(names: list[str], services: dict[str, Any] | None = None) -> None:
    """Drop the databases of data directories a test is done with (their connections too)."""
    services = services or stack()
    if services is None:
        return
    for name in names:
        drop_database(services["postgres"]["admin_url"], name)
