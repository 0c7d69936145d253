"""Cases: the incident or investigation that evidence belongs to."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from opendems.domain.errors import Conflict, Invalid
from opendems.domain.evidence import Restriction

CASE_NUMBER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
CASE_EDITABLE_FIELDS = ("title", "incident_number", "case_type", "description")


class CaseStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


@dataclass
class Case:
    number: str
    title: str
    status: CaseStatus
    created_at: datetime
    created_by: int
    incident_number: str | None = None
    case_type: str | None = None
    description: str = ""
    closed_at: datetime | None = None
    restriction: Restriction = Restriction.NORMAL
    unit: str | None = None
    evidence_count: int = 0

    def close(self, when: datetime) -> None:
        if self.status is CaseStatus.CLOSED:
            raise Conflict(f"case {self.number} is already closed")
        self.status = CaseStatus.CLOSED
        self.closed_at = when

    def reopen(self) -> None:
        if self.status is CaseStatus.OPEN:
            raise Conflict(f"case {self.number} is already open")
        self.status = CaseStatus.OPEN
        self.closed_at = None

    def require_open(self) -> None:
        if self.status is CaseStatus.CLOSED:
            raise Conflict(f"case {self.number} is closed; reopen it to change its evidence")


def check_case_number(value: str) -> str:
    number = value.strip()
    if not CASE_NUMBER_RE.match(number):
        raise Invalid(
            f"{value!r} is not a valid case number "
            "(1-64 letters, digits, '.', '_' or '-', starting with a letter or digit)"
        )
    return number


def check_case_text(name: str, value: str | None, *, maximum: int, required: bool = False) -> str:
    text = (value or "").strip()
    if required and not text:
        raise Invalid(f"{name} must not be empty")
    if len(text) > maximum:
        raise Invalid(f"{name} is longer than {maximum} characters")
    if any(ord(ch) < 32 and ch not in "\t\n\r" for ch in text):
        raise Invalid(f"{name} contains control characters")
    return text
