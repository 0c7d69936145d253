"""User accounts and API tokens as the rest of the system sees them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from opendems.domain.access import Role
from opendems.domain.errors import Invalid

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 1024


@dataclass
class UserRecord:
    id: int
    username: str
    display_name: str
    role: Role
    password_hash: str | None
    must_change_password: bool
    is_builtin: bool
    status: str
    created_at: datetime


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


def check_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise Invalid(f"unknown role {value!r}; roles: {', '.join(r.value for r in Role)}") from None
