"""Named members of cases and items, and a case's restriction level.

A case's members see the case and its evidence (an officer's or a prosecutor's way in); on
a restricted or sealed object the named members are the only people who see it besides
``access:restricted`` / ``access:sealed`` holders.
"""

from __future__ import annotations

from opendems.domain.access import Permission
from opendems.domain.cases import Case, check_case_number
from opendems.domain.errors import Conflict, Invalid, NotFound
from opendems.domain.evidence import EvidenceItem, Restriction, parse_evidence_id
from opendems.ports import Clock, UnitOfWork
from opendems.services.cases import counted
from opendems.services.context import Actor
from opendems.services.custody import authorize, record

_TYPES = {"case": Permission.CASE_MANAGE, "evidence": Permission.EVIDENCE_RESTRICT}


_VIEW = {"case": Permission.CASE_VIEW, "evidence": Permission.EVIDENCE_VIEW}


def _object(
    actor: Actor,
    object_type: str,
    object_id: str,
    action: str,
    *,
    uow: UnitOfWork,
    clock: Clock,
    permission: Permission | None = None,
) -> tuple[str, Case | None, EvidenceItem | None]:
    """The case or item, once the policy allows ``permission`` (default: changing members)."""
    if object_type not in _TYPES:
        raise Invalid(f"members belong to cases or evidence, not {object_type!r}")
    case: Case | None = None
    item: EvidenceItem | None = None
    if object_type == "case":
        key = check_case_number(object_id)
        case = uow.cases.get(key)
    else:
        key = parse_evidence_id(object_id)
        item = uow.evidence.get(key)
    if case is None and item is None:
        raise NotFound(f"{object_type} {key} not found")
    authorize(
        uow,
        actor,
        permission or _TYPES[object_type],
        clock=clock,
        action=action,
        object_type=object_type,
        object_id=key,
        item=item,
        case=case,
    )
    return key, case, item


def list_members(
    actor: Actor, object_type: str, object_id: str, *, uow: UnitOfWork, clock: Clock
) -> list[str]:
    with uow:
        key, _, _ = _object(
            actor,
            object_type,
            object_id,
            f"{object_type}:view",
            uow=uow,
            clock=clock,
            permission=_VIEW.get(object_type),
        )
        return [name for _, name in uow.access.members(object_type, key)]


def change_member(
    actor: Actor,
    object_type: str,
    object_id: str,
    username: str,
    *,
    add: bool,
    reason: str | None = None,
    uow: UnitOfWork,
    clock: Clock,
) -> list[str]:
    """Name a user on a case or item, or take them off. Returns the members afterwards."""
    action = f"{object_type}:{'add' if add else 'remove'}_member"
    with uow:
        key, case, _ = _object(actor, object_type, object_id, action, uow=uow, clock=clock)
        if case is not None and case.restriction is not Restriction.NORMAL:
            # Naming someone on a restricted or sealed case opens it to them.
            authorize(
                uow,
                actor,
                Permission.EVIDENCE_RESTRICT,
                clock=clock,
                action=action,
                object_type="case",
                object_id=key,
                case=case,
            )
        user = uow.accounts.user_by_name(username.strip().lower())
        if user is None or user.is_builtin:
            raise NotFound(f"no user named {username!r}")
        if add:
            if not user.active:
                raise Conflict(f"user {user.username} is disabled")
            changed = uow.access.add_member(
                object_type, key, user.id, by=actor.principal.id, when=clock.now()
            )
        else:
            changed = uow.access.remove_member(object_type, key, user.id)
        if not changed:
            raise Conflict(
                f"{user.username} is {'already' if add else 'not'} a member of {object_type} {key}"
            )
        record(
            uow,
            actor,
            action,
            object_type,
            key,
            clock=clock,
            reason=(reason or "").strip() or None,
            details={"user": user.username},
        )
        uow.commit()
        return [name for _, name in uow.access.members(object_type, key)]


def set_case_restriction(
    actor: Actor, number: str, level: str, *, reason: str, uow: UnitOfWork, clock: Clock
) -> Case:
    """Make a case normal, restricted (named members only) or sealed (internal affairs and
    named members only). Its evidence follows: an item is as hidden as its strictest case."""
    reason = (reason or "").strip()
    if not reason:
        raise Invalid("changing a case's restriction needs a reason")
    try:
        chosen = Restriction(level)
    except ValueError:
        raise Invalid("restriction must be normal, restricted or sealed") from None
    with uow:
        key, case, _ = _object(actor, "case", number, "case:restrict", uow=uow, clock=clock)
        assert case is not None
        authorize(
            uow,
            actor,
            Permission.EVIDENCE_RESTRICT,
            clock=clock,
            action="case:restrict",
            object_type="case",
            object_id=key,
            case=case,
        )
        if case.restriction is chosen:
            return case
        old = case.restriction
        case.restriction = chosen
        uow.cases.save(case)
        if chosen is not Restriction.NORMAL and uow.access.add_member(
            "case", key, actor.principal.id, by=actor.principal.id, when=clock.now()
        ):
            record(
                uow,
                actor,
                "case:add_member",
                "case",
                key,
                clock=clock,
                details={"user": actor.principal.name, "automatic": True},
            )
        record(
            uow,
            actor,
            "case:restrict",
            "case",
            key,
            clock=clock,
            reason=reason,
            details={"old": old.value, "new": chosen.value},
        )
        uow.commit()
        return counted(actor, case, uow)
