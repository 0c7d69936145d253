"""Cases: create, edit, close and reopen, and the evidence they hold."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from opendems.domain.access import Permission, decide, visibility
from opendems.domain.cases import (
    CASE_EDITABLE_FIELDS,
    Case,
    CaseStatus,
    check_case_number,
    check_case_text,
)
from opendems.domain.errors import Conflict, Invalid, NotFound
from opendems.domain.evidence import EvidenceFilter, EvidenceItem, Restriction, parse_evidence_id
from opendems.ports import Clock, UnitOfWork
from opendems.services.context import Actor
from opendems.services.custody import authorize, may, record

_TEXT_LIMITS = {"title": 200, "incident_number": 64, "case_type": 100, "description": 10_000}


def counted(actor: Actor, case: Case, uow: UnitOfWork) -> Case:
    """Set the case's evidence count to what the actor may see (a count must not reveal
    items outside the actor's scope)."""
    scope = visibility(actor.principal)
    case.evidence_count = uow.evidence.page(
        EvidenceFilter(case_number=case.number), scope, limit=1, offset=0
    )[1]
    return case


def _check_fields(fields: dict[str, Any]) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for name, value in fields.items():
        if name not in CASE_EDITABLE_FIELDS:
            raise Invalid(f"{name!r} is not an editable case field")
        if value is not None and not isinstance(value, str):
            raise Invalid(f"{name} must be text")
        text = check_case_text(name, value, maximum=_TEXT_LIMITS[name], required=name == "title")
        clean[name] = text if (text or name in {"title", "description"}) else None
    return clean


def _case(
    actor: Actor, number: str, permission: Permission, action: str, *, uow: UnitOfWork, clock: Clock
) -> Case:
    canonical = check_case_number(number)
    case = uow.cases.get(canonical)
    if case is None:
        raise NotFound(f"case {canonical} not found")
    authorize(
        uow, actor, permission, clock=clock, action=action, object_type="case", object_id=canonical, case=case
    )
    return case


def load_case(actor: Actor, number: str, *, uow: UnitOfWork, clock: Clock) -> Case:
    """A case the actor may see (for sharing or exporting its evidence)."""
    return _case(actor, number, Permission.CASE_VIEW, "case:view", uow=uow, clock=clock)


def link_to_case(
    actor: Actor, case_number: str, item: EvidenceItem, *, uow: UnitOfWork, clock: Clock
) -> bool:
    """Put an item into an open case the actor may see; False when it was already there."""
    case = _case(actor, case_number, Permission.CASE_VIEW, "case:add_evidence", uow=uow, clock=clock)
    case.require_open()
    require_restrict_for(actor, case, "case:add_evidence", uow=uow, clock=clock)
    added = uow.cases.link(case_number, item.id, when=clock.now(), by=actor.principal.id)
    if added:
        record(
            uow,
            actor,
            "case:add_evidence",
            "case",
            case_number,
            clock=clock,
            details={"evidence_id": item.id},
        )
        record(
            uow,
            actor,
            "evidence:link_case",
            "evidence",
            item.id,
            clock=clock,
            details={"case_number": case_number},
        )
    return added


def require_restrict_for(actor: Actor, case: Case, action: str, *, uow: UnitOfWork, clock: Clock) -> None:
    """Putting an item into, or taking it out of, a restricted or sealed case changes who
    may see it: that needs ``evidence:restrict`` as well."""
    if case.restriction is Restriction.NORMAL:
        return
    authorize(
        uow,
        actor,
        Permission.EVIDENCE_RESTRICT,
        clock=clock,
        action=action,
        object_type="case",
        object_id=case.number,
        case=case,
    )


def create_case(actor: Actor, number: str, fields: dict[str, Any], *, uow: UnitOfWork, clock: Clock) -> Case:
    canonical = check_case_number(number)
    clean = _check_fields({"title": fields.get("title"), **{k: v for k, v in fields.items() if k != "title"}})
    with uow:
        authorize(
            uow,
            actor,
            Permission.CASE_MANAGE,
            clock=clock,
            action="case:create",
            object_type="case",
            object_id=canonical,
        )
        if uow.cases.get(canonical) is not None:
            raise Conflict(f"case {canonical} already exists")
        case = Case(
            number=canonical,
            title=clean["title"],
            status=CaseStatus.OPEN,
            created_at=clock.now(),
            created_by=actor.principal.id,
            unit=actor.principal.unit,
            incident_number=clean.get("incident_number"),
            case_type=clean.get("case_type"),
            description=clean.get("description") or "",
        )
        uow.cases.add(case)
        uow.access.add_member("case", canonical, actor.principal.id, by=actor.principal.id, when=clock.now())
        record(uow, actor, "case:create", "case", canonical, clock=clock, details={"fields": clean})
        uow.commit()
        return case


def get_case(actor: Actor, number: str, *, uow: UnitOfWork, clock: Clock) -> Case:
    with uow:
        return counted(
            actor, _case(actor, number, Permission.CASE_VIEW, "case:view", uow=uow, clock=clock), uow
        )


def list_cases(
    actor: Actor, *, status: CaseStatus | None, limit: int, offset: int, uow: UnitOfWork
) -> tuple[list[Case], int]:
    if not 1 <= limit <= 500 or offset < 0:
        raise Invalid("limit must be 1-500 and offset not negative")
    if not decide(actor.principal, Permission.CASE_VIEW):
        return [], 0
    with uow.for_reading() as reader:
        cases, total = reader.cases.page(
            status=status, scope=visibility(actor.principal), limit=limit, offset=offset
        )
        return [counted(actor, case, reader) for case in cases], total


def edit_case(
    actor: Actor, number: str, changes: dict[str, Any], *, reason: str, uow: UnitOfWork, clock: Clock
) -> Case:
    if not (reason or "").strip():
        raise Invalid("every edit needs a reason")
    clean = _check_fields(changes)
    with uow:
        case = _case(actor, number, Permission.CASE_MANAGE, "case:edit", uow=uow, clock=clock)
        diff = {k: {"old": getattr(case, k), "new": v} for k, v in clean.items() if getattr(case, k) != v}
        if not diff:
            return counted(actor, case, uow)
        for k in diff:
            setattr(case, k, clean[k])
        uow.cases.save(case)
        record(
            uow,
            actor,
            "case:edit",
            "case",
            case.number,
            clock=clock,
            reason=reason.strip(),
            details={"changes": diff},
        )
        uow.commit()
        return counted(actor, case, uow)


def set_case_status(
    actor: Actor, number: str, *, close: bool, reason: str, uow: UnitOfWork, clock: Clock
) -> Case:
    if not (reason or "").strip():
        raise Invalid("closing or reopening a case needs a reason")
    action = "case:close" if close else "case:reopen"
    with uow:
        case = _case(actor, number, Permission.CASE_MANAGE, action, uow=uow, clock=clock)
        if close:
            case.close(clock.now())
        else:
            case.reopen()
        uow.cases.save(case)
        record(uow, actor, action, "case", case.number, clock=clock, reason=reason.strip())
        uow.commit()
        return counted(actor, case, uow)


def _visible_item(actor: Actor, evidence_id: str, *, uow: UnitOfWork, clock: Clock) -> EvidenceItem:
    canonical = parse_evidence_id(evidence_id)
    item = uow.evidence.get(canonical)
    if item is None:
        raise NotFound(f"evidence {canonical} not found")
    authorize(
        uow,
        actor,
        Permission.EVIDENCE_VIEW,
        clock=clock,
        action="case:add_evidence",
        object_type="evidence",
        object_id=canonical,
        item=item,
    )
    return item


def add_evidence(
    actor: Actor, number: str, evidence_id: str, *, reason: str | None, uow: UnitOfWork, clock: Clock
) -> Case:
    with uow:
        case = _case(actor, number, Permission.CASE_MANAGE, "case:add_evidence", uow=uow, clock=clock)
        item = _visible_item(actor, evidence_id, uow=uow, clock=clock)
        if not link_to_case(actor, case.number, item, uow=uow, clock=clock):
            raise Conflict(f"{item.id} is already in case {case.number}")
        uow.commit()
        refreshed = uow.cases.get(case.number)
        assert refreshed is not None
        return counted(actor, refreshed, uow)


def remove_evidence(
    actor: Actor, number: str, evidence_id: str, *, reason: str, uow: UnitOfWork, clock: Clock
) -> Case:
    if not (reason or "").strip():
        raise Invalid("removing evidence from a case needs a reason")
    with uow:
        case = _case(actor, number, Permission.CASE_MANAGE, "case:remove_evidence", uow=uow, clock=clock)
        case.require_open()
        require_restrict_for(actor, case, "case:remove_evidence", uow=uow, clock=clock)
        item = _visible_item(actor, evidence_id, uow=uow, clock=clock)
        if not uow.cases.unlink(case.number, item.id):
            raise NotFound(f"{item.id} is not in case {case.number}")
        details = {"evidence_id": item.id}
        record(
            uow,
            actor,
            "case:remove_evidence",
            "case",
            case.number,
            clock=clock,
            reason=reason,
            details=details,
        )
        record(
            uow,
            actor,
            "evidence:unlink_case",
            "evidence",
            item.id,
            clock=clock,
            reason=reason,
            details={"case_number": case.number},
        )
        uow.commit()
        refreshed = uow.cases.get(case.number)
        assert refreshed is not None
        return counted(actor, refreshed, uow)


def case_evidence(actor: Actor, number: str, *, uow: UnitOfWork, clock: Clock) -> list[EvidenceItem]:
    """The case's evidence the actor may see (others are left out, not named)."""
    with uow:
        case = _case(actor, number, Permission.CASE_VIEW, "case:view", uow=uow, clock=clock)
        items = []
        for evidence_id in uow.cases.evidence_ids(case.number):
            item = uow.evidence.get(evidence_id)
            if item and may(uow, actor, Permission.EVIDENCE_VIEW, item=item):
                items.append(item)
        return items


@dataclass(frozen=True)
class TimelineEntry:
    item: EvidenceItem
    starts_at: datetime | None
    duration_s: float | None
    offset_s: float | None  # from the earliest start among the case's timed items


def case_timeline(actor: Actor, number: str, *, uow: UnitOfWork, clock: Clock) -> list[TimelineEntry]:
    """The case's evidence the actor may see, aligned on capture time: each item's offset
    from the first start lets a player run several cameras of one incident in step."""
    items = case_evidence(actor, number, uow=uow, clock=clock)
    timed = [i for i in items if i.captured_at is not None]
    origin = min((i.captured_at for i in timed if i.captured_at), default=None)
    entries = []
    for i in items:
        duration = (i.media or {}).get("duration_s")
        offset = (i.captured_at - origin).total_seconds() if i.captured_at and origin else None
        entries.append(TimelineEntry(i, i.captured_at, float(duration) if duration else None, offset))
    return sorted(entries, key=lambda e: (e.offset_s is None, e.offset_s or 0.0, e.item.id))
