"""The signed-in user's desk: what they uploaded lately, how its processing goes, their cases.

Everything here is read through the actor's visibility (the same SQL scope rule the lists
use), so an item the user uploaded but may no longer see -- sealed since, say -- and its
jobs never show. Reading one's own desk is not a custody event; nothing here changes data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from opendems.domain.access import Permission, decide, visibility
from opendems.domain.cases import Case
from opendems.domain.evidence import EvidenceFilter, EvidenceItem
from opendems.domain.jobs import Job, JobState
from opendems.ports import Clock, UnitOfWork
from opendems.services.cases import counted
from opendems.services.context import Actor

RECENT_ITEMS = 10
QUEUE_ITEMS = 20  # the queue looks at the jobs of this many of the user's newest items
DONE_SHOWN_FOR = timedelta(hours=1)  # a finished job stays on the desk this long
FAILED_SHOWN_FOR = timedelta(days=7)
CASES_SCANNED = 1000  # visible cases looked through for the user's own


@dataclass(frozen=True)
class QueueEntry:
    job: Job
    item: EvidenceItem

    @property
    def percent(self) -> int:
        return round(self.job.progress * 100)


@dataclass(frozen=True)
class Queue:
    entries: list[QueueEntry]

    @property
    def pending(self) -> bool:
        """Anything still to happen (the page keeps refreshing while this holds)."""
        return any(e.job.state in (JobState.QUEUED, JobState.RUNNING) for e in self.entries)

    def count(self, state: JobState) -> int:
        return sum(1 for e in self.entries if e.job.state is state)

    @property
    def summary(self) -> str:
        running, queued = self.count(JobState.RUNNING), self.count(JobState.QUEUED)
        failed = self.count(JobState.FAILED)
        if not self.entries:
            return "Nothing of yours is being processed."
        parts = []
        if running:
            parts.append(f"{running} running")
        if queued:
            parts.append(f"{queued} queued")
        if failed:
            parts.append(f"{failed} failed")
        if not running and not queued:
            parts.insert(0, "Processing finished")
        return ", ".join(parts) + "."


def _mine(actor: Actor) -> EvidenceFilter:
    return EvidenceFilter(uploaded_by=actor.principal.id)


def my_recent_evidence(actor: Actor, *, limit: int = RECENT_ITEMS, uow: UnitOfWork) -> list[EvidenceItem]:
    """The items the actor uploaded, newest first, as far as the actor may see them."""
    if not decide(actor.principal, Permission.EVIDENCE_VIEW):
        return []
    with uow.for_reading() as reader:
        items, _ = reader.evidence.page(_mine(actor), visibility(actor.principal), limit=limit, offset=0)
        return items


def my_queue(actor: Actor, *, uow: UnitOfWork, clock: Clock) -> Queue:
    """The processing jobs of the actor's newest items: queued and running ones, those that
    failed in the last week and those that finished in the last hour."""
    if not decide(actor.principal, Permission.EVIDENCE_VIEW):
        return Queue([])
    now = clock.now()
    entries: list[QueueEntry] = []
    with uow.for_reading() as reader:
        items, _ = reader.evidence.page(
            _mine(actor), visibility(actor.principal), limit=QUEUE_ITEMS, offset=0
        )
        for item in items:
            for job in reader.jobs.for_item(item.id):
                ended = job.finished_at or job.updated_at
                if job.state in (JobState.DONE, JobState.CANCELLED) and now - ended > DONE_SHOWN_FOR:
                    continue
                if job.state is JobState.FAILED and now - ended > FAILED_SHOWN_FOR:
                    continue
                entries.append(QueueEntry(job, item))
    order = {
        JobState.RUNNING: 0,
        JobState.QUEUED: 1,
        JobState.FAILED: 2,
        JobState.CANCELLED: 3,
        JobState.DONE: 4,
    }
    # Running first, then waiting, failed and done; within a state the newest item first,
    # its steps in the order they run (the sort is stable).
    entries.sort(key=lambda e: order[e.job.state])
    return Queue(entries)


def my_cases(actor: Actor, *, limit: int = 10, uow: UnitOfWork) -> list[Case]:
    """Cases the actor may see and is named on or opened, newest first, with the count of
    their evidence the actor may see."""
    if not decide(actor.principal, Permission.CASE_VIEW):
        return []
    me = actor.principal.id
    scope = visibility(actor.principal)
    mine: list[Case] = []
    with uow.for_reading() as reader:
        offset = 0
        while len(mine) < limit and offset < CASES_SCANNED:
            cases, total = reader.cases.page(status=None, scope=scope, limit=100, offset=offset)
            for case in cases:
                named = case.created_by == me or any(
                    uid == me for uid, _ in reader.access.members("case", case.number)
                )
                if named and len(mine) < limit:
                    mine.append(counted(actor, case, reader))
            offset += 100
            if offset >= total:
                break
    return mine
