"""Users, roles and API tokens: creating, changing, and turning them into principals."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from opendems.domain.access import (
    ADMIN_CORE,
    DEFAULT_ROLES,
    Permission,
    Principal,
    Role,
    check_permissions,
)
from opendems.domain.accounts import (
    RoleRecord,
    TokenRecord,
    UserRecord,
    check_role_name,
    check_unit,
    check_username,
)
from opendems.domain.custody import NewEvent, Where
from opendems.domain.errors import Conflict, Forbidden, Invalid, NotFound, Unauthenticated
from opendems.domain.passwords import check_new_password
from opendems.ports import Clock, UnitOfWork
from opendems.services.context import Actor, AuthPolicy
from opendems.services.custody import authorize, record

CLI_ACCOUNT = "cli"
TOKEN_PREFIX = "odt_"  # noqa: S105 - a marker, not a secret
_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters


def hash_password(password: str) -> str:
    return _hasher.hash(password)


@cache
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))


def password_matches(stored: str | None, password: str) -> bool:
    """Constant work whether or not the account exists: a missing hash is checked against a
    dummy, so timing does not reveal which user names exist."""
    try:
        return _hasher.verify(stored or _dummy_hash(), password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def user_inputs(user: UserRecord) -> list[str]:
    """What a user's password must not contain: their own names."""
    return [v for v in (user.username, user.display_name, user.email or "") if v]


def token_digest(token: str) -> str:
    # Tokens carry 256 random bits: a plain SHA-256 is enough to store them safely.
    return hashlib.sha256(token.encode()).hexdigest()


# -- roles ------------------------------------------------------------------------------


def ensure_roles(uow: UnitOfWork, clock: Clock) -> None:
    """Seed the default roles that are missing; never overwrite an administrator's edits."""
    with uow:
        have = {r.name for r in uow.accounts.roles()}
        for name, (description, perms) in DEFAULT_ROLES.items():
            if name not in have:
                uow.accounts.add_role(name, description, perms, builtin=True, when=clock.now())
        uow.commit()


def role_permissions(uow: UnitOfWork, role: str) -> frozenset[Permission]:
    found = uow.accounts.role(role)
    return found.permissions if found else frozenset()


def principal_of(
    uow: UnitOfWork, user: UserRecord, via: str, *, scopes: list[str] | None = None
) -> Principal:
    """The principal ``user`` acts as: the role's permissions, cut down by token scopes."""
    perms = role_permissions(uow, user.role)
    if scopes is not None:
        known = {p.value for p in Permission}
        perms = perms & frozenset(Permission(s) for s in scopes if s in known)
    return Principal(
        id=user.id, name=user.username, role=user.role, permissions=perms, unit=user.unit, via=via
    )


def list_roles(actor: Actor, *, uow: UnitOfWork, clock: Clock) -> list[RoleRecord]:
    with uow:
        authorize(
            uow,
            actor,
            Permission.USER_MANAGE,
            clock=clock,
            action="role:list",
            object_type="role",
            object_id="*",
        )
        return uow.accounts.roles()


def save_role(
    actor: Actor,
    name: str,
    permissions: list[str],
    *,
    description: str | None = None,
    uow: UnitOfWork,
    clock: Clock,
) -> RoleRecord:
    """Create a role or replace a role's permissions (audited with the old and new sets)."""
    role_name = check_role_name(name)
    chosen = check_permissions(permissions)
    if role_name == Role.SYSTEM:
        raise Conflict("the system role belongs to the local command line and cannot be changed")
    if role_name == Role.ADMINISTRATOR and not chosen >= ADMIN_CORE:
        raise Conflict(
            "the administrator role must keep user:manage and role:manage, or nobody could repair roles"
        )
    with uow:
        authorize(
            uow,
            actor,
            Permission.ROLE_MANAGE,
            clock=clock,
            action="role:change",
            object_type="role",
            object_id=role_name,
        )
        existing = uow.accounts.role(role_name)
        touches_sealed = Permission.ACCESS_SEALED in chosen or (
            existing is not None and Permission.ACCESS_SEALED in existing.permissions
        )
        if touches_sealed and Permission.ACCESS_SEALED not in actor.principal.permissions:
            raise Forbidden(
                "only internal affairs or the server's command line may grant or change sealed access"
            )
        if existing is None:
            uow.accounts.add_role(
                role_name, (description or "").strip()[:500], chosen, builtin=False, when=clock.now()
            )
            details: dict[str, Any] = {"created": True, "permissions": sorted(chosen)}
        else:
            uow.accounts.set_role_permissions(role_name, chosen, clock.now())
            details = {
                "added": sorted(chosen - existing.permissions),
                "removed": sorted(existing.permissions - chosen),
            }
        record(uow, actor, "role:change", "role", role_name, clock=clock, details=details)
        uow.commit()
        saved = uow.accounts.role(role_name)
        assert saved is not None
        return saved


# -- users ------------------------------------------------------------------------------


def ensure_cli_account(uow: UnitOfWork, clock: Clock) -> UserRecord:
    """The built-in account the command line acts as when no ``--as`` is given."""
    with uow:
        user = uow.accounts.user_by_name(CLI_ACCOUNT)
        if user is None:
            user = uow.accounts.add_user(
                username=CLI_ACCOUNT,
                display_name="Local command line",
                role=Role.SYSTEM,
                password_hash=None,
                created_at=clock.now(),
                is_builtin=True,
            )
            uow.commit()
        elif user.role != Role.SYSTEM:
            uow.accounts.update_user(user.id, role=Role.SYSTEM.value)
            uow.commit()
            user.role = Role.SYSTEM
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
            details={"role": user.role, "first_administrator": True},
        )
        uow.commit()
        return user.username, password


@dataclass(frozen=True)
class NewUser:
    user: UserRecord
    password: str | None  # the generated one-time password, when none was given


def _existing_role(uow: UnitOfWork, value: str) -> str:
    name = value.strip().lower()
    if name == Role.SYSTEM or uow.accounts.role(name) is None:
        names = ", ".join(r.name for r in uow.accounts.roles() if r.name != Role.SYSTEM)
        raise Invalid(f"unknown role {value!r}; roles: {names}")
    return name


def create_user(
    actor: Actor,
    username: str,
    role: str,
    *,
    display_name: str = "",
    password: str | None = None,
    unit: str | None = None,
    email: str | None = None,
    expires_at: datetime | None = None,
    uow: UnitOfWork,
    clock: Clock,
) -> NewUser:
    """A new local account. Without a password, a one-time password is generated and must
    be changed at first sign-in. ``expires_at`` makes it a temporary account."""
    name = check_username(username)
    clean_unit = check_unit(unit)
    display = display_name.strip()[:200]
    if expires_at is not None and expires_at <= clock.now():
        raise Invalid("a temporary account's expiry must lie in the future")
    generated = None
    if password is None:
        generated = secrets.token_urlsafe(15)
    else:
        check_new_password(password, [name, display, email or ""])
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
        chosen_role = _existing_role(uow, role)
        _guard_sealed_access(uow, actor, None, chosen_role)
        if uow.accounts.user_by_name(name) is not None:
            raise Conflict(f"user {name} already exists")
        user = uow.accounts.add_user(
            username=name,
            display_name=display,
            role=chosen_role,
            password_hash=pw_hash,
            created_at=clock.now(),
            must_change_password=generated is not None,
            unit=clean_unit,
            email=(email or "").strip()[:320] or None,
            expires_at=expires_at,
        )
        record(
            uow,
            actor,
            "user:create",
            "user",
            name,
            clock=clock,
            details={
                "role": chosen_role,
                "unit": clean_unit,
                "expires_at": expires_at.isoformat() if expires_at else None,
            },
        )
        uow.commit()
        return NewUser(user, generated)


def _target(uow: UnitOfWork, actor: Actor, username: str, action: str, clock: Clock) -> UserRecord:
    """Another account, for an administrative action: permission first, then the lookup."""
    name = username.strip().lower()
    authorize(
        uow,
        actor,
        Permission.USER_MANAGE,
        clock=clock,
        action=action,
        object_type="user",
        object_id=name[:100],
    )
    user = uow.accounts.user_by_name(name)
    if user is None or user.is_builtin:
        raise NotFound(f"no user named {username!r}")
    _guard_sealed_access(uow, actor, user)
    return user


def _guard_sealed_access(
    uow: UnitOfWork, actor: Actor, target: UserRecord | None, role: str | None = None
) -> None:
    """Sealed material stays sealed from account managers: only someone who holds
    ``access:sealed`` (or the server's command line) may create, change, reset or issue
    tokens for an account whose role carries it, or hand that role out."""
    if Permission.ACCESS_SEALED in actor.principal.permissions:
        return
    roles = {r for r in (role, target.role if target else None) if r}
    if any(Permission.ACCESS_SEALED in role_permissions(uow, r) for r in roles):
        raise Forbidden(
            "only internal affairs or the server's command line may manage accounts with sealed access"
        )


def _keep_an_administrator(uow: UnitOfWork, user: UserRecord, changes: dict[str, Any]) -> None:
    losing = user.role == Role.ADMINISTRATOR and (
        changes.get("role", user.role) != Role.ADMINISTRATOR or changes.get("status", "active") != "active"
    )
    if losing and user.active and uow.accounts.count_active_with_role(Role.ADMINISTRATOR) <= 1:
        raise Conflict("this is the last active administrator; appoint another first")


def update_user(
    actor: Actor, username: str, changes: dict[str, Any], *, reason: str, uow: UnitOfWork, clock: Clock
) -> UserRecord:
    """Change role, unit, display name, e-mail, expiry or status (active/disabled)."""
    reason = (reason or "").strip()
    if not reason:
        raise Invalid("every change to an account needs a reason")
    allowed = {"role", "unit", "display_name", "email", "expires_at", "status"}
    unknown = set(changes) - allowed
    if unknown:
        raise Invalid(f"cannot change {', '.join(sorted(unknown))}; changeable: {', '.join(sorted(allowed))}")
    with uow:
        user = _target(uow, actor, username, "user:change", clock)
        if user.id == actor.principal.id and ("role" in changes or "status" in changes):
            raise Forbidden("nobody may change their own role or status; ask another administrator")
        clean: dict[str, Any] = {}
        for field, value in changes.items():
            if field == "role":
                clean["role"] = _existing_role(uow, str(value))
                _guard_sealed_access(uow, actor, None, clean["role"])
            elif field == "unit":
                clean["unit"] = check_unit(value)
            elif field == "display_name":
                clean["display_name"] = str(value or "").strip()[:200]
            elif field == "email":
                clean["email"] = str(value or "").strip()[:320] or None
            elif field == "expires_at":
                clean["expires_at"] = value
            elif field == "status":
                if value not in {"active", "disabled"}:
                    raise Invalid("status must be 'active' or 'disabled'")
                clean["status"] = value
        _keep_an_administrator(uow, user, clean)
        diff = {
            k: {"old": _plain(getattr(user, k)), "new": _plain(v)}
            for k, v in clean.items()
            if getattr(user, k) != v
        }
        if not diff:
            return user
        values = dict(clean)
        if clean.get("status") == "active" and user.status != "active":
            values["disabled_reason"] = None
            values["last_login_at"] = clock.now()  # re-enabled: the inactivity clock restarts
        if clean.get("status") == "disabled":
            values["disabled_reason"] = "disabled by an administrator"
            uow.sessions.end_all(user.id, clock.now(), "account disabled")
        uow.accounts.update_user(user.id, **values)
        action = "user:role_change" if "role" in diff else "user:change"
        record(
            uow, actor, action, "user", user.username, clock=clock, reason=reason, details={"changes": diff}
        )
        uow.commit()
        updated = uow.accounts.user_by_id(user.id)
        assert updated is not None
        return updated


def _plain(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def unlock_user(actor: Actor, username: str, *, reason: str, uow: UnitOfWork, clock: Clock) -> UserRecord:
    """Release an account locked after repeated failed sign-ins."""
    with uow:
        user = _target(uow, actor, username, "user:unlock", clock)
        if user.locked_at is None:
            raise Conflict(f"user {user.username} is not locked")
        uow.accounts.update_user(user.id, locked_at=None, failed_logins=0, first_failed_at=None)
        record(uow, actor, "user:unlock", "user", user.username, clock=clock, reason=reason or None)
        uow.commit()
        updated = uow.accounts.user_by_id(user.id)
        assert updated is not None
        return updated


def reset_mfa(actor: Actor, username: str, *, reason: str, uow: UnitOfWork, clock: Clock) -> UserRecord:
    """Forget a user's authenticator (a lost phone): they enrol again at next sign-in."""
    reason = (reason or "").strip()
    if not reason:
        raise Invalid("resetting someone's multi-factor authentication needs a reason")
    with uow:
        user = _target(uow, actor, username, "mfa:reset", clock)
        uow.accounts.update_user(user.id, mfa_secret=None, mfa_enrolled_at=None, mfa_last_step=None)
        uow.sessions.replace_recovery_codes(user.id, [])
        ended = uow.sessions.end_all(user.id, clock.now(), "mfa reset")
        record(
            uow,
            actor,
            "mfa:reset",
            "user",
            user.username,
            clock=clock,
            reason=reason,
            details={"sessions_ended": ended},
        )
        uow.commit()
        updated = uow.accounts.user_by_id(user.id)
        assert updated is not None
        return updated


def reset_password(actor: Actor, username: str, *, reason: str, uow: UnitOfWork, clock: Clock) -> str:
    """A forgotten password: a new one-time password (returned once) that must be changed
    at the next sign-in; every session of the user ends."""
    reason = (reason or "").strip()
    if not reason:
        raise Invalid("resetting someone's password needs a reason")
    password = secrets.token_urlsafe(15)
    with uow:
        user = _target(uow, actor, username, "user:password_reset", clock)
        if user.auth_source != "local":
            raise Conflict(f"{user.username} signs in through the identity provider; reset it there")
        uow.accounts.update_user(
            user.id,
            password_hash=hash_password(password),
            must_change_password=True,
            password_changed_at=clock.now(),
        )
        ended = uow.sessions.end_all(user.id, clock.now(), "password reset")
        record(
            uow,
            actor,
            "user:password_reset",
            "user",
            user.username,
            clock=clock,
            reason=reason,
            details={"sessions_ended": ended},
        )
        uow.commit()
        return password


def list_users(actor: Actor, *, uow: UnitOfWork, clock: Clock) -> list[UserRecord]:
    with uow:
        authorize(
            uow,
            actor,
            Permission.USER_MANAGE,
            clock=clock,
            action="user:list",
            object_type="user",
            object_id="*",
        )
        return [u for u in uow.accounts.list_users() if not u.is_builtin]


def user_principal(uow: UnitOfWork, username: str, via: str) -> Principal:
    with uow:
        user = uow.accounts.user_by_name(username.strip().lower())
        if user is None or not user.active:
            raise NotFound(f"no active user named {username!r}")
        return principal_of(uow, user, via)


def sweep_accounts(
    actor: Actor, policy: AuthPolicy, *, uow: UnitOfWork, clock: Clock
) -> dict[str, list[str]]:
    """Disable accounts unused for ``policy.inactive_after`` and temporary accounts past
    their expiry (CJIS AC-2(3)). Run at start-up, hourly by the server, and by the CLI."""
    now = clock.now()
    done: dict[str, list[str]] = {"inactive": [], "expired": []}
    with uow:
        for user in uow.accounts.expired_temporary(now):
            uow.accounts.update_user(user.id, status="disabled", disabled_reason="temporary account expired")
            uow.sessions.end_all(user.id, now, "account expired")
            record(uow, actor, "user:expire", "user", user.username, clock=clock)
            done["expired"].append(user.username)
        for user in uow.accounts.inactive_since(now - policy.inactive_after):
            uow.accounts.update_user(
                user.id, status="disabled", disabled_reason=f"unused for {policy.inactive_after.days} days"
            )
            uow.sessions.end_all(user.id, now, "account inactive")
            record(
                uow,
                actor,
                "user:disable_inactive",
                "user",
                user.username,
                clock=clock,
                details={"last_login_at": _plain(user.last_login_at), "days": policy.inactive_after.days},
            )
            done["inactive"].append(user.username)
        uow.commit()
    return done


# -- API tokens -------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedToken:
    token: str  # shown once, never stored
    record: TokenRecord


def _self_or_managed(uow: UnitOfWork, actor: Actor, username: str, action: str, clock: Clock) -> UserRecord:
    """The named user: the actor themself, or an account the actor may manage."""
    name = username.strip().lower()
    if name != actor.principal.name:
        return _target(uow, actor, name, action, clock)
    me = uow.accounts.user_by_id(actor.principal.id)
    assert me is not None
    return me


def create_token(
    actor: Actor,
    username: str,
    name: str,
    *,
    expires_at: datetime | None = None,
    scopes: list[str] | None = None,
    uow: UnitOfWork,
    clock: Clock,
) -> IssuedToken:
    """A named API token; ``scopes`` cut it down to some of the owner's permissions."""
    label = name.strip()
    if not label or len(label) > 100:
        raise Invalid("a token needs a name of 1-100 characters")
    if expires_at is not None and expires_at <= clock.now():
        raise Invalid("the expiry must lie in the future")
    chosen = sorted(check_permissions(scopes)) if scopes is not None else None
    with uow:
        target = _self_or_managed(uow, actor, username, "token:create", clock)
        if chosen is not None:
            beyond = set(chosen) - role_permissions(uow, target.role)
            if beyond:
                raise Invalid(
                    f"the token's scopes exceed the role {target.role}: {', '.join(sorted(beyond))}"
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
            scopes=[p.value for p in chosen] if chosen is not None else None,
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
                "scopes": rec.scopes,
                "expires_at": expires_at.isoformat() if expires_at else None,
            },
        )
        uow.commit()
        return IssuedToken(token, rec)


def list_tokens(actor: Actor, username: str, *, uow: UnitOfWork, clock: Clock) -> list[TokenRecord]:
    with uow:
        target = _self_or_managed(uow, actor, username, "token:list", clock)
        return uow.accounts.tokens_of(target.id)


def revoke_token(actor: Actor, token_id: int, *, uow: UnitOfWork, clock: Clock) -> TokenRecord:
    with uow:
        rec = uow.accounts.token_by_id(token_id)
        owner = uow.accounts.user_by_id(rec.user_id) if rec else None
        if rec is None or owner is None:
            raise NotFound(f"no token {token_id}")
        if rec.user_id != actor.principal.id:
            authorize(
                uow,
                actor,
                Permission.USER_MANAGE,
                clock=clock,
                action="token:revoke",
                object_type="user",
                object_id=owner.username,
            )
        if rec.revoked_at is not None:
            raise Conflict(f"token {token_id} is already revoked")
        uow.accounts.revoke_token(token_id, clock.now())
        record(
            uow,
            actor,
            "token:revoke",
            "user",
            owner.username,
            clock=clock,
            details={"token_id": rec.id, "name": rec.name},
        )
        uow.commit()
        revoked = uow.accounts.token_by_id(token_id)
        assert revoked is not None
        return revoked


@dataclass(frozen=True)
class TokenUse:
    principal: Principal
    token: TokenRecord


def authenticate_token(token: str, *, where: Where, uow: UnitOfWork, clock: Clock) -> TokenUse:
    """The principal a bearer token stands for; ``Unauthenticated`` for anything else.

    Every use is recorded in the trail (``token:use``: which token, where from, which
    endpoint), so a leaked token's activity can be traced request by request.
    """
    with uow:
        rec = None
        if token.startswith(TOKEN_PREFIX) and len(token) <= 200:
            rec = uow.accounts.token_by_hash(token_digest(token))
        now = clock.now()
        why = None
        user = uow.accounts.user_by_id(rec.user_id) if rec else None
        if rec is None:
            why = "unknown token"
        elif rec.revoked_at is not None:
            why = "revoked token"
        elif rec.expires_at and rec.expires_at <= now:
            why = "expired token"
        elif user is None or user.is_builtin or not user.active or user.locked_at is not None:
            why = "account not active"
        elif user.expires_at is not None and user.expires_at <= now:
            why = "temporary account expired"
        if why is not None or rec is None or user is None:
            # A failed log-on attempt (CJIS AU-2): recorded, with no secret in it.
            uow.custody.append(
                NewEvent(
                    action="auth:token",
                    actor_id=user.id if user else None,
                    actor_name=user.username if user else "(unknown)",
                    object_type="token",
                    object_id=str(rec.id) if rec else token[: len(TOKEN_PREFIX) + 6][:20],
                    where=where,
                    outcome="failed",
                    reason=why,
                ),
                now,
            )
            uow.commit()
            raise Unauthenticated(
                "the bearer token is not valid, expired or revoked, or its account is not active"
            )
        principal = principal_of(uow, user, "token", scopes=rec.scopes)
        uow.accounts.touch_token(rec.id, now)
        record(
            uow,
            Actor(principal, where),
            "token:use",
            "token",
            str(rec.id),
            clock=clock,
            details={"token": rec.name},
        )
        uow.commit()
    return TokenUse(principal, rec)
