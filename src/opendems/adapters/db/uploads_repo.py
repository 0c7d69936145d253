"""Resumable uploads in progress."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from opendems.adapters.db.tables import uploads
from opendems.domain.uploads import UploadRecord


class UploadRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, record: UploadRecord) -> None:
        self._conn.execute(insert(uploads).values(**record.__dict__))

    def get(self, upload_id: str) -> UploadRecord | None:
        row = self._conn.execute(select(uploads).where(uploads.c.id == upload_id)).first()
        return UploadRecord(**dict(row._mapping)) if row else None

    def set_status(self, upload_id: str, status: str, **values: Any) -> None:
        self._conn.execute(update(uploads).where(uploads.c.id == upload_id).values(status=status, **values))

    def expired_open(self, now: datetime) -> list[str]:
        rows = self._conn.execute(
            select(uploads.c.id).where(uploads.c.status == "open", uploads.c.expires_at < now)
        )
        return [r.id for r in rows]
