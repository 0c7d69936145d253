"""Evidence: upload (single request), list, get, edit, tag, custody history, download."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from anyio import CancelScope, to_thread
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.requests import ClientDisconnect

from opendems.domain.errors import Invalid, TooLarge
from opendems.domain.evidence import EvidenceFilter, EvidenceKind, EvidenceSort, EvidenceStatus
from opendems.domain.jobs import JobState
from opendems.services import evidence as svc
from opendems.services.context import Actor
from opendems.services.ingest import prepare, store_original
from opendems.services.uploads import request_from_metadata
from opendems.web.deps import actor, container
from opendems.web.schemas import (
    CustodyEventOut,
    EvidenceOut,
    EvidencePage,
    EvidencePatch,
    IngestOut,
    JobOut,
    TagsIn,
)
from opendems.web.streaming import feed, repr_digest, send, sha256_from_digest_header

router = APIRouter(prefix="/api/v1/evidence", tags=["evidence"])
ActorDep = Annotated[Actor, Depends(actor)]


@router.post(
    "",
    status_code=201,
    response_model=IngestOut,
    summary="Upload one file in a single streaming request",
    description=(
        "Send the file as the raw request body (any Content-Type). Metadata goes in the query: "
        "filename (required), title, description, case, officer, captured_at (ISO 8601), device, "
        "device_make, device_model, category, tags (comma-separated), restriction, sha256, "
        "allow_mismatch. The SHA-256 may also come as an RFC 9530 Repr-Digest header; a "
        "mismatch stores nothing. A file already held answers 200 with duplicate=true."
    ),
)
async def upload(request: Request, who: ActorDep) -> JSONResponse:
    c = container(request)
    params = dict(request.query_params)
    header_digest = sha256_from_digest_header(
        request.headers.get("repr-digest") or request.headers.get("content-digest")
    )
    if header_digest:
        if params.get("sha256") and params["sha256"].lower() != header_digest:
            raise Invalid("the sha256 parameter and the digest header disagree")
        params["sha256"] = header_digest
    req = request_from_metadata(params, "api")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) == 0:
        raise Invalid("the file is empty: zero-length files cannot be evidence")
    await to_thread.run_sync(lambda: prepare(who, req, uow=c.uow(), clock=c.clock, limits=c.limits))
    writer = await to_thread.run_sync(c.blobs.writer)
    try:

        def write(block: memoryview) -> None:
            writer.write(block)
            if writer.size > c.limits.max_upload_bytes:
                raise TooLarge(f"files larger than {c.limits.max_upload_bytes} bytes are not accepted")

        await feed(request.stream(), write)
        if writer.size == 0:
            raise Invalid("the file is empty: zero-length files cannot be evidence")
        staged = await to_thread.run_sync(writer.finish)
    except ClientDisconnect:
        await to_thread.run_sync(writer.abort)
        raise Invalid("the client disconnected before the file was complete; nothing was stored") from None
    except BaseException:
        with CancelScope(shield=True):
            await to_thread.run_sync(writer.abort)
        raise
    result = await to_thread.run_sync(
        lambda: store_original(who, req, staged, uow=c.uow(), blobs=c.blobs, clock=c.clock, limits=c.limits)
    )
    body = IngestOut(item=EvidenceOut.of(result.item), duplicate=result.duplicate, warnings=result.warnings)
    return JSONResponse(
        body.model_dump(mode="json"),
        status_code=200 if result.duplicate else 201,
        headers={"Location": f"/api/v1/evidence/{result.item.id}"},
    )


@router.get(
    "", response_model=EvidencePage, summary="List evidence the caller may see (newest first by default)"
)
def list_items(
    request: Request,
    who: ActorDep,
    kind: EvidenceKind | None = None,
    case: str | None = None,
    officer: str | None = None,
    device: str | None = None,
    tag: str | None = None,
    category: str | None = None,
    captured_from: datetime | None = None,
    captured_to: datetime | None = None,
    status: EvidenceStatus | None = None,
    q: Annotated[
        str | None, Query(max_length=200, description="words in the title, or part of the id")
    ] = None,
    mine: Annotated[bool, Query(description="only items the caller uploaded")] = False,
    sort: EvidenceSort = EvidenceSort.NEWEST,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> EvidencePage:
    c = container(request)
    f = EvidenceFilter(
        kind=kind,
        case_number=case,
        officer=officer,
        device=device,
        tag=tag,
        category=category,
        captured_from=captured_from,
        captured_to=captured_to,
        status=status,
        q=q,
        uploaded_by=who.principal.id if mine else None,
        sort=sort,
    )
    items, total = svc.list_evidence(who, f, limit=limit, offset=offset, uow=c.uow(), clock=c.clock)
    return EvidencePage(items=[EvidenceOut.of(i) for i in items], total=total, limit=limit, offset=offset)


@router.get("/{evidence_id}", response_model=EvidenceOut, summary="One item (recorded as a view)")
def get_item(evidence_id: str, request: Request, who: ActorDep) -> EvidenceOut:
    c = container(request)
    return EvidenceOut.of(svc.get_evidence(who, evidence_id, uow=c.uow(), clock=c.clock))


@router.patch("/{evidence_id}", response_model=EvidenceOut, summary="Edit metadata (a reason is required)")
def edit_item(evidence_id: str, patch: EvidencePatch, request: Request, who: ActorDep) -> EvidenceOut:
    c = container(request)
    changes: dict[str, Any] = patch.model_dump(exclude_unset=True)
    reason = changes.pop("reason")
    item = svc.edit_evidence(
        who, evidence_id, changes, reason=reason, uow=c.uow(), clock=c.clock, limits=c.limits
    )
    return EvidenceOut.of(item)


@router.post("/{evidence_id}/tags", response_model=EvidenceOut, summary="Add tags")
def add_tags(evidence_id: str, body: TagsIn, request: Request, who: ActorDep) -> EvidenceOut:
    c = container(request)
    item = svc.change_tags(
        who, evidence_id, add=body.tags, reason=body.reason, uow=c.uow(), clock=c.clock, limits=c.limits
    )
    return EvidenceOut.of(item)


@router.delete("/{evidence_id}/tags/{tag}", response_model=EvidenceOut, summary="Remove a tag")
def remove_tag(
    evidence_id: str, tag: str, request: Request, who: ActorDep, reason: str | None = None
) -> EvidenceOut:
    c = container(request)
    item = svc.change_tags(
        who, evidence_id, remove=[tag], reason=reason, uow=c.uow(), clock=c.clock, limits=c.limits
    )
    return EvidenceOut.of(item)


@router.get(
    "/{evidence_id}/derivatives/{kind}",
    summary="Stream a derivative: proxy, poster, preview or thumbnail (HTTP Range supported)",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"video/mp4": {}, "image/jpeg": {}}},
        206: {"description": "Partial content"},
    },
)
def play(evidence_id: str, kind: str, request: Request, who: ActorDep) -> StreamingResponse:
    c = container(request)
    grant = svc.grant_playback(
        who, evidence_id, kind, request.headers.get("range"), uow=c.uow(), clock=c.clock
    )
    d = grant.derivative
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Length": str(grant.length),
        "ETag": f'"{d.sha256}"',
        "X-Content-SHA256": d.sha256,
        "Cache-Control": "private, no-store",
    }
    if grant.partial:
        headers["Content-Range"] = f"bytes {grant.start}-{grant.end}/{d.size}"

    return StreamingResponse(
        send(c.blobs.read_range(d.blob_key, grant.start, grant.end)),
        status_code=206 if grant.partial else 200,
        media_type=d.mime_type,
        headers=headers,
    )


@router.get("/{evidence_id}/jobs", response_model=list[JobOut], summary="The item's processing jobs")
def jobs(evidence_id: str, request: Request, who: ActorDep) -> list[JobOut]:
    c = container(request)
    return [JobOut.of(j) for j in svc.item_jobs(who, evidence_id, uow=c.uow(), clock=c.clock)]


@router.get(
    "/{evidence_id}/custody",
    response_model=list[CustodyEventOut],
    summary="The item's chain-of-custody history, in order",
)
def custody(evidence_id: str, request: Request, who: ActorDep) -> list[CustodyEventOut]:
    c = container(request)
    return [CustodyEventOut.of(e) for e in svc.custody_history(who, evidence_id, uow=c.uow(), clock=c.clock)]


def _content_disposition(filename: str) -> str:
    fallback = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\' else "_" for ch in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


@router.get(
    "/{evidence_id}/original",
    summary="Download the original (HTTP Range supported)",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}}, 206: {"description": "Partial content"}},
)
def download(
    evidence_id: str,
    request: Request,
    who: ActorDep,
    reason: Annotated[
        str | None, Query(max_length=2000, description="Why the original is downloaded (kept in custody)")
    ] = None,
) -> StreamingResponse:
    c = container(request)
    grant = svc.grant_download(
        who, evidence_id, request.headers.get("range"), uow=c.uow(), clock=c.clock, reason=reason
    )
    original = grant.item.original
    assert original is not None
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Length": str(grant.length),
        "ETag": f'"{original.sha256}"',
        "X-Content-SHA256": original.sha256,
        "Repr-Digest": repr_digest(original.sha256),
        "Content-Disposition": _content_disposition(original.filename),
        "Cache-Control": "no-store",
    }
    if grant.partial:
        headers["Content-Range"] = f"bytes {grant.start}-{grant.end}/{grant.size}"

    def done(sent: int, seconds: float, complete: bool) -> None:
        svc.record_transfer(
            who, grant, bytes_sent=sent, seconds=seconds, complete=complete, uow=c.uow(), clock=c.clock
        )

    body = send(c.blobs.read_range(original.blob_key, grant.start, grant.end), done=done)
    return StreamingResponse(
        body, status_code=206 if grant.partial else 200, media_type=original.mime_type, headers=headers
    )


jobs_router = APIRouter(prefix="/api/v1/jobs", tags=["evidence"])


@jobs_router.get(
    "", response_model=list[JobOut], summary="The processing queue (jobs on evidence you may see)"
)
def list_jobs(
    request: Request,
    who: ActorDep,
    state: JobState | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[JobOut]:
    c = container(request)
    return [JobOut.of(j) for j in svc.queue(who, state, limit=limit, uow=c.uow(), clock=c.clock)]


@jobs_router.post("/{job_id}/retry", response_model=JobOut, summary="Run a failed job again")
def retry_job(job_id: int, request: Request, who: ActorDep) -> JobOut:
    c = container(request)
    return JobOut.of(svc.retry_job(who, job_id, uow=c.uow(), clock=c.clock))
