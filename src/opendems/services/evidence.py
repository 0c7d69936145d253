"""Finding, viewing, editing and downloading evidence."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from opendems.domain.access import Permission, decide, visibility
from opendems.domain.custody import CustodyEvent
from opendems.domain.errors import Conflict, Invalid, NotFound
from opendems.domain.evidence import (
    Derivative,
    EvidenceFilter,
    EvidenceItem,
    Restriction,
    check_field,
    check_tags,
    parse_evidence_id,
)
from opendems.domain.jobs import Job, JobState
from opendems.ports import Clock, UnitOfWork
from opendems.services import custody
from opendems.services.context import Actor, Limits
from opendems.services.custody import authorize, record

MAX_PAGE = 500


def load_item(
    actor: Actor,
    evidence_id: str,
    permission: Permission,
    action: str,
    *,
    uow: UnitOfWork,
    clock: Clock,
) -> EvidenceItem:
    canonical = parse_evidence_id(evidence_id)
    item = uow.evidence.get(canonical)
    if item is None:
        raise NotFound(f"evidence {canonical} not found")
    authorize(
        uow,
        actor,
        permission,
        clock=clock,
        action=action,
        object_type="evidence",
        object_id=canonical,
        item=item,
    )
    return item


def get_evidence(actor: Actor, evidence_id: str, *, uow: UnitOfWork, clock: Clock) -> EvidenceItem:
    """The item, its original's record and derivatives. Recorded as a view."""
    with uow:
        item = load_item(actor, evidence_id, Permission.EVIDENCE_VIEW, "evidence:view", uow=uow, clock=clock)
        record(uow, actor, "evidence:view", "evidence", item.id, clock=clock)
        uow.commit()
        return item


def list_evidence(
    actor: Actor, f: EvidenceFilter, *, limit: int, offset: int, uow: UnitOfWork, clock: Clock
) -> tuple[list[EvidenceItem], int]:
    """One page of the items the actor may see, newest first, and the total count."""
    if not 1 <= limit <= MAX_PAGE:
        raise Invalid(f"limit must be between 1 and {MAX_PAGE}")
    if offset < 0:
        raise Invalid("offset must not be negative")
    if f.captured_from and f.captured_to and f.captured_from > f.captured_to:
        raise Invalid("captured_from is after captured_to")
    if not decide(actor.principal, Permission.EVIDENCE_VIEW):
        return [], 0
    record_search(actor, {"filter": _filter_text(f)}, uow=uow, clock=clock)
    with uow.for_reading() as reader:
        return reader.evidence.page(f, visibility(actor.principal), limit=limit, offset=offset)


def record_search(actor: Actor, details: dict[str, Any], *, uow: UnitOfWork, clock: Clock) -> None:
    """An administrator browsing or searching evidence is a privileged action, recorded as such."""
    if not actor.principal.privileged:
        return
    with uow:
        record(uow, actor, "evidence:search", "evidence", "*", clock=clock, details=details)
        uow.commit()


def _filter_text(f: EvidenceFilter) -> dict[str, Any]:
    return {k: _jsonable(v) for k, v in vars(f).items() if v not in (None, "")}


def _jsonable(value: Any) -> Any:
    if isinstance(value, Restriction):
        return value.value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def edit_evidence(
    actor: Actor,
    evidence_id: str,
    changes: dict[str, Any],
    *,
    reason: str,
    uow: UnitOfWork,
    clock: Clock,
    limits: Limits,
) -> EvidenceItem:
    """Apply metadata changes; the custody event carries every old and new value."""
    reason = (reason or "").strip()
    if not reason:
        raise Invalid("every edit needs a reason")
    if not changes:
        raise Invalid("no changes given")
    from opendems.services.categories import category_for

    clean = {name: check_field(name, value, limits.metadata) for name, value in changes.items()}
    with uow:
        item = load_item(actor, evidence_id, Permission.EVIDENCE_EDIT, "evidence:edit", uow=uow, clock=clock)
        if clean.get("category") is not None and clean["category"] != item.category:
            # A new category must be one of the agency's active ones (when it defines any);
            # an item keeps the one it was filed under while other fields change.
            clean["category"] = category_for(uow, clean["category"])
        diff = {}
        for name, value in clean.items():
            old = getattr(item, name)
            if old != value:
                diff[name] = {"old": _jsonable(old), "new": _jsonable(value)}
        if not diff:
            return item
        if "restriction" in diff or "captured_by" in diff:
            # Both change who may see the item: the level, and who counts as its owner.
            authorize(
                uow,
                actor,
                Permission.EVIDENCE_RESTRICT,
                clock=clock,
                action="evidence:restrict",
                object_type="evidence",
                object_id=item.id,
                item=item,
            )
            if clean.get(
                "restriction", Restriction.NORMAL
            ) is not Restriction.NORMAL and uow.access.add_member(
                "evidence", item.id, actor.principal.id, by=actor.principal.id, when=clock.now()
            ):
                # Whoever restricts or seals an item is named on it, so it never disappears
                # from the person who hid it.
                record(
                    uow,
                    actor,
                    "evidence:add_member",
                    "evidence",
                    item.id,
                    clock=clock,
                    details={"user": actor.principal.name, "automatic": True},
                )
        uow.evidence.update_fields(item.id, {k: clean[k] for k in diff}, clock.now())
        record(
            uow,
            actor,
            "evidence:edit",
            "evidence",
            item.id,
            clock=clock,
            reason=reason,
            details={"changes": diff},
        )
        uow.commit()
        updated = uow.evidence.get(item.id)
        assert updated is not None
        return updated


def change_tags(
    actor: Actor,
    evidence_id: str,
    *,
    add: list[str] | None = None,
    remove: list[str] | None = None,
    reason: str | None = None,
    uow: UnitOfWork,
    clock: Clock,
    limits: Limits,
) -> EvidenceItem:
    to_add = check_tags(add or [], limits.metadata)
    to_remove = [t.strip() for t in (remove or [])]
    with uow:
        item = load_item(actor, evidence_id, Permission.EVIDENCE_EDIT, "evidence:tag", uow=uow, clock=clock)
        new_tags = [t for t in to_add if t not in item.tags]
        gone = [t for t in to_remove if t in item.tags]
        check_tags([*item.tags, *new_tags], limits.metadata)
        if not new_tags and not gone:
            return item
        uow.evidence.add_tags(item.id, new_tags)
        uow.evidence.remove_tags(item.id, gone)
        record(
            uow,
            actor,
            "evidence:tag",
            "evidence",
            item.id,
            clock=clock,
            reason=reason,
            details={"added": new_tags, "removed": gone},
        )
        uow.commit()
        updated = uow.evidence.get(item.id)
        assert updated is not None
        return updated


def custody_history(actor: Actor, evidence_id: str, *, uow: UnitOfWork, clock: Clock) -> list[CustodyEvent]:
    """Every custody event about the item, in chain order."""
    with uow:
        item = load_item(actor, evidence_id, Permission.CUSTODY_READ, "custody:read", uow=uow, clock=clock)
        events = uow.custody.for_object("evidence", item.id)
        record(uow, actor, "custody:read", "evidence", item.id, clock=clock)
        uow.commit()
        return events


@dataclass(frozen=True)
class DownloadGrant:
    item: EvidenceItem
    start: int
    end: int  # inclusive
    size: int  # of the whole original
    partial: bool

    @property
    def length(self) -> int:
        return self.end - self.start + 1


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """A single ``bytes=`` range (RFC 9110) as inclusive offsets; None for the whole file.
    Raises ``RangeNotSatisfiable`` for a range outside the file."""
    if not header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None  # unsupported forms: serve the whole representation
    first, _, last = spec.strip().partition("-")
    try:
        if first == "":
            suffix = int(last)
            if suffix <= 0:
                raise RangeNotSatisfiable(size)
            return max(size - suffix, 0), size - 1
        start = int(first)
        end = int(last) if last else size - 1
    except ValueError:
        return None
    if start >= size or end < start:
        raise RangeNotSatisfiable(size)
    return start, min(end, size - 1)


class RangeNotSatisfiable(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(f"range not satisfiable for a file of {size} bytes")
        self.size = size


MAX_DOWNLOAD_REASON = 2000


def grant_download(
    actor: Actor,
    evidence_id: str,
    range_header: str | None,
    *,
    uow: UnitOfWork,
    clock: Clock,
    reason: str | None = None,
) -> DownloadGrant:
    """Authorise a download of the original and record it, with the reason given for it,
    before any byte is sent."""
    reason = (reason or "").strip() or None
    if reason is not None and len(reason) > MAX_DOWNLOAD_REASON:
        raise Invalid(f"the reason is longer than {MAX_DOWNLOAD_REASON} characters")
    with uow:
        item = load_item(
            actor, evidence_id, Permission.EVIDENCE_DOWNLOAD, "evidence:download", uow=uow, clock=clock
        )
        if item.original is None:
            raise NotFound(f"evidence {item.id} has no original")
        size = item.original.size
        bounds = parse_range(range_header, size)
        start, end = bounds if bounds else (0, size - 1)
        record(
            uow,
            actor,
            "evidence:download",
            "evidence",
            item.id,
            clock=clock,
            reason=reason,
            details={
                "filename": item.original.filename,
                "sha256": item.original.sha256,
                "range": [start, end] if bounds else None,
                "bytes_requested": end - start + 1,
            },
        )
        uow.commit()
    return DownloadGrant(item, start, end, size, bounds is not None)


def record_transfer(
    actor: Actor,
    grant: DownloadGrant,
    *,
    bytes_sent: int,
    seconds: float,
    complete: bool,
    uow: UnitOfWork,
    clock: Clock,
) -> None:
    """Close a download's record with what was actually sent (AU-3 transfer fields)."""
    filename = grant.item.original.filename if grant.item.original else None
    custody.record_transfer(
        uow, actor, "evidence", grant.item.id, bytes_sent=bytes_sent, seconds=seconds, complete=complete,
        clock=clock, details={"filename": filename},
    )  # fmt: skip


def item_jobs(actor: Actor, evidence_id: str, *, uow: UnitOfWork, clock: Clock) -> list[Job]:
    """The processing jobs of an item: state, progress, errors."""
    with uow:
        item = load_item(actor, evidence_id, Permission.EVIDENCE_VIEW, "evidence:view", uow=uow, clock=clock)
        return uow.jobs.for_item(item.id)


VIEWING_SESSION = timedelta(minutes=30)


@dataclass(frozen=True)
class PlaybackGrant:
    item: EvidenceItem
    derivative: Derivative
    start: int
    end: int  # inclusive
    partial: bool

    @property
    def length(self) -> int:
        return self.end - self.start + 1


def grant_playback(
    actor: Actor, evidence_id: str, kind: str, range_header: str | None, *, uow: UnitOfWork, clock: Clock
) -> PlaybackGrant:
    """Authorise streaming a derivative (a proxy, poster, preview). A player fetches many
    ranges; custody records one ``evidence:view`` per viewing session (30 minutes of the
    same person on the same item and derivative), not one per range request."""
    with uow:
        item = load_item(actor, evidence_id, Permission.EVIDENCE_PLAY, "evidence:view", uow=uow, clock=clock)
        source = item.original.sha256 if item.original else None
        derivative = next((d for d in item.derivatives if d.kind == kind and d.source_sha256 == source), None)
        if derivative is None:
            raise NotFound(f"evidence {item.id} has no {kind} (yet); see its processing jobs")
        bounds = parse_range(range_header, derivative.size)
        start, end = bounds if bounds else (0, derivative.size - 1)
        record_viewing(actor, item, viewed(derivative), uow=uow, clock=clock)
    return PlaybackGrant(item, derivative, start, end, bounds is not None)


def record_viewing(
    actor: Actor, item: EvidenceItem, details: dict[str, Any], *, uow: UnitOfWork, clock: Clock
) -> None:
    """One ``evidence:view`` custody event per viewing session of this person and item, for
    each thing played (``details["playback"]``) and each share it was played through (call
    inside ``uow``, after ``evidence:play`` was granted)."""
    recent = uow.custody.latest_by(
        "evidence", item.id, "evidence:view", actor.principal.id, clock.now() - VIEWING_SESSION
    )
    same = ("playback", "share")
    if not any(all(e.details_dict.get(k) == details.get(k) for k in same) for e in recent):
        record(uow, actor, "evidence:view", "evidence", item.id, clock=clock, details=details)
        uow.commit()


def viewed(derivative: Derivative) -> dict[str, Any]:
    """The custody details of playing ``derivative``."""
    return {
        "playback": derivative.kind,
        "sha256": derivative.sha256,
        "source_sha256": derivative.source_sha256,
    }


def queue(actor: Actor, state: JobState | None, *, limit: int, uow: UnitOfWork, clock: Clock) -> list[Job]:
    """The processing queue as far as the actor's evidence goes (for custodians watching it)."""
    with uow:
        authorize(
            uow,
            actor,
            Permission.EVIDENCE_VERIFY,
            clock=clock,
            action="jobs:list",
            object_type="jobs",
            object_id="*",
        )
    with uow.for_reading() as reader:
        return reader.jobs.listing(state, limit, scope=visibility(actor.principal))


def retry_job(actor: Actor, job_id: int, *, uow: UnitOfWork, clock: Clock) -> Job:
    """Run a job that failed for good once more (a codec update, a repaired file share)."""
    with uow:
        job = uow.jobs.get(job_id)
        item = uow.evidence.get(job.evidence_id) if job and job.evidence_id else None
        if job is None or item is None:
            raise NotFound(f"job {job_id} not found")
        authorize(
            uow,
            actor,
            Permission.EVIDENCE_VERIFY,
            clock=clock,
            action="evidence:reprocess",
            object_type="evidence",
            object_id=item.id,
            item=item,
        )
        if not uow.jobs.retry(job_id, clock.now()):
            raise Conflict(f"job {job_id} is {job.state.value}; only a failed job can be run again")
        record(
            uow,
            actor,
            "evidence:reprocess",
            "evidence",
            item.id,
            clock=clock,
            details={"job_id": job_id, "kind": job.kind, "last_error": job.error},
        )
        uow.commit()
        again = uow.jobs.get(job_id)
        assert again is not None
        return again
