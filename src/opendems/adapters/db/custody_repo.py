"""The custody log's storage: appends under a lock on the chain head, reads in order."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, insert, select, update

from opendems.adapters.crypto.keys import Signer
from opendems.adapters.db.access_repo import case_visible, evidence_sealed, evidence_visible
from opendems.adapters.db.tables import cases, custody_events, custody_head, evidence
from opendems.domain.access import Visibility
from opendems.domain.custody import (
    GENESIS_HASH,
    AuditQuery,
    CustodyEvent,
    NewEvent,
    anchor_payload,
    format_time,
    seal,
)

_COLUMNS = [c.name for c in custody_events.columns]


def _event(row: Any) -> CustodyEvent:
    return CustodyEvent(**{name: getattr(row, name) for name in _COLUMNS})


class CustodyRepository:
    def __init__(
        self,
        conn: Connection,
        *,
        signer: Signer,
        on_commit: Callable[[int, str], None],
    ) -> None:
        self._conn = conn
        self._signer = signer
        self._on_commit = on_commit

    def append(self, new: NewEvent, at: datetime) -> CustodyEvent:
        head = self._conn.execute(
            select(custody_head.c.seq, custody_head.c.event_hash)
            .where(custody_head.c.id == 1)
            .with_for_update()
        ).first()
        # The head row is the lock that serialises appends; the newest stored event decides
        # what comes next, so a damaged head never makes two events share a number.
        newest = self._conn.execute(
            select(custody_events.c.seq, custody_events.c.event_hash)
            .order_by(custody_events.c.seq.desc())
            .limit(1)
        ).first()
        if newest is not None and (head is None or newest.seq >= head.seq):
            seq, prev = newest.seq + 1, newest.event_hash
        elif head is not None:
            seq, prev = head.seq + 1, head.event_hash
        else:
            seq, prev = 1, GENESIS_HASH
        sealed = seal(new, seq=seq, prev_hash=prev, at=at)
        event = replace(sealed, signature=self._signer.sign(anchor_payload(seq, sealed.event_hash)))
        self._conn.execute(
            insert(custody_events).values(
                **event.hashed_fields(), event_hash=event.event_hash, signature=event.signature
            )
        )
        if head:
            self._conn.execute(
                update(custody_head)
                .where(custody_head.c.id == 1)
                .values(seq=seq, event_hash=event.event_hash)
            )
        else:
            self._conn.execute(insert(custody_head).values(id=1, seq=seq, event_hash=event.event_hash))
        self._on_commit(seq, event.event_hash)
        return event

    def for_object(self, object_type: str, object_id: str) -> list[CustodyEvent]:
        rows = self._conn.execute(
            select(custody_events)
            .where(custody_events.c.object_type == object_type, custody_events.c.object_id == object_id)
            .order_by(custody_events.c.seq)
        )
        return [_event(r) for r in rows]

    def latest_by(
        self, object_type: str, object_id: str, action: str, actor_id: int, since: datetime
    ) -> list[CustodyEvent]:
        """The actor's events of one action on one object since a moment (newest first)."""
        c = custody_events.c
        rows = self._conn.execute(
            select(custody_events)
            .where(
                c.object_type == object_type,
                c.object_id == object_id,
                c.action == action,
                c.actor_id == actor_id,
                c.at >= format_time(since),
            )
            .order_by(c.seq.desc())
        )
        return [_event(r) for r in rows]

    def iter_all(self, batch: int = 5000) -> Iterator[CustodyEvent]:
        """Every event in stored order (by sequence), read in batches."""
        last = None
        while True:
            query = select(custody_events).order_by(custody_events.c.seq).limit(batch)
            if last is not None:
                query = query.where(custody_events.c.seq > last)
            rows = list(self._conn.execute(query))
            if not rows:
                return
            for row in rows:
                yield _event(row)
            last = rows[-1].seq

    def search(
        self, q: AuditQuery, *, limit: int, offset: int, scope: Visibility | None = None
    ) -> tuple[list[CustodyEvent], int]:
        """Events matching ``q``, oldest first (the trail's own order), and how many match.

        With ``scope``, events about sealed items and cases the reader may not see are left
        out: sealed material is invisible in every search, the trail's included.
        """
        conditions = []
        c = custody_events.c
        if scope is not None:
            hidden_items = select(evidence.c.id).where(evidence_sealed(), ~evidence_visible(scope))
            hidden_cases = select(cases.c.number).where(cases.c.restriction == "sealed", ~case_visible(scope))
            conditions.append(~and_(c.object_type == "evidence", c.object_id.in_(hidden_items)))
            conditions.append(~and_(c.object_type == "case", c.object_id.in_(hidden_cases)))
        if q.actor:
            conditions.append(c.actor_name == q.actor)
        if q.action:
            conditions.append(
                c.action.like(q.action.replace("*", "%")) if "*" in q.action else c.action == q.action
            )
        if q.object_type:
            conditions.append(c.object_type == q.object_type)
        if q.object_id:
            conditions.append(c.object_id == q.object_id)
        if q.outcome:
            conditions.append(c.outcome == q.outcome)
        if q.since:
            conditions.append(c.at >= format_time(q.since))
        if q.until:
            conditions.append(c.at <= format_time(q.until))
        total = self._conn.execute(
            select(func.count()).select_from(custody_events).where(*conditions)
        ).scalar_one()
        query = select(custody_events).where(*conditions).order_by(c.seq).limit(limit).offset(offset)
        return [_event(r) for r in self._conn.execute(query)], int(total)

    def head(self) -> tuple[int, str] | None:
        row = self._conn.execute(select(custody_head.c.seq, custody_head.c.event_hash)).first()
        return (row.seq, row.event_hash) if row else None
