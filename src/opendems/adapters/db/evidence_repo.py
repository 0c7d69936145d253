"""Evidence items, their originals, tags and derivatives."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, Text, and_, delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from opendems.adapters.db.access_repo import evidence_visible
from opendems.adapters.db.search_repo import mark_dirty
from opendems.adapters.db.tables import (
    case_evidence,
    counters,
    derivatives,
    evidence,
    evidence_tags,
    exports,
    originals,
    share_copies,
)
from opendems.domain.access import Visibility
from opendems.domain.evidence import (
    Derivative,
    EvidenceFilter,
    EvidenceItem,
    EvidenceKind,
    EvidenceSort,
    EvidenceStatus,
    Original,
    Restriction,
)


def _item(row: Any) -> EvidenceItem:
    data = dict(row._mapping)
    return EvidenceItem(
        id=data["id"],
        kind=EvidenceKind(data["kind"]),
        title=data["title"],
        description=data["description"],
        status=EvidenceStatus(data["status"]),
        created_at=data["created_at"],
        created_by=data["created_by"],
        captured_at=data["captured_at"],
        captured_by=data["captured_by"],
        device_make=data["device_make"],
        device_model=data["device_model"],
        device_serial=data["device_serial"],
        latitude=data["latitude"],
        longitude=data["longitude"],
        category=data["category"],
        custom_fields=data["custom_fields"] or {},
        restriction=Restriction(data["restriction"]),
        updated_at=data["updated_at"],
        unit=data["unit"],
        media=data["media"],
    )


def _order(sort: EvidenceSort) -> tuple[Any, ...]:
    column = {
        "created_at": evidence.c.created_at,
        "captured_at": evidence.c.captured_at,
        "title": func.lower(evidence.c.title),
        "id": evidence.c.id,
    }[sort.column]
    key = column.desc() if sort.descending else column.asc()
    if sort.column == "captured_at":
        key = key.nulls_last()  # items without a capture time go last either way
    tie = evidence.c.id.desc() if sort.descending else evidence.c.id.asc()
    return (key,) if sort.column == "id" else (key, tie)


# Every order a list may take, built once: only these reach ORDER BY.
_ORDER = {sort: _order(sort) for sort in EvidenceSort}


class EvidenceRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def next_number(self, name: str) -> int:
        """Allocate the next value of a named counter (safe under concurrent writers)."""
        dialect = self._conn.dialect.name
        ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(counters)
        stmt = ins.values(name=name, value=1).on_conflict_do_update(
            index_elements=["name"], set_={"value": counters.c.value + 1}
        )
        self._conn.execute(stmt)
        return int(self._conn.execute(select(counters.c.value).where(counters.c.name == name)).scalar_one())

    def add(self, item: EvidenceItem) -> None:
        self._conn.execute(
            insert(evidence).values(
                id=item.id,
                kind=item.kind.value,
                title=item.title,
                description=item.description,
                captured_at=item.captured_at,
                captured_by=item.captured_by,
                device_make=item.device_make,
                device_model=item.device_model,
                device_serial=item.device_serial,
                latitude=item.latitude,
                longitude=item.longitude,
                category=item.category,
                custom_fields=item.custom_fields,
                restriction=item.restriction.value,
                status=item.status.value,
                created_at=item.created_at,
                created_by=item.created_by,
                unit=item.unit,
            )
        )
        if item.original:
            o = item.original
            self._conn.execute(
                insert(originals).values(
                    evidence_id=item.id,
                    sha256=o.sha256,
                    size=o.size,
                    mime_type=o.mime_type,
                    filename=o.filename,
                    blob_key=o.blob_key,
                    stored_at=o.stored_at,
                )
            )
        for tag in item.tags:
            self._conn.execute(insert(evidence_tags).values(evidence_id=item.id, tag=tag))
        mark_dirty(self._conn, item.id)  # indexed when the unit of work commits

    def get(self, evidence_id: str) -> EvidenceItem | None:
        row = self._conn.execute(select(evidence).where(evidence.c.id == evidence_id)).first()
        if row is None:
            return None
        item = _item(row)
        self._load_details([item])
        return item

    def _load_details(self, items: list[EvidenceItem]) -> None:
        if not items:
            return
        by_id = {i.id: i for i in items}
        ids = list(by_id)
        for o in self._conn.execute(select(originals).where(originals.c.evidence_id.in_(ids))):
            by_id[o.evidence_id].original = Original(
                sha256=o.sha256,
                size=o.size,
                mime_type=o.mime_type,
                filename=o.filename,
                blob_key=o.blob_key,
                stored_at=o.stored_at,
            )
        tag_rows = self._conn.execute(
            select(evidence_tags).where(evidence_tags.c.evidence_id.in_(ids)).order_by(evidence_tags.c.tag)
        )
        for t in tag_rows:
            by_id[t.evidence_id].tags.append(t.tag)
        link_rows = self._conn.execute(
            select(case_evidence)
            .where(case_evidence.c.evidence_id.in_(ids))
            .order_by(case_evidence.c.case_number)
        )
        for c in link_rows:
            by_id[c.evidence_id].case_numbers.append(c.case_number)
        for d in self._conn.execute(
            select(derivatives).where(derivatives.c.evidence_id.in_(ids)).order_by(derivatives.c.id)
        ):
            by_id[d.evidence_id].derivatives.append(
                Derivative(
                    id=d.id,
                    kind=d.kind,
                    sha256=d.sha256,
                    size=d.size,
                    mime_type=d.mime_type,
                    blob_key=d.blob_key,
                    source_sha256=d.source_sha256,
                    tool=d.tool,
                    tool_version=d.tool_version,
                    parameters=d.parameters or {},
                    created_at=d.created_at,
                )
            )

    def by_sha256(self, sha256: str) -> EvidenceItem | None:
        row = self._conn.execute(select(originals.c.evidence_id).where(originals.c.sha256 == sha256)).first()
        return self.get(row.evidence_id) if row else None

    def has_blob(self, blob_key: str) -> bool:
        """Does any original, derivative, share's watermarked copy or export package use
        these bytes?"""
        for table in (originals, derivatives, share_copies):
            query = select(table.c.evidence_id).where(table.c.blob_key == blob_key).limit(1)
            if self._conn.execute(query).first() is not None:
                return True
        query = select(exports.c.id).where(exports.c.files.cast(Text).contains(blob_key)).limit(1)
        return self._conn.execute(query).first() is not None

    def add_derivative(self, evidence_id: str, d: Derivative) -> int:
        result = self._conn.execute(
            insert(derivatives).values(
                evidence_id=evidence_id,
                kind=d.kind,
                sha256=d.sha256,
                size=d.size,
                mime_type=d.mime_type,
                blob_key=d.blob_key,
                source_sha256=d.source_sha256,
                tool=d.tool,
                tool_version=d.tool_version,
                parameters=d.parameters,
                created_at=d.created_at,
            )
        )
        return int(result.inserted_primary_key[0])  # type: ignore[index]

    def _filtered(self, query: Select[Any], f: EvidenceFilter, scope: Visibility) -> Select[Any]:
        query = query.where(evidence_visible(scope))
        if f.kind:
            query = query.where(evidence.c.kind == f.kind.value)
        if f.officer:
            query = query.where(evidence.c.captured_by == f.officer)
        if f.device:
            query = query.where(evidence.c.device_serial == f.device)
        if f.category:
            query = query.where(evidence.c.category == f.category)
        if f.captured_from:
            query = query.where(evidence.c.captured_at >= f.captured_from)
        if f.captured_to:
            query = query.where(evidence.c.captured_at <= f.captured_to)
        if f.tag:
            query = query.where(
                evidence.c.id.in_(select(evidence_tags.c.evidence_id).where(evidence_tags.c.tag == f.tag))
            )
        if f.case_number:
            query = query.where(
                evidence.c.id.in_(
                    select(case_evidence.c.evidence_id).where(case_evidence.c.case_number == f.case_number)
                )
            )
        if f.status:
            query = query.where(evidence.c.status == f.status.value)
        if f.uploaded_by is not None:
            query = query.where(evidence.c.created_by == f.uploaded_by)
        if f.q and f.q.strip():
            text = f.q.strip()
            query = query.where(
                or_(
                    func.lower(evidence.c.title).contains(text.lower(), autoescape=True),
                    evidence.c.id.contains(text.upper(), autoescape=True),
                )
            )
        return query

    def page(
        self, f: EvidenceFilter, scope: Visibility, *, limit: int, offset: int
    ) -> tuple[list[EvidenceItem], int]:
        total = self._conn.execute(
            self._filtered(select(func.count()).select_from(evidence), f, scope)
        ).scalar_one()
        query = self._filtered(select(evidence), f, scope)
        query = query.order_by(*_ORDER[f.sort]).limit(limit).offset(offset)
        items = [_item(r) for r in self._conn.execute(query)]
        self._load_details(items)
        return items, int(total)

    def update_fields(self, evidence_id: str, values: dict[str, Any], when: datetime) -> None:
        clean = {k: (v.value if isinstance(v, Restriction) else v) for k, v in values.items()}
        self._conn.execute(
            update(evidence).where(evidence.c.id == evidence_id).values(**clean, updated_at=when)
        )
        mark_dirty(self._conn, evidence_id)

    def add_tags(self, evidence_id: str, tags: list[str]) -> None:
        for tag in tags:
            self._conn.execute(insert(evidence_tags).values(evidence_id=evidence_id, tag=tag))
        mark_dirty(self._conn, evidence_id)

    def remove_tags(self, evidence_id: str, tags: list[str]) -> None:
        self._conn.execute(
            delete(evidence_tags).where(
                and_(evidence_tags.c.evidence_id == evidence_id, evidence_tags.c.tag.in_(tags))
            )
        )
        mark_dirty(self._conn, evidence_id)

    def all_originals(self) -> list[tuple[str, str, str]]:
        """(evidence id, sha256, blob key) of every held original."""
        rows = self._conn.execute(
            select(originals.c.evidence_id, originals.c.sha256, originals.c.blob_key).order_by(
                originals.c.evidence_id
            )
        )
        return [(r.evidence_id, r.sha256, r.blob_key) for r in rows]
