"""Shares: evidence (or a court export) handed to a prosecutor, defence counsel or a colleague
on stated terms, and what a recipient may do through one.

A share names its recipient -- an account of this system, or an e-mail address reached by
link -- and its terms: view only or view and download, which form of each item (the
originals, the proxies or the redacted copies), an expiry, a download limit, a watermark,
and whether the recipient may share it on. The sharer (or a custodian) can revoke it at any
moment; every request through it checks its state first.

A link is a 256-bit random token; only its SHA-256 is stored. A link recipient also needs
the access code the sharer gives them by another channel (telephone, a separate message).
Five wrong codes lock the share until the sharer issues a new code.

What a recipient does through a share is decided by the one policy function: the share
becomes a principal whose permissions are the share's terms and whose scope is exactly the
shared objects (``share_principal``).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from opendems.domain.access import Permission, Principal
from opendems.domain.errors import Invalid
from opendems.domain.evidence import Derivative, EvidenceItem, EvidenceKind

MAX_CODE_FAILURES = 5
DEFAULT_EXPIRY = timedelta(days=30)
MAX_EXPIRY = timedelta(days=366)
MAX_DOWNLOADS = 10_000
MAX_ITEMS = 5_000
PORTAL_SESSION = timedelta(hours=12)  # a link recipient's visit, after the access code
MAX_NOTE = 2_000
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U


class RecipientKind(StrEnum):
    USER = "user"  # an account of this system (an investigator, a prosecutor's account)
    LINK = "link"  # someone without an account: an e-mail address, a link and an access code


class ShareAccess(StrEnum):
    VIEW = "view"  # watch, listen, read in the browser
    DOWNLOAD = "download"  # and download the files


class ShareContent(StrEnum):
    ORIGINAL = "original"
    PROXY = "proxy"  # the playable copy made at ingest
    REDACTED = "redacted"  # the newest redacted copy; the unredacted forms are never reachable


class ShareState(StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"
    EXHAUSTED = "exhausted"  # its download limit is used up (it can still be viewed)
    LOCKED = "locked"  # too many wrong access codes


@dataclass(frozen=True)
class ShareTerms:
    access: ShareAccess = ShareAccess.VIEW
    content: ShareContent = ShareContent.ORIGINAL
    expires_at: datetime | None = None
    max_downloads: int | None = None  # None: no limit
    watermark: bool = False
    reshare: bool = False


@dataclass(frozen=True)
class SharedObject:
    object_type: str  # "evidence" | "export"
    object_id: str


@dataclass
class Share:
    id: str  # "SH-7KQ2-9XTR": shown to people, printed on the watermark; not a credential
    created_by: int
    created_by_name: str
    created_at: datetime
    recipient_kind: RecipientKind
    recipient_user_id: int | None
    recipient_name: str  # the account name, or the person's name as the sharer typed it
    recipient_email: str | None
    terms: ShareTerms
    objects: list[SharedObject] = field(default_factory=list)
    case_number: str | None = None
    note: str = ""  # the sharer's message to the recipient
    downloads: int = 0
    code_failures: int = 0
    locked_at: datetime | None = None
    revoked_at: datetime | None = None
    revoked_by_name: str | None = None
    revoke_reason: str | None = None
    parent_id: str | None = None  # the share this one was shared on from

    def state(self, now: datetime) -> ShareState:
        if self.revoked_at is not None:
            return ShareState.REVOKED
        if self.terms.expires_at is not None and now >= self.terms.expires_at:
            return ShareState.EXPIRED
        if self.locked_at is not None:
            return ShareState.LOCKED
        if self.terms.max_downloads is not None and self.downloads >= self.terms.max_downloads:
            return ShareState.EXHAUSTED
        return ShareState.ACTIVE

    def refusal(self, now: datetime) -> str | None:
        """Why nothing may be opened through the share now (a sentence), or None."""
        state = self.state(now)
        if state is ShareState.REVOKED:
            return f"share {self.id} was revoked; ask the sender for a new share"
        if state is ShareState.EXPIRED:
            assert self.terms.expires_at is not None
            return f"share {self.id} expired on {self.terms.expires_at:%Y-%m-%d %H:%M} UTC"
        if state is ShareState.LOCKED:
            return (
                f"share {self.id} is locked after {MAX_CODE_FAILURES} wrong access codes; "
                "ask the sender for a new code"
            )
        return None

    def download_refusal(self, now: datetime) -> str | None:
        refusal = self.refusal(now)
        if refusal:
            return refusal
        if self.terms.access is not ShareAccess.DOWNLOAD:
            return f"share {self.id} is for viewing only"
        if self.state(now) is ShareState.EXHAUSTED:
            return f"share {self.id} has used all {self.terms.max_downloads} of its downloads"
        return None

    @property
    def recipient(self) -> str:
        if self.recipient_email and self.recipient_name:
            return f"{self.recipient_name} <{self.recipient_email}>"
        return self.recipient_email or self.recipient_name

    def watermark_lines(self) -> list[str]:
        return [
            f"Shared with {self.recipient}",
            f"Share {self.id} · {self.created_at:%Y-%m-%d %H:%M} UTC · do not copy",
        ]


def new_share_id() -> str:
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(8))
    return f"SH-{raw[:4]}-{raw[4:]}"


def new_token() -> str:
    """A link's secret: 256 random bits."""
    return secrets.token_urlsafe(32)


def new_access_code() -> str:
    """Ten Crockford base32 characters (50 bits), shown as XXXXX-XXXXX."""
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(10))
    return f"{raw[:5]}-{raw[5:]}"


def normalise_code(code: str) -> str:
    """Codes are read aloud and typed: case, spaces, dashes and look-alikes do not matter."""
    cleaned = code.strip().upper().replace("-", "").replace(" ", "")
    return cleaned.translate(str.maketrans("OIL", "011"))


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_terms(terms: ShareTerms, now: datetime, *, parent: Share | None = None) -> ShareTerms:
    """The terms as stored: an expiry in the future and within a year (30 days when none is
    given), a sane download limit; a reshare never widens its parent's terms."""
    expires = terms.expires_at or now + DEFAULT_EXPIRY
    if terms.expires_at is None and parent is not None and parent.terms.expires_at is not None:
        expires = min(expires, parent.terms.expires_at)  # a reshare ends with its share by default
    if expires.tzinfo is None:
        raise Invalid("the expiry needs a time zone")
    if expires <= now:
        raise Invalid("the expiry must be in the future")
    if expires - now > MAX_EXPIRY:
        raise Invalid("a share may last at most a year; share again when it runs out")
    if terms.max_downloads is not None and not 1 <= terms.max_downloads <= MAX_DOWNLOADS:
        raise Invalid(f"the download limit must be between 1 and {MAX_DOWNLOADS}")
    if terms.max_downloads is not None and terms.access is ShareAccess.VIEW:
        raise Invalid("a download limit needs a share that allows downloads")
    checked = ShareTerms(
        access=terms.access,
        content=terms.content,
        expires_at=expires,
        max_downloads=terms.max_downloads,
        watermark=terms.watermark,
        reshare=terms.reshare,
    )
    if parent is None:
        return checked
    p = parent.terms
    if p.content is not checked.content:
        raise Invalid(f"a reshare gives the same form as its share: {p.content.value}")
    if p.access is ShareAccess.VIEW and checked.access is ShareAccess.DOWNLOAD:
        raise Invalid("this share is for viewing only; it cannot be reshared with downloads")
    if p.watermark and not checked.watermark:
        raise Invalid("this share is watermarked; a reshare must be watermarked too")
    if p.expires_at is not None and expires > p.expires_at:
        raise Invalid(f"a reshare cannot outlast its share (expires {p.expires_at:%Y-%m-%d %H:%M} UTC)")
    return checked


def share_principal(share: Share, *, user_id: int, name: str, unit: str | None = None) -> Principal:
    """The principal a recipient acts as through ``share``: its scope is the shared objects,
    its permissions the share's terms."""
    perms = {Permission.EVIDENCE_VIEW, Permission.EVIDENCE_PLAY}
    if share.terms.access is ShareAccess.DOWNLOAD:
        perms.add(Permission.EVIDENCE_DOWNLOAD)
    if share.terms.reshare and share.recipient_kind is RecipientKind.USER:
        perms.add(Permission.SHARE_CREATE)
    return Principal(
        id=user_id,
        name=name,
        role="share_recipient",
        permissions=frozenset(perms),
        unit=unit,
        via="share",
        shared=frozenset(f"{o.object_type}:{o.object_id}" for o in share.objects),
    )


@dataclass(frozen=True)
class ShareCopy:
    """A shared video or photo with the share's watermark burned in."""

    share_id: str
    evidence_id: str
    sha256: str
    size: int
    mime_type: str
    blob_key: str
    source_sha256: str
    tool: str
    parameters: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class ServedFile:
    """The file a share hands out for an item: the original, its proxy, its newest redacted
    copy, or the share's watermarked copy of one of those."""

    role: str  # "original" | "proxy" | "redacted" | "watermarked"
    filename: str
    mime_type: str
    size: int
    sha256: str
    blob_key: str
    source_sha256: str | None  # the original's, for anything made from it


def _stem(filename: str) -> str:
    return filename.rsplit(".", 1)[0] if "." in filename else filename


def captions_filename(filename: str) -> str:
    """The name a recording's captions go by beside it (``stop.mp4`` -> ``stop.vtt``)."""
    return f"{_stem(filename)}.vtt"


def newest_redacted(item: EvidenceItem) -> Derivative | None:
    """The newest redacted copy (``redacted-v<n>``) made from the item's current original."""
    source = item.original.sha256 if item.original else None
    redacted = [d for d in item.derivatives if d.source_sha256 == source and d.kind.startswith("redacted-v")]
    if not redacted:
        return None
    return max(redacted, key=lambda d: (int(d.kind.removeprefix("redacted-v") or 0), d.id))


def served_file(item: EvidenceItem, content: ShareContent) -> ServedFile | None:
    """The form of ``item`` that ``content`` names; None when the item has none (yet)."""
    original = item.original
    if original is None:
        return None
    if content is ShareContent.ORIGINAL:
        return ServedFile(
            "original",
            original.filename,
            original.mime_type,
            original.size,
            original.sha256,
            original.blob_key,
            None,
        )
    current = [d for d in item.derivatives if d.source_sha256 == original.sha256]
    if content is ShareContent.PROXY:
        chosen = next((d for d in current if d.kind == "proxy"), None) or next(
            (d for d in current if d.kind == "preview"), None
        )
        if chosen is None:
            return None
        ext = {"video/mp4": "mp4", "audio/mp4": "m4a", "image/jpeg": "jpg"}.get(chosen.mime_type, "bin")
        name = f"{_stem(original.filename)}.proxy.{ext}"
        return ServedFile(
            "proxy", name, chosen.mime_type, chosen.size, chosen.sha256, chosen.blob_key, original.sha256
        )
    newest = newest_redacted(item)
    if newest is None:
        return None
    ext = original.filename.rsplit(".", 1)[-1] if "." in original.filename else "bin"
    ext = {"video/mp4": "mp4", "application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}.get(
        newest.mime_type, ext
    )
    name = f"{_stem(original.filename)}.{newest.kind}.{ext}"
    return ServedFile(
        "redacted", name, newest.mime_type, newest.size, newest.sha256, newest.blob_key, original.sha256
    )


def watermarkable(item: EvidenceItem) -> bool:
    return item.kind in (EvidenceKind.VIDEO, EvidenceKind.IMAGE)
