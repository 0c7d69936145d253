"""The access policy: every role against every permission, scope rules, and the list-query mirror."""

from __future__ import annotations

import itertools
import random

import pytest

from opendems.domain.access import (
    EvidenceAttrs,
    Permission,
    Principal,
    Role,
    Visibility,
    decide,
    visibility,
)
from opendems.domain.evidence import Restriction

P = Permission

# The policy as written in the access model, stated here independently of ROLE_PERMISSIONS.
EXPECTED: dict[Role, set[Permission]] = {
    Role.ADMINISTRATOR: set(Permission),
    Role.INVESTIGATOR: {
        P.EVIDENCE_CREATE,
        P.EVIDENCE_VIEW,
        P.EVIDENCE_DOWNLOAD,
        P.EVIDENCE_EDIT,
        P.EVIDENCE_VERIFY,
        P.CASE_VIEW,
        P.CASE_MANAGE,
        P.CUSTODY_READ,
    },
    Role.OFFICER: {
        P.EVIDENCE_CREATE,
        P.EVIDENCE_VIEW,
        P.EVIDENCE_DOWNLOAD,
        P.EVIDENCE_EDIT,
        P.CASE_VIEW,
        P.CUSTODY_READ,
    },
    Role.AUDITOR: {P.EVIDENCE_VIEW, P.EVIDENCE_VERIFY, P.CASE_VIEW, P.CUSTODY_READ, P.AUDIT_READ},
}

ME = 7
OTHER = 8
ROLE_PERMS = list(itertools.product(Role, Permission))


def who(role: Role, pid: int = ME) -> Principal:
    return Principal(id=pid, name=f"{role.value}-{pid}", role=role)


def item(created_by: int, restriction: Restriction = Restriction.NORMAL) -> EvidenceAttrs:
    return EvidenceAttrs(created_by=created_by, restriction=restriction, case_numbers=("C-1",))


def test_every_permission_is_known() -> None:
    assert {p.value for p in Permission} == {
        "evidence:create",
        "evidence:view",
        "evidence:download",
        "evidence:edit",
        "evidence:restrict",
        "evidence:verify",
        "case:view",
        "case:manage",
        "custody:read",
        "audit:read",
        "user:manage",
    }


@pytest.mark.parametrize(("role", "permission"), ROLE_PERMS)
def test_role_permission_without_an_item(role: Role, permission: Permission) -> None:
    d = decide(who(role), permission)
    assert d.allowed is (permission in EXPECTED[role])
    assert bool(d) is d.allowed
    assert d.visible  # without an item there is nothing to hide
    if not d.allowed:
        assert permission.value in d.reason


@pytest.mark.parametrize(("role", "permission"), ROLE_PERMS)
def test_role_permission_on_own_normal_item(role: Role, permission: Permission) -> None:
    d = decide(who(role), permission, item(ME))
    assert d.allowed is (permission in EXPECTED[role])
    assert d.visible


@pytest.mark.parametrize(("role", "permission"), ROLE_PERMS)
def test_role_permission_on_someone_elses_normal_item(role: Role, permission: Permission) -> None:
    d = decide(who(role), permission, item(OTHER))
    if role is Role.OFFICER:
        # An officer's scope is what it created: another officer's item does not exist for it.
        assert not d.allowed
        assert not d.visible
    else:
        assert d.allowed is (permission in EXPECTED[role])
        assert d.visible


def test_administrator_has_everything() -> None:
    admin = who(Role.ADMINISTRATOR)
    for permission in Permission:
        assert decide(admin, permission)
        assert decide(admin, permission, item(OTHER))
        assert decide(admin, permission, item(OTHER, Restriction.RESTRICTED))


@pytest.mark.parametrize("permission", [P.EVIDENCE_DOWNLOAD, P.EVIDENCE_EDIT, P.EVIDENCE_CREATE])
def test_auditor_never_touches_evidence_content(permission: Permission) -> None:
    auditor = who(Role.AUDITOR)
    assert not decide(auditor, permission)
    for target in (item(OTHER), item(ME)):
        d = decide(auditor, permission, target)
        assert not d.allowed
        assert d.visible  # the auditor may know the item exists, just not read it
    assert decide(auditor, P.EVIDENCE_VIEW, item(OTHER))
    assert decide(auditor, P.AUDIT_READ)


@pytest.mark.parametrize(
    "permission", [P.EVIDENCE_CREATE, P.EVIDENCE_VIEW, P.EVIDENCE_DOWNLOAD, P.EVIDENCE_EDIT]
)
def test_officer_acts_only_on_own_items(permission: Permission) -> None:
    officer = who(Role.OFFICER)
    assert decide(officer, permission, item(ME))
    d = decide(officer, permission, item(OTHER))
    assert (d.allowed, d.visible) == (False, False)
    # The same holds between two officers, whichever way round.
    assert decide(who(Role.OFFICER, OTHER), permission, item(OTHER))
    assert not decide(who(Role.OFFICER, OTHER), permission, item(ME)).visible


@pytest.mark.parametrize("role", [Role.INVESTIGATOR, Role.AUDITOR, Role.OFFICER])
def test_restricted_items_are_hidden_unless_created_by_the_principal(role: Role) -> None:
    p = who(role)
    for permission in Permission:
        d = decide(p, permission, item(OTHER, Restriction.RESTRICTED))
        assert (d.allowed, d.visible) == (False, False), permission
        own = decide(p, permission, item(ME, Restriction.RESTRICTED))
        assert own.visible
        assert own.allowed is (permission in EXPECTED[role])


def test_administrator_sees_restricted_items() -> None:
    d = decide(who(Role.ADMINISTRATOR), P.EVIDENCE_DOWNLOAD, item(OTHER, Restriction.RESTRICTED))
    assert d.allowed and d.visible


@pytest.mark.parametrize("role", list(Role))
def test_sealed_items_are_hidden_from_everyone_but_the_creator(role: Role) -> None:
    p = who(role)
    for permission in Permission:
        d = decide(p, permission, item(OTHER, Restriction.SEALED))
        assert (d.allowed, d.visible) == (False, False), (role, permission)
        own = decide(p, permission, item(ME, Restriction.SEALED))
        assert own.visible, (role, permission)
        assert own.allowed is (permission in EXPECTED[role])


def test_scope_denial_wins_over_missing_permission() -> None:
    """A principal that may not see the item learns nothing, not even a permission message."""
    d = decide(who(Role.AUDITOR), P.EVIDENCE_DOWNLOAD, item(OTHER, Restriction.SEALED))
    assert not d.visible
    assert "download" not in d.reason


def test_principal_permissions_follow_role() -> None:
    for role in Role:
        assert set(who(role).permissions) == EXPECTED[role]


# -- visibility(): the list-query form must agree with decide() ------------------------------


def visible_by_scope(scope: Visibility, attrs: EvidenceAttrs) -> bool:
    """How the repository turns a Visibility into a WHERE clause (evidence_repo._filtered)."""
    if not scope.everything:
        return attrs.created_by == scope.created_by
    if scope.hidden_restrictions:
        return attrs.restriction not in scope.hidden_restrictions or attrs.created_by == scope.created_by
    return True


def generated_items(seed: int, count: int) -> list[EvidenceAttrs]:
    rng = random.Random(seed)
    creators = [1, 2, 3, ME, OTHER, 99]
    exhaustive = [EvidenceAttrs(c, r) for c in creators for r in Restriction]
    randoms = [
        EvidenceAttrs(
            created_by=rng.choice(creators),
            restriction=rng.choice(list(Restriction)),
            case_numbers=tuple(rng.sample(["A-1", "B-2", "C-3"], rng.randint(0, 2))),
        )
        for _ in range(count)
    ]
    return exhaustive + randoms


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("pid", [1, ME, 99])
def test_visibility_mirrors_decide(role: Role, pid: int) -> None:
    p = who(role, pid)
    scope = visibility(p)
    items = generated_items(seed=pid * 31 + len(role.value), count=60)
    seen = 0
    for attrs in items:
        expected = decide(p, P.EVIDENCE_VIEW, attrs).visible
        assert visible_by_scope(scope, attrs) is expected, (role, pid, attrs)
        seen += expected
    assert 0 < seen < len(items)  # the generated set exercises both answers


def test_visibility_shapes() -> None:
    officer = visibility(who(Role.OFFICER))
    assert (officer.everything, officer.created_by) == (False, ME)
    admin = visibility(who(Role.ADMINISTRATOR))
    assert admin.everything and admin.hidden_restrictions == {Restriction.SEALED}
    for role in (Role.INVESTIGATOR, Role.AUDITOR):
        scope = visibility(who(role))
        assert scope.everything
        assert scope.hidden_restrictions == {Restriction.SEALED, Restriction.RESTRICTED}
        assert scope.created_by == ME
