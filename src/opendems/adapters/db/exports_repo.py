"""Court export packages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, insert, select, update

from opendems.adapters.db.tables import exports, users
from opendems.domain.exports import Export, ExportContent, ExportState, PackageFile

_SELECT = select(exports, users.c.username.label("created_by_name")).join(
    users, users.c.id == exports.c.created_by
)


class ExportRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, export: Export) -> None:
        self._conn.execute(
            insert(exports).values(
                id=export.id,
                title=export.title,
                case_number=export.case_number,
                content=export.content.value,
                evidence_ids=export.evidence_ids,
                created_by=export.created_by,
                created_at=export.created_at,
                state=export.state.value,
            )
        )

    def get(self, export_id: str) -> Export | None:
        row = self._conn.execute(_SELECT.where(exports.c.id == export_id)).first()
        return _load(row) if row is not None else None

    def listing(self, *, created_by: int | None = None, limit: int = 200) -> list[Export]:
        query = _SELECT.order_by(exports.c.created_at.desc()).limit(limit)
        if created_by is not None:
            query = query.where(exports.c.created_by == created_by)
        return [_load(r) for r in self._conn.execute(query)]

    def finish(self, export_id: str, files: list[PackageFile], size: int, now: datetime) -> None:
        self._conn.execute(
            update(exports)
            .where(exports.c.id == export_id)
            .values(
                state=ExportState.READY.value,
                files=[vars(f) for f in files],
                size=size,
                error=None,
                finished_at=now,
            )
        )

    def fail(self, export_id: str, error: str, now: datetime) -> None:
        self._conn.execute(
            update(exports)
            .where(exports.c.id == export_id)
            .values(state=ExportState.FAILED.value, error=error, finished_at=now)
        )


def _load(row: Row[Any]) -> Export:
    m = row._mapping
    return Export(
        id=m["id"],
        title=m["title"],
        content=ExportContent(m["content"]),
        evidence_ids=list(m["evidence_ids"] or []),
        created_by=m["created_by"],
        created_by_name=m["created_by_name"],
        created_at=m["created_at"],
        state=ExportState(m["state"]),
        case_number=m["case_number"],
        files=[PackageFile(**f) for f in m["files"] or []],
        size=m["size"],
        error=m["error"],
        finished_at=m["finished_at"],
    )
