"""Service status and the caller's identity."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from opendems import __version__
from opendems.services.context import Actor
from opendems.web.deps import actor

router = APIRouter(prefix="/api/v1", tags=["system"])


class Health(BaseModel):
    status: str
    version: str


class Me(BaseModel):
    id: int
    name: str
    role: str
    unit: str | None
    via: str
    permissions: list[str]


@router.get("/health", response_model=Health, summary="Liveness (no authentication)")
def health() -> Health:
    return Health(status="ok", version=__version__)


@router.get("/me", response_model=Me, summary="Who the token or session stands for")
def me(who: Annotated[Actor, Depends(actor)]) -> Me:
    p = who.principal
    return Me(
        id=p.id,
        name=p.name,
        role=p.role,
        unit=p.unit,
        via=p.via,
        permissions=sorted(x.value for x in p.permissions),
    )
