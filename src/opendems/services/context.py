"""Who is acting, from where, and the ports every use case shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from opendems.domain.access import Principal
from opendems.domain.custody import Where
from opendems.domain.evidence import MetadataLimits


@dataclass(frozen=True)
class Actor:
    """The acting principal and where the action comes from (AU-3 who, where, source)."""

    principal: Principal
    where: Where
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. the operating-system user


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass(frozen=True)
class AuthPolicy:
    """The sign-in and session numbers (SECURITY-CONTROLS.md), each an operator setting."""

    lockout_attempts: int = 5
    lockout_window: timedelta = timedelta(minutes=15)
    rate_per_address: int = 30
    rate_window: timedelta = timedelta(minutes=5)
    session_idle: timedelta = timedelta(minutes=30)
    session_max: timedelta = timedelta(hours=12)
    inactive_after: timedelta = timedelta(days=90)
    require_mfa: bool = True
    mfa_issuer: str = "OpenDEMS"


@dataclass(frozen=True)
class Limits:
    metadata: MetadataLimits = field(default_factory=MetadataLimits)
    max_upload_bytes: int = 1024**4
    upload_expiry_hours: int = 7 * 24
