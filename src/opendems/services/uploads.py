"""Resumable uploads (tus 1.0): create, append at an offset, finish into evidence."""

from __future__ import annotations

import contextlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from opendems.domain.errors import Conflict, DomainError, Gone, Invalid, NotFound, TooLarge
from opendems.domain.evidence import Restriction
from opendems.domain.uploads import UploadRecord
from opendems.ports import BlobStore, Clock, ResumableUpload, StagedBlob, UnitOfWork
from opendems.services.context import Actor, Limits
from opendems.services.custody import record
from opendems.services.ingest import (
    IngestRequest,
    IngestResult,
    check_size,
    prepare,
    store_original,
)

# Upload-Metadata keys we understand, and the request field each fills.
METADATA_KEYS = {
    "filename": "filename",
    "name": "filename",
    "title": "title",
    "description": "description",
    "case": "case_number",
    "case_number": "case_number",
    "officer": "captured_by",
    "captured_by": "captured_by",
    "captured_at": "captured_at",
    "device": "device_serial",
    "device_serial": "device_serial",
    "device_make": "device_make",
    "device_model": "device_model",
    "category": "category",
    "tags": "tags",
    "restriction": "restriction",
    "sha256": "expected_sha256",
    "allow_mismatch": "allow_mismatch",
}


def request_from_metadata(metadata: dict[str, str], via: str) -> IngestRequest:
    """Build an ingest request from tus metadata (or query parameters)."""
    fields: dict[str, Any] = {"via": via}
    for key, value in metadata.items():
        target = METADATA_KEYS.get(key)
        if target is None:
            continue
        if target == "tags":
            fields["tags"] = [t for t in value.split(",") if t.strip()]
        elif target == "captured_at":
            try:
                fields["captured_at"] = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            except ValueError:
                raise Invalid(f"captured_at {value!r} is not an ISO 8601 date and time") from None
        elif target == "restriction":
            try:
                fields["restriction"] = Restriction(value.strip())
            except ValueError:
                raise Invalid(f"restriction {value!r} is not one of normal, restricted, sealed") from None
        elif target == "allow_mismatch":
            fields["allow_mismatch"] = value.strip().lower() in {"1", "true", "yes"}
        else:
            fields[target] = value
    if not fields.get("filename"):
        raise Invalid("the upload metadata must name the file (key 'filename')")
    return IngestRequest(**fields)


def create_upload(
    actor: Actor,
    length: int,
    metadata: dict[str, str],
    raw_metadata: str | None,
    *,
    uow: UnitOfWork,
    blobs: BlobStore,
    clock: Clock,
    limits: Limits,
) -> UploadRecord:
    """Validate everything about the coming file and open its encrypted staging area."""
    check_size(length, limits)
    req = request_from_metadata(metadata, "tus")
    prepare(actor, req, uow=uow, clock=clock, limits=limits)
    upload_id = secrets.token_hex(16)
    now = clock.now()
    rec = UploadRecord(
        id=upload_id,
        length=length,
        metadata=metadata,
        raw_metadata=raw_metadata,
        created_by=actor.principal.id,
        created_at=now,
        expires_at=now + timedelta(hours=limits.upload_expiry_hours),
        status="open",
        evidence_id=None,
        duplicate=False,
        error=None,
    )
    blobs.create_resumable(upload_id)
    try:
        with uow:
            uow.uploads.add(rec)
            record(
                uow,
                actor,
                "upload:create",
                "upload",
                upload_id,
                clock=clock,
                details={"filename": req.filename, "length": length},
            )
            uow.commit()
    except BaseException:
        blobs.discard_resumable(upload_id)
        raise
    return rec


def get_upload(actor: Actor, upload_id: str, *, uow: UnitOfWork) -> UploadRecord:
    """The upload, if the actor started it (others are told it does not exist)."""
    with uow.for_reading() as reader:
        rec = reader.uploads.get(upload_id)
    if rec is None or rec.created_by != actor.principal.id:
        raise NotFound(f"upload {upload_id} does not exist")
    return rec


@dataclass
class Append:
    """An open append to one upload: the web layer feeds bytes, then calls ``complete``."""

    rec: UploadRecord
    handle: ResumableUpload
    start: int
    # Save progress every this many bytes inside one long request, so a crash mid-request
    # loses at most this much (0: only at the end, as when a chunk checksum must be checked).
    save_every: int = 32 * 1024 * 1024
    _saved_at: int = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self.handle.offset + len(data) > self.rec.length:
            raise TooLarge("more bytes were sent than the upload's announced length")
        self.handle.append(data)
        offset = self.handle.offset
        if (
            self.save_every
            and offset - max(self._saved_at, self.start) >= self.save_every
            and offset < self.rec.length
        ):
            self.handle.savepoint()
            self._saved_at = offset


def begin_append(
    actor: Actor, upload_id: str, offset: int, *, uow: UnitOfWork, blobs: BlobStore, clock: Clock
) -> Append:
    rec = get_upload(actor, upload_id, uow=uow)
    if rec.status == "completed":
        raise Conflict(f"upload {upload_id} is complete (evidence {rec.evidence_id})")
    if rec.status == "failed":
        raise Conflict(f"upload {upload_id} failed: {rec.error}")
    if rec.status != "open":
        raise Gone(f"upload {upload_id} was {rec.status}; start a new upload")
    if rec.expires_at <= clock.now():
        raise NotFound(f"upload {upload_id} has expired")
    handle = blobs.open_resumable(upload_id, length=rec.length)
    if handle.offset != offset:
        current = handle.offset
        handle.close()
        raise Conflict(f"Upload-Offset {offset} does not match the upload's offset {current}")
    return Append(rec, handle, offset)


def complete_append(
    actor: Actor,
    append: Append,
    *,
    checksum_ok: bool,
    uow: UnitOfWork,
    blobs: BlobStore,
    clock: Clock,
    limits: Limits,
) -> tuple[int, IngestResult | None]:
    """Keep the bytes received (or roll them back when the chunk checksum failed); when the
    upload is whole, commit it as evidence. Returns (offset, result when finished).

    The last bytes are never recorded as received before their evidence is committed: if
    anything fails on the way, the client sees the earlier offset and resends them."""
    handle = append.handle
    try:
        if not checksum_ok:
            handle.rollback()
            return handle.offset, None
        if handle.offset < append.rec.length:
            handle.savepoint()
            return handle.offset, None
        offset = handle.offset
        staged = handle.finish()
    finally:
        handle.close()
    return offset, _finish(actor, append.rec, staged, uow=uow, blobs=blobs, clock=clock, limits=limits)


def abandon_append(append: Append) -> None:
    """A request failed midway: keep what was saved before it, drop the rest."""
    try:
        append.handle.rollback()
    finally:
        append.handle.close()


def _finish(
    actor: Actor,
    rec: UploadRecord,
    staged: StagedBlob,
    *,
    uow: UnitOfWork,
    blobs: BlobStore,
    clock: Clock,
    limits: Limits,
) -> IngestResult:
    req = request_from_metadata(rec.metadata, "tus")
    try:
        prepare(actor, req, uow=uow, clock=clock, limits=limits)
        return store_original(
            actor, req, staged, uow=uow, blobs=blobs, clock=clock, limits=limits, upload_id=rec.id
        )
    except DomainError as exc:
        # Refused for good (wrong digest, closed case...): the upload ends here.
        blobs.discard_resumable(rec.id)
        with uow:
            uow.uploads.set_status(rec.id, "failed", error=str(exc))
            uow.commit()
        raise
    finally:
        blobs.discard(staged)  # the staged copy; the upload's own bytes stay until it ends
        with contextlib.suppress(Exception), uow:
            current = uow.uploads.get(rec.id)
            if current is not None and current.status == "completed":
                blobs.discard_resumable(rec.id)


def terminate_upload(
    actor: Actor, upload_id: str, *, uow: UnitOfWork, blobs: BlobStore, clock: Clock
) -> None:
    rec = get_upload(actor, upload_id, uow=uow)
    if rec.status == "completed":
        raise Conflict(f"upload {upload_id} is complete; evidence is never deleted this way")
    handle = blobs.open_resumable(upload_id) if rec.status == "open" else None
    if handle:
        handle.close()
    blobs.discard_resumable(upload_id)
    with uow:
        uow.uploads.set_status(upload_id, "terminated")
        record(uow, actor, "upload:terminate", "upload", upload_id, clock=clock)
        uow.commit()


def expire_uploads(uow: UnitOfWork, blobs: BlobStore, clock: Clock) -> int:
    with uow:
        expired = uow.uploads.expired_open(clock.now())
        for upload_id in expired:
            uow.uploads.set_status(upload_id, "expired")
        uow.commit()
    for upload_id in expired:
        blobs.discard_resumable(upload_id)
    return len(expired)
