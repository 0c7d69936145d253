"""User accounts and API tokens as the rest of the system sees them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from opendems.domain.access import Permission
from opendems.domain.errors import Invalid

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 1024


@dataclass
class UserRecord:
    id: int
    username: str
    display_name: str
    role: str
    password_hash: str | None
    must_change_password: bool
    is_builtin: bool
    status: str  # active | disabled
    created_at: datetime
    unit: str | None = None
    email: str | None = None
    auth_source: str = "local"  # local | oidc
    external_subject: str | None = None
    password_changed_at: datetime | None = None
    mfa_secret: str | None = None
    mfa_enrolled_at: datetime | None = None
    mfa_last_step: int | None = None
    failed_logins: int = 0
    first_failed_at: datetime | None = None
    locked_at: datetime | None = None
    last_login_at: datetime | None = None
    expires_at: datetime | None = None
    disabled_reason: str | None = None

    @property
    def active(self) -> bool:
        return self.status == "active"


@dataclass
class RoleRecord:
    name: str
    description: str
    permissions: frozenset[Permission]
    builtin: bool
    updated_at: datetime


@dataclass
class SessionRecord:
    id: str
    user_id: int
    csrf_token: str
    stage: str  # password (MFA still owed) | mfa_enrol | active
    created_at: datetime
    authenticated_at: datetime
    last_seen_at: datetime
    client_address: str | None
    user_agent: str | None
    ended_at: datetime | None
    end_reason: str | None


@dataclass
class TokenRecord:
    id: int
    user_id: int
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    scopes: list[str] | None = None


def check_username(value: str) -> str:
    name = value.strip().lower()
    if not USERNAME_RE.match(name):
        raise Invalid(
            f"{value!r} is not a valid user name (2-64 lower-case letters, digits, '.', '_' or '-')"
        )
    return name


def check_password(password: str) -> str:
    # Length only, no composition rules and no truncation (SECURITY-CONTROLS IA).
    if len(password) < MIN_PASSWORD_CHARS:
        raise Invalid(f"a password needs at least {MIN_PASSWORD_CHARS} characters")
    if len(password) > MAX_PASSWORD_CHARS:
        raise Invalid(f"a password may have at most {MAX_PASSWORD_CHARS} characters")
    return password


ROLE_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{1,31}$")
UNIT_RE = re.compile(r"^[\w][\w .:/#-]{0,99}$")


def check_role_name(value: str) -> str:
    name = value.strip().lower()
    if not ROLE_NAME_RE.match(name):
        raise Invalid(f"{value!r} is not a valid role name (2-32 lower-case letters, digits or '_')")
    return name


def check_unit(value: str | None) -> str | None:
    text = (value or "").strip()
    if not text:
        return None
    if not UNIT_RE.match(text):
        raise Invalid(f"{value!r} is not a valid unit name (up to 100 letters, digits, spaces, '.:/#-')")
    return text
