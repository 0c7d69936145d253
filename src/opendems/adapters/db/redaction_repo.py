"""Redaction plans: every version of an item's plan, kept."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select

from opendems.adapters.db.tables import redaction_plans, users


@dataclass(frozen=True)
class PlanVersion:
    evidence_id: str
    version: int
    body: dict[str, Any]
    note: str
    created_by: str
    created_at: datetime


_SELECT = select(
    redaction_plans.c.evidence_id,
    redaction_plans.c.version,
    redaction_plans.c.body,
    redaction_plans.c.note,
    users.c.username.label("created_by"),
    redaction_plans.c.created_at,
).select_from(redaction_plans.join(users, users.c.id == redaction_plans.c.created_by))


class RedactionRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def latest_version(self, evidence_id: str) -> int:
        got = self._conn.execute(
            select(func.max(redaction_plans.c.version)).where(redaction_plans.c.evidence_id == evidence_id)
        ).scalar()
        return int(got or 0)

    def get(self, evidence_id: str, version: int | None = None) -> PlanVersion | None:
        """A version of the item's plan (the latest when ``version`` is None)."""
        query = _SELECT.where(redaction_plans.c.evidence_id == evidence_id)
        if version is None:
            query = query.order_by(redaction_plans.c.version.desc()).limit(1)
        else:
            query = query.where(redaction_plans.c.version == version)
        row = self._conn.execute(query).first()
        return PlanVersion(**row._mapping) if row is not None else None

    def history(self, evidence_id: str) -> list[PlanVersion]:
        rows = self._conn.execute(
            _SELECT.where(redaction_plans.c.evidence_id == evidence_id).order_by(redaction_plans.c.version)
        )
        return [PlanVersion(**r._mapping) for r in rows]

    def add(
        self, evidence_id: str, version: int, body: dict[str, Any], note: str, user_id: int, now: datetime
    ) -> None:
        """Store a new version; a version taken meanwhile by another writer raises
        IntegrityError (the caller answers Conflict)."""
        self._conn.execute(
            insert(redaction_plans).values(
                evidence_id=evidence_id,
                version=version,
                body=body,
                note=note,
                created_by=user_id,
                created_at=now,
            )
        )
