"""Resumable uploads: what was announced, how far it got, what it became."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass
class UploadRecord:
    id: str
    length: int
    metadata: dict[str, Any]
    raw_metadata: str | None
    created_by: int
    created_at: datetime
    expires_at: datetime
    status: str  # open | completed | failed
    evidence_id: str | None
    duplicate: bool
    error: str | None
