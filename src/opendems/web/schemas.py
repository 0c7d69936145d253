"""API schemas, one per direction, built from domain objects."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from opendems.domain.cases import Case
from opendems.domain.custody import CustodyEvent
from opendems.domain.evidence import EvidenceItem
from opendems.domain.jobs import Job


class OriginalOut(BaseModel):
    sha256: str
    size: int
    mime_type: str
    filename: str
    stored_at: datetime


class DerivativeOut(BaseModel):
    id: int
    kind: str
    sha256: str
    size: int
    mime_type: str
    source_sha256: str
    tool: str
    tool_version: str
    parameters: dict[str, Any]
    created_at: datetime


class EvidenceOut(BaseModel):
    id: str
    kind: str
    title: str
    description: str
    status: str
    restriction: str
    captured_at: datetime | None
    captured_by: str | None
    device_make: str | None
    device_model: str | None
    device_serial: str | None
    latitude: float | None
    longitude: float | None
    category: str | None
    tags: list[str]
    custom_fields: dict[str, Any]
    case_numbers: list[str]
    created_at: datetime
    created_by: int
    updated_at: datetime | None
    original: OriginalOut | None
    derivatives: list[DerivativeOut]
    media: dict[str, Any] | None = Field(
        default=None, description="What probing the original found (streams, duration, size, place, device)."
    )

    @classmethod
    def of(cls, item: EvidenceItem) -> EvidenceOut:
        o = item.original
        return cls(
            id=item.id,
            kind=item.kind.value,
            title=item.title,
            description=item.description,
            status=item.status.value,
            restriction=item.restriction.value,
            captured_at=item.captured_at,
            captured_by=item.captured_by,
            device_make=item.device_make,
            device_model=item.device_model,
            device_serial=item.device_serial,
            latitude=item.latitude,
            longitude=item.longitude,
            category=item.category,
            tags=item.tags,
            custom_fields=item.custom_fields,
            case_numbers=item.case_numbers,
            created_at=item.created_at,
            created_by=item.created_by,
            updated_at=item.updated_at,
            media=item.media,
            original=OriginalOut(
                sha256=o.sha256,
                size=o.size,
                mime_type=o.mime_type,
                filename=o.filename,
                stored_at=o.stored_at,
            )
            if o
            else None,
            derivatives=[
                DerivativeOut(
                    id=d.id,
                    kind=d.kind,
                    sha256=d.sha256,
                    size=d.size,
                    mime_type=d.mime_type,
                    source_sha256=d.source_sha256,
                    tool=d.tool,
                    tool_version=d.tool_version,
                    parameters=d.parameters,
                    created_at=d.created_at,
                )
                for d in item.derivatives
            ],
        )


class EvidencePage(BaseModel):
    items: list[EvidenceOut]
    total: int
    limit: int
    offset: int


class IngestOut(BaseModel):
    item: EvidenceOut
    duplicate: bool = Field(description="true when the same bytes were already held as this item")
    warnings: list[str]


class EvidencePatch(BaseModel):
    """Fields to change; each edit needs a reason, recorded with old and new values."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000)
    title: str | None = None
    description: str | None = None
    captured_at: datetime | None = None
    captured_by: str | None = None
    device_make: str | None = None
    device_model: str | None = None
    device_serial: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    category: str | None = None
    custom_fields: dict[str, Any] | None = None
    restriction: str | None = None


class TagsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tags: list[str] = Field(min_length=1, max_length=100)
    reason: str | None = Field(default=None, max_length=2000)


class CustodyEventOut(BaseModel):
    seq: int
    at: str
    action: str
    actor_id: int | None
    actor_name: str
    object_type: str
    object_id: str
    service: str
    endpoint: str
    client_address: str | None
    user_agent: str | None
    outcome: str
    reason: str | None
    details: dict[str, Any]
    prev_hash: str
    event_hash: str

    @classmethod
    def of(cls, e: CustodyEvent) -> CustodyEventOut:
        return cls(
            **{k: v for k, v in e.hashed_fields().items() if k != "details"},
            details=e.details_dict,
            event_hash=e.event_hash,
        )


class CaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: str = Field(min_length=1, max_length=64)
    title: str = Field(min_length=1, max_length=200)
    incident_number: str | None = Field(default=None, max_length=64)
    case_type: str | None = Field(default=None, max_length=100)
    description: str | None = Field(default=None, max_length=10_000)


class CasePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000)
    title: str | None = Field(default=None, max_length=200)
    incident_number: str | None = Field(default=None, max_length=64)
    case_type: str | None = Field(default=None, max_length=100)
    description: str | None = Field(default=None, max_length=10_000)


class ReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000)


class CaseEvidenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    evidence_id: str
    reason: str | None = Field(default=None, max_length=2000)


class CaseOut(BaseModel):
    number: str
    title: str
    status: str
    incident_number: str | None
    case_type: str | None
    description: str
    created_at: datetime
    created_by: int
    closed_at: datetime | None
    restriction: str
    unit: str | None
    evidence_count: int

    @classmethod
    def of(cls, c: Case) -> CaseOut:
        return cls(
            number=c.number,
            title=c.title,
            status=c.status.value,
            incident_number=c.incident_number,
            case_type=c.case_type,
            description=c.description,
            created_at=c.created_at,
            created_by=c.created_by,
            closed_at=c.closed_at,
            restriction=c.restriction.value,
            unit=c.unit,
            evidence_count=c.evidence_count,
        )


class CasePage(BaseModel):
    items: list[CaseOut]
    total: int
    limit: int
    offset: int


class UploadOut(BaseModel):
    id: str
    length: int
    offset: int
    status: str
    evidence_id: str | None
    duplicate: bool
    error: str | None
    expires_at: datetime


class JobOut(BaseModel):
    id: int
    kind: str
    evidence_id: str | None
    state: str
    attempts: int
    max_attempts: int
    progress: float
    error: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, job: Job) -> JobOut:
        return cls(**{k: getattr(job, k) for k in cls.model_fields})
