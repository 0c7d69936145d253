"""The access policy on its own: default roles, scope, restriction levels, named members."""

from __future__ import annotations

import itertools

import pytest

from opendems.domain.access import (
    ADMIN_CORE,
    DEFAULT_ROLES,
    ObjectAttrs,
    Permission,
    Principal,
    Role,
    check_permissions,
    decide,
    sees,
    visibility,
)
from opendems.domain.errors import Invalid
from opendems.domain.evidence import Restriction

P = Permission
R = Restriction
ME, OTHER = 7, 8

# Who sees what by default, stated independently of the policy's code. Keys: role ->
# {(relation, level): visible}. Relations: own (uploaded it), unit (same unit), other,
# named (on the member list).
LEVELS = (R.NORMAL, R.RESTRICTED, R.SEALED)
RELATIONS = ("own", "unit", "other", "named")


def expected_visible(role: Role, relation: str, level: Restriction) -> bool:
    if relation == "named":
        return True
    sealed_all = role in {Role.INTERNAL_AFFAIRS, Role.SYSTEM}
    restricted_all = role in {Role.CUSTODIAN, Role.INTERNAL_AFFAIRS, Role.SYSTEM}
    agency = role in {Role.ADMINISTRATOR, Role.CUSTODIAN, Role.INTERNAL_AFFAIRS, Role.AUDITOR, Role.SYSTEM}
    if level is R.SEALED:
        return sealed_all
    if level is R.RESTRICTED:
        return relation == "own" or restricted_all
    if relation == "own" or agency:
        return True
    return relation == "unit" and role is Role.SUPERVISOR


def principal(role: Role) -> Principal:
    return Principal(id=ME, name="me", role=role, permissions=DEFAULT_ROLES[role][1], unit="patrol-north")


def obj(relation: str, level: Restriction) -> ObjectAttrs:
    return ObjectAttrs(
        owners=frozenset({ME if relation == "own" else OTHER}),
        unit="patrol-north" if relation == "unit" else "traffic",
        restriction=level,
        members=frozenset({ME} if relation == "named" else {OTHER}),
    )


@pytest.mark.parametrize(("role", "relation", "level"), list(itertools.product(Role, RELATIONS, LEVELS)))
def test_scope_matrix(role: Role, relation: str, level: Restriction) -> None:
    p = principal(role)
    assert sees(p, obj(relation, level)) is expected_visible(role, relation, level)
    decision = decide(p, P.EVIDENCE_VIEW, obj(relation, level))
    if not expected_visible(role, relation, level):
        assert not decision.allowed and not decision.visible  # answered as "not found"


@pytest.mark.parametrize(("role", "permission"), list(itertools.product(Role, Permission)))
def test_permission_follows_the_role(role: Role, permission: Permission) -> None:
    p = principal(role)
    target = obj("named", R.NORMAL)
    decision = decide(p, permission, target)
    assert decision.allowed is (permission in DEFAULT_ROLES[role][1])
    assert decision.visible  # a missing permission on a visible object is a 403, not a 404


def test_default_roles_as_the_access_model_states() -> None:
    perms = {role: DEFAULT_ROLES[role][1] for role in Role}
    # Auditors read the trail but never evidence content.
    assert P.AUDIT_READ in perms[Role.AUDITOR] and P.EVIDENCE_DOWNLOAD not in perms[Role.AUDITOR]
    # Administrators manage users; evidence content needs a permission they do not hold by default.
    assert perms[Role.ADMINISTRATOR] >= ADMIN_CORE
    assert not {P.EVIDENCE_DOWNLOAD, P.EVIDENCE_EDIT, P.ACCESS_SEALED} & perms[Role.ADMINISTRATOR]
    # Only internal affairs sees sealed material without being named.
    assert [r for r in Role if P.ACCESS_SEALED in perms[r] and r is not Role.SYSTEM] == [
        Role.INTERNAL_AFFAIRS
    ]
    # Prosecutors view and download what they are named on; they change nothing.
    assert perms[Role.PROSECUTOR] == {
        P.EVIDENCE_VIEW,
        P.EVIDENCE_PLAY,
        P.EVIDENCE_DOWNLOAD,
        P.CASE_VIEW,
        P.CUSTODY_READ,
    }
    assert P.EVIDENCE_PLAY not in perms[Role.AUDITOR] and P.EVIDENCE_PLAY not in perms[Role.ADMINISTRATOR]
    assert P.SCOPE_UNIT in perms[Role.SUPERVISOR] and P.SCOPE_AGENCY not in perms[Role.SUPERVISOR]
    assert P.SCOPE_AGENCY in perms[Role.CUSTODIAN] and P.ACCESS_SEALED not in perms[Role.CUSTODIAN]
    assert P.SHARE_CREATE in perms[Role.INVESTIGATOR]


def test_supervisor_without_a_unit_sees_no_unit() -> None:
    p = Principal(
        id=ME, name="s", role="supervisor", permissions=DEFAULT_ROLES[Role.SUPERVISOR][1], unit=None
    )
    assert not sees(p, ObjectAttrs(owners=frozenset({OTHER}), unit=None))
    assert not visibility(p).unit_scope


def test_token_scopes_cut_permissions_only() -> None:
    full = principal(Role.INVESTIGATOR)
    narrow = Principal(id=ME, name="me", role="investigator", permissions=frozenset({P.EVIDENCE_VIEW}))
    target = obj("own", R.NORMAL)
    assert decide(full, P.EVIDENCE_DOWNLOAD, target).allowed
    d = decide(narrow, P.EVIDENCE_DOWNLOAD, target)
    assert not d.allowed and d.visible


def test_privileged_means_account_management() -> None:
    assert principal(Role.ADMINISTRATOR).privileged
    assert not principal(Role.CUSTODIAN).privileged


def test_check_permissions_names_the_unknown_one() -> None:
    assert check_permissions(["evidence:view"]) == {P.EVIDENCE_VIEW}
    with pytest.raises(Invalid, match="evidence:fly"):
        check_permissions(["evidence:view", "evidence:fly"])
