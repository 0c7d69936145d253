"""The audit trail: search (JSON) and export (CSV). Both are recorded in the trail."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime, BaseModel

from opendems.domain.custody import AuditQuery, CustodyEvent
from opendems.services import audit as svc
from opendems.services.context import Actor
from opendems.web.deps import actor, container

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])
ActorDep = Annotated[Actor, Depends(actor)]


class AuditEventOut(BaseModel):
    seq: int
    at: str
    action: str
    outcome: str
    actor_id: int | None
    actor_name: str
    object_type: str
    object_id: str
    service: str
    endpoint: str
    client_address: str | None
    user_agent: str | None
    reason: str | None
    details: dict[str, object]
    event_hash: str

    @classmethod
    def of(cls, e: CustodyEvent) -> AuditEventOut:
        fields = {k: getattr(e, k) for k in cls.model_fields if k != "details"}
        return cls(**fields, details=e.details_dict)


class AuditPage(BaseModel):
    items: list[AuditEventOut]
    total: int
    limit: int
    offset: int


def _query(
    actor_name: Annotated[str | None, Query(alias="actor", max_length=200)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    object_type: Annotated[str | None, Query(max_length=32)] = None,
    object_id: Annotated[str | None, Query(max_length=100)] = None,
    outcome: Literal["success", "denied", "failed"] | None = None,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
) -> AuditQuery:
    return AuditQuery(
        actor=actor_name,
        action=action,
        object_type=object_type,
        object_id=object_id,
        outcome=outcome,
        since=since,
        until=until,
    )


QueryDep = Annotated[AuditQuery, Depends(_query)]


@router.get("", response_model=AuditPage, summary="Search the audit trail (oldest first)")
def search(
    request: Request,
    who: ActorDep,
    q: QueryDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> AuditPage:
    c = container(request)
    events, total = svc.search(who, q, limit=limit, offset=offset, uow=c.uow(), clock=c.clock)
    return AuditPage(items=[AuditEventOut.of(e) for e in events], total=total, limit=limit, offset=offset)


@router.get("/export.csv", summary="Export matching events as CSV", response_class=StreamingResponse)
def export(request: Request, who: ActorDep, q: QueryDep) -> StreamingResponse:
    c = container(request)
    rows = svc.export_csv(who, q, uow=c.uow(), clock=c.clock)
    return StreamingResponse(
        rows,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="opendems-audit.csv"'},
    )
