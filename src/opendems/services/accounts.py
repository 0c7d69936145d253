"""Users, API tokens and authenticating a bearer token."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError

from opendems.domain.access import Permission, Principal, Role
from opendems.domain.accounts import (
    TokenRecord,
    UserRecord,
    check_password,
    check_role,
    check_username,
)
from opendems.domain.errors import Conflict, Invalid, NotFound, Unauthenticated
from opendems.ports import Clock, UnitOfWork
from opendems.services.context import Actor
from opendems.services.custody import authorize, record

CLI_ACCOUNT = "cli"
TOKEN_PREFIX = "odt_"  # noqa: S105 - a marker, not a secret
_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters


def hash_password(password: str) -> str:
    return _hasher.hash(check_password(password))


def password_matches(stored: str | None, password: str) -> bool:
    if not stored:
        return False
    try:
        return _hasher.verify(stored, password)
    except VerificationError:
        return False


def token_digest(token: str) -> str:
    # Tokens carry 256 random bits: a plain SHA-256 is enough to store them safely.
    return hashlib.sha256(token.encode()).hexdigest()


def principal_of(user: UserRecord, via: str) -> Principal:
    return Principal(id=user.id, name=user.username, role=user.role, via=via)


def ensure_cli_account(uow: UnitOfWork, clock: Clock) -> UserRecord:
    """The built-in account the command line acts as when no ``--as`` is given."""
    with uow:
        user = uow.accounts.user_by_name(CLI_ACCOUNT)
        if user is None:
            user = uow.accounts.add_user(
                username=CLI_ACCOUNT,
                display_name="Local command line",
                role=Role.ADMINISTRATOR,
                password_hash=None,
                created_at=clock.now(),
                is_builtin=True,
            )
            uow.commit()
        return user


def ensure_first_admin(uow: UnitOfWork, clock: Clock, actor_for: Actor) -> tuple[str, str] | None:
    """Create the first administrator when none exists. Returns (name, one-time password)
    exactly once, when it was created; None otherwise."""
    with uow:
        if uow.accounts.count_role(Role.ADMINISTRATOR) > 0:
            return None
        password = secrets.token_urlsafe(15)
        user = uow.accounts.add_user(
            username="admin",
            display_name="Administrator",
            role=Role.ADMINISTRATOR,
            password_hash=hash_password(password),
            created_at=clock.now(),
            must_change_password=True,
        )
        record(
            uow,
            actor_for,
            "user:create",
            "user",
            user.username,
            clock=clock,
            details={"role": user.role.value, "first_administrator": True},
        )
        uow.commit()
        return user.username, password


@dataclass(frozen=True)
class NewUser:
    user: UserRecord
    password: str | None  # the generated one-time password, when none was given


def create_user(
    actor: Actor,
    username: str,
    role: str,
    *,
    display_name: str = "",
    password: str | None = None,
    uow: UnitOfWork,
    clock: Clock,
) -> NewUser:
    name = check_username(username)
    chosen_role = check_role(role)
    generated = None
    if password is None:
        generated = secrets.token_urlsafe(15)
    pw_hash = hash_password(password if password is not None else generated or "")
    with uow:
        authorize(
            uow,
            actor,
            Permission.USER_MANAGE,
            clock=clock,
            action="user:create",
            object_type="user",
            object_id=name,
        )
        if uow.accounts.user_by_name(name) is not None:
            raise Conflict(f"user {name} already exists")
        user = uow.accounts.add_user(
            username=name,
            display_name=display_name.strip()[:200],
            role=chosen_role,
            password_hash=pw_hash,
            created_at=clock.now(),
            must_change_password=generated is not None,
        )
        record(uow, actor, "user:create", "user", name, clock=clock, details={"role": chosen_role.value})
        uow.commit()
        return NewUser(user, generated)


def user_principal(uow: UnitOfWork, username: str, via: str) -> Principal:
    with uow:
        user = uow.accounts.user_by_name(username.strip().lower())
    if user is None or user.status != "active":
        raise NotFound(f"no active user named {username!r}")
    return principal_of(user, via)


@dataclass(frozen=True)
class IssuedToken:
    token: str  # shown once, never stored
    record: TokenRecord


def create_token(
    actor: Actor,
    username: str,
    name: str,
    *,
    expires_at: datetime | None = None,
    uow: UnitOfWork,
    clock: Clock,
) -> IssuedToken:
    label = name.strip()
    if not label or len(label) > 100:
        raise Invalid("a token needs a name of 1-100 characters")
    if expires_at is not None and expires_at <= clock.now():
        raise Invalid("the expiry must lie in the future")
    with uow:
        target = uow.accounts.user_by_name(username.strip().lower())
        if target is None:
            raise NotFound(f"no user named {username!r}")
        if target.id != actor.principal.id:
            authorize(
                uow,
                actor,
                Permission.USER_MANAGE,
                clock=clock,
                action="token:create",
                object_type="user",
                object_id=target.username,
            )
        secret = secrets.token_urlsafe(32)
        token = f"{TOKEN_PREFIX}{secret}"
        rec = uow.accounts.add_token(
            user_id=target.id,
            name=label,
            token_hash=token_digest(token),
            prefix=token[: len(TOKEN_PREFIX) + 6],
            created_at=clock.now(),
            expires_at=expires_at,
        )
        record(
            uow,
            actor,
            "token:create",
            "user",
            target.username,
            clock=clock,
            details={
                "token_id": rec.id,
                "name": label,
                "expires_at": expires_at.isoformat() if expires_at else None,
            },
        )
        uow.commit()
        return IssuedToken(token, rec)


def authenticate_token(token: str, *, uow: UnitOfWork, clock: Clock) -> Principal:
    """The principal a bearer token stands for; ``Unauthenticated`` for anything else."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        raise Unauthenticated("the bearer token is not valid")
    # Checking a token only reads (no write lock on every request); its last use is
    # written at most once a minute.
    with uow.for_reading() as reader:
        rec = reader.accounts.token_by_hash(token_digest(token))
        now = clock.now()
        if rec is None or rec.revoked_at is not None or (rec.expires_at and rec.expires_at <= now):
            raise Unauthenticated("the bearer token is not valid, expired or revoked")
        user = reader.accounts.user_by_id(rec.user_id)
        if user is None or user.status != "active":
            raise Unauthenticated("the account behind this token is not active")
    if rec.last_used_at is None or (now - rec.last_used_at).total_seconds() > 60:
        with uow:
            uow.accounts.touch_token(rec.id, now)
            uow.commit()
    return principal_of(user, "token")
