"""Evidence categories: listing, creating, changing and deactivating them (each change is in
the audit trail), and checking the category an item is filed under."""

from __future__ import annotations

from typing import Any

from opendems.domain.access import Permission
from opendems.domain.categories import (
    Category,
    check_category_name,
    check_description,
    check_retention,
    name_key,
    resolve,
)
from opendems.domain.errors import Conflict, Invalid, NotFound
from opendems.ports import Clock, UnitOfWork
from opendems.services.context import Actor
from opendems.services.custody import authorize, record

CHANGEABLE = ("name", "description", "retention_days", "active")


def list_categories(
    actor: Actor, *, include_inactive: bool = True, manage: bool = False, uow: UnitOfWork, clock: Clock
) -> list[Category]:
    """The agency's categories, by name. Whoever sees evidence (or manages the list) may read
    it; ``manage`` asks for the management view, which needs ``category:manage``."""
    with uow:
        if manage or Permission.CATEGORY_MANAGE not in actor.principal.permissions:
            authorize(
                uow,
                actor,
                Permission.CATEGORY_MANAGE if manage else Permission.EVIDENCE_VIEW,
                clock=clock,
                action="category:list",
                object_type="category",
                object_id="*",
            )
        return uow.categories.all(active_only=not include_inactive)


def _authorized(uow: UnitOfWork, actor: Actor, action: str, ref: int | str, clock: Clock) -> None:
    authorize(
        uow,
        actor,
        Permission.CATEGORY_MANAGE,
        clock=clock,
        action=action,
        object_type="category",
        object_id=str(ref)[:100],
    )


def _lookup(uow: UnitOfWork, ref: int | str) -> Category:
    found = uow.categories.get(ref) if isinstance(ref, int) else uow.categories.by_name(ref)
    if found is None:
        raise NotFound(f"no category {ref!r}" if isinstance(ref, str) else f"no category {ref}")
    return found


def get_category(actor: Actor, ref: int | str, *, uow: UnitOfWork, clock: Clock) -> Category:
    """One category, for managing it."""
    with uow:
        _authorized(uow, actor, "category:view", ref, clock)
        return _lookup(uow, ref)


def create_category(
    actor: Actor,
    name: str,
    *,
    description: str | None = "",
    retention_days: int | str | None = None,
    uow: UnitOfWork,
    clock: Clock,
) -> Category:
    clean = check_category_name(name)
    text = check_description(description)
    days = check_retention(retention_days)
    with uow:
        _authorized(uow, actor, "category:create", clean, clock)
        if uow.categories.by_name(clean) is not None:
            raise Conflict(f"a category named {clean!r} already exists")
        new_id = uow.categories.add(clean, text, days, by=actor.principal.id, when=clock.now())
        created = _lookup(uow, new_id)
        record(
            uow,
            actor,
            "category:create",
            "category",
            clean,
            clock=clock,
            details={"category_id": new_id, **created.as_details()},
        )
        uow.commit()
        return created


def update_category(
    actor: Actor,
    ref: int | str,
    changes: dict[str, Any],
    *,
    reason: str | None = None,
    uow: UnitOfWork,
    clock: Clock,
) -> Category:
    """Rename, describe, set the retention period, or (de)activate. The audit event carries
    every old and new value; deactivating or reactivating is an action of its own."""
    unknown = set(changes) - set(CHANGEABLE)
    if unknown:
        raise Invalid(f"cannot change {', '.join(sorted(unknown))}; changeable: {', '.join(CHANGEABLE)}")
    clean: dict[str, Any] = {}
    for field, value in changes.items():
        if field == "name":
            clean["name"] = check_category_name(value)
        elif field == "description":
            clean["description"] = check_description(value)
        elif field == "retention_days":
            clean["retention_days"] = check_retention(value)
        elif field == "active":
            if not isinstance(value, bool):
                raise Invalid("active must be true or false")
            clean["active"] = value
    with uow:
        _authorized(uow, actor, "category:change", ref, clock)
        current = _lookup(uow, ref)
        renamed = "name" in clean and name_key(clean["name"]) != name_key(current.name)
        if renamed and uow.categories.by_name(clean["name"]) is not None:
            raise Conflict(f"a category named {clean['name']!r} already exists")
        diff = {
            k: {"old": getattr(current, k), "new": v} for k, v in clean.items() if getattr(current, k) != v
        }
        if not diff:
            return current
        uow.categories.update(
            current.id, {k: clean[k] for k in diff}, by=actor.principal.id, when=clock.now()
        )
        action = "category:change"
        if set(diff) == {"active"}:
            action = "category:activate" if clean["active"] else "category:deactivate"
        record(
            uow,
            actor,
            action,
            "category",
            current.name,
            clock=clock,
            reason=(reason or "").strip() or None,
            details={"category_id": current.id, "changes": diff},
        )
        uow.commit()
        return _lookup(uow, current.id)


def deactivate_category(
    actor: Actor, ref: int | str, *, reason: str | None = None, uow: UnitOfWork, clock: Clock
) -> Category:
    """No new evidence may be filed under it; items already filed keep it."""
    return update_category(actor, ref, {"active": False}, reason=reason, uow=uow, clock=clock)


def category_for(uow: UnitOfWork, value: str | None) -> str | None:
    """Inside an open unit of work: the category an item may be filed under (see
    :func:`opendems.domain.categories.resolve`)."""
    if value is None:
        return None
    return resolve(value, uow.categories.all(active_only=True))
