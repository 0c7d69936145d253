"""What court reports and receipts say, as plain data: the services fill these in from the
database and the custody chain; adapters render them (PDF, JSON, CASE/UCO JSON-LD).

Times are text in the custody chain's own form (UTC, ``Z``), so a report shows exactly what
was hashed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class ReportEvent:
    """One custody event as a report lists it."""

    seq: int
    at: str  # "2026-11-26T10:00:00.123456Z"
    action: str  # "evidence:download"
    actor: str  # the account name; "system" for the server's own work
    actor_id: int | None
    outcome: str  # success | denied | failed
    reason: str | None
    service: str  # api | cli | worker | portal
    endpoint: str  # "GET /api/v1/evidence/{id}/download"
    client_address: str | None
    details: dict[str, Any]
    event_hash: str


@dataclass(frozen=True)
class ReportFile:
    """The original, or a file made from it (proxy, redacted copy ...)."""

    role: str  # "original", or the derivative's kind ("proxy", "redacted", "transcript" ...)
    filename: str
    mime_type: str
    size: int
    sha256: str
    created_at: str
    source_sha256: str | None = None  # what a derivative was made from
    tool: str | None = None  # "PyAV 18.1.0 (FFmpeg 7.1)"
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CustodyReport:
    """An item's chain-of-custody report."""

    agency: str
    evidence_id: str  # "EV-2026-000123"
    title: str
    kind: str  # video | audio | image | document | other
    case_numbers: list[str]
    captured_at: str | None
    captured_by: str | None
    device: str | None  # "Axon Body 4, serial X123"
    location: str | None  # "40.712800, -74.006000"
    files: list[ReportFile]  # the original first
    events: list[ReportEvent]  # in chain order
    chain_ok: bool
    chain_status: str  # one sentence: what verifying the chain found
    generated_at: str
    generated_by: str

    def to_json(self) -> dict[str, Any]:
        return {"type": "opendems-custody-report", "version": 1, **asdict(self)}


@dataclass(frozen=True)
class ReceiptItem:
    evidence_id: str
    title: str
    filename: str
    content: str  # "original" | "proxy" | "redacted" | "export"
    size: int
    sha256: str


@dataclass(frozen=True)
class ShareReceipt:
    """What was shared, with whom, on what terms: given to the sharer and the recipient."""

    agency: str
    share_id: str
    created_at: str
    created_by: str
    recipient: str  # "Jane Roe <jroe@da.example.gov>" or an account name
    recipient_kind: str  # user | link
    items: list[ReceiptItem]
    terms: list[tuple[str, str]]  # ("Expires", "2026-12-31T23:59:59Z"), ("Downloads", "at most 5") ...
    case_number: str | None = None
