"""Looking under the application, whichever parts it runs on: the stored objects of the local
disk or of the S3 bucket, and a raw connection to SQLite or PostgreSQL -- what someone with
direct access to the storage would see and could change. Tests that check "nothing
half-stored" or "tampering is detected" use these, so they hold on both the embedded default
and the scale-out parts (``make test-scale``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opendems.adapters.blobs.local import LocalBlobStore
from opendems.bootstrap import Container


def _s3_keys(c: Container, under: str) -> list[str]:
    store: Any = c.blobs
    prefix = store.prefix + under
    keys: list[str] = []
    for page in store.client.get_paginator("list_objects_v2").paginate(Bucket=store.bucket, Prefix=prefix):
        keys += [o["Key"][len(store.prefix) :] for o in page.get("Contents", [])]
    return sorted(keys)


def _local(c: Container) -> bool:
    return isinstance(c.blobs, LocalBlobStore)


def stored_blobs(c: Container) -> list[str]:
    """The committed objects (originals and derivatives), as ``sha256/<hex>`` keys."""
    if _local(c):
        root = c.settings.blob_dir / "sha256"
        return sorted(f"sha256/{p.name}" for p in root.rglob("*") if p.is_file()) if root.exists() else []
    return [f"sha256/{k.rsplit('/', 1)[1]}" for k in _s3_keys(c, "sha256/")]


def staged_parts(c: Container) -> list[str]:
    """Single-request writes still in staging (a crash or an abort would leave these)."""
    if _local(c):
        d = c.settings.staging_dir / "parts"
        return sorted(p.name for p in d.glob("*.part")) if d.exists() else []
    return _s3_keys(c, "staging/parts/")


def unsettled(c: Container) -> list[str]:
    """Commits whose database record was not yet confirmed (a crash would leave these)."""
    if _local(c):
        d = c.settings.blob_dir / "unsettled"
        return sorted(p.name for p in d.iterdir()) if d.exists() else []
    return _s3_keys(c, "unsettled/")


def upload_staging(c: Container) -> list[str]:
    """The resumable uploads that have a staging area."""
    if _local(c):
        d = c.settings.staging_dir / "uploads"
        return sorted(p.name for p in d.iterdir()) if d.exists() else []
    return sorted({k.split("/")[2] for k in _s3_keys(c, "staging/uploads/")})


def _blob_file(c: Container, key: str) -> Path:
    digest = key.removeprefix("sha256/")
    return c.settings.blob_dir / "sha256" / digest[:2] / digest[2:4] / digest


def _s3_key(c: Container, key: str) -> str:
    store: Any = c.blobs
    return str(store._blob(key))  # (with the prefix)


def read_stored(c: Container, key: str) -> bytes:
    """An object's stored (encrypted) bytes."""
    if _local(c):
        return _blob_file(c, key).read_bytes()
    store: Any = c.blobs
    return bytes(store.client.get_object(Bucket=store.bucket, Key=_s3_key(c, key))["Body"].read())


def write_stored(c: Container, key: str, data: bytes) -> None:
    """Overwrite an object's stored bytes behind the application's back."""
    if _local(c):
        _blob_file(c, key).write_bytes(data)
        return
    store: Any = c.blobs
    store.client.put_object(Bucket=store.bucket, Key=_s3_key(c, key), Body=data)


def delete_stored(c: Container, key: str) -> None:
    if _local(c):
        _blob_file(c, key).unlink()
        return
    store: Any = c.blobs
    store.client.delete_object(Bucket=store.bucket, Key=_s3_key(c, key))


class RawDatabase:
    """A DB-API connection in autocommit, with ``?`` placeholders on either database."""

    def __init__(self, c: Container) -> None:
        url = c.engine.url
        self.dialect = url.get_backend_name()
        if self.dialect == "sqlite":
            import sqlite3

            self.conn: Any = sqlite3.connect(url.database or "", isolation_level=None)
        else:
            import psycopg

            plain = url.set(drivername="postgresql").render_as_string(hide_password=False)
            self.conn = psycopg.connect(plain, autocommit=True)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        if self.dialect != "sqlite":
            sql = sql.replace("?", "%s")
        return self.conn.execute(sql, tuple(params))

    def drop_guards(self) -> RawDatabase:
        """Remove the append-only triggers of the custody log, as an intruder with the
        database's owner rights could."""
        if self.dialect == "sqlite":
            self.execute("DROP TRIGGER IF EXISTS custody_events_no_update")
            self.execute("DROP TRIGGER IF EXISTS custody_events_no_delete")
        else:
            self.execute("DROP TRIGGER IF EXISTS custody_events_no_change ON custody_events")
            self.execute("DROP TRIGGER IF EXISTS custody_events_no_truncate ON custody_events")
        return self

    def close(self) -> None:
        self.conn.close()


def container_of(data_dir: Path) -> Container:
    """A container on a data directory a command-line test made (the same settings the
    ``opendems`` processes read), for looking under the application."""
    from opendems.config import Settings
    from tests.factories import MADE

    c = Container(Settings.load(data_dir, workers=0))
    MADE.append(c)  # its connections are closed after the test
    return c
