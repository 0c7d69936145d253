"""Running processing jobs: claim, run the step, record the outcome, retry with backoff.

The jobs table holds every job's state; workers either poll it for the next due job
(``run_next``: the embedded default) or are handed job ids by a broker (``run_job``: Celery,
in scale-out mode) -- the same claim, lease and steps either way. A step is a plain function
of (context, job) that may run more than once for the same job.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from opendems.domain.jobs import Job, JobCancelled, JobState, PermanentFailure, backoff
from opendems.ports import (
    BlobStore,
    Clock,
    MediaProber,
    MediaTools,
    PiiScanner,
    ReportRenderer,
    TextReader,
    UnitOfWork,
)
from opendems.services.context import Actor

log = logging.getLogger("opendems.jobs")
LEASE = timedelta(minutes=5)
REPORT_EVERY_S = 1.0


@dataclass
class StepContext:
    """What a step may use: the database, the blobs, the clock, and a progress callback."""

    uow: UnitOfWork
    blobs: BlobStore
    clock: Clock
    actor: Actor  # the processing account every step's custody events are recorded under
    prober: MediaProber
    tools: MediaTools
    work_dir: Path  # scratch space for files a library must write by name (then encrypted)
    report: Callable[[float], None] = field(default=lambda fraction: None)
    reports: ReportRenderer | None = None  # court documents (export packages)
    # Verifies the whole custody chain: (problems, events checked); for export reports.
    check_chain: Callable[[UnitOfWork], tuple[list[str], int]] | None = None
    agency: str = "OpenDEMS agency"
    transcription: str | None = None  # the speech model (e.g. "tiny.en"); None: switched off
    ocr: TextReader | None = None  # reads text in photos and scanned pages; None: switched off
    # The personal-data finder (loaded on first use: spaCy takes a second), for first passes.
    pii: Callable[[], PiiScanner] | None = None


Step = Callable[[StepContext, Job], None]


def worker_name(suffix: str = "") -> str:
    return f"{socket.gethostname()}:{os.getpid()}{':' + suffix if suffix else ''}"


@dataclass
class Processor:
    steps: dict[str, Step]
    make_context: Callable[[], StepContext]
    clock: Clock
    lease: timedelta = LEASE

    def run_next(self, worker: str) -> Job | None:
        """Run one due job, if any; returns it as it ended (None when the queue had none)."""
        return self._run(worker, None)

    def run_job(self, job_id: int, worker: str) -> Job | None:
        """Run that job if it is runnable -- queued and due, or running under a lease that ran
        out -- and return it as it ended; None when it is not (done, failed, not due yet, or
        held by a live worker). A broker delivers job ids: a message that comes twice, or
        late, finds nothing to do."""
        return self._run(worker, job_id)

    def _run(self, worker: str, job_id: int | None) -> Job | None:
        ctx = self.make_context()
        uow = ctx.uow
        with uow:
            job = uow.jobs.claim(worker, self.clock.now(), self.lease, job_id=job_id)
            uow.commit()
        if job is None:
            return None

        last = [time.monotonic()]

        def report(fraction: float) -> None:
            # Progress also renews the lease; written at most once a second. A worker that
            # lost its lease (it stalled; another took the job over) stops at once.
            if time.monotonic() - last[0] < REPORT_EVERY_S:
                return
            last[0] = time.monotonic()
            with uow:
                held = uow.jobs.progress(job.id, worker, fraction, self.clock.now(), self.lease)
                uow.commit()
            if not held:
                with uow:
                    now_held = uow.jobs.get(job.id)
                if now_held is not None and now_held.state is JobState.CANCELLED:
                    raise JobCancelled(f"job {job.id} was cancelled")
                raise LostLease(f"job {job.id} was taken over by another worker")

        ctx.report = report
        # A kind may carry an argument after a colon ("redact:3": render version 3).
        step = self.steps.get(job.kind) or self.steps.get(job.kind.partition(":")[0])
        try:
            if step is None:
                raise PermanentFailure(f"no step is known for jobs of kind {job.kind!r}")
            step(ctx, job)
        except LostLease:
            log.warning("job %s (%s): lease lost; the worker that holds it now carries on", job.id, job.kind)
        except JobCancelled:
            log.info("job %s (%s) was cancelled; it stopped and kept nothing", job.id, job.kind)
        except PermanentFailure as exc:
            self._end(uow, job, worker, str(exc), retry=False)
        except MemoryError:
            self._end(uow, job, worker, "the file needs more memory than this worker has", retry=False)
        except Exception as exc:  # any other failure may pass: try again later
            log.warning(
                "job %s (%s) attempt %s failed: %s", job.id, job.kind, job.attempts, exc, exc_info=True
            )
            self._end(uow, job, worker, f"{type(exc).__name__}: {exc}", retry=job.attempts < job.max_attempts)
        else:
            with uow:
                uow.jobs.finish(job.id, worker, self.clock.now())
                uow.commit()
        with uow:
            ended = uow.jobs.get(job.id)
        assert ended is not None
        return ended

    def _end(self, uow: UnitOfWork, job: Job, worker: str, error: str, *, retry: bool) -> None:
        now = self.clock.now()
        with uow:
            uow.jobs.fail(job.id, worker, error, now, retry_at=now + backoff(job.attempts) if retry else None)
            uow.commit()

    def run_until_idle(self, worker: str, *, max_jobs: int = 10_000) -> list[Job]:
        """Run every due job (a test, `opendems worker --until-idle`)."""
        done = []
        for _ in range(max_jobs):
            job = self.run_next(worker)
            if job is None:
                break
            done.append(job)
        return done


class LostLease(Exception):
    """Another worker holds the job now; this one must stop without touching it."""


class WorkerThread(threading.Thread):
    """A worker inside the server process (the embedded default)."""

    def __init__(self, processor: Processor, name: str, poll_s: float = 1.0) -> None:
        super().__init__(name=name, daemon=True)
        self.processor = processor
        self.poll_s = poll_s
        self.stopping = threading.Event()

    def run(self) -> None:
        worker = worker_name(self.name)
        while not self.stopping.is_set():
            try:
                job = self.processor.run_next(worker)
            except Exception:
                log.exception("the job worker hit an error; it carries on")
                job = None
            if job is None:
                self.stopping.wait(self.poll_s)

    def stop(self) -> None:
        self.stopping.set()


def wait_until_idle(uow: UnitOfWork, *, timeout_s: float, poll_s: float = 0.5) -> dict[str, int]:
    """Block until nothing is queued or running; the counts by state at the end."""
    deadline = time.monotonic() + timeout_s
    while True:
        with uow.for_reading() as reader:
            counts = reader.jobs.counts()
        busy = counts.get(JobState.QUEUED.value, 0) + counts.get(JobState.RUNNING.value, 0)
        if busy == 0 or time.monotonic() >= deadline:
            return counts
        time.sleep(poll_s)
