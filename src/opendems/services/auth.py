"""Signing in: passwords, lockout, rate limits, TOTP, sessions, password changes.

Every step is an event in the custody chain (CJIS AU-2): successes, failures, locks,
enrolments, idle locks and sign-outs. Failure messages never say whether a user name
exists, whether the password or the code was wrong, or that an account is locked.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from opendems.domain.access import Principal
from opendems.domain.accounts import SessionRecord, UserRecord
from opendems.domain.custody import NewEvent, Where
from opendems.domain.errors import Conflict, Forbidden, Invalid, TooManyRequests, Unauthenticated
from opendems.domain.passwords import check_new_password
from opendems.domain.totp import (
    looks_like_recovery_code,
    matching_step,
    new_recovery_codes,
    new_secret,
    provisioning_uri,
    recovery_digest,
    step_of,
)
from opendems.ports import Clock, Secrets, UnitOfWork
from opendems.services.accounts import hash_password, password_matches, principal_of, user_inputs
from opendems.services.context import Actor, AuthPolicy

SIGN_IN_FAILED = "Sign-in failed: the user name, password or code is wrong, or the account cannot sign in."


def _mfa_context(user: UserRecord) -> str:
    # Binds each sealed seed to its account: a seed copied onto another row does not open.
    return f"mfa-secret:{user.id}"


TOUCH_EVERY_S = 60  # a session's last activity is written at most once a minute

# Session stages: what the holder of the cookie has proven so far.
STAGE_MFA = "mfa"  # password right, one-time code still owed
STAGE_ENROL = "mfa_enrol"  # password right, no authenticator yet: enrol one first
STAGE_ACTIVE = "active"


def session_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def auth_event(
    uow: UnitOfWork,
    clock: Clock,
    where: Where,
    action: str,
    *,
    user: UserRecord | None,
    attempted: str = "",
    outcome: str = "success",
    reason: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    uow.custody.append(
        NewEvent(
            action=action,
            actor_id=user.id if user else None,
            actor_name=user.username if user else "(unknown)",
            object_type="user",
            object_id=user.username if user else attempted[:100],
            where=where,
            outcome=outcome,
            reason=reason,
            details=details or {},
        ),
        clock.now(),
    )


@dataclass(frozen=True)
class Started:
    """A session begun by a correct password: ``token`` goes into the cookie."""

    token: str
    session: SessionRecord
    user: UserRecord


def new_session(uow: UnitOfWork, user: UserRecord, stage: str, where: Where, now: datetime) -> Started:
    token = secrets.token_urlsafe(32)
    record = SessionRecord(
        id=session_digest(token),
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(32),
        stage=stage,
        created_at=now,
        authenticated_at=now,
        last_seen_at=now,
        client_address=where.client_address,
        user_agent=where.user_agent,
        ended_at=None,
        end_reason=None,
    )
    uow.sessions.add(record)
    return Started(token, record, user)


def _fail(
    uow: UnitOfWork, user: UserRecord, clock: Clock, where: Where, policy: AuthPolicy, action: str, why: str
) -> None:
    """Count a failed password or code toward the lockout, and record it (committed)."""
    now = clock.now()
    window_open = user.first_failed_at is not None and now - user.first_failed_at <= policy.lockout_window
    failures = user.failed_logins + 1 if window_open else 1
    first = user.first_failed_at if window_open else now
    values: dict[str, Any] = {"failed_logins": failures, "first_failed_at": first}
    auth_event(
        uow, clock, where, action, user=user, outcome="failed", reason=why, details={"consecutive": failures}
    )
    if failures >= policy.lockout_attempts and user.locked_at is None:
        values["locked_at"] = now
        uow.sessions.end_all(user.id, now, "account locked")
        auth_event(
            uow,
            clock,
            where,
            "auth:lock",
            user=user,
            reason=f"{failures} failed attempts within "
            f"{int(policy.lockout_window.total_seconds() // 60)} minutes",
        )
    uow.accounts.update_user(user.id, **values)
    uow.commit()


def can_sign_in(user: UserRecord, now: datetime) -> str | None:
    """Why this account may not sign in now, or None."""
    if user.is_builtin:
        return "built-in account"
    if user.locked_at is not None:
        return "account locked"
    if not user.active:
        return f"account disabled ({user.disabled_reason or 'by an administrator'})"
    if user.expires_at is not None and user.expires_at <= now:
        return "temporary account expired"
    return None


def _first_stage(user: UserRecord, policy: AuthPolicy) -> str:
    if not policy.require_mfa:
        return STAGE_ACTIVE
    return STAGE_MFA if user.mfa_enrolled_at else STAGE_ENROL


def sign_in(
    username: str, password: str, *, where: Where, uow: UnitOfWork, clock: Clock, policy: AuthPolicy
) -> Started:
    """Check a password. The session starts at the MFA stage (or enrolment) when MFA is on."""
    attempted = username.strip().lower()[:64]
    address = where.client_address or "unknown"
    with uow:
        now = clock.now()
        if uow.sessions.attempts_since(address, now - policy.rate_window) >= policy.rate_per_address:
            auth_event(uow, clock, where, "auth:sign_in", user=None, attempted=attempted, outcome="denied",
                   reason="too many sign-in attempts from this address")  # fmt: skip
            uow.commit()
            raise TooManyRequests(
                "too many sign-in attempts from this address; wait a few minutes and try again"
            )
        uow.sessions.note_attempt(address, now)
        uow.sessions.forget_attempts_before(now - policy.rate_window)
        user = uow.accounts.user_by_name(attempted)
        usable = user is not None and user.auth_source == "local"
        ok = password_matches(user.password_hash if usable and user else None, password)
        if user is None or not usable:
            auth_event(uow, clock, where, "auth:sign_in", user=None, attempted=attempted, outcome="failed",
                   reason="unknown user name or not a local account")  # fmt: skip
            uow.commit()
            raise Unauthenticated(SIGN_IN_FAILED)
        blocked = can_sign_in(user, now)
        if blocked:
            auth_event(uow, clock, where, "auth:sign_in", user=user, outcome="denied", reason=blocked)
            uow.commit()
            raise Unauthenticated(SIGN_IN_FAILED)
        if not ok:
            _fail(uow, user, clock, where, policy, "auth:sign_in", "wrong password")
            raise Unauthenticated(SIGN_IN_FAILED)
        stage = _first_stage(user, policy)
        started = new_session(uow, user, stage, where, now)
        if stage == STAGE_ACTIVE:
            # Failures are forgiven only by a complete sign-in, never by the password alone:
            # otherwise a known password would allow unlimited guesses at the code.
            uow.accounts.update_user(user.id, last_login_at=now, failed_logins=0, first_failed_at=None)
            auth_event(uow, clock, where, "auth:sign_in", user=user, details={"mfa": None})
        else:
            auth_event(uow, clock, where, "auth:password", user=user, details={"next": stage})
        uow.commit()
        return started


@dataclass(frozen=True)
class SessionState:
    session: SessionRecord
    user: UserRecord
    principal: Principal


def _end(uow: UnitOfWork, session: SessionRecord, user: UserRecord | None, clock: Clock, where: Where,
         reason: str, action: str) -> None:  # fmt: skip
    uow.sessions.update(session.id, ended_at=clock.now(), end_reason=reason)
    auth_event(uow, clock, where, action, user=user, reason=reason)
    uow.commit()


def current_session(
    token: str,
    *,
    where: Where,
    uow: UnitOfWork,
    clock: Clock,
    policy: AuthPolicy,
    stages: tuple[str, ...] = (STAGE_ACTIVE,),
    touch: bool = True,
) -> SessionState:
    """The session behind a cookie, enforcing the idle lock and the re-authentication limit.

    ``touch=False`` is for a page's own background refresh: it does not count as activity,
    so an unattended screen still locks."""
    if not token or len(token) > 200:
        raise Unauthenticated("sign in first")
    now = clock.now()
    # Most requests only read: the write lock is taken only to end a session or, at most
    # once a minute, to note activity.
    with uow.for_reading() as reader:
        session = reader.sessions.get(session_digest(token))
        user = reader.accounts.user_by_id(session.user_id) if session else None
        principal = principal_of(reader, user, "session") if user else None
    if session is None or session.ended_at is not None or user is None or principal is None:
        raise Unauthenticated("your session has ended; sign in again")
    ending: tuple[str, str, str] | None = None
    if now - session.last_seen_at > policy.session_idle:
        minutes = int(policy.session_idle.total_seconds() // 60)
        ending = (
            f"idle for more than {minutes} minutes",
            "auth:idle_lock",
            f"your session locked after {minutes} minutes without activity; sign in again",
        )
    elif now - session.authenticated_at >= policy.session_max:
        hours = int(policy.session_max.total_seconds() // 3600)
        ending = (
            f"older than {hours} hours",
            "auth:reauthenticate",
            f"sessions last at most {hours} hours; sign in again",
        )
    elif blocked := can_sign_in(user, now):
        ending = (blocked, "auth:session_end", "your account can no longer sign in")
    if ending is not None:
        reason, action, message = ending
        with uow:
            _end(uow, session, user, clock, where, reason, action)
        raise Unauthenticated(message)
    if session.stage not in stages:
        raise Unauthenticated("finish signing in first (multi-factor authentication)")
    if touch and (now - session.last_seen_at).total_seconds() >= TOUCH_EVERY_S:
        with uow:
            uow.sessions.update(session.id, last_seen_at=now)
            uow.commit()
    return SessionState(session, user, principal)


def refuse_forged_request(state: SessionState, where: Where, *, uow: UnitOfWork, clock: Clock) -> None:
    """A state-changing request with the session cookie but without its CSRF token: a
    cross-site request forgery, or a stale page. Recorded as a denied access, then refused."""
    with uow:
        auth_event(
            uow,
            clock,
            where,
            "auth:csrf",
            user=state.user,
            outcome="denied",
            reason="missing or wrong CSRF token",
        )
        uow.commit()
    raise Forbidden("this request needs the page's CSRF token (reload the page and try again)")


def _rotate(uow: UnitOfWork, session: SessionRecord, now: datetime) -> str:
    """A new cookie value once the session is fully signed in: whatever value was known
    before the second factor (a fixation attempt) is worthless after it."""
    token = secrets.token_urlsafe(32)
    uow.sessions.update(session.id, id=session_digest(token), stage=STAGE_ACTIVE, last_seen_at=now)
    return token


@dataclass(frozen=True)
class Completed:
    """A sign-in finished by its second factor: the new cookie value, and what to show."""

    token: str
    user: UserRecord
    recovery_codes: list[str]


# -- multi-factor authentication ---------------------------------------------------------


@dataclass(frozen=True)
class Enrolment:
    secret: str
    uri: str  # otpauth:// URI, rendered as a QR code by the page


def begin_enrolment(
    state: SessionState, *, uow: UnitOfWork, secrets_box: Secrets, policy: AuthPolicy
) -> Enrolment:
    """A fresh authenticator secret for a user without one (kept sealed until confirmed)."""
    if state.user.mfa_enrolled_at is not None:
        raise Conflict("an authenticator is already enrolled; an administrator can reset it")
    secret = new_secret()
    with uow:
        uow.accounts.update_user(
            state.user.id, mfa_secret=secrets_box.seal(secret.encode(), context=_mfa_context(state.user))
        )
        uow.commit()
    return Enrolment(secret, provisioning_uri(secret, state.user.username, policy.mfa_issuer))


def pending_enrolment(state: SessionState, *, secrets_box: Secrets, policy: AuthPolicy) -> Enrolment | None:
    if state.user.mfa_enrolled_at is not None or not state.user.mfa_secret:
        return None
    secret = secrets_box.open(state.user.mfa_secret, context=_mfa_context(state.user)).decode()
    return Enrolment(secret, provisioning_uri(secret, state.user.username, policy.mfa_issuer))


def confirm_enrolment(
    state: SessionState,
    code: str,
    *,
    where: Where,
    uow: UnitOfWork,
    clock: Clock,
    secrets_box: Secrets,
    policy: AuthPolicy,
) -> Completed:
    """Prove the new authenticator works; the one-time recovery codes are shown once."""
    pending = pending_enrolment(state, secrets_box=secrets_box, policy=policy)
    if pending is None:
        raise Conflict("start the enrolment first")
    now = clock.now()
    step = matching_step(pending.secret, code, now, last_used=None)
    with uow:
        user = uow.accounts.user_by_id(state.user.id)
        assert user is not None
        if step is None:
            _fail(uow, user, clock, where, policy, "mfa:enrol", "wrong code during enrolment")
            raise Unauthenticated("that code is not right; check the time on your phone and try the next one")
        codes = new_recovery_codes()
        uow.sessions.replace_recovery_codes(user.id, [recovery_digest(c) for c in codes])
        uow.accounts.update_user(
            user.id, mfa_enrolled_at=now, mfa_last_step=step, failed_logins=0, first_failed_at=None,
            last_login_at=now,
        )  # fmt: skip
        token = _rotate(uow, state.session, now)
        auth_event(uow, clock, where, "mfa:enrol", user=user, details={"recovery_codes": len(codes)})
        auth_event(uow, clock, where, "auth:sign_in", user=user, details={"mfa": "totp"})
        uow.commit()
        return Completed(token, user, codes)


def verify_second_factor(
    state: SessionState,
    code: str,
    *,
    where: Where,
    uow: UnitOfWork,
    clock: Clock,
    secrets_box: Secrets,
    policy: AuthPolicy,
) -> Completed:
    """A TOTP code (never one already used) or a recovery code completes the sign-in."""
    now = clock.now()
    with uow:
        user = uow.accounts.user_by_id(state.user.id)
        assert user is not None
        if user.mfa_enrolled_at is None or not user.mfa_secret:
            raise Conflict("no authenticator is enrolled")
        method = "totp"
        ok = False
        if looks_like_recovery_code(code):
            method = "recovery_code"
            ok = uow.sessions.use_recovery_code(user.id, recovery_digest(code), now)
        else:
            secret = secrets_box.open(user.mfa_secret, context=_mfa_context(user)).decode()
            step = matching_step(secret, code, now, last_used=user.mfa_last_step)
            if step is not None:
                ok = True
                uow.accounts.update_user(user.id, mfa_last_step=step)
        if not ok:
            replay = (
                method == "totp" and user.mfa_last_step is not None and step_of(now) - 1 <= user.mfa_last_step
            )
            _fail(
                uow, user, clock, where, policy, "auth:mfa", "code already used" if replay else "wrong code"
            )
            raise Unauthenticated(SIGN_IN_FAILED)
        uow.accounts.update_user(user.id, failed_logins=0, first_failed_at=None, last_login_at=now)
        token = _rotate(uow, state.session, now)
        details: dict[str, Any] = {"mfa": method}
        if method == "recovery_code":
            details["recovery_codes_left"] = uow.sessions.recovery_codes_left(user.id)
        auth_event(uow, clock, where, "auth:sign_in", user=user, details=details)
        uow.commit()
        return Completed(token, user, [])


# -- signing out and passwords ----------------------------------------------------------


def sign_out(state: SessionState, *, where: Where, uow: UnitOfWork, clock: Clock) -> None:
    with uow:
        _end(uow, state.session, state.user, clock, where, "signed out", "auth:sign_out")


def sign_out_everywhere(actor: Actor, *, uow: UnitOfWork, clock: Clock) -> int:
    """End every session of the acting user (a lost laptop, a shared computer)."""
    with uow:
        user = uow.accounts.user_by_id(actor.principal.id)
        ended = uow.sessions.end_all(actor.principal.id, clock.now(), "signed out everywhere")
        auth_event(
            uow, clock, actor.where, "auth:sign_out_everywhere", user=user, details={"sessions": ended}
        )
        uow.commit()
        return ended


def change_password(
    state: SessionState,
    current: str,
    new: str,
    *,
    where: Where,
    uow: UnitOfWork,
    clock: Clock,
    policy: AuthPolicy,
) -> None:
    """Change one's own password; every other session of the user ends."""
    user = state.user
    if user.auth_source != "local":
        raise Conflict("this account signs in through the agency's identity provider")
    if new == current:
        raise Invalid("the new password must differ from the current one")
    check_new_password(new, user_inputs(user))
    with uow:
        fresh = uow.accounts.user_by_id(user.id)
        assert fresh is not None
        if not password_matches(fresh.password_hash, current):
            _fail(uow, fresh, clock, where, policy, "auth:password_change", "wrong current password")
            raise Unauthenticated("the current password is not right")
        now = clock.now()
        uow.accounts.update_user(
            user.id, password_hash=hash_password(new), must_change_password=False, password_changed_at=now
        )
        ended = uow.sessions.end_all(user.id, now, "password changed", except_id=state.session.id)
        auth_event(
            uow, clock, where, "auth:password_change", user=fresh, details={"other_sessions_ended": ended}
        )
        uow.commit()
