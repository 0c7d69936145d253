"""Start the scale-out services together: PostgreSQL (with a migrated template database),
Redis and SeaweedFS, described the way ``tests.stack.settings`` reads them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine

from opendems.adapters.db.migrate import upgrade
from tests.stack.postgres import TEMPLATE, create_database, start_postgres

PARTS = ("postgres", "redis", "s3")
BUCKET = "opendems-tests"


@contextmanager
def running_services(root: Path, parts: tuple[str, ...] = PARTS) -> Iterator[dict[str, Any]]:
    """The services named in ``parts`` (PostgreSQL always), stopped on leaving."""
    with ExitStack() as stack:
        pg = stack.enter_context(start_postgres(root / "postgres"))
        create_database(pg.admin_url, TEMPLATE)
        engine = create_engine(pg.url(TEMPLATE))
        upgrade(engine)  # every test database is a copy of this one
        engine.dispose()
        services: dict[str, Any] = {"postgres": {"admin_url": pg.admin_url, "url": pg.url()}}
        if "redis" in parts:
            from tests.stack.redis import start_redis

            redis = start_redis(root / "redis")
            stack.callback(redis.stop)
            services["redis"] = {"url": redis.url}
        if "s3" in parts:
            from tests.stack.seaweed import start_seaweedfs

            s3 = start_seaweedfs(root / "seaweedfs")
            stack.callback(s3.stop)
            services["s3"] = {
                "endpoint_url": s3.endpoint_url,
                "access_key": s3.access_key,
                "secret_key": s3.secret_key,
                "region": s3.region,
                "bucket": BUCKET,
            }
        yield services
