"""Resumable uploads: the tus 1.0 protocol (core, creation, termination, checksum, expiration)."""

from __future__ import annotations

import base64
import binascii
import hashlib
from email.utils import format_datetime
from typing import Annotated

from anyio import CancelScope, to_thread
from fastapi import APIRouter, Depends, Header, Request, Response
from starlette.requests import ClientDisconnect

from opendems.bootstrap import Container
from opendems.domain.errors import ChecksumMismatch, DomainError, Invalid, UnsupportedMedia
from opendems.domain.uploads import UploadRecord
from opendems.services import uploads as svc
from opendems.services.context import Actor
from opendems.web.deps import actor, container
from opendems.web.schemas import UploadOut
from opendems.web.streaming import feed

router = APIRouter(prefix="/api/v1/uploads", tags=["uploads (tus 1.0)"])
ActorDep = Annotated[Actor, Depends(actor)]
TUS_VERSION = "1.0.0"
CHECKSUMS = {"sha256": hashlib.sha256, "sha1": hashlib.sha1}


class TusPreconditionFailed(DomainError):
    status = 412
    title = "Unsupported tus version"


def _tus(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {"Tus-Resumable": TUS_VERSION, **(extra or {})}


def _require_version(value: str | None) -> None:
    if value != TUS_VERSION:
        raise TusPreconditionFailed(
            f"this server speaks tus {TUS_VERSION}; send 'Tus-Resumable: {TUS_VERSION}'"
        )


def parse_metadata(raw: str | None) -> dict[str, str]:
    """Decode ``Upload-Metadata``: comma-separated ``key base64value`` pairs."""
    result: dict[str, str] = {}
    if not raw:
        return result
    for pair in raw.split(","):
        pair = pair.strip()
        if not pair:
            continue
        key, _, encoded = pair.partition(" ")
        if not key or key in result:
            raise Invalid("Upload-Metadata has an empty or repeated key")
        try:
            result[key] = base64.b64decode(encoded.strip(), validate=True).decode("utf-8") if encoded else ""
        except (binascii.Error, ValueError):
            raise Invalid(f"Upload-Metadata value for {key!r} is not valid base64 UTF-8") from None
    return result


@router.options("", status_code=204, summary="tus discovery")
def options(request: Request) -> Response:
    c = container(request)
    return Response(
        status_code=204,
        headers=_tus(
            {
                "Tus-Version": TUS_VERSION,
                "Tus-Extension": "creation,termination,checksum,expiration",
                "Tus-Checksum-Algorithm": ",".join(CHECKSUMS),
                "Tus-Max-Size": str(c.limits.max_upload_bytes),
            }
        ),
    )


@router.post("", status_code=201, summary="tus creation: announce a file and its metadata")
def create(
    request: Request,
    who: ActorDep,
    tus_resumable: Annotated[str | None, Header()] = None,
    upload_length: Annotated[str | None, Header()] = None,
    upload_metadata: Annotated[str | None, Header()] = None,
) -> Response:
    _require_version(tus_resumable)
    if upload_length is None or not upload_length.strip().isdigit():
        raise Invalid("Upload-Length must give the file's size in bytes (deferred length is not supported)")
    c = container(request)
    rec = svc.create_upload(
        who,
        int(upload_length),
        parse_metadata(upload_metadata),
        upload_metadata,
        uow=c.uow(),
        blobs=c.blobs,
        clock=c.clock,
        limits=c.limits,
    )
    return Response(
        status_code=201,
        headers=_tus(
            {
                "Location": f"/api/v1/uploads/{rec.id}",
                "Upload-Offset": "0",
                "Upload-Expires": format_datetime(rec.expires_at, usegmt=True),
            }
        ),
    )


def _offset(c: Container, rec: UploadRecord) -> int:
    if rec.status == "completed":
        return rec.length
    return c.blobs.resumable_offset(rec.id)


@router.head("/{upload_id}", summary="tus: how many bytes the server holds")
def head(upload_id: str, request: Request, who: ActorDep) -> Response:
    c = container(request)
    rec = svc.get_upload(who, upload_id, uow=c.uow())
    if rec.status not in {"open", "completed"}:
        return Response(status_code=410, headers=_tus())
    headers = _tus(
        {
            "Upload-Offset": str(_offset(c, rec)),
            "Upload-Length": str(rec.length),
            "Cache-Control": "no-store",
            "Upload-Expires": format_datetime(rec.expires_at, usegmt=True),
        }
    )
    if rec.raw_metadata:
        headers["Upload-Metadata"] = rec.raw_metadata
    return Response(status_code=200, headers=headers)


@router.get("/{upload_id}", response_model=UploadOut, summary="Upload status, and the evidence it became")
def status(upload_id: str, request: Request, who: ActorDep) -> UploadOut:
    c = container(request)
    rec = svc.get_upload(who, upload_id, uow=c.uow())
    offset = _offset(c, rec) if rec.status in {"open", "completed"} else 0
    return UploadOut(
        id=rec.id,
        length=rec.length,
        offset=offset,
        status=rec.status,
        evidence_id=rec.evidence_id,
        duplicate=rec.duplicate,
        error=rec.error,
        expires_at=rec.expires_at,
    )


def _checksum(header: str | None) -> tuple[str, bytes] | None:
    if not header:
        return None
    algo, _, encoded = header.strip().partition(" ")
    if algo.lower() not in CHECKSUMS:
        raise Invalid(f"checksum algorithm {algo!r} is not supported (use one of {', '.join(CHECKSUMS)})")
    try:
        return algo.lower(), base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise Invalid("Upload-Checksum value is not valid base64") from None


@router.patch("/{upload_id}", status_code=204, summary="tus: append bytes at Upload-Offset")
async def patch(
    upload_id: str,
    request: Request,
    who: ActorDep,
    tus_resumable: Annotated[str | None, Header()] = None,
    upload_offset: Annotated[str | None, Header()] = None,
    upload_checksum: Annotated[str | None, Header()] = None,
    content_type: Annotated[str | None, Header()] = None,
) -> Response:
    _require_version(tus_resumable)
    if (content_type or "").split(";")[0].strip().lower() != "application/offset+octet-stream":
        raise UnsupportedMedia("a tus PATCH must have Content-Type: application/offset+octet-stream")
    if upload_offset is None or not upload_offset.strip().isdigit():
        raise Invalid("Upload-Offset must give the byte offset this chunk starts at")
    checksum = _checksum(upload_checksum)
    c = container(request)
    append = await to_thread.run_sync(
        lambda: svc.begin_append(
            who, upload_id, int(upload_offset), uow=c.uow(), blobs=c.blobs, clock=c.clock
        )
    )
    chunk_hash = CHECKSUMS[checksum[0]]() if checksum else None
    if checksum:
        append.save_every = 0  # nothing of this chunk may be kept before its checksum is known

    def write(block: memoryview) -> None:
        if chunk_hash is not None:
            chunk_hash.update(block)
        append.write(block)

    try:
        await feed(request.stream(), write)
    except ClientDisconnect:
        # tus: keep what arrived (unless it cannot be checked against its checksum).
        with CancelScope(shield=True):
            await to_thread.run_sync(
                lambda: svc.complete_append(
                    who,
                    append,
                    checksum_ok=checksum is None,
                    uow=c.uow(),
                    blobs=c.blobs,
                    clock=c.clock,
                    limits=c.limits,
                )
            )
        raise
    except BaseException:
        with CancelScope(shield=True):
            await to_thread.run_sync(svc.abandon_append, append)
        raise
    checksum_ok = checksum is None or (chunk_hash is not None and chunk_hash.digest() == checksum[1])
    offset, result = await to_thread.run_sync(
        lambda: svc.complete_append(
            who, append, checksum_ok=checksum_ok, uow=c.uow(), blobs=c.blobs, clock=c.clock, limits=c.limits
        )
    )
    if not checksum_ok:
        raise ChecksumMismatch("the chunk does not match its Upload-Checksum; it was discarded, resend it")
    headers = _tus({"Upload-Offset": str(offset)})
    if result is None:
        headers["Upload-Expires"] = format_datetime(append.rec.expires_at, usegmt=True)
    if result is not None:
        headers["OpenDEMS-Evidence-Id"] = result.item.id
        headers["OpenDEMS-Duplicate"] = "true" if result.duplicate else "false"
        headers["OpenDEMS-SHA256"] = result.item.original.sha256 if result.item.original else ""
    return Response(status_code=204, headers=headers)


@router.delete("/{upload_id}", status_code=204, summary="tus termination: abandon an upload")
def terminate(
    upload_id: str, request: Request, who: ActorDep, tus_resumable: Annotated[str | None, Header()] = None
) -> Response:
    _require_version(tus_resumable)
    c = container(request)
    svc.terminate_upload(who, upload_id, uow=c.uow(), blobs=c.blobs, clock=c.clock)
    return Response(status_code=204, headers=_tus())
