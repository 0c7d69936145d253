"""Celery carries jobs to workers in scale-out mode; the jobs table stays the one record of
each job (state, attempts, progress, lease), shown by the same API, pages and commands.

A message holds nothing but a job id. The worker that receives it claims that job in the
table, which decides: one worker at a time holds a job, under a lease. So a message that
comes twice, comes late, or names a job another worker holds costs one query and does
nothing, and every way a message can go missing is mended from the table:

- the broker was down when the job was queued: a sweeper finds the job waiting, unclaimed;
- a worker died mid-job: its lease runs out, and a sweeper hands the job out again;
- a passing failure: the retry is sent to run when its wait is over (and, should that
  message be lost too, a sweeper finds the job due and unclaimed).

Every ``opendems worker`` runs a sweeper. Many sweepers at once hand each job out once: the
table marks what was handed out, and the claim stops any second run.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from celery import Celery
from kombu.exceptions import ChannelError
from sqlalchemy.engine import Engine

from opendems.adapters.db.jobs_repo import JobRepository
from opendems.config import Settings
from opendems.domain.jobs import MAX_DELAY, Job, JobState
from opendems.ports import Clock

log = logging.getLogger("opendems.jobs.celery")

TASK = "opendems.run_job"
CONNECT_TIMEOUT_S = 3.0
# After a failed send, later sends are skipped for this long (the sweeper sends those jobs
# once the broker is back): a request must not wait on a broker that is down.
PAUSE_AFTER_FAILURE_S = 10.0
SEND_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.5, "interval_max": 0.5}


def celery_app(settings: Settings) -> Celery:
    """The Celery application of one process: broker from the settings, JSON messages, no
    result backend (results live in the jobs table)."""
    lease_s = settings.job_lease_seconds
    app = Celery("opendems", broker=settings.broker_url, set_as_current=False)
    app.conf.update(
        task_default_queue=settings.celery_queue,
        task_create_missing_queues=True,
        task_serializer="json",
        accept_content=["json"],
        result_backend=None,
        task_ignore_result=True,
        # A message is acknowledged when its job ended, not when it arrived: a worker that
        # dies mid-job leaves the message to the broker to hand out again.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,  # a job waits in the broker, not behind a busy worker
        worker_disable_rate_limits=True,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=CONNECT_TIMEOUT_S,
        broker_transport_options={
            # Redis hands an unacknowledged message to another worker after this long. The
            # lease in the table decides who runs a job; this is the broker's own backstop,
            # so it is well past a lease (a redelivered message of a job still held is a
            # no-op) and past the longest retry wait (a message waiting for its time is
            # unacknowledged too, and must not be doubled).
            "visibility_timeout": max(3600, 2 * lease_s, int(MAX_DELAY.total_seconds()) + lease_s),
            "socket_connect_timeout": CONNECT_TIMEOUT_S,
        },
        enable_utc=True,
        timezone="UTC",
    )
    return app


class CeleryPublisher:
    """Sends one ``opendems.run_job`` message per job id. Never raises into the caller: the
    jobs are committed already, and a sweeper sends what could not be sent now."""

    def __init__(self, settings: Settings) -> None:
        self.app = celery_app(settings)
        self.queue = settings.celery_queue
        self._paused_until = 0.0

    def __call__(self, job_ids: list[int], *, eta: datetime | None = None) -> None:
        if not job_ids:
            return
        if time.monotonic() < self._paused_until:
            log.info("the broker was unreachable moments ago: job(s) %s are left to the sweeper", job_ids)
            return
        try:
            # The app's producer pool keeps its broker connections from one call to the next.
            with self.app.producer_or_acquire() as producer:
                for job_id in job_ids:
                    self.app.send_task(
                        TASK,
                        args=[job_id],
                        queue=self.queue,
                        eta=eta,
                        producer=producer,
                        retry=True,
                        retry_policy=SEND_RETRY_POLICY,
                    )
        except Exception as exc:
            self._paused_until = time.monotonic() + PAUSE_AFTER_FAILURE_S
            log.warning(
                "could not hand job(s) %s to the broker (%s: %s); a worker's sweeper sends them later",
                job_ids,
                type(exc).__name__,
                exc,
            )

    def waiting(self) -> int | None:
        """How many messages wait in the queue for a worker; None when the broker cannot say."""
        try:
            with self.app.pool.acquire(block=True) as conn:
                channel = conn.channel()
                try:
                    return int(channel.queue_declare(queue=self.queue, passive=True).message_count)
                except ChannelError:
                    return 0  # no such queue (Redis drops an empty one): nothing waits
                finally:
                    try:
                        channel.close()
                    except Exception:  # a channel the broker closed already
                        log.debug("closing a broker channel failed", exc_info=True)
        except Exception:
            log.debug("the broker could not say how many messages wait", exc_info=True)
            return None


def sweep_timing(lease_s: int) -> tuple[timedelta, float]:
    """How long a job must go untouched before a sweeper sends it again (a lease, at most a
    minute), and how often a sweeper looks (every few seconds)."""
    return timedelta(seconds=min(lease_s, 60)), min(5.0, max(1.0, lease_s / 3))


# How often a worker also clears what crashes left in the shared stores (see ``housekeeping``).
HOUSEKEEPING_S = 600.0


class Sweeper(threading.Thread):
    """Sends the broker, once more, the jobs no worker holds whose message went missing:
    running under a lease that ran out (the worker died), or queued, due and untouched for
    a while (the broker was down when they were queued, or lost the message)."""

    def __init__(
        self,
        engine: Engine,
        publisher: CeleryPublisher,
        clock: Clock,
        *,
        quiet: timedelta,
        every_s: float,
        housekeeping: Callable[[], None] | None = None,
        housekeeping_every_s: float = HOUSEKEEPING_S,
    ) -> None:
        super().__init__(name="opendems-sweeper", daemon=True)
        self.housekeeping = housekeeping
        self.housekeeping_every_s = housekeeping_every_s
        self.engine = engine
        self.publisher = publisher
        self.clock = clock
        self.quiet = quiet
        self.every_s = every_s
        self.stopping = threading.Event()

    def sweep(self) -> list[int]:
        # A job is sent again and again only while nothing waits in the broker's queue:
        # while messages wait, its own may well be among them, and sending a backlog again
        # on every sweep would only pile up copies. A lost lease is sent once at any time.
        waiting = self.publisher.waiting()
        with self.engine.begin() as conn:
            ids = JobRepository(conn).take_stale(self.clock.now(), self.quiet, again=waiting == 0)
        if ids:
            log.info("sending job(s) %s to the broker again (no worker holds them)", ids)
            self.publisher(ids)
        return ids

    def run(self) -> None:
        last_housekeeping = time.monotonic()
        while not self.stopping.wait(self.every_s):
            try:
                self.sweep()
            except Exception:
                log.exception("the job sweeper hit an error; it carries on")
            if self.housekeeping and time.monotonic() - last_housekeeping >= self.housekeeping_every_s:
                last_housekeeping = time.monotonic()
                try:
                    self.housekeeping()
                except Exception:
                    log.exception("storage housekeeping hit an error; it carries on")

    def stop(self) -> None:
        self.stopping.set()


def run_worker(
    settings: Settings,
    *,
    run_job: Callable[[int, str], Job | None],
    publisher: CeleryPublisher,
    engine: Engine,
    clock: Clock,
    threads: int = 1,
    housekeeping: Callable[[], None] | None = None,
) -> int:
    """Consume ``settings.celery_queue`` in this process, ``threads`` jobs at once, with a
    sweeper beside it, until SIGTERM (or Ctrl-C); the exit code. ``run_job(job_id, worker)``
    runs that job if it is runnable (``Processor.run_job``)."""
    app = publisher.app
    host = socket.gethostname()

    def run_job_task(job_id: int) -> None:
        worker = f"{host}:{os.getpid()}:celery-{threading.current_thread().name}"
        ended = run_job(int(job_id), worker)
        if ended is not None and ended.state is JobState.QUEUED:
            # A passing failure: run it again when its wait is over.
            publisher([ended.id], eta=ended.run_after)

    app.task(name=TASK, ignore_result=True)(run_job_task)
    quiet, every_s = sweep_timing(settings.job_lease_seconds)
    sweeper = Sweeper(engine, publisher, clock, quiet=quiet, every_s=every_s, housekeeping=housekeeping)
    options: dict[str, Any] = {
        "hostname": f"opendems-{os.getpid()}@{host}",
        "pool_cls": "solo" if threads == 1 else "threads",
        "concurrency": threads,
        "queues": [settings.celery_queue],
        "loglevel": "INFO",
        "quiet": True,
        # Nothing here uses worker-to-worker chatter; it only slows the start.
        "without_mingle": True,
        "without_gossip": True,
    }
    worker = app.Worker(**options)
    sweeper.start()
    try:
        worker.start()
    finally:
        sweeper.stop()
        sweeper.join(timeout=10)
    return int(worker.exitcode or 0)
