"""Single sign-on: the agency's identity provider vouches for the user; its groups pick the
role. Accounts are created on first sign-in and their role follows the groups each time."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any, Protocol

from opendems.domain.accounts import check_unit
from opendems.domain.custody import Where
from opendems.domain.errors import Unauthenticated
from opendems.ports import Clock, UnitOfWork
from opendems.services.auth import STAGE_ACTIVE, Started, auth_event, can_sign_in, new_session

STATE_LIFETIME = timedelta(minutes=10)


class IdentityProvider(Protocol):
    issuer: str

    def authorization_url(self, *, state: str, nonce: str, code_verifier: str) -> str: ...
    def claims_for(self, *, code: str, code_verifier: str, nonce: str) -> dict[str, Any]: ...


def parse_group_roles(text: str) -> list[tuple[str, str]]:
    """``"dems-admins=administrator, dems-ia=internal_affairs"`` -> ordered pairs."""
    pairs = []
    for part in text.split(","):
        if "=" in part:
            group, role = part.split("=", 1)
            if group.strip() and role.strip():
                pairs.append((group.strip(), role.strip().lower()))
    return pairs


def begin(idp: IdentityProvider, *, uow: UnitOfWork, clock: Clock) -> tuple[str, str]:
    """(the provider URL to send the browser to, the state). State, nonce and PKCE verifier
    are kept server-side; the caller also binds the state to the browser (a cookie), so a
    callback link made by someone else cannot sign this browser in as them."""
    state, nonce, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(24), secrets.token_urlsafe(48)
    with uow:
        now = clock.now()
        uow.sessions.forget_oidc_states_before(now - STATE_LIFETIME)
        uow.sessions.add_oidc_state(state, nonce, verifier, now)
        uow.commit()
    return idp.authorization_url(state=state, nonce=nonce, code_verifier=verifier), state


def _role_for(groups: list[str], mapping: list[tuple[str, str]]) -> str | None:
    for group, role in mapping:
        if group in groups:
            return role
    return None


def _username(claims: dict[str, Any]) -> str:
    raw = str(claims.get("preferred_username") or claims.get("email") or claims["sub"]).lower()
    clean = "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in raw.split("@")[0])
    return (clean.strip("-._") or "user")[:56]


def complete(
    idp: IdentityProvider,
    *,
    code: str,
    state: str,
    where: Where,
    uow: UnitOfWork,
    clock: Clock,
    group_roles: list[tuple[str, str]],
    groups_claim: str = "groups",
    unit_claim: str | None = None,
) -> Started:
    with uow:
        pending = uow.sessions.take_oidc_state(state)
        uow.commit()
    if pending is None or clock.now() - pending[2] > STATE_LIFETIME:
        raise Unauthenticated("this sign-in link has expired or was already used; start again")
    nonce, verifier, _ = pending
    claims = idp.claims_for(code=code, code_verifier=verifier, nonce=nonce)
    subject = f"{idp.issuer}|{claims['sub']}"
    raw_groups = claims.get(groups_claim) or []
    groups = [str(g) for g in raw_groups] if isinstance(raw_groups, list) else [str(raw_groups)]
    role = _role_for(groups, group_roles)
    with uow:
        now = clock.now()
        user = uow.accounts.user_by_subject(subject)
        if role is None or role == "system" or uow.accounts.role(role) is None:
            auth_event(uow, clock, where, "auth:sign_in", user=user, attempted=_username(claims), outcome="denied",
                   reason="no group of this user maps to a role", details={"method": "oidc", "groups": groups})  # fmt: skip
            uow.commit()
            raise Unauthenticated("your identity provider account is not in any group that may use OpenDEMS")
        unit = check_unit(str(claims.get(unit_claim) or "")) if unit_claim else None
        if user is None:
            name = _username(claims)
            if uow.accounts.user_by_name(name) is not None:
                name = f"{name[:48]}-{secrets.token_hex(3)}"
            user = uow.accounts.add_user(
                username=name,
                display_name=str(claims.get("name") or "")[:200],
                role=role,
                password_hash=None,
                created_at=now,
                auth_source="oidc",
                external_subject=subject,
                email=str(claims.get("email") or "")[:320] or None,
                unit=unit,
            )
            auth_event(
                uow,
                clock,
                where,
                "user:create",
                user=user,
                details={"method": "oidc", "role": role, "groups": groups},
            )
        elif user.role != role or (unit_claim and user.unit != unit):
            auth_event(uow, clock, where, "user:role_change", user=user,
                   details={"method": "oidc", "changes": {"role": {"old": user.role, "new": role}}, "groups": groups})  # fmt: skip
            uow.accounts.update_user(user.id, role=role, **({"unit": unit} if unit_claim else {}))
            user.role = role
        blocked = can_sign_in(user, now)
        if blocked:
            auth_event(
                uow,
                clock,
                where,
                "auth:sign_in",
                user=user,
                outcome="denied",
                reason=blocked,
                details={"method": "oidc"},
            )
            uow.commit()
            raise Unauthenticated("your account cannot sign in; ask an administrator")
        uow.accounts.update_user(user.id, last_login_at=now, failed_logins=0)
        started = new_session(uow, user, STAGE_ACTIVE, where, now)
        auth_event(uow, clock, where, "auth:sign_in", user=user,
               details={"method": "oidc", "issuer": idp.issuer, "amr": claims.get("amr"), "groups": groups})  # fmt: skip
        uow.commit()
        return started
