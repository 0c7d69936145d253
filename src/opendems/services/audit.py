"""Searching and exporting the audit trail. Reading the trail is itself recorded in it."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from opendems.domain.access import Permission, visibility
from opendems.domain.custody import AuditQuery, CustodyEvent
from opendems.domain.errors import Invalid
from opendems.ports import Clock, UnitOfWork
from opendems.services.context import Actor
from opendems.services.custody import authorize, record

MAX_PAGE = 1000
EXPORT_BATCH = 2000
OUTCOMES = {"success", "denied", "failed"}
CSV_COLUMNS = [
    "seq",
    "at",
    "action",
    "outcome",
    "actor_id",
    "actor_name",
    "object_type",
    "object_id",
    "service",
    "endpoint",
    "client_address",
    "user_agent",
    "reason",
    "details",
    "event_hash",
    "prev_hash",
]


def _check(q: AuditQuery) -> None:
    if q.outcome and q.outcome not in OUTCOMES:
        raise Invalid(f"outcome must be one of {', '.join(sorted(OUTCOMES))}")
    if q.since and q.until and q.since > q.until:
        raise Invalid("since is after until")


def _record_access(actor: Actor, q: AuditQuery, action: str, *, uow: UnitOfWork, clock: Clock) -> None:
    """Reading the trail is itself recorded (AU-9), and refused without ``audit:read``."""
    _check(q)
    with uow:
        authorize(
            uow,
            actor,
            Permission.AUDIT_READ,
            clock=clock,
            action=action,
            object_type="audit",
            object_id="trail",
        )
        record(uow, actor, action, "audit", "trail", clock=clock, details={"query": q.as_details()})
        uow.commit()


def search(
    actor: Actor, q: AuditQuery, *, limit: int, offset: int, uow: UnitOfWork, clock: Clock
) -> tuple[list[CustodyEvent], int]:
    """One page of matching events, oldest first. The search is recorded."""
    if not 1 <= limit <= MAX_PAGE or offset < 0:
        raise Invalid(f"limit must be 1-{MAX_PAGE} and offset not negative")
    _record_access(actor, q, "audit:read", uow=uow, clock=clock)
    with uow.for_reading() as reader:
        return reader.custody.search(q, limit=limit, offset=offset, scope=visibility(actor.principal))


def export_csv(actor: Actor, q: AuditQuery, *, uow: UnitOfWork, clock: Clock) -> Iterator[str]:
    """The matching events as CSV text, streamed. The export is recorded before it starts."""
    _record_access(actor, q, "audit:export", uow=uow, clock=clock)

    def rows() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        offset = 0
        while True:
            with uow.for_reading() as reader:
                events, _ = reader.custody.search(
                    q, limit=EXPORT_BATCH, offset=offset, scope=visibility(actor.principal)
                )
            for e in events:
                writer.writerow([_cell(getattr(e, name)) for name in CSV_COLUMNS])
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            if len(events) < EXPORT_BATCH:
                return
            offset += EXPORT_BATCH

    return rows()


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    # A spreadsheet must not run what an attacker typed into a field (CSV injection).
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        text = "'" + text
    return text
