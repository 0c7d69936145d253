"""Shares (create, list, follow, revoke, new access code, receipt) and court exports (request,
follow, download). What a recipient does through a share is in ``portal``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field

from opendems.domain.exports import Export, ExportContent
from opendems.domain.sharing import RecipientKind, Share, ShareAccess, ShareContent, ShareTerms
from opendems.services import exports as export_svc
from opendems.services import sharing as svc
from opendems.services.context import Actor
from opendems.services.share_access import export_layout, remember_crcs, zip_reader
from opendems.services.zipstream import stream_zip
from opendems.web.api.evidence import _content_disposition
from opendems.web.deps import actor, container
from opendems.web.schemas import CustodyEventOut, JobOut
from opendems.web.streaming import send

router = APIRouter(prefix="/api/v1", tags=["sharing"])
ActorDep = Annotated[Actor, Depends(actor)]


class ShareIn(BaseModel):
    recipient_kind: RecipientKind
    recipient_username: str | None = Field(None, description="an account of this system (kind user)")
    recipient_name: str = Field("", max_length=200, description="the person's name (kind link)")
    recipient_email: str | None = Field(None, max_length=320, description="kind link")
    evidence_ids: list[str] = []
    case_number: str | None = None
    export_ids: list[str] = []
    access: ShareAccess = ShareAccess.VIEW
    content: ShareContent = ShareContent.ORIGINAL
    expires_at: datetime | None = Field(None, description="default: in 30 days; at most a year")
    max_downloads: int | None = None
    watermark: bool = False
    reshare: bool = False
    note: str = Field("", max_length=2000)
    from_share: str | None = Field(None, description="reshare what this share gave you")


class ShareOut(BaseModel):
    id: str
    state: str
    created_by: str
    created_at: datetime
    recipient_kind: str
    recipient: str
    case_number: str | None
    objects: list[str]
    access: str
    content: str
    expires_at: datetime | None
    max_downloads: int | None
    downloads: int
    watermark: bool
    reshare: bool
    note: str
    revoked_at: datetime | None
    revoked_by: str | None
    revoke_reason: str | None
    parent_id: str | None

    @classmethod
    def of(cls, s: Share, now: datetime) -> ShareOut:
        t = s.terms
        return cls(
            id=s.id,
            state=s.state(now).value,
            created_by=s.created_by_name,
            created_at=s.created_at,
            recipient_kind=s.recipient_kind.value,
            recipient=s.recipient,
            case_number=s.case_number,
            objects=[f"{o.object_type}:{o.object_id}" for o in s.objects],
            access=t.access.value,
            content=t.content.value,
            expires_at=t.expires_at,
            max_downloads=t.max_downloads,
            downloads=s.downloads,
            watermark=t.watermark,
            reshare=t.reshare,
            note=s.note,
            revoked_at=s.revoked_at,
            revoked_by=s.revoked_by_name,
            revoke_reason=s.revoke_reason,
            parent_id=s.parent_id,
        )


class NewShareOut(BaseModel):
    share: ShareOut
    link: str | None = Field(description="the recipient's link (kind link); shown only now")
    access_code: str | None = Field(
        description="give it to the recipient by another channel than the link; shown only now"
    )


class ShareListOut(BaseModel):
    made: list[ShareOut]
    received: list[ShareOut]


class ShareDetailOut(BaseModel):
    share: ShareOut
    activity: list[CustodyEventOut]
    reshares: list[str]


class RevokeIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


class CodeOut(BaseModel):
    access_code: str


def link_of(request: Request, token: str) -> str:
    return str(request.base_url).rstrip("/") + f"/s/{token}"


@router.post("/shares", status_code=201, response_model=NewShareOut, summary="Share evidence")
def create(body: ShareIn, request: Request, who: ActorDep) -> NewShareOut:
    c = container(request)
    req = svc.ShareRequest(
        recipient_kind=body.recipient_kind,
        terms=ShareTerms(
            body.access, body.content, body.expires_at, body.max_downloads, body.watermark, body.reshare
        ),
        evidence_ids=body.evidence_ids,
        case_number=body.case_number,
        export_ids=body.export_ids,
        recipient_username=body.recipient_username,
        recipient_name=body.recipient_name,
        recipient_email=body.recipient_email,
        note=body.note,
        from_share=body.from_share,
    )
    made = svc.create_share(who, req, uow=c.uow(), clock=c.clock)
    return NewShareOut(
        share=ShareOut.of(made.share, c.clock.now()),
        link=link_of(request, made.link_token) if made.link_token else None,
        access_code=made.access_code,
    )


@router.get("/shares", response_model=ShareListOut, summary="Shares you made and shares made to you")
def listing(request: Request, who: ActorDep) -> ShareListOut:
    c = container(request)
    made, received = svc.list_shares(who, uow=c.uow(), clock=c.clock)
    now = c.clock.now()
    return ShareListOut(
        made=[ShareOut.of(s, now) for s in made], received=[ShareOut.of(s, now) for s in received]
    )


@router.get("/shares/{share_id}", response_model=ShareDetailOut, summary="A share and who opened what, when")
def detail(share_id: str, request: Request, who: ActorDep) -> ShareDetailOut:
    c = container(request)
    d = svc.share_detail(who, share_id, uow=c.uow(), clock=c.clock)
    return ShareDetailOut(
        share=ShareOut.of(d.share, c.clock.now()),
        activity=[CustodyEventOut.of(e) for e in d.activity],
        reshares=d.children,
    )


@router.post("/shares/{share_id}/revoke", response_model=ShareOut, summary="Revoke a share now")
def revoke(share_id: str, body: RevokeIn, request: Request, who: ActorDep) -> ShareOut:
    c = container(request)
    return ShareOut.of(
        svc.revoke_share(who, share_id, body.reason, uow=c.uow(), clock=c.clock), c.clock.now()
    )


@router.post("/shares/{share_id}/code", response_model=CodeOut, summary="A new access code (link shares)")
def new_code(share_id: str, request: Request, who: ActorDep) -> CodeOut:
    c = container(request)
    return CodeOut(access_code=svc.new_code(who, share_id, uow=c.uow(), clock=c.clock))


@router.get(
    "/shares/{share_id}/receipt.pdf",
    summary="The share's receipt (PDF): items, hashes, recipient and terms",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
def receipt(share_id: str, request: Request, who: ActorDep) -> Response:
    c = container(request)
    data = svc.share_receipt(who, share_id, agency=c.settings.agency_name, uow=c.uow(), clock=c.clock)
    pdf = c.reports.share_receipt_pdf(data)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": _content_disposition(f"{data.share_id}-receipt.pdf")},
    )


# Court exports


class ExportIn(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    evidence_ids: list[str] = []
    case_number: str | None = None
    content: ExportContent = ExportContent.ORIGINAL


class ExportOut(BaseModel):
    id: str
    title: str
    state: str
    content: str
    case_number: str | None
    evidence_ids: list[str]
    created_by: str
    created_at: datetime
    finished_at: datetime | None
    size: int | None
    files: int
    error: str | None
    job: JobOut | None = None

    @classmethod
    def of(cls, e: Export, job: Any = None) -> ExportOut:
        return cls(
            id=e.id,
            title=e.title,
            state=e.state.value,
            content=e.content.value,
            case_number=e.case_number,
            evidence_ids=e.evidence_ids,
            created_by=e.created_by_name,
            created_at=e.created_at,
            finished_at=e.finished_at,
            size=e.size,
            files=len(e.files),
            error=e.error,
            job=JobOut.of(job) if job else None,
        )


@router.post(
    "/exports", status_code=202, response_model=ExportOut, summary="Export items or a case for court"
)
def create_export(body: ExportIn, request: Request, who: ActorDep) -> ExportOut:
    c = container(request)
    e = export_svc.create_export(
        who,
        title=body.title,
        evidence_ids=body.evidence_ids,
        case_number=body.case_number,
        content=body.content,
        uow=c.uow(),
        clock=c.clock,
    )
    return ExportOut.of(e)


@router.get("/exports", response_model=list[ExportOut], summary="Court exports")
def list_exports(request: Request, who: ActorDep) -> list[ExportOut]:
    c = container(request)
    return [ExportOut.of(e) for e in export_svc.list_exports(who, uow=c.uow())]


@router.get("/exports/{export_id}", response_model=ExportOut, summary="An export and its job's progress")
def get_export(export_id: str, request: Request, who: ActorDep) -> ExportOut:
    c = container(request)
    status = export_svc.export_status(who, export_id, uow=c.uow(), clock=c.clock)
    return ExportOut.of(status.export, status.job)


@router.get(
    "/exports/{export_id}/package.zip",
    summary="Download the package: the BagIt bag as a ZIP (HTTP Range supported)",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/zip": {}}}, 206: {"description": "Partial content"}},
)
def download_export(export_id: str, request: Request, who: ActorDep) -> StreamingResponse:
    c = container(request)
    grant = export_svc.grant_package(who, export_id, request.headers.get("range"), uow=c.uow(), clock=c.clock)
    layout, sources = export_layout(grant.export)
    crcs = dict(grant.crcs)
    known = set(crcs)
    chunks = stream_zip(layout, grant.start, grant.end, zip_reader(sources, c.blobs, crcs), crcs)

    def done(sent: int, seconds: float, complete: bool) -> None:
        remember_crcs(crcs, known, uow=c.uow())
        export_svc.record_package_transfer(
            who,
            grant.export.id,
            bytes_sent=sent,
            seconds=seconds,
            complete=complete,
            uow=c.uow(),
            clock=c.clock,
        )

    return zip_response(
        chunks, grant.start, grant.end, len(layout), grant.partial, grant.export.zip_name, done
    )


def zip_response(
    chunks: Iterator[bytes],
    start: int,
    end: int,
    size: int,
    partial: bool,
    filename: str,
    done: Callable[[int, float, bool], None],
    *,
    still_open: Callable[[], bool] | None = None,
) -> StreamingResponse:
    """A ZIP streamed with its length known, resumable by Range; ``done`` records the transfer.
    ``still_open`` is asked every 64 MiB: False (a share revoked meanwhile) ends it there."""
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Length": str(end - start + 1),
        "Content-Disposition": _content_disposition(filename),
        "Cache-Control": "no-store",
    }
    if partial:
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"

    return StreamingResponse(
        send(chunks, done=done, still_open=still_open),
        status_code=206 if partial else 200,
        media_type="application/zip",
        headers=headers,
    )
