"""Named members of cases and evidence items, and a case's restriction level."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from opendems.services import members as svc
from opendems.services.context import Actor
from opendems.web.deps import actor, container
from opendems.web.schemas import CaseOut

router = APIRouter(prefix="/api/v1", tags=["access"])
ActorDep = Annotated[Actor, Depends(actor)]
ObjectType = Literal["cases", "evidence"]


class Members(BaseModel):
    members: list[str]


class MemberIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64)
    reason: str | None = Field(default=None, max_length=2000)


class RestrictionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    restriction: Literal["normal", "restricted", "sealed"]
    reason: str = Field(min_length=1, max_length=2000)


def _kind(plural: ObjectType) -> str:
    return "case" if plural == "cases" else "evidence"


@router.get("/{object_type}/{object_id}/members", response_model=Members, summary="Who is named on it")
def list_members(object_type: ObjectType, object_id: str, request: Request, who: ActorDep) -> Members:
    c = container(request)
    return Members(members=svc.list_members(who, _kind(object_type), object_id, uow=c.uow(), clock=c.clock))


@router.post(
    "/{object_type}/{object_id}/members", response_model=Members, status_code=201, summary="Name a user on it"
)
def add_member(
    object_type: ObjectType, object_id: str, body: MemberIn, request: Request, who: ActorDep
) -> Members:
    c = container(request)
    names = svc.change_member(
        who,
        _kind(object_type),
        object_id,
        body.username,
        add=True,
        reason=body.reason,
        uow=c.uow(),
        clock=c.clock,
    )
    return Members(members=names)


@router.delete(
    "/{object_type}/{object_id}/members/{username}", response_model=Members, summary="Take a user off"
)
def remove_member(
    object_type: ObjectType, object_id: str, username: str, request: Request, who: ActorDep, reason: str = ""
) -> Members:
    c = container(request)
    names = svc.change_member(
        who, _kind(object_type), object_id, username, add=False, reason=reason, uow=c.uow(), clock=c.clock
    )
    return Members(members=names)


@router.put("/cases/{number}/restriction", response_model=CaseOut, summary="Restrict or seal a case")
def restrict_case(number: str, body: RestrictionIn, request: Request, who: ActorDep) -> CaseOut:
    c = container(request)
    return CaseOut.of(
        svc.set_case_restriction(
            who, number, body.restriction, reason=body.reason, uow=c.uow(), clock=c.clock
        )
    )
