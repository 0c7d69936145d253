"""Court export packages: a BagIt bag (RFC 8493) of evidence with its custody reports, a
CASE/UCO provenance graph and a certificate of authenticity, delivered as a ZIP.

The bag's payload files are the evidence's own stored blobs (no second copy is kept); the
reports, the graph, the certificate and the tag files are small blobs of their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from opendems.domain.errors import Invalid

MAX_EXPORT_ITEMS = 5_000


class ExportState(StrEnum):
    BUILDING = "building"
    READY = "ready"
    FAILED = "failed"


class ExportContent(StrEnum):
    ORIGINAL = "original"
    REDACTED = "redacted"


@dataclass(frozen=True)
class PackageFile:
    path: str  # inside the bag: "data/EV-2026-000001/original/clip.mp4", "bagit.txt"
    blob_key: str
    sha256: str
    size: int


@dataclass
class Export:
    id: str  # "EX-2026-000001"
    title: str
    content: ExportContent
    evidence_ids: list[str]
    created_by: int
    created_by_name: str
    created_at: datetime
    state: ExportState
    case_number: str | None = None
    files: list[PackageFile] = field(default_factory=list)
    size: int | None = None  # of the ZIP
    error: str | None = None
    finished_at: datetime | None = None

    @property
    def bag_name(self) -> str:
        return self.id

    @property
    def zip_name(self) -> str:
        return f"{self.id}.zip"


def check_title(title: str) -> str:
    cleaned = " ".join(title.split())
    if not cleaned:
        raise Invalid("an export needs a title")
    if len(cleaned) > 200:
        raise Invalid("the title is longer than 200 characters")
    return cleaned


def safe_name(filename: str) -> str:
    """A file name that is safe as one path component on every system a court may use."""
    cleaned = "".join("_" if ch in '<>:"/\\|?*%' or ord(ch) < 32 else ch for ch in filename).strip(". ")
    return cleaned[:180] or "file"
