"""Users, roles, API tokens and sessions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from opendems.domain.accounts import RoleRecord, TokenRecord, UserRecord
from opendems.services import accounts as svc
from opendems.services.auth import sign_out_everywhere
from opendems.services.context import Actor
from opendems.web.deps import actor, container

router = APIRouter(prefix="/api/v1", tags=["accounts"])
ActorDep = Annotated[Actor, Depends(actor)]


class UserOut(BaseModel):
    username: str
    display_name: str
    role: str
    unit: str | None
    email: str | None
    status: str
    auth_source: str
    mfa_enrolled: bool
    locked: bool
    must_change_password: bool
    created_at: datetime
    last_login_at: datetime | None
    expires_at: datetime | None
    disabled_reason: str | None

    @classmethod
    def of(cls, u: UserRecord) -> UserOut:
        return cls(
            username=u.username,
            display_name=u.display_name,
            role=u.role,
            unit=u.unit,
            email=u.email,
            status=u.status,
            auth_source=u.auth_source,
            mfa_enrolled=u.mfa_enrolled_at is not None,
            locked=u.locked_at is not None,
            must_change_password=u.must_change_password,
            created_at=u.created_at,
            last_login_at=u.last_login_at,
            expires_at=u.expires_at,
            disabled_reason=u.disabled_reason,
        )


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64)
    role: str = Field(min_length=1, max_length=32)
    display_name: str = Field(default="", max_length=200)
    unit: str | None = Field(default=None, max_length=100)
    email: str | None = Field(default=None, max_length=320)
    expires_at: AwareDatetime | None = None  # a temporary account (with a time zone)
    password: str | None = Field(default=None, max_length=1024)  # none: a one-time password


class NewUserOut(BaseModel):
    user: UserOut
    one_time_password: str | None


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000)
    role: str | None = Field(default=None, max_length=32)
    unit: str | None = Field(default=None, max_length=100)
    display_name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    expires_at: AwareDatetime | None = None
    status: Literal["active", "disabled"] | None = None


class ReasonBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=2000)


class RoleOut(BaseModel):
    name: str
    description: str
    permissions: list[str]
    builtin: bool
    updated_at: datetime

    @classmethod
    def of(cls, r: RoleRecord) -> RoleOut:
        return cls(
            name=r.name,
            description=r.description,
            permissions=sorted(p.value for p in r.permissions),
            builtin=r.builtin,
            updated_at=r.updated_at,
        )


class RoleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    permissions: list[str] = Field(max_length=100)
    description: str | None = Field(default=None, max_length=500)


class TokenOut(BaseModel):
    id: int
    name: str
    prefix: str
    scopes: list[str] | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def of(cls, t: TokenRecord) -> TokenOut:
        return cls(**{k: getattr(t, k) for k in cls.model_fields})


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    username: str | None = Field(default=None, max_length=64)  # another user's: user:manage
    expires_at: AwareDatetime | None = None
    scopes: list[str] | None = Field(default=None, max_length=100)


class IssuedTokenOut(BaseModel):
    token: str = Field(description="Shown once; only its hash is kept.")
    record: TokenOut


class Ended(BaseModel):
    sessions_ended: int


@router.get("/users", response_model=list[UserOut], summary="Every account")
def list_users(request: Request, who: ActorDep) -> list[UserOut]:
    c = container(request)
    return [UserOut.of(u) for u in svc.list_users(who, uow=c.uow(), clock=c.clock)]


@router.post("/users", response_model=NewUserOut, status_code=201, summary="Create an account")
def create_user(body: UserIn, request: Request, who: ActorDep) -> NewUserOut:
    c = container(request)
    made = svc.create_user(
        who,
        body.username,
        body.role,
        display_name=body.display_name,
        password=body.password,
        unit=body.unit,
        email=body.email,
        expires_at=body.expires_at,
        uow=c.uow(),
        clock=c.clock,
    )
    return NewUserOut(user=UserOut.of(made.user), one_time_password=made.password)


@router.patch("/users/{username}", response_model=UserOut, summary="Change role, unit, status or expiry")
def change_user(username: str, body: UserPatch, request: Request, who: ActorDep) -> UserOut:
    c = container(request)
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    reason = changes.pop("reason")
    return UserOut.of(svc.update_user(who, username, changes, reason=reason, uow=c.uow(), clock=c.clock))


@router.post("/users/{username}/unlock", response_model=UserOut, summary="Release a locked account")
def unlock(username: str, body: ReasonBody, request: Request, who: ActorDep) -> UserOut:
    c = container(request)
    return UserOut.of(svc.unlock_user(who, username, reason=body.reason, uow=c.uow(), clock=c.clock))


@router.post("/users/{username}/mfa-reset", response_model=UserOut, summary="Forget a user's authenticator")
def mfa_reset(username: str, body: ReasonBody, request: Request, who: ActorDep) -> UserOut:
    c = container(request)
    return UserOut.of(svc.reset_mfa(who, username, reason=body.reason, uow=c.uow(), clock=c.clock))


class OneTimePassword(BaseModel):
    one_time_password: str = Field(description="Shown once; the user must change it at sign-in.")


@router.post(
    "/users/{username}/password-reset", response_model=OneTimePassword, summary="Issue a one-time password"
)
def password_reset(username: str, body: ReasonBody, request: Request, who: ActorDep) -> OneTimePassword:
    c = container(request)
    password = svc.reset_password(who, username, reason=body.reason, uow=c.uow(), clock=c.clock)
    return OneTimePassword(one_time_password=password)


@router.get("/roles", response_model=list[RoleOut], summary="Roles and their permissions")
def list_roles(request: Request, who: ActorDep) -> list[RoleOut]:
    c = container(request)
    return [RoleOut.of(r) for r in svc.list_roles(who, uow=c.uow(), clock=c.clock)]


@router.put("/roles/{name}", response_model=RoleOut, summary="Create a role or set its permissions")
def save_role(name: str, body: RoleIn, request: Request, who: ActorDep) -> RoleOut:
    c = container(request)
    saved = svc.save_role(
        who, name, body.permissions, description=body.description, uow=c.uow(), clock=c.clock
    )
    return RoleOut.of(saved)


@router.get("/tokens", response_model=list[TokenOut], summary="Your API tokens (or a user's)")
def list_tokens(request: Request, who: ActorDep, username: str | None = None) -> list[TokenOut]:
    c = container(request)
    name = username or who.principal.name
    return [TokenOut.of(t) for t in svc.list_tokens(who, name, uow=c.uow(), clock=c.clock)]


@router.post("/tokens", response_model=IssuedTokenOut, status_code=201, summary="Issue an API token")
def create_token(body: TokenIn, request: Request, who: ActorDep) -> IssuedTokenOut:
    c = container(request)
    issued = svc.create_token(
        who,
        body.username or who.principal.name,
        body.name,
        expires_at=body.expires_at,
        scopes=body.scopes,
        uow=c.uow(),
        clock=c.clock,
    )
    return IssuedTokenOut(token=issued.token, record=TokenOut.of(issued.record))


@router.delete("/tokens/{token_id}", response_model=TokenOut, summary="Revoke an API token")
def revoke_token(token_id: int, request: Request, who: ActorDep) -> TokenOut:
    c = container(request)
    return TokenOut.of(svc.revoke_token(who, token_id, uow=c.uow(), clock=c.clock))


@router.post("/sessions/end-all", response_model=Ended, summary="Sign out everywhere")
def end_all_sessions(request: Request, who: ActorDep) -> Ended:
    c = container(request)
    return Ended(sessions_ended=sign_out_everywhere(who, uow=c.uow(), clock=c.clock))
