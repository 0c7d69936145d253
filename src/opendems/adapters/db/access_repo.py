"""Named members of cases and items, and the policy's scope rule as SQL for list queries.

``evidence_visible`` and ``case_visible`` must say exactly what ``domain.access.sees`` says
for every object; a test compares the two on every combination it can build.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, Connection, and_, delete, exists, false, func, insert, or_, select, true

from opendems.adapters.db.tables import case_evidence, cases, evidence, memberships, users
from opendems.domain.access import ObjectAttrs, Visibility
from opendems.domain.cases import Case
from opendems.domain.evidence import EvidenceItem, Restriction

_RANK = {Restriction.NORMAL: 0, Restriction.RESTRICTED: 1, Restriction.SEALED: 2}


def _member_of(object_type: str, object_id: ColumnElement[str], user_id: int) -> ColumnElement[bool]:
    return exists().where(
        memberships.c.object_type == object_type,
        memberships.c.object_id == object_id,
        memberships.c.user_id == user_id,
    )


def _scoped(
    scope: Visibility,
    *,
    named: ColumnElement[bool],
    owner: ColumnElement[bool],
    unit: ColumnElement[str | None],
    sealed: ColumnElement[bool],
    restricted: ColumnElement[bool],
) -> ColumnElement[bool]:
    normal_ok = or_(
        named,
        owner,
        true() if scope.agency else false(),
        (unit == scope.unit) if scope.unit_scope and scope.unit else false(),
    )
    restricted_ok = or_(named, owner, true() if scope.restricted_all else false())
    sealed_ok = or_(named, true() if scope.sealed_all else false())
    return or_(
        and_(sealed, sealed_ok),
        and_(~sealed, restricted, restricted_ok),
        and_(~sealed, ~restricted, normal_ok),
    )


def _in_case_with(evidence_id: ColumnElement[str], condition: ColumnElement[bool]) -> ColumnElement[bool]:
    return exists().where(
        case_evidence.c.evidence_id == evidence_id,
        case_evidence.c.case_number == cases.c.number,
        condition,
    )


def _member_of_case_at(evidence_id: ColumnElement[str], level: str, user_id: int) -> ColumnElement[bool]:
    """The user is named on a case at ``level`` that holds the item."""
    return exists().where(
        case_evidence.c.evidence_id == evidence_id,
        cases.c.number == case_evidence.c.case_number,
        cases.c.restriction == level,
        memberships.c.object_type == "case",
        memberships.c.object_id == case_evidence.c.case_number,
        memberships.c.user_id == user_id,
    )


def evidence_sealed() -> ColumnElement[bool]:
    """The item is sealed, on its own or through a sealed case holding it."""
    return or_(
        evidence.c.restriction == "sealed", _in_case_with(evidence.c.id, cases.c.restriction == "sealed")
    )


def evidence_visible(scope: Visibility) -> ColumnElement[bool]:
    """A WHERE clause on ``evidence`` true exactly for the items ``sees`` lets through.

    Named on an item: its own members, plus the members of the cases whose level is the
    item's effective (strictest) level -- unless the item itself is restricted or sealed at
    that level, when only its own members count. So a sealed case's members see its items,
    and nobody reaches them through some other, normal case.
    """
    eid = evidence.c.id
    me = scope.user_id
    sealed = evidence_sealed()
    restricted = or_(
        evidence.c.restriction == "restricted", _in_case_with(eid, cases.c.restriction == "restricted")
    )
    through_case = or_(
        and_(sealed, evidence.c.restriction != "sealed", _member_of_case_at(eid, "sealed", me)),
        and_(
            ~sealed,
            restricted,
            evidence.c.restriction != "restricted",
            _member_of_case_at(eid, "restricted", me),
        ),
        and_(~sealed, ~restricted, _member_of_case_at(eid, "normal", me)),
    )
    named = or_(_member_of("evidence", eid, me), through_case)
    owner = or_(evidence.c.created_by == me, func.lower(evidence.c.captured_by) == scope.username)
    return _scoped(
        scope, named=named, owner=owner, unit=evidence.c.unit, sealed=sealed, restricted=restricted
    )


def case_visible(scope: Visibility) -> ColumnElement[bool]:
    """A WHERE clause on ``cases`` true exactly for the cases ``sees`` lets through."""
    return _scoped(
        scope,
        named=_member_of("case", cases.c.number, scope.user_id),
        owner=cases.c.created_by == scope.user_id,
        unit=cases.c.unit,
        sealed=cases.c.restriction == "sealed",
        restricted=cases.c.restriction == "restricted",
    )


class AccessRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def members(self, object_type: str, object_id: str) -> list[tuple[int, str]]:
        """(user id, user name) of everyone named on the object."""
        query = (
            select(users.c.id, users.c.username)
            .join(memberships, memberships.c.user_id == users.c.id)
            .where(memberships.c.object_type == object_type, memberships.c.object_id == object_id)
            .order_by(users.c.username)
        )
        return [(r.id, r.username) for r in self._conn.execute(query)]

    def add_member(self, object_type: str, object_id: str, user_id: int, *, by: int, when: datetime) -> bool:
        if any(uid == user_id for uid, _ in self.members(object_type, object_id)):
            return False
        self._conn.execute(
            insert(memberships).values(
                object_type=object_type, object_id=object_id, user_id=user_id, added_by=by, added_at=when
            )
        )
        return True

    def remove_member(self, object_type: str, object_id: str, user_id: int) -> bool:
        result = self._conn.execute(
            delete(memberships).where(
                memberships.c.object_type == object_type,
                memberships.c.object_id == object_id,
                memberships.c.user_id == user_id,
            )
        )
        return bool(result.rowcount)

    def _ids(self, object_type: str, object_ids: list[str]) -> frozenset[int]:
        if not object_ids:
            return frozenset()
        query = select(memberships.c.user_id).where(
            memberships.c.object_type == object_type, memberships.c.object_id.in_(object_ids)
        )
        return frozenset(r.user_id for r in self._conn.execute(query))

    def case_attrs(self, case: Case) -> ObjectAttrs:
        return ObjectAttrs(
            owners=frozenset({case.created_by}),
            unit=case.unit,
            restriction=case.restriction,
            members=self._ids("case", [case.number]),
            key=f"case:{case.number}",
        )

    def evidence_attrs(self, item: EvidenceItem) -> ObjectAttrs:
        """See ``evidence_visible`` for which case members count as named on the item."""
        owners = {item.created_by}
        if item.captured_by:
            query = select(users.c.id).where(users.c.username == item.captured_by.strip().lower())
            row = self._conn.execute(query).first()
            if row is not None:
                owners.add(int(row.id))
        levels: dict[str, Restriction] = {}
        if item.case_numbers:
            query = select(cases.c.number, cases.c.restriction).where(cases.c.number.in_(item.case_numbers))
            levels = {r.number: Restriction(r.restriction) for r in self._conn.execute(query)}
        strictest = max([item.restriction, *levels.values()], key=_RANK.__getitem__)
        members = self._ids("evidence", [item.id])
        if item.restriction is not strictest or strictest is Restriction.NORMAL:
            members |= self._ids("case", [n for n, level in levels.items() if level is strictest])
        return ObjectAttrs(
            owners=frozenset(owners),
            unit=item.unit,
            restriction=strictest,
            members=members,
            key=f"evidence:{item.id}",
        )
