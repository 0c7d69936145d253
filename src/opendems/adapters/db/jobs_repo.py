"""The jobs table: the embedded queue. Claims take a lease; an expired lease means the
worker died, and the job is claimed again."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, insert, or_, select, update

from opendems.adapters.db.access_repo import evidence_visible
from opendems.adapters.db.tables import evidence, jobs
from opendems.domain.access import Visibility
from opendems.domain.jobs import DEFAULT_ATTEMPTS, Job, JobState


def _job(row: Any) -> Job:
    data = dict(row._mapping)
    data["state"] = JobState(data["state"])
    return Job(**data)


ENQUEUED_KEY = "opendems.enqueued_jobs"


def take_enqueued(conn: Connection) -> list[int]:
    """The ids of the jobs queued on this connection since the last call, forgetting them
    (published to a broker once their transaction has committed)."""
    ids: list[int] = conn.info.pop(ENQUEUED_KEY, [])
    return ids


def _runnable(now: datetime) -> Any:
    """Queued and due, or running under a lease that ran out (its worker died)."""
    return or_(
        and_(jobs.c.state == JobState.QUEUED.value, jobs.c.run_after <= now),
        and_(jobs.c.state == JobState.RUNNING.value, jobs.c.locked_until < now),
    )


class JobRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def enqueue(
        self, kind: str, evidence_id: str | None, now: datetime, *, max_attempts: int = DEFAULT_ATTEMPTS
    ) -> int | None:
        """Queue a job unless one of the same kind for the same item is queued, running or
        done (steps are per item; asking twice is not doing twice; a failed or cancelled one
        does not count). Returns its id."""
        existing = self._conn.execute(
            select(jobs.c.id).where(
                jobs.c.kind == kind,
                jobs.c.evidence_id == evidence_id,
                jobs.c.state.notin_([JobState.FAILED.value, JobState.CANCELLED.value]),
            )
        ).first()
        if existing is not None:
            return None
        result = self._conn.execute(
            insert(jobs).values(
                kind=kind,
                evidence_id=evidence_id,
                state=JobState.QUEUED.value,
                attempts=0,
                max_attempts=max_attempts,
                progress=0.0,
                run_after=now,
                created_at=now,
                updated_at=now,
            )
        )
        job_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        self._announce(job_id)
        return job_id

    def _announce(self, job_id: int) -> None:
        """Note a job that became runnable, for the broker once the transaction commits."""
        self._conn.info.setdefault(ENQUEUED_KEY, []).append(job_id)

    def claim(self, worker: str, now: datetime, lease: timedelta, *, job_id: int | None = None) -> Job | None:
        """The next runnable job -- or, with ``job_id``, that job if it is runnable -- leased
        to ``worker``: queued and due, or running under a lease that ran out (its worker died).

        Safe with any number of workers at once: a row that another transaction is claiming
        is skipped, not waited for (PostgreSQL's ``FOR UPDATE SKIP LOCKED``; on SQLite every
        writer is serialised already), and the update takes the row only if it is still as
        it was read, so two workers never hold the same job."""
        runnable = _runnable(now)
        query = select(jobs).where(runnable)
        if job_id is not None:
            query = query.where(jobs.c.id == job_id)
        query = query.order_by(jobs.c.run_after, jobs.c.id).limit(1).with_for_update(skip_locked=True)
        while True:
            row = self._conn.execute(query).first()
            if row is None:
                return None
            # ``attempts`` goes up with each claim: it tells a row read here from the same
            # row claimed by someone else since.
            unchanged = and_(
                jobs.c.id == row.id, jobs.c.state == row.state, jobs.c.attempts == row.attempts, runnable
            )
            if row.state == JobState.RUNNING.value and row.attempts >= row.max_attempts:
                # Its workers keep dying on it (a native crash, the memory killer): stop here.
                self._conn.execute(
                    update(jobs)
                    .where(unchanged)
                    .values(
                        state=JobState.FAILED.value,
                        error=f"the worker stopped during each of {row.attempts} attempts (crashed or killed)",
                        locked_by=None,
                        locked_until=None,
                        updated_at=now,
                        finished_at=now,
                    )
                )
                continue
            taken = self._conn.execute(
                update(jobs)
                .where(unchanged)
                .values(
                    state=JobState.RUNNING.value,
                    attempts=jobs.c.attempts + 1,
                    locked_by=worker,
                    locked_until=now + lease,
                    updated_at=now,
                    started_at=now,
                    error=None,
                )
            )
            if taken.rowcount == 1:
                return self.get(int(row.id))
            # Another worker took it between the read and the update (a database that cannot
            # lock the row it reads): look again.

    def take_stale(
        self, now: datetime, quiet: timedelta, *, again: bool = True, limit: int = 500
    ) -> list[int]:
        """Runnable jobs that no live worker holds and whose message may be lost, marked
        touched now; their ids, to be handed to the broker once more:

        - running under a lease that ran out (its worker died), not handed out since;
        - with ``again`` (nothing waits in the broker), also those handed out before but
          still untouched after ``quiet``, and queued jobs due and untouched for ``quiet``
          (the broker was down when they were queued, or lost the message).

        Of many sweepers at once, only one gets each job; the others find it touched (or
        locked) and pass it by."""
        before = now - quiet
        lost = and_(jobs.c.state == JobState.RUNNING.value, jobs.c.locked_until < now)
        # A lease is renewed with each touch: touched before it ran out means not sent since.
        stale = and_(lost, jobs.c.updated_at < jobs.c.locked_until)
        if again:
            waiting = and_(jobs.c.state == JobState.QUEUED.value, jobs.c.run_after <= before)
            stale = or_(stale, and_(or_(lost, waiting), jobs.c.updated_at <= before))
        found = self._conn.execute(
            select(jobs.c.id).where(stale).order_by(jobs.c.id).limit(limit).with_for_update(skip_locked=True)
        )
        ids = [int(i) for (i,) in found]
        if not ids:
            return []
        touched = self._conn.execute(
            update(jobs).where(jobs.c.id.in_(ids), stale).values(updated_at=now).returning(jobs.c.id)
        )
        return sorted(int(i) for (i,) in touched)

    def get(self, job_id: int) -> Job | None:
        row = self._conn.execute(select(jobs).where(jobs.c.id == job_id)).first()
        return _job(row) if row else None

    def _held(self, job_id: int, worker: str) -> Any:
        return and_(jobs.c.id == job_id, jobs.c.locked_by == worker, jobs.c.state == JobState.RUNNING.value)

    def progress(self, job_id: int, worker: str, fraction: float, now: datetime, lease: timedelta) -> bool:
        """Record progress and renew the lease; False when the lease was lost to another worker."""
        result = self._conn.execute(
            update(jobs)
            .where(self._held(job_id, worker))
            .values(progress=max(0.0, min(fraction, 1.0)), locked_until=now + lease, updated_at=now)
        )
        return bool(result.rowcount)

    def finish(self, job_id: int, worker: str, now: datetime) -> bool:
        """Mark done -- only by the worker that still holds the job."""
        result = self._conn.execute(
            update(jobs)
            .where(self._held(job_id, worker))
            .values(
                state=JobState.DONE.value,
                progress=1.0,
                locked_by=None,
                locked_until=None,
                updated_at=now,
                finished_at=now,
            )
        )
        return bool(result.rowcount)

    def fail(self, job_id: int, worker: str, error: str, now: datetime, *, retry_at: datetime | None) -> bool:
        values: dict[str, Any] = {
            "error": error[:2000],
            "locked_by": None,
            "locked_until": None,
            "updated_at": now,
        }
        if retry_at is None:
            values.update(state=JobState.FAILED.value, finished_at=now)
        else:
            values.update(state=JobState.QUEUED.value, run_after=retry_at)
        result = self._conn.execute(update(jobs).where(self._held(job_id, worker)).values(**values))
        return bool(result.rowcount)

    def cancel(self, job_id: int, now: datetime, why: str) -> bool:
        """Stop a queued or running job: it ends as cancelled (False when it had ended). A
        worker running it finds out at its next progress report (it no longer holds the job)
        and stops; a broker's message for it finds nothing to run."""
        result = self._conn.execute(
            update(jobs)
            .where(
                jobs.c.id == job_id,
                jobs.c.state.in_([JobState.QUEUED.value, JobState.RUNNING.value]),
            )
            .values(
                state=JobState.CANCELLED.value,
                error=why[:2000],
                locked_by=None,
                locked_until=None,
                updated_at=now,
                finished_at=now,
            )
        )
        return bool(result.rowcount)

    def for_item(self, evidence_id: str) -> list[Job]:
        query = select(jobs).where(jobs.c.evidence_id == evidence_id).order_by(jobs.c.id)
        return [_job(r) for r in self._conn.execute(query)]

    def of_kinds(self, kinds: list[str]) -> list[Job]:
        """The jobs of these kinds (e.g. "export:EX-2026-000001"), newest first."""
        if not kinds:
            return []
        query = select(jobs).where(jobs.c.kind.in_(kinds)).order_by(jobs.c.id.desc())
        return [_job(r) for r in self._conn.execute(query)]

    def listing(
        self, state: JobState | None = None, limit: int = 100, *, scope: Visibility | None = None
    ) -> list[Job]:
        """Newest first; with ``scope``, only jobs on items the reader may see."""
        query = select(jobs).order_by(jobs.c.id.desc()).limit(limit)
        if state is not None:
            query = query.where(jobs.c.state == state.value)
        if scope is not None:
            query = query.where(jobs.c.evidence_id.in_(select(evidence.c.id).where(evidence_visible(scope))))
        return [_job(r) for r in self._conn.execute(query)]

    def counts(self) -> dict[str, int]:
        rows = self._conn.execute(select(jobs.c.state, func.count()).group_by(jobs.c.state))
        return {str(state): int(n) for state, n in rows}

    def failed_since(self, when: datetime) -> list[Job]:
        query = select(jobs).where(jobs.c.state == JobState.FAILED.value, jobs.c.finished_at >= when)
        return [_job(r) for r in self._conn.execute(query.order_by(jobs.c.id))]

    def retry(self, job_id: int, now: datetime) -> bool:
        """Queue a failed job again, from its first attempt."""
        result = self._conn.execute(
            update(jobs)
            .where(jobs.c.id == job_id, jobs.c.state == JobState.FAILED.value)
            .values(
                state=JobState.QUEUED.value,
                attempts=0,
                error=None,
                run_after=now,
                updated_at=now,
                finished_at=None,
                progress=0.0,
            )
        )
        if result.rowcount:
            self._announce(job_id)
        return bool(result.rowcount)
