"""Evidence items, their originals and the rules on their metadata."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from opendems.domain.errors import Invalid

EVIDENCE_ID_RE = re.compile(r"^EV-([0-9]{4})-([0-9]{6,})$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
TAG_RE = re.compile(r"^[\w][\w .:/#-]*$")


class EvidenceKind(StrEnum):
    VIDEO = "video"
    AUDIO = "audio"
    IMAGE = "image"
    DOCUMENT = "document"
    OTHER = "other"


class EvidenceStatus(StrEnum):
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"
    ON_HOLD = "on_hold"
    DISPOSED = "disposed"


class Restriction(StrEnum):
    NORMAL = "normal"
    RESTRICTED = "restricted"
    SEALED = "sealed"


def format_evidence_id(year: int, number: int) -> str:
    return f"EV-{year:04d}-{number:06d}"


def parse_evidence_id(value: str) -> str:
    """Return the canonical id, or raise ``Invalid`` for anything that is not one."""
    candidate = value.strip().upper()
    if not EVIDENCE_ID_RE.match(candidate):
        raise Invalid(f"{value!r} is not an evidence id (expected EV-YYYY-NNNNNN)")
    return candidate


def kind_for_mime(mime: str) -> EvidenceKind:
    major = mime.split("/", 1)[0]
    if major in {"video", "audio", "image"}:
        return EvidenceKind(major)
    if mime in DOCUMENT_MIMES or major == "text":
        return EvidenceKind.DOCUMENT
    return EvidenceKind.OTHER


DOCUMENT_MIMES = frozenset(
    {
        "application/pdf",
        "application/rtf",
        "application/msword",
        "application/vnd.ms-excel",
        "application/vnd.ms-powerpoint",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "application/vnd.oasis.opendocument.text",
        "application/vnd.oasis.opendocument.spreadsheet",
        "application/vnd.oasis.opendocument.presentation",
        "application/epub+zip",
    }
)


class EvidenceSort(StrEnum):
    """The orders a list of evidence may take: a column, ascending, or descending with '-'.
    Only these reach the query (never a column name the caller wrote)."""

    NEWEST = "-created_at"
    OLDEST = "created_at"
    CAPTURED_NEWEST = "-captured_at"
    CAPTURED_OLDEST = "captured_at"
    TITLE = "title"
    TITLE_DESC = "-title"
    ID = "id"
    ID_DESC = "-id"

    @property
    def column(self) -> str:
        return self.value.lstrip("-")

    @property
    def descending(self) -> bool:
        return self.value.startswith("-")


@dataclass(frozen=True)
class EvidenceFilter:
    kind: EvidenceKind | None = None
    case_number: str | None = None
    officer: str | None = None
    device: str | None = None
    tag: str | None = None
    category: str | None = None
    captured_from: datetime | None = None
    captured_to: datetime | None = None
    status: EvidenceStatus | None = None  # the item's state
    uploaded_by: int | None = None  # the user id that created (uploaded) the item
    q: str | None = None  # words in the title, or part of the evidence id
    sort: EvidenceSort = EvidenceSort.NEWEST


@dataclass(frozen=True)
class MetadataLimits:
    max_title_chars: int = 200
    max_description_chars: int = 10_000
    max_tags: int = 50
    max_tag_chars: int = 64
    max_custom_fields_bytes: int = 16_384
    max_short_text_chars: int = 200


@dataclass
class Original:
    """The immutable bytes an item was acquired as, addressed by their SHA-256."""

    sha256: str
    size: int
    mime_type: str
    filename: str
    blob_key: str
    stored_at: datetime


@dataclass
class Derivative:
    """A file made from an original: proxy, thumbnail, transcript, redaction, export."""

    id: int
    kind: str
    sha256: str
    size: int
    mime_type: str
    blob_key: str
    source_sha256: str
    tool: str
    tool_version: str
    parameters: dict[str, Any]
    created_at: datetime


@dataclass
class EvidenceItem:
    id: str
    kind: EvidenceKind
    title: str
    status: EvidenceStatus
    created_at: datetime
    created_by: int
    original: Original | None = None
    description: str = ""
    captured_at: datetime | None = None
    captured_by: str | None = None
    device_make: str | None = None
    device_model: str | None = None
    device_serial: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    category: str | None = None
    tags: list[str] = field(default_factory=list)
    custom_fields: dict[str, Any] = field(default_factory=dict)
    restriction: Restriction = Restriction.NORMAL
    case_numbers: list[str] = field(default_factory=list)
    derivatives: list[Derivative] = field(default_factory=list)
    updated_at: datetime | None = None
    unit: str | None = None  # the capturing officer's (or uploader's) unit (supervisor scope)
    media: dict[str, Any] | None = None  # what probing the original found


# Fields a user may edit, and how each is checked.
EDITABLE_FIELDS = (
    "title",
    "description",
    "captured_at",
    "captured_by",
    "device_make",
    "device_model",
    "device_serial",
    "latitude",
    "longitude",
    "category",
    "custom_fields",
    "restriction",
)


def normalise_tag(tag: str, limits: MetadataLimits) -> str:
    value = tag.strip()
    if not value:
        raise Invalid("a tag must not be empty")
    if len(value) > limits.max_tag_chars:
        raise Invalid(f"tag {value[:20]!r}... is longer than {limits.max_tag_chars} characters")
    if not TAG_RE.match(value):
        raise Invalid(f"tag {value!r} may hold only letters, digits, spaces and . : / # - _")
    return value


def check_tags(tags: list[str], limits: MetadataLimits) -> list[str]:
    cleaned: list[str] = []
    for tag in tags:
        value = normalise_tag(tag, limits)
        if value not in cleaned:
            cleaned.append(value)
    if len(cleaned) > limits.max_tags:
        raise Invalid(f"an item may carry at most {limits.max_tags} tags")
    return cleaned


def _short_text(name: str, value: Any, limits: MetadataLimits, *, maximum: int | None = None) -> str:
    if not isinstance(value, str):
        raise Invalid(f"{name} must be text")
    text = value.strip()
    top = maximum or limits.max_short_text_chars
    if len(text) > top:
        raise Invalid(f"{name} is longer than {top} characters")
    if any(ord(ch) < 32 and ch not in "\t\n\r" for ch in text):
        raise Invalid(f"{name} contains control characters")
    return text


def check_field(name: str, value: Any, limits: MetadataLimits) -> Any:
    """Validate one editable field and return its normalised value."""
    if name not in EDITABLE_FIELDS:
        raise Invalid(f"{name!r} is not an editable field")
    if value is None:
        if name == "title":
            raise Invalid("title must not be empty")
        return None
    if name == "title":
        text = _short_text(name, value, limits, maximum=limits.max_title_chars)
        if not text:
            raise Invalid("title must not be empty")
        return text
    if name == "description":
        return _short_text(name, value, limits, maximum=limits.max_description_chars)
    if name == "captured_at":
        if not isinstance(value, datetime):
            raise Invalid("captured_at must be a date and time")
        if value.tzinfo is None:
            raise Invalid("captured_at must carry a time zone (for example 2026-03-01T14:05:00Z)")
        return value
    if name in {"latitude", "longitude"}:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise Invalid(f"{name} must be a number")
        bound = 90 if name == "latitude" else 180
        if not -bound <= float(value) <= bound:
            raise Invalid(f"{name} must lie between -{bound} and {bound}")
        return float(value)
    if name == "custom_fields":
        if not isinstance(value, dict):
            raise Invalid("custom_fields must be an object")
        encoded = json.dumps(value, ensure_ascii=False)
        if len(encoded.encode()) > limits.max_custom_fields_bytes:
            raise Invalid(f"custom_fields exceed {limits.max_custom_fields_bytes} bytes")
        return value
    if name == "restriction":
        try:
            return Restriction(value)
        except ValueError:
            allowed = ", ".join(r.value for r in Restriction)
            raise Invalid(f"restriction must be one of: {allowed}") from None
    return _short_text(name, value, limits) or None


def check_sha256(value: str) -> str:
    digest = value.strip().lower()
    if not SHA256_RE.match(digest):
        raise Invalid("a SHA-256 must be 64 hexadecimal characters")
    return digest
