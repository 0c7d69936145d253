"""The access policy: the one function that decides whether a principal may act.

Every service asks ``decide`` before it touches anything; nothing reaches evidence around
it. Where knowing that an object exists would itself leak, the services turn a denial of
visibility into "not found".

Two questions make up every decision:

* **scope** -- may this principal see the object at all? Owners (who uploaded or captured
  it) and named members see it; ``scope:unit`` widens that to the principal's unit and
  ``scope:agency`` to the whole agency. Restriction levels narrow it again: *restricted*
  objects are for owners, named members and ``access:restricted``; *sealed* objects are
  for named members and ``access:sealed`` (internal affairs) only -- not even their
  uploader or an administrator sees them otherwise.
* **permission** -- does the principal's role (cut down by an API token's scopes) carry the
  named action?

Roles are data (administrators edit them); the defaults below seed them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from opendems.domain.evidence import Restriction


class Permission(StrEnum):
    EVIDENCE_CREATE = "evidence:create"
    EVIDENCE_VIEW = "evidence:view"
    EVIDENCE_DOWNLOAD = "evidence:download"
    EVIDENCE_PLAY = "evidence:play"  # watch, hear or see derivatives (proxies, previews) in the browser
    EVIDENCE_EDIT = "evidence:edit"
    EVIDENCE_RESTRICT = "evidence:restrict"  # change restriction levels and named members
    EVIDENCE_VERIFY = "evidence:verify"
    CASE_VIEW = "case:view"
    CASE_MANAGE = "case:manage"
    SHARE_CREATE = "share:create"
    CUSTODY_READ = "custody:read"
    AUDIT_READ = "audit:read"
    USER_MANAGE = "user:manage"
    ROLE_MANAGE = "role:manage"
    SCOPE_UNIT = "scope:unit"  # see the principal's unit's evidence and cases
    SCOPE_AGENCY = "scope:agency"  # see the whole agency's (normal) evidence and cases
    ACCESS_RESTRICTED = "access:restricted"  # see restricted objects without being named
    ACCESS_SEALED = "access:sealed"  # see sealed objects without being named
    CATEGORY_MANAGE = "category:manage"  # the agency's list of evidence categories


class Role(StrEnum):
    """The roles every agency starts with. Administrators may edit them and add others."""

    ADMINISTRATOR = "administrator"
    CUSTODIAN = "evidence_custodian"
    SUPERVISOR = "supervisor"
    OFFICER = "officer"
    INVESTIGATOR = "investigator"
    INTERNAL_AFFAIRS = "internal_affairs"
    PROSECUTOR = "prosecutor"
    AUDITOR = "auditor"
    SYSTEM = "system"  # the local command line: whoever holds the server's shell and keys


P = Permission
_WORK = {
    P.EVIDENCE_CREATE,
    P.EVIDENCE_VIEW,
    P.EVIDENCE_PLAY,
    P.EVIDENCE_DOWNLOAD,
    P.EVIDENCE_EDIT,
    P.CASE_VIEW,
    P.CUSTODY_READ,
}

DEFAULT_ROLES: dict[str, tuple[str, frozenset[Permission]]] = {
    Role.ADMINISTRATOR: (
        "Manages users, roles and settings; reads evidence only through an evidence permission, "
        "and every such read is recorded as a privileged action.",
        frozenset(
            {
                P.USER_MANAGE,
                P.ROLE_MANAGE,
                P.CATEGORY_MANAGE,
                P.AUDIT_READ,
                P.CUSTODY_READ,
                P.CASE_VIEW,
                P.SCOPE_AGENCY,
            }
        ),
    ),
    Role.CUSTODIAN: (
        "Evidence custodian: holds and verifies everything that is not sealed.",
        frozenset(
            _WORK
            | {
                P.EVIDENCE_RESTRICT,
                P.EVIDENCE_VERIFY,
                P.CASE_MANAGE,
                P.SHARE_CREATE,
                P.SCOPE_AGENCY,
                P.ACCESS_RESTRICTED,
                P.CATEGORY_MANAGE,
            }
        ),
    ),
    Role.SUPERVISOR: (
        "Sees and manages the evidence and cases of their unit.",
        frozenset(_WORK | {P.EVIDENCE_RESTRICT, P.EVIDENCE_VERIFY, P.CASE_MANAGE, P.SCOPE_UNIT}),
    ),
    Role.OFFICER: (
        "Sees what they captured or uploaded and the cases they are a member of.",
        frozenset(_WORK),
    ),
    Role.INVESTIGATOR: (
        "Works the cases they are a member of; shares with prosecutors.",
        frozenset(_WORK | {P.EVIDENCE_VERIFY, P.CASE_MANAGE, P.SHARE_CREATE}),
    ),
    Role.INTERNAL_AFFAIRS: (
        "Internal-affairs investigator: sees sealed and restricted material.",
        frozenset(
            _WORK
            | {
                P.EVIDENCE_RESTRICT,
                P.EVIDENCE_VERIFY,
                P.CASE_MANAGE,
                P.SCOPE_AGENCY,
                P.ACCESS_RESTRICTED,
                P.ACCESS_SEALED,
            }
        ),
    ),
    Role.PROSECUTOR: (
        "External prosecutor: views and downloads the evidence of cases they are named on.",
        frozenset({P.EVIDENCE_VIEW, P.EVIDENCE_PLAY, P.EVIDENCE_DOWNLOAD, P.CASE_VIEW, P.CUSTODY_READ}),
    ),
    Role.AUDITOR: (
        "Reads the audit trail and evidence records, never evidence content.",
        frozenset(
            {P.AUDIT_READ, P.CUSTODY_READ, P.EVIDENCE_VIEW, P.EVIDENCE_VERIFY, P.CASE_VIEW, P.SCOPE_AGENCY}
        ),
    ),
    Role.SYSTEM: ("The local command line on the server.", frozenset(Permission)),
}

# Permissions that make an account privileged: everything it does is marked as such.
PRIVILEGED = frozenset({P.USER_MANAGE, P.ROLE_MANAGE})
# Never removable from the administrator role: without them nobody could repair the roles.
ADMIN_CORE = frozenset({P.USER_MANAGE, P.ROLE_MANAGE})


def check_permissions(values: list[str] | tuple[str, ...] | set[str]) -> frozenset[Permission]:
    from opendems.domain.errors import Invalid

    chosen: set[Permission] = set()
    for value in values:
        try:
            chosen.add(Permission(value))
        except ValueError:
            raise Invalid(
                f"unknown permission {value!r}; permissions: {', '.join(p.value for p in Permission)}"
            ) from None
    return frozenset(chosen)


@dataclass(frozen=True)
class Principal:
    """Who is acting: a user through a session, a token or the local command line."""

    id: int
    name: str
    role: str
    permissions: frozenset[Permission]
    unit: str | None = None
    via: str = "token"  # token | cli | session | share
    # Through a share, the principal reaches exactly these objects ("evidence:EV-2026-000001",
    # "export:EX-2026-000001") and nothing else, whatever its account could see otherwise.
    shared: frozenset[str] = frozenset()

    @property
    def privileged(self) -> bool:
        return bool(self.permissions & PRIVILEGED)


@dataclass(frozen=True)
class ObjectAttrs:
    """What the policy needs to know about an evidence item or a case.

    For an item, ``restriction`` is the strictest of its own level and its cases' levels.
    ``members`` holds the users named on the item, plus the members of the cases at that
    strictest level -- unless the item itself is restricted or sealed at that level, when
    only the people named on the item count. So a case's members work its evidence, a
    sealed case's items are reached only through the sealed case, and an item restricted
    on its own stays with the people named on it.
    """

    owners: frozenset[int] = frozenset()  # uploaded or captured it / opened the case
    unit: str | None = None
    restriction: Restriction = Restriction.NORMAL
    members: frozenset[int] = frozenset()
    key: str | None = None  # "evidence:EV-2026-000001": what a share names


@dataclass(frozen=True)
class Decision:
    allowed: bool
    visible: bool  # False: answer as if the object did not exist
    reason: str

    def __bool__(self) -> bool:
        return self.allowed


def sees(principal: Principal, obj: ObjectAttrs) -> bool:
    """Is ``obj`` inside the principal's scope?"""
    if principal.via == "share":
        return obj.key is not None and obj.key in principal.shared
    perms = principal.permissions
    named = principal.id in obj.members
    if obj.restriction is Restriction.SEALED:
        return named or Permission.ACCESS_SEALED in perms
    owner = principal.id in obj.owners
    if obj.restriction is Restriction.RESTRICTED:
        return named or owner or Permission.ACCESS_RESTRICTED in perms
    if named or owner or Permission.SCOPE_AGENCY in perms:
        return True
    return Permission.SCOPE_UNIT in perms and principal.unit is not None and principal.unit == obj.unit


def decide(principal: Principal, permission: Permission, obj: ObjectAttrs | None = None) -> Decision:
    """May ``principal`` exercise ``permission`` (on ``obj``, when it concerns one)?"""
    if obj is not None and not sees(principal, obj):
        return Decision(False, False, "the object is outside the principal's scope")
    if permission not in principal.permissions:
        return Decision(False, True, f"role {principal.role} lacks permission {permission.value}")
    return Decision(True, True, "allowed")


@dataclass(frozen=True)
class Visibility:
    """``sees`` in the form a list query needs (the repositories turn it into SQL)."""

    user_id: int
    username: str
    unit: str | None = None
    agency: bool = False
    unit_scope: bool = False
    restricted_all: bool = False
    sealed_all: bool = False


def visibility(principal: Principal) -> Visibility:
    if principal.via == "share":  # a share is reached object by object, never listed
        return Visibility(user_id=-1, username="")
    perms = principal.permissions
    return Visibility(
        user_id=principal.id,
        username=principal.name,
        unit=principal.unit,
        agency=Permission.SCOPE_AGENCY in perms,
        unit_scope=Permission.SCOPE_UNIT in perms and principal.unit is not None,
        restricted_all=Permission.ACCESS_RESTRICTED in perms,
        sealed_all=Permission.ACCESS_SEALED in perms,
    )
