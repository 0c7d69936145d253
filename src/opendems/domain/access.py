"""The access policy: the one function that decides whether a principal may act.

Every service asks ``decide`` before it touches anything; nothing reaches evidence around
it. Where knowing that an object exists would itself leak, the services turn a denial of
visibility into "not found".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from opendems.domain.evidence import Restriction


class Role(StrEnum):
    ADMINISTRATOR = "administrator"
    OFFICER = "officer"
    INVESTIGATOR = "investigator"
    AUDITOR = "auditor"


class Permission(StrEnum):
    EVIDENCE_CREATE = "evidence:create"
    EVIDENCE_VIEW = "evidence:view"
    EVIDENCE_DOWNLOAD = "evidence:download"
    EVIDENCE_EDIT = "evidence:edit"
    EVIDENCE_RESTRICT = "evidence:restrict"  # change an item's restriction level
    EVIDENCE_VERIFY = "evidence:verify"
    CASE_VIEW = "case:view"
    CASE_MANAGE = "case:manage"
    CUSTODY_READ = "custody:read"
    AUDIT_READ = "audit:read"
    USER_MANAGE = "user:manage"


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMINISTRATOR: frozenset(Permission),
    Role.INVESTIGATOR: frozenset(
        {
            Permission.EVIDENCE_CREATE,
            Permission.EVIDENCE_VIEW,
            Permission.EVIDENCE_DOWNLOAD,
            Permission.EVIDENCE_EDIT,
            Permission.EVIDENCE_VERIFY,
            Permission.CASE_VIEW,
            Permission.CASE_MANAGE,
            Permission.CUSTODY_READ,
        }
    ),
    Role.OFFICER: frozenset(
        {
            Permission.EVIDENCE_CREATE,
            Permission.EVIDENCE_VIEW,
            Permission.EVIDENCE_DOWNLOAD,
            Permission.EVIDENCE_EDIT,
            Permission.CASE_VIEW,
            Permission.CUSTODY_READ,
        }
    ),
    # Auditors read the trail and see that items exist; they never read evidence content.
    Role.AUDITOR: frozenset(
        {
            Permission.EVIDENCE_VIEW,
            Permission.EVIDENCE_VERIFY,
            Permission.CASE_VIEW,
            Permission.CUSTODY_READ,
            Permission.AUDIT_READ,
        }
    ),
}


@dataclass(frozen=True)
class Principal:
    """Who is acting: a user, through a session, a token or the local command line."""

    id: int
    name: str
    role: Role
    via: str = "token"  # token | cli | session

    @property
    def permissions(self) -> frozenset[Permission]:
        return ROLE_PERMISSIONS[self.role]


@dataclass(frozen=True)
class EvidenceAttrs:
    """What the policy needs to know about an evidence item."""

    created_by: int
    restriction: Restriction = Restriction.NORMAL
    case_numbers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Decision:
    allowed: bool
    visible: bool  # False: answer as if the object did not exist
    reason: str

    def __bool__(self) -> bool:
        return self.allowed


@dataclass(frozen=True)
class Visibility:
    """Which evidence a principal may see, for list queries (mirrors ``decide``)."""

    everything: bool = False
    created_by: int | None = None
    hidden_restrictions: frozenset[Restriction] = field(default_factory=frozenset)


def _sees(principal: Principal, item: EvidenceAttrs) -> bool:
    if item.restriction is Restriction.SEALED:
        # Sealed items are reserved for named users (access model grows in its own issue);
        # until then only the creator sees them.
        return item.created_by == principal.id
    if principal.role is Role.OFFICER:
        return item.created_by == principal.id
    if item.restriction is Restriction.RESTRICTED:
        return item.created_by == principal.id or principal.role is Role.ADMINISTRATOR
    return True


def decide(principal: Principal, permission: Permission, item: EvidenceAttrs | None = None) -> Decision:
    """May ``principal`` exercise ``permission`` (on ``item``, when it concerns one)?"""
    if item is not None and not _sees(principal, item):
        return Decision(False, False, "the item is outside the principal's scope")
    if permission not in principal.permissions:
        return Decision(False, True, f"role {principal.role.value} lacks permission {permission.value}")
    return Decision(True, True, "allowed")


def visibility(principal: Principal) -> Visibility:
    """The list-query form of ``_sees``: what ``decide`` would let this principal see."""
    if principal.role is Role.OFFICER:
        return Visibility(created_by=principal.id)
    hidden = {Restriction.SEALED}
    if principal.role is not Role.ADMINISTRATOR:
        hidden.add(Restriction.RESTRICTED)
    return Visibility(everything=True, created_by=principal.id, hidden_restrictions=frozenset(hidden))
