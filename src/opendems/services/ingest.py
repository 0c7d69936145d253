"""Acquiring originals: stream once (hash + encrypt + write), then commit atomically with the
database record and its custody event. Nothing half-stored survives any failure."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from opendems.adapters.media.detect import detect_mime
from opendems.domain.access import Permission
from opendems.domain.cases import check_case_number
from opendems.domain.errors import (
    Conflict,
    DigestMismatch,
    Invalid,
    NotFound,
    TooLarge,
    UnsupportedMedia,
)
from opendems.domain.evidence import (
    EvidenceItem,
    EvidenceStatus,
    Original,
    Restriction,
    check_field,
    check_sha256,
    check_tags,
    format_evidence_id,
    kind_for_mime,
)
from opendems.domain.files import contradiction, validate_filename
from opendems.ports import BlobStore, Clock, StagedBlob, UnitOfWork
from opendems.services.cases import link_to_case, require_restrict_for
from opendems.services.categories import category_for
from opendems.services.context import Actor, Limits
from opendems.services.custody import authorize, may, record
from opendems.services.media import jobs_for


@dataclass
class IngestRequest:
    """What the submitter says about a file. Validated before any byte is stored."""

    filename: str
    title: str | None = None
    description: str = ""
    case_number: str | None = None
    captured_by: str | None = None
    captured_at: datetime | None = None
    device_serial: str | None = None
    device_make: str | None = None
    device_model: str | None = None
    category: str | None = None
    tags: list[str] = field(default_factory=list)
    restriction: Restriction = Restriction.NORMAL
    expected_sha256: str | None = None
    allow_mismatch: bool = False
    via: str = "api"  # api | tus | cli


@dataclass
class IngestResult:
    item: EvidenceItem
    duplicate: bool
    warnings: list[str] = field(default_factory=list)


def check_request(req: IngestRequest, limits: Limits) -> IngestRequest:
    """Normalise and validate every field; raise ``Invalid`` naming the first bad one."""
    m = limits.metadata
    validate_filename(req.filename)
    req.title = check_field("title", req.title or req.filename, m)
    req.description = check_field("description", req.description, m) or ""
    for name in ("captured_by", "device_serial", "device_make", "device_model", "category"):
        setattr(req, name, check_field(name, getattr(req, name), m))
    req.captured_at = check_field("captured_at", req.captured_at, m)
    req.tags = check_tags(req.tags, m)
    if req.case_number is not None:
        req.case_number = check_case_number(req.case_number)
    if req.expected_sha256 is not None:
        req.expected_sha256 = check_sha256(req.expected_sha256)
    return req


def prepare(actor: Actor, req: IngestRequest, *, uow: UnitOfWork, clock: Clock, limits: Limits) -> None:
    """Everything that can be refused before the bytes arrive: permission, metadata, case."""
    check_request(req, limits)
    with uow:
        authorize(
            uow,
            actor,
            Permission.EVIDENCE_CREATE,
            clock=clock,
            action="evidence:ingest",
            object_type="evidence",
            object_id=req.filename,
        )
        if req.restriction is not Restriction.NORMAL:
            # Hiding evidence at upload is as much a restriction change as hiding it later.
            authorize(
                uow,
                actor,
                Permission.EVIDENCE_RESTRICT,
                clock=clock,
                action="evidence:ingest",
                object_type="evidence",
                object_id=req.filename,
            )
        req.category = category_for(uow, req.category)
        if req.case_number:
            case = uow.cases.get(req.case_number)
            if case is None or not may(uow, actor, Permission.CASE_VIEW, case=case):
                raise NotFound(f"case {req.case_number} not found")
            case.require_open()
            require_restrict_for(actor, case, "evidence:ingest", uow=uow, clock=clock)


def _unit_of(uow: UnitOfWork, captured_by: str | None) -> str | None:
    """The unit of the officer who captured it, when they have an account: a dock offload
    by a custodian still belongs to the officer's unit (their supervisor's scope)."""
    if not captured_by:
        return None
    officer = uow.accounts.user_by_name(captured_by.strip().lower())
    return officer.unit if officer else None


def check_size(size: int, limits: Limits) -> None:
    if size <= 0:
        raise Invalid("the file is empty: zero-length files cannot be evidence")
    if size > limits.max_upload_bytes:
        raise TooLarge(f"files larger than {limits.max_upload_bytes} bytes are not accepted")


def _refuse(
    actor: Actor,
    req: IngestRequest,
    staged: StagedBlob,
    error: Exception,
    *,
    uow: UnitOfWork,
    blobs: BlobStore,
    clock: Clock,
) -> Exception:
    """Discard the staged bytes and record the refused acquisition; return the error to raise."""
    blobs.discard(staged)
    with uow:
        record(
            uow,
            actor,
            "evidence:ingest",
            "file",
            req.filename,
            clock=clock,
            outcome="failed",
            details={"error": str(error), "sha256": staged.sha256, "size": staged.size, "via": req.via},
        )
        uow.commit()
    return error


def store_original(
    actor: Actor,
    req: IngestRequest,
    staged: StagedBlob,
    *,
    uow: UnitOfWork,
    blobs: BlobStore,
    clock: Clock,
    limits: Limits,
    upload_id: str | None = None,
) -> IngestResult:
    """Commit a staged blob as a new evidence item (or report the item already holding it).

    With ``upload_id``, the resumable upload is marked complete in the same transaction, so
    an upload is never complete without its evidence, nor evidence left behind an open upload.
    The staged bytes are always either committed or discarded, whatever fails.
    """
    try:
        return _store(actor, req, staged, uow=uow, blobs=blobs, clock=clock, upload_id=upload_id)
    except BaseException:
        blobs.discard(staged)  # a no-op once the blob was committed
        raise


def _store(
    actor: Actor,
    req: IngestRequest,
    staged: StagedBlob,
    *,
    uow: UnitOfWork,
    blobs: BlobStore,
    clock: Clock,
    upload_id: str | None,
) -> IngestResult:
    if staged.size <= 0:
        raise _refuse(
            actor,
            req,
            staged,
            Invalid("the file is empty: zero-length files cannot be evidence"),
            uow=uow,
            blobs=blobs,
            clock=clock,
        )
    if req.expected_sha256 and req.expected_sha256 != staged.sha256:
        raise _refuse(
            actor,
            req,
            staged,
            DigestMismatch(
                f"the file's SHA-256 is {staged.sha256} but {req.expected_sha256} was expected; "
                "nothing was stored"
            ),
            uow=uow,
            blobs=blobs,
            clock=clock,
        )
    mime = detect_mime(staged.head)
    kind = kind_for_mime(mime)
    warnings: list[str] = []
    clash = contradiction(req.filename, kind)
    if clash:
        if not req.allow_mismatch:
            raise _refuse(actor, req, staged, UnsupportedMedia(clash), uow=uow, blobs=blobs, clock=clock)
        warnings.append(clash)

    with uow:
        existing = uow.evidence.by_sha256(staged.sha256)
        if existing is not None:
            blobs.discard(staged)
            return _duplicate(
                actor, req, existing, uow=uow, clock=clock, warnings=warnings, upload_id=upload_id
            )

    key = blobs.commit(staged)
    try:
        # Locked before its record commits: evidence is either stored and retained, or (the
        # lock refused) not stored at all. Derivatives are never retained.
        blobs.retain(key)
        with uow:
            now = clock.now()
            number = uow.evidence.next_number(f"evidence-{now.year}")
            item = EvidenceItem(
                id=format_evidence_id(now.year, number),
                kind=kind,
                title=req.title or req.filename,
                description=req.description,
                status=EvidenceStatus.READY,
                created_at=now,
                created_by=actor.principal.id,
                unit=_unit_of(uow, req.captured_by) or actor.principal.unit,
                captured_at=req.captured_at,
                captured_by=req.captured_by,
                device_serial=req.device_serial,
                device_make=req.device_make,
                device_model=req.device_model,
                category=req.category,
                tags=req.tags,
                restriction=req.restriction,
                original=Original(
                    sha256=staged.sha256,
                    size=staged.size,
                    mime_type=mime,
                    filename=req.filename,
                    blob_key=key,
                    stored_at=now,
                ),
            )
            uow.evidence.add(item)
            for kind_of_job in jobs_for(item.kind, mime):
                uow.jobs.enqueue(kind_of_job, item.id, now)
            if item.restriction is not Restriction.NORMAL:
                # Whoever restricts or seals an item at upload stays named on it.
                uow.access.add_member(
                    "evidence", item.id, actor.principal.id, by=actor.principal.id, when=now
                )
            details: dict[str, Any] = {
                "sha256": staged.sha256,
                "size": staged.size,
                "mime_type": mime,
                "filename": req.filename,
                "via": req.via,
            }
            if warnings:
                details["warnings"] = warnings
            record(uow, actor, "evidence:ingest", "evidence", item.id, clock=clock, details=details)
            if req.case_number:
                link_to_case(actor, req.case_number, item, uow=uow, clock=clock)
            if upload_id:
                uow.uploads.set_status(upload_id, "completed", evidence_id=item.id, duplicate=False)
            uow.commit()
    except IntegrityError:
        # Another request stored the same bytes a moment earlier: report that item.
        _release(key, uow, blobs)
        with uow:
            existing = uow.evidence.by_sha256(staged.sha256)
            if existing is None:
                raise
            return _duplicate(
                actor, req, existing, uow=uow, clock=clock, warnings=warnings, upload_id=upload_id
            )
    except BaseException:
        _release(key, uow, blobs)
        raise
    blobs.settle(key)
    with uow:
        stored = uow.evidence.get(item.id)
    assert stored is not None
    return IngestResult(stored, duplicate=False, warnings=warnings)


def _release(key: str, uow: UnitOfWork, blobs: BlobStore) -> None:
    """Undo a blob commit whose database record did not commit, unless another item holds
    the same bytes or another request is committing them right now."""
    blobs.settle(key)

    def referenced() -> bool:
        with uow:
            return uow.evidence.has_blob(key)

    with contextlib.suppress(Exception):
        blobs.delete_unclaimed(key, referenced)


def _duplicate(
    actor: Actor,
    req: IngestRequest,
    existing: EvidenceItem,
    *,
    uow: UnitOfWork,
    clock: Clock,
    warnings: list[str],
    upload_id: str | None = None,
) -> IngestResult:
    record(
        uow,
        actor,
        "evidence:duplicate",
        "evidence",
        existing.id,
        clock=clock,
        details={
            "filename": req.filename,
            "via": req.via,
            "sha256": existing.original.sha256 if existing.original else None,
        },
    )
    if not may(uow, actor, Permission.EVIDENCE_VIEW, item=existing):
        # The copy is recorded against the held item, but the submitter learns nothing of it.
        uow.commit()
        raise Conflict(
            "an identical file is already held by the agency under restricted access; nothing new "
            "was stored (an evidence custodian can grant access)"
        )
    if req.case_number:
        link_to_case(actor, req.case_number, existing, uow=uow, clock=clock)
    if upload_id:
        uow.uploads.set_status(upload_id, "completed", evidence_id=existing.id, duplicate=True)
    uow.commit()
    refreshed = uow.evidence.get(existing.id) or existing
    return IngestResult(refreshed, duplicate=True, warnings=warnings)


def ingest_stream(
    actor: Actor,
    req: IngestRequest,
    chunks: Iterable[bytes | bytearray | memoryview],
    *,
    uow: UnitOfWork,
    blobs: BlobStore,
    clock: Clock,
    limits: Limits,
) -> IngestResult:
    """Validate, stream the bytes once into the encrypted store, then commit."""
    prepare(actor, req, uow=uow, clock=clock, limits=limits)
    writer = blobs.writer()
    try:
        for chunk in chunks:
            writer.write(chunk)
            if writer.size > limits.max_upload_bytes:
                raise TooLarge(f"files larger than {limits.max_upload_bytes} bytes are not accepted")
        if writer.size == 0:
            raise Invalid("the file is empty: zero-length files cannot be evidence")
        staged = writer.finish()
    except BaseException:
        writer.abort()
        raise
    return store_original(actor, req, staged, uow=uow, blobs=blobs, clock=clock, limits=limits)


def recover_storage(uow: UnitOfWork, blobs: BlobStore, *, older_than_s: float) -> dict[str, int]:
    """Clean what a crash can leave: staged parts, and committed blobs whose database record
    never committed. Returns counts of what was removed."""
    removed_parts = blobs.sweep_staging(older_than_s)
    removed_blobs = 0
    for key in blobs.unsettled(older_than_s):

        def referenced(key: str = key) -> bool:
            with uow:
                return uow.evidence.has_blob(key)

        if blobs.delete_unclaimed(key, referenced):
            removed_blobs += 1
    return {"parts": removed_parts, "blobs": removed_blobs}
