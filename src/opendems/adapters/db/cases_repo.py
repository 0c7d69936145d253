"""Cases and their evidence."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from opendems.adapters.db.access_repo import case_visible
from opendems.adapters.db.search_repo import mark_dirty
from opendems.adapters.db.tables import case_evidence, cases
from opendems.domain.access import Visibility
from opendems.domain.cases import Case, CaseStatus
from opendems.domain.evidence import Restriction


def _case(row: Any) -> Case:
    # evidence_count is left at 0: how many items a caller may count is the policy's call,
    # made in the services.
    data = dict(row._mapping)
    data["status"] = CaseStatus(data["status"])
    data["restriction"] = Restriction(data["restriction"])
    return Case(**data)


class CaseRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, case: Case) -> None:
        self._conn.execute(
            insert(cases).values(
                number=case.number,
                title=case.title,
                incident_number=case.incident_number,
                case_type=case.case_type,
                description=case.description,
                status=case.status.value,
                created_at=case.created_at,
                created_by=case.created_by,
                closed_at=case.closed_at,
                restriction=case.restriction.value,
                unit=case.unit,
            )
        )

    def get(self, number: str) -> Case | None:
        row = self._conn.execute(select(cases).where(cases.c.number == number)).first()
        return _case(row) if row else None

    def save(self, case: Case) -> None:
        self._conn.execute(
            update(cases)
            .where(cases.c.number == case.number)
            .values(
                title=case.title,
                incident_number=case.incident_number,
                case_type=case.case_type,
                description=case.description,
                status=case.status.value,
                closed_at=case.closed_at,
                restriction=case.restriction.value,
            )
        )

    def page(
        self, *, status: CaseStatus | None, scope: Visibility, limit: int, offset: int
    ) -> tuple[list[Case], int]:
        visible = case_visible(scope)
        count_q = select(func.count()).select_from(cases).where(visible)
        query = select(cases).where(visible).order_by(cases.c.created_at.desc()).limit(limit).offset(offset)
        if status:
            count_q = count_q.where(cases.c.status == status.value)
            query = query.where(cases.c.status == status.value)
        total = int(self._conn.execute(count_q).scalar_one())
        return [_case(r) for r in self._conn.execute(query)], total

    def link(self, number: str, evidence_id: str, *, when: datetime, by: int) -> bool:
        exists = self._conn.execute(
            select(case_evidence.c.evidence_id).where(
                case_evidence.c.case_number == number, case_evidence.c.evidence_id == evidence_id
            )
        ).first()
        if exists:
            return False
        self._conn.execute(
            insert(case_evidence).values(
                case_number=number, evidence_id=evidence_id, added_at=when, added_by=by
            )
        )
        mark_dirty(self._conn, evidence_id)  # its case numbers are searchable
        return True

    def unlink(self, number: str, evidence_id: str) -> bool:
        result = self._conn.execute(
            delete(case_evidence).where(
                case_evidence.c.case_number == number, case_evidence.c.evidence_id == evidence_id
            )
        )
        if result.rowcount:
            mark_dirty(self._conn, evidence_id)
        return bool(result.rowcount)

    def evidence_ids(self, number: str) -> list[str]:
        rows = self._conn.execute(
            select(case_evidence.c.evidence_id)
            .where(case_evidence.c.case_number == number)
            .order_by(case_evidence.c.added_at, case_evidence.c.evidence_id)
        )
        return [r.evidence_id for r in rows]
