"""Engine construction: SQLite in WAL mode for the embedded default, any SQLAlchemy URL else."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine


def make_engine(url: str) -> Engine:
    if url.startswith("postgresql"):
        # No JIT compilation: the access rule's subqueries make the planner's cost estimates
        # high enough to compile every search and list (50-120 ms) for queries that run in a few.
        return create_engine(url, pool_pre_ping=True, connect_args={"options": "-c jit=off"})
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy issue BEGIN itself (below), and set durable WAL defaults.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the write lock up front: custody appends must be serialised, and a
        # deferred transaction that later upgrades to a writer can deadlock. Read-only units
        # of work read a WAL snapshot and block no one.
        conn.exec_driver_sql("BEGIN" if conn.info.get("read_only") else "BEGIN IMMEDIATE")

    return engine


@contextlib.contextmanager
def exclusive(engine: Engine, name: str) -> Iterator[None]:
    """Held by one process at a time across every machine using the database (a PostgreSQL
    advisory lock): two nodes starting at once must not both run the migrations or create
    the first administrator. On SQLite, one machine's processes are already serialised by
    the database's write lock (BEGIN IMMEDIATE)."""
    if engine.dialect.name != "postgresql":
        yield
        return
    key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
            conn.commit()
