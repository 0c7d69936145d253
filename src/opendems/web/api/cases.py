"""Cases: create, list, get, edit, close and reopen; add, remove and list evidence."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from opendems.domain.cases import CaseStatus
from opendems.services import cases as svc
from opendems.services.context import Actor
from opendems.web.deps import actor, container
from opendems.web.schemas import (
    CaseEvidenceIn,
    CaseIn,
    CaseOut,
    CasePage,
    CasePatch,
    EvidenceOut,
    ReasonIn,
)

router = APIRouter(prefix="/api/v1/cases", tags=["cases"])
ActorDep = Annotated[Actor, Depends(actor)]


@router.post("", status_code=201, response_model=CaseOut, summary="Open a case")
def create(body: CaseIn, request: Request, who: ActorDep) -> CaseOut:
    c = container(request)
    fields: dict[str, Any] = body.model_dump(exclude={"number"})
    return CaseOut.of(svc.create_case(who, body.number, fields, uow=c.uow(), clock=c.clock))


@router.get("", response_model=CasePage, summary="List cases, newest first")
def list_cases(
    request: Request,
    who: ActorDep,
    status: CaseStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> CasePage:
    c = container(request)
    items, total = svc.list_cases(who, status=status, limit=limit, offset=offset, uow=c.uow())
    return CasePage(items=[CaseOut.of(i) for i in items], total=total, limit=limit, offset=offset)


@router.get("/{number}", response_model=CaseOut)
def get(number: str, request: Request, who: ActorDep) -> CaseOut:
    c = container(request)
    return CaseOut.of(svc.get_case(who, number, uow=c.uow(), clock=c.clock))


@router.patch("/{number}", response_model=CaseOut, summary="Edit a case (a reason is required)")
def edit(number: str, patch: CasePatch, request: Request, who: ActorDep) -> CaseOut:
    c = container(request)
    changes = patch.model_dump(exclude_unset=True)
    reason = changes.pop("reason")
    return CaseOut.of(svc.edit_case(who, number, changes, reason=reason, uow=c.uow(), clock=c.clock))


@router.post("/{number}/close", response_model=CaseOut)
def close(number: str, body: ReasonIn, request: Request, who: ActorDep) -> CaseOut:
    c = container(request)
    return CaseOut.of(
        svc.set_case_status(who, number, close=True, reason=body.reason, uow=c.uow(), clock=c.clock)
    )


@router.post("/{number}/reopen", response_model=CaseOut)
def reopen(number: str, body: ReasonIn, request: Request, who: ActorDep) -> CaseOut:
    c = container(request)
    return CaseOut.of(
        svc.set_case_status(who, number, close=False, reason=body.reason, uow=c.uow(), clock=c.clock)
    )


@router.get("/{number}/evidence", response_model=list[EvidenceOut], summary="The case's evidence")
def members(number: str, request: Request, who: ActorDep) -> list[EvidenceOut]:
    c = container(request)
    return [EvidenceOut.of(i) for i in svc.case_evidence(who, number, uow=c.uow(), clock=c.clock)]


class TimelineItem(BaseModel):
    evidence_id: str
    kind: str
    title: str
    starts_at: datetime | None
    duration_s: float | None
    offset_s: float | None = Field(
        description="Seconds after the case's earliest capture start; null when untimed."
    )
    has_proxy: bool


@router.get(
    "/{number}/timeline",
    response_model=list[TimelineItem],
    summary="The case's evidence aligned on capture time (synchronised multi-camera playback)",
)
def timeline(number: str, request: Request, who: ActorDep) -> list[TimelineItem]:
    c = container(request)
    return [
        TimelineItem(
            evidence_id=e.item.id,
            kind=e.item.kind.value,
            title=e.item.title,
            starts_at=e.starts_at,
            duration_s=e.duration_s,
            offset_s=e.offset_s,
            has_proxy=any(d.kind == "proxy" for d in e.item.derivatives),
        )
        for e in svc.case_timeline(who, number, uow=c.uow(), clock=c.clock)
    ]


@router.post("/{number}/evidence", response_model=CaseOut, status_code=201, summary="Add evidence to a case")
def add(number: str, body: CaseEvidenceIn, request: Request, who: ActorDep) -> CaseOut:
    c = container(request)
    return CaseOut.of(
        svc.add_evidence(who, number, body.evidence_id, reason=body.reason, uow=c.uow(), clock=c.clock)
    )


@router.delete(
    "/{number}/evidence/{evidence_id}",
    response_model=CaseOut,
    summary="Remove evidence (a reason is required)",
)
def remove(number: str, evidence_id: str, request: Request, who: ActorDep, reason: str = "") -> CaseOut:
    c = container(request)
    return CaseOut.of(
        svc.remove_evidence(who, number, evidence_id, reason=reason, uow=c.uow(), clock=c.clock)
    )
