"""What a recipient does through a share: open it (a link and its access code, or signed in as
the named account), list what it holds, play, download one file or the whole share as a ZIP.

Every request checks the share's state first (revoked, expired, locked, downloads used up)
and then asks the policy with the share's own principal; every open, view, download and
refusal is a custody event.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from argon2.exceptions import InvalidHashError, VerificationError

from opendems.domain.access import Permission, Principal
from opendems.domain.custody import Where
from opendems.domain.errors import (
    Conflict,
    DomainError,
    Forbidden,
    Gone,
    NotFound,
    TooManyRequests,
    Unauthenticated,
)
from opendems.domain.evidence import Derivative, EvidenceItem
from opendems.domain.exports import Export, ExportState
from opendems.domain.reports import ShareReceipt
from opendems.domain.sharing import (
    MAX_CODE_FAILURES,
    PORTAL_SESSION,
    RecipientKind,
    ServedFile,
    Share,
    ShareAccess,
    ShareState,
    captions_filename,
    normalise_code,
    served_file,
    share_principal,
    token_digest,
    watermarkable,
)
from opendems.domain.ziplayout import ZipLayout, ZipMember
from opendems.ports import BlobStore, Clock, UnitOfWork
from opendems.services.context import Actor, AuthPolicy
from opendems.services.custody import authorize, record, record_transfer
from opendems.services.evidence import load_item, parse_range, record_viewing, viewed
from opendems.services.sharing import _hasher, shared_captions
from opendems.services.zipstream import Reader, stream_zip


@dataclass(frozen=True)
class Visit:
    """A recipient inside a share: the share, and the principal its terms make."""

    share: Share
    actor: Actor


def _refuse(uow: UnitOfWork, actor: Actor, share: Share, action: str, why: str, *, clock: Clock) -> None:
    record(uow, actor, action, "share", share.id, clock=clock, outcome="denied", details={"why": why})
    uow.commit()


def _refusal_error(share: Share, now: datetime, message: str) -> DomainError:
    """Locked: 403 (the sender can lift it); revoked, expired, used up: 410."""
    return Forbidden(message) if share.state(now) is ShareState.LOCKED else Gone(message)


def _link_actor(share: Share, where: Where) -> Actor:
    principal = share_principal(share, user_id=0, name=f"{share.recipient} (link {share.id})")
    return Actor(principal, where, {"share": share.id})


def open_link(
    token: str, code: str, where: Where, *, policy: AuthPolicy, uow: UnitOfWork, clock: Clock
) -> tuple[Share, str]:
    """Check a link's access code; returns the share and a visit token (the browser's cookie).
    Attempts count against the client address like sign-ins do (rate-limited per address)."""
    with uow:
        share = uow.shares.by_token(token_digest(token))
        anonymous = Actor(share_principal_none(), where)
        address = where.client_address or "unknown"
        now = clock.now()
        if uow.sessions.attempts_since(address, now - policy.rate_window) >= policy.rate_per_address:
            record(
                uow, anonymous if share is None else _link_actor(share, where), "share:open", "share",
                share.id if share else "unknown", clock=clock, outcome="denied",
                details={"why": "too many attempts from this address"},
            )  # fmt: skip
            uow.commit()
            raise TooManyRequests("too many attempts from this address; wait a few minutes and try again")
        uow.sessions.note_attempt(address, now)
        uow.sessions.forget_attempts_before(now - policy.rate_window)
        if share is None:
            record(
                uow,
                anonymous,
                "share:open",
                "share",
                "unknown",
                clock=clock,
                outcome="denied",
                details={"why": "no share has this link", "token_sha256_prefix": token_digest(token)[:12]},
            )
            uow.commit()
            raise NotFound("this share link is not valid; check it was copied whole")
        actor = _link_actor(share, where)
        refusal = share.refusal(now)
        if refusal:
            _refuse(uow, actor, share, "share:open", refusal, clock=clock)
            raise _refusal_error(share, now, refusal)
        stored = uow.shares.code_hash(share.id) or ""
        ok: bool
        try:
            ok = _hasher.verify(stored, normalise_code(code))
        except (VerificationError, InvalidHashError):
            ok = False
        if not ok:
            failures = uow.shares.code_failed(share.id, now, MAX_CODE_FAILURES)
            record(
                uow,
                actor,
                "share:code_failed",
                "share",
                share.id,
                clock=clock,
                outcome="denied",
                details={"failures": failures},
            )
            if failures >= MAX_CODE_FAILURES:
                record(
                    uow,
                    actor,
                    "share:locked",
                    "share",
                    share.id,
                    clock=clock,
                    outcome="denied",
                    details={"failures": failures},
                )
            uow.commit()
            left = MAX_CODE_FAILURES - failures
            if left <= 0:
                raise Forbidden(
                    f"the access code is wrong; share {share.id} is now locked. Ask the sender for a new code"
                )
            raise Unauthenticated(f"the access code is wrong; {left} tries left before the share locks")
        visit = secrets.token_urlsafe(32)
        uow.shares.code_passed(share.id)
        uow.shares.add_visit(token_digest(visit), share.id, now, now + PORTAL_SESSION, where.client_address)
        record(uow, actor, "share:open", "share", share.id, clock=clock, details={"via": "link"})
        uow.commit()
        return share, visit


def share_principal_none() -> Principal:
    return Principal(id=0, name="anonymous", role="none", permissions=frozenset(), via="share")


def link_visit(token: str, visit: str, where: Where, *, uow: UnitOfWork, clock: Clock) -> Visit:
    """The visit a link recipient's cookie stands for; 401 without one (ask for the code)."""
    with uow:
        share = uow.shares.by_token(token_digest(token))
        if share is None:
            raise NotFound("this share link is not valid; check it was copied whole")
        checked = _checked(Visit(share, _link_actor(share, where)), uow=uow, clock=clock)
        if not visit or uow.shares.visit(token_digest(visit), clock.now()) != share.id:
            raise Unauthenticated("enter the access code the sender gave you")
        return checked


def user_visit(actor: Actor, share_id: str, *, uow: UnitOfWork, clock: Clock) -> Visit:
    """A signed-in recipient inside a share made out to their account."""
    with uow:
        share = uow.shares.get(share_id.strip().upper())
        if (
            share is None
            or share.recipient_kind is not RecipientKind.USER
            or (share.recipient_user_id != actor.principal.id)
        ):
            raise NotFound(f"share {share_id} not found")
        principal = share_principal(
            share, user_id=actor.principal.id, name=actor.principal.name, unit=actor.principal.unit
        )
        visit = Visit(share, Actor(principal, actor.where, {**actor.extra, "share": share.id}))
        return _checked(visit, uow=uow, clock=clock)


def _checked(visit: Visit, *, uow: UnitOfWork, clock: Clock) -> Visit:
    refusal = visit.share.refusal(clock.now())
    if refusal:
        _refuse(uow, visit.actor, visit.share, "share:open", refusal, clock=clock)
        raise _refusal_error(visit.share, clock.now(), refusal)
    return visit


@dataclass(frozen=True)
class SharedEntry:
    item: EvidenceItem | None
    export: Export | None
    file: ServedFile | None  # None: a watermarked copy or an export still being made
    problem: str | None = None  # why the watermarked copy could not be made
    captions: Derivative | None = None  # the player's captions track, where there is one

    @property
    def object_id(self) -> str:
        return self.item.id if self.item else self.export.id if self.export else ""


def _file_for(visit: Visit, item: EvidenceItem, uow: UnitOfWork) -> ServedFile | None:
    share = visit.share
    base = served_file(item, share.terms.content)
    if base is None or not (share.terms.watermark and watermarkable(item)):
        return base
    copy = uow.shares.copy(share.id, item.id)
    if copy is None:
        return None
    ext = "mp4" if copy.mime_type == "video/mp4" else "png" if copy.mime_type == "image/png" else "jpg"
    stem = base.filename.rsplit(".", 1)[0]
    return ServedFile(
        "watermarked",
        f"{stem}.watermarked.{ext}",
        copy.mime_type,
        copy.size,
        copy.sha256,
        copy.blob_key,
        base.sha256,
    )


def _entries(visit: Visit, uow: UnitOfWork) -> list[SharedEntry]:
    entries = []
    for o in visit.share.objects:
        if o.object_type == "evidence":
            item = uow.evidence.get(o.object_id)
            if item is not None:
                served = _file_for(visit, item, uow)
                problem = None
                if served is None:
                    kind = f"watermark:{visit.share.id}"
                    failed = [
                        j for j in uow.jobs.for_item(item.id) if j.kind == kind and j.state.value == "failed"
                    ]
                    problem = failed[-1].error if failed else None
                entries.append(
                    SharedEntry(item, None, served, problem, shared_captions(visit.share, item, served))
                )
        else:
            export = uow.exports.get(o.object_id)
            if export is not None:
                entries.append(SharedEntry(None, export, None))
    return entries


def contents(visit: Visit, *, uow: UnitOfWork, clock: Clock) -> list[SharedEntry]:
    """What the share holds, in the sharer's order. Opening the list is a custody event."""
    with uow:
        entries = _entries(visit, uow)
        record(
            uow,
            visit.actor,
            "share:view",
            "share",
            visit.share.id,
            clock=clock,
            details={"objects": len(entries)},
        )
        uow.commit()
    return entries


@dataclass(frozen=True)
class FileGrant:
    item: EvidenceItem
    file: ServedFile
    start: int
    end: int
    partial: bool

    @property
    def length(self) -> int:
        return self.end - self.start + 1


def _refuse_download(visit: Visit, uow: UnitOfWork, clock: Clock) -> None:
    """Refuse (and record) a download the share does not allow now, in the share's words."""
    share = visit.share
    refusal = share.refusal(clock.now())
    if refusal:
        _refuse(uow, visit.actor, share, "share:download", refusal, clock=clock)
        raise _refusal_error(share, clock.now(), refusal)
    if share.terms.access is ShareAccess.VIEW:
        why = f"share {share.id} is for viewing only"
        _refuse(uow, visit.actor, share, "share:download", why, clock=clock)
        raise Forbidden(why)


def _take_download(visit: Visit, start: int, uow: UnitOfWork, clock: Clock) -> None:
    """A download that starts at byte 0 takes one from the share's allowance; a resumed
    range continues the download it belongs to, even when that used the last one."""
    share = visit.share
    if start == 0 and not uow.shares.count_download(share.id):
        why = f"share {share.id} has used all {share.terms.max_downloads} of its downloads"
        _refuse(uow, visit.actor, share, "share:download", why, clock=clock)
        raise Gone(why)


def grant_file(
    visit: Visit, evidence_id: str, range_header: str | None, *, download: bool, uow: UnitOfWork, clock: Clock
) -> FileGrant:
    """Authorise playing or downloading one shared file and record it before any byte goes."""
    with uow:
        permission = Permission.EVIDENCE_DOWNLOAD if download else Permission.EVIDENCE_PLAY
        action = "evidence:download" if download else "evidence:view"
        if download:
            _refuse_download(visit, uow, clock)  # in the share's words, before the policy's
        item = load_item(visit.actor, evidence_id, permission, action, uow=uow, clock=clock)
        served = _file_for(visit, item, uow)
        if served is None:
            raise Conflict("the watermarked copy of this item is still being made; try again in a minute")
        bounds = parse_range(range_header, served.size)
        start, end = bounds if bounds else (0, served.size - 1)
        details = {
            "share": visit.share.id,
            "content": served.role,
            "filename": served.filename,
            "sha256": served.sha256,
        }
        if download:
            _take_download(visit, start, uow, clock)
            record(
                uow,
                visit.actor,
                action,
                "evidence",
                item.id,
                clock=clock,
                details={**details, "range": [start, end] if bounds else None},
            )
            uow.commit()
        else:
            record_viewing(visit.actor, item, {**details, "playback": served.role}, uow=uow, clock=clock)
        return FileGrant(item, served, start, end, bounds is not None)


def grant_captions(
    visit: Visit, evidence_id: str, *, uow: UnitOfWork, clock: Clock
) -> tuple[EvidenceItem, Derivative]:
    """Authorise the captions track the portal's player shows beside one shared video or
    recording; recorded (once a viewing session) as viewing them."""
    with uow:
        item = load_item(
            visit.actor, evidence_id, Permission.EVIDENCE_PLAY, "evidence:view", uow=uow, clock=clock
        )
        captions = shared_captions(visit.share, item, _file_for(visit, item, uow))
        if captions is None:
            raise NotFound(f"evidence {item.id} has no captions in this share")
        record_viewing(visit.actor, item, {**viewed(captions), "share": visit.share.id}, uow=uow, clock=clock)
    return item, captions


def record_share_transfer(
    visit: Visit,
    subject: tuple[str, str],
    *,
    filename: str,
    bytes_sent: int,
    seconds: float,
    complete: bool,
    uow: UnitOfWork,
    clock: Clock,
) -> None:
    """Close a download through a share with what was actually sent."""
    record_transfer(
        uow, visit.actor, subject[0], subject[1], bytes_sent=bytes_sent, seconds=seconds, complete=complete,
        clock=clock, details={"share": visit.share.id, "filename": filename},
    )  # fmt: skip


@dataclass(frozen=True)
class ZipSource:
    """What each member of a streamed ZIP reads: a stored blob, bytes made now, or a nested
    export package."""

    blob_key: str | None = None
    data: bytes | None = None
    export: Export | None = None


@dataclass(frozen=True)
class ZipGrant:
    name: str
    layout: ZipLayout
    sources: list[ZipSource]
    start: int
    end: int
    partial: bool
    crcs: dict[str, int]

    @property
    def length(self) -> int:
        return self.end - self.start + 1


def export_layout(export: Export) -> tuple[ZipLayout, list[ZipSource]]:
    """The ZIP a court export package is delivered as: the bag in a folder of its name."""
    when = export.finished_at or export.created_at
    members = [ZipMember(f"{export.bag_name}/{f.path}", f.size, f.sha256, when) for f in export.files]
    return ZipLayout(members), [ZipSource(blob_key=f.blob_key) for f in export.files]


def grant_zip(visit: Visit, range_header: str | None, *, uow: UnitOfWork, clock: Clock) -> ZipGrant:
    """The whole share as one ZIP: every file (a recording's captions beside it), every ready
    export package, and SHA256SUMS."""
    with uow:
        share = visit.share
        _refuse_download(visit, uow, clock)
        members: list[ZipMember] = []
        sources: list[ZipSource] = []
        sums: list[str] = []
        when = share.created_at
        for entry in _entries(visit, uow):
            if entry.item is not None:
                authorize(
                    uow,
                    visit.actor,
                    Permission.EVIDENCE_DOWNLOAD,
                    clock=clock,
                    action="evidence:download",
                    object_type="evidence",
                    object_id=entry.item.id,
                    item=entry.item,
                )
                if entry.file is None:
                    raise Conflict("a watermarked copy is still being made; try again in a minute")
                files = [(entry.file.filename, entry.file.size, entry.file.sha256, entry.file.blob_key)]
                if entry.captions is not None:  # beside the recording, named after it
                    c = entry.captions
                    files.append((captions_filename(entry.file.filename), c.size, c.sha256, c.blob_key))
                for filename, size, sha256, blob_key in files:
                    members.append(ZipMember(f"{share.id}/{entry.item.id}/{filename}", size, sha256, when))
                    sources.append(ZipSource(blob_key=blob_key))
                    sums.append(f"{sha256}  {entry.item.id}/{filename}")
            elif entry.export is not None and entry.export.state is ExportState.READY:
                layout, _ = export_layout(entry.export)
                key = f"export:{entry.export.id}"
                members.append(ZipMember(f"{share.id}/{entry.export.zip_name}", len(layout), key, when))
                sources.append(ZipSource(export=entry.export))
        text = ("\n".join(sums) + "\n").encode()
        members.append(ZipMember(f"{share.id}/SHA256SUMS", len(text), hashlib.sha256(text).hexdigest(), when))
        sources.append(ZipSource(data=text))
        layout = ZipLayout(members)
        bounds = parse_range(range_header, len(layout))
        start, end = bounds if bounds else (0, len(layout) - 1)
        _take_download(visit, start, uow, clock)
        record(
            uow,
            visit.actor,
            "share:download",
            "share",
            share.id,
            clock=clock,
            details={
                "zip": True,
                "files": len(members),
                "size": len(layout),
                "range": [start, end] if bounds else None,
            },
        )
        uow.commit()
        crcs = uow.shares.crc32s([m.key for m in members])
        return ZipGrant(f"{share.id}.zip", layout, sources, start, end, bounds is not None, crcs)


def zip_reader(sources: list[ZipSource], blobs: BlobStore, crcs: dict[str, int]) -> Reader:
    """Reads member ``i``'s bytes ``a``..``b`` from where ``sources[i]`` says they are."""

    def read(i: int, a: int, b: int) -> Iterator[bytes]:
        source = sources[i]
        if source.blob_key is not None:
            yield from blobs.read_range(source.blob_key, a, b)
        elif source.data is not None:
            yield source.data[a : b + 1]
        elif source.export is not None:
            layout, inner = export_layout(source.export)
            yield from stream_zip(layout, a, b, zip_reader(inner, blobs, crcs), crcs)

    return read


def remember_crcs(crcs: dict[str, int], known: set[str], *, uow: UnitOfWork) -> None:
    """Keep the CRC-32s a download learnt, so the next resumed range skips those files."""
    new = {k: v for k, v in crcs.items() if k not in known}
    if not new:
        return
    with uow:
        for key, crc in new.items():
            uow.shares.remember_crc32(key, crc)
        uow.commit()


def grant_export(
    visit: Visit, export_id: str, range_header: str | None, *, uow: UnitOfWork, clock: Clock
) -> ZipGrant:
    """One shared court package, as its ZIP (a download of the share)."""
    from opendems.services.exports import load_export

    with uow:
        _refuse_download(visit, uow, clock)
        export = load_export(visit.actor, export_id, action="export:download", uow=uow, clock=clock)
        if export.state is not ExportState.READY:
            raise Conflict(f"export {export.id} is not ready")
        layout, sources = export_layout(export)
        bounds = parse_range(range_header, len(layout))
        start, end = bounds if bounds else (0, len(layout) - 1)
        _take_download(visit, start, uow, clock)
        record(
            uow, visit.actor, "export:download", "export", export.id, clock=clock,
            details={"share": visit.share.id, "size": len(layout), "range": [start, end] if bounds else None},
        )  # fmt: skip
        uow.commit()
        crcs = uow.shares.crc32s([m.key for m in layout.members])
        return ZipGrant(export.zip_name, layout, sources, start, end, bounds is not None, crcs)


def still_open(visit: Visit, *, uow: UnitOfWork, clock: Clock) -> bool:
    """Checked while a long transfer runs: a revoked (or expired) share stops it mid-way."""
    with uow.for_reading() as reader:
        share = reader.shares.get(visit.share.id)
    return share is not None and share.refusal(clock.now()) is None


def visit_receipt(visit: Visit, *, agency: str, uow: UnitOfWork, clock: Clock) -> ShareReceipt:
    """The share's receipt, for its recipient (recorded)."""
    from opendems.services.sharing import receipt_of

    with uow:
        receipt = receipt_of(visit.share, uow, agency)
        record(uow, visit.actor, "share:receipt", "share", visit.share.id, clock=clock)
        uow.commit()
        return receipt
