"""Processing jobs: what a worker does to an item after it is stored, step by step.

Steps are idempotent: running one twice leaves the same result, so a job whose worker died
(its lease ran out) is simply run again. A step that fails for a reason that will not change
(a corrupt file) fails at once with that reason; any other failure is retried with
exponential backoff until ``max_attempts``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

BASE_DELAY = timedelta(seconds=5)
MAX_DELAY = timedelta(minutes=10)
DEFAULT_ATTEMPTS = 5


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"  # stopped by a person; queued again only by asking anew


@dataclass
class Job:
    id: int
    kind: str
    evidence_id: str | None
    state: JobState
    attempts: int
    max_attempts: int
    progress: float
    error: str | None
    run_after: datetime
    locked_by: str | None
    locked_until: datetime | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    started_at: datetime | None = None  # when the current (or last) attempt was claimed

    @property
    def active(self) -> bool:
        return self.state in (JobState.QUEUED, JobState.RUNNING)

    def eta_s(self, now: datetime) -> float | None:
        """Seconds left if the running attempt keeps its pace so far; None before there is a
        pace to go by (under 2 % done, or under 2 s in)."""
        if self.state is not JobState.RUNNING or self.started_at is None or self.progress < 0.02:
            return None
        spent = (now - self.started_at).total_seconds()
        if spent < 2:
            return None
        return max(0.0, spent * (1 - self.progress) / self.progress)


class PermanentFailure(Exception):
    """The step cannot succeed on this input; retrying would give the same answer."""


class JobCancelled(Exception):
    """A person cancelled the job while it ran: the step stops and keeps nothing."""


class NoPicture(PermanentFailure):
    """A "video" file that holds only sound."""


def backoff(attempts: int) -> timedelta:
    """The wait before attempt ``attempts + 1``: 5 s, 10 s, 20 s ... at most 10 minutes."""
    delay: timedelta = BASE_DELAY * (2 ** max(attempts - 1, 0))
    return min(delay, MAX_DELAY)
