"""Evidence categories: the agency's list (read by whoever sees evidence, changed by holders
of category:manage)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from opendems.domain.categories import Category
from opendems.services import categories as svc
from opendems.services.context import Actor
from opendems.web.deps import actor, container

router = APIRouter(prefix="/api/v1/categories", tags=["categories"])
ActorDep = Annotated[Actor, Depends(actor)]


class CategoryOut(BaseModel):
    id: int
    name: str
    description: str
    retention_days: int | None
    active: bool
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str

    @classmethod
    def of(cls, c: Category) -> CategoryOut:
        return cls(**{k: getattr(c, k) for k in cls.model_fields})


class CategoryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=2000)
    retention_days: int | None = Field(
        default=None, ge=1, le=36_500, description="Kept for the retention schedule."
    )


class CategoryPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=2000)
    retention_days: int | None = Field(default=None, ge=1, le=36_500)
    active: bool | None = None
    reason: str | None = Field(default=None, max_length=2000)


class ReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=2000)


@router.get("", response_model=list[CategoryOut], summary="The agency's evidence categories")
def list_categories(request: Request, who: ActorDep, include_inactive: bool = False) -> list[CategoryOut]:
    c = container(request)
    found = svc.list_categories(who, include_inactive=include_inactive, uow=c.uow(), clock=c.clock)
    return [CategoryOut.of(x) for x in found]


@router.post("", response_model=CategoryOut, status_code=201, summary="Add a category")
def create_category(body: CategoryIn, request: Request, who: ActorDep) -> CategoryOut:
    c = container(request)
    made = svc.create_category(
        who,
        body.name,
        description=body.description,
        retention_days=body.retention_days,
        uow=c.uow(),
        clock=c.clock,
    )
    return CategoryOut.of(made)


@router.patch(
    "/{category_id}", response_model=CategoryOut, summary="Rename, describe, set retention or (de)activate"
)
def change_category(category_id: int, body: CategoryPatch, request: Request, who: ActorDep) -> CategoryOut:
    c = container(request)
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    reason = changes.pop("reason", None)
    if changes.get("name") is None:
        changes.pop("name", None)
    if changes.get("active") is None:
        changes.pop("active", None)
    saved = svc.update_category(who, category_id, changes, reason=reason, uow=c.uow(), clock=c.clock)
    return CategoryOut.of(saved)


@router.post(
    "/{category_id}/deactivate",
    response_model=CategoryOut,
    summary="Deactivate a category (items filed under it keep it)",
)
def deactivate(
    category_id: int, request: Request, who: ActorDep, body: ReasonIn | None = None
) -> CategoryOut:
    c = container(request)
    reason = body.reason if body else None
    return CategoryOut.of(
        svc.deactivate_category(who, category_id, reason=reason, uow=c.uow(), clock=c.clock)
    )
