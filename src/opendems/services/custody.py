"""Recording custody events and enforcing the access policy: the single enforcement point."""

from __future__ import annotations

from typing import Any

from opendems.domain.access import ObjectAttrs, Permission, decide
from opendems.domain.cases import Case
from opendems.domain.custody import CustodyEvent, NewEvent
from opendems.domain.errors import Forbidden, NotFound
from opendems.domain.evidence import EvidenceItem
from opendems.ports import Clock, UnitOfWork
from opendems.services.context import Actor


def record(
    uow: UnitOfWork,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: str,
    *,
    clock: Clock,
    outcome: str = "success",
    reason: str | None = None,
    details: dict[str, Any] | None = None,
) -> CustodyEvent:
    """Append one event to the custody chain in the caller's transaction."""
    merged = {**actor.extra, **(details or {})}
    if actor.principal.privileged:
        merged["privileged"] = True  # CJIS AU: every action of a privileged account
    return uow.custody.append(
        NewEvent(
            action=action,
            actor_id=actor.principal.id,
            actor_name=actor.principal.name,
            object_type=object_type,
            object_id=object_id,
            where=actor.where,
            outcome=outcome,
            reason=reason,
            details=merged,
        ),
        clock.now(),
    )


def attrs_of(
    uow: UnitOfWork, item: EvidenceItem | None = None, case: Case | None = None
) -> ObjectAttrs | None:
    """What the policy needs to know about the object (owners, unit, level, members)."""
    if item is not None:
        return uow.access.evidence_attrs(item)
    if case is not None:
        return uow.access.case_attrs(case)
    return None


def may(
    uow: UnitOfWork,
    actor: Actor,
    permission: Permission,
    item: EvidenceItem | None = None,
    case: Case | None = None,
) -> bool:
    """Ask the policy without recording anything (filters, counts)."""
    return decide(actor.principal, permission, attrs_of(uow, item, case)).allowed


def authorize(
    uow: UnitOfWork,
    actor: Actor,
    permission: Permission,
    *,
    clock: Clock,
    action: str,
    object_type: str,
    object_id: str,
    item: EvidenceItem | None = None,
    case: Case | None = None,
    attrs: ObjectAttrs | None = None,
) -> None:
    """Ask the policy; on denial record the attempt (committed) and raise.

    An item outside the actor's scope is answered as "not found", so a denial does not
    reveal that it exists.
    """
    decision = decide(actor.principal, permission, attrs or attrs_of(uow, item, case))
    if decision.allowed:
        return
    record(
        uow,
        actor,
        action,
        object_type,
        object_id,
        clock=clock,
        outcome="denied",
        details={"permission": permission.value, "why": decision.reason},
    )
    uow.commit()
    if not decision.visible:
        raise NotFound(f"{object_type} {object_id} not found")
    raise Forbidden(f"you may not {permission.value.replace(':', ' ')} ({decision.reason})")


def record_transfer(
    uow: UnitOfWork,
    actor: Actor,
    object_type: str,
    object_id: str,
    *,
    bytes_sent: int,
    seconds: float,
    complete: bool,
    clock: Clock,
    details: dict[str, Any] | None = None,
) -> None:
    """Close a download's record with what was actually sent (AU-3 transfer fields): an
    ``<object type>:transfer`` event, failed when the transfer broke off."""
    with uow:
        record(
            uow,
            actor,
            f"{object_type}:transfer",
            object_type,
            object_id,
            clock=clock,
            outcome="success" if complete else "failed",
            details={
                **(details or {}),
                "bytes_sent": bytes_sent,
                "duration_s": round(seconds, 3),
                "complete": complete,
            },
        )
        uow.commit()
