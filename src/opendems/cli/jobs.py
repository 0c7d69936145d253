"""``opendems worker`` and ``opendems jobs``: running and watching the processing queue."""

from __future__ import annotations

import json
import signal
import sys
import time
from typing import Annotated

import typer
from rich.table import Table

from opendems.bootstrap import Container
from opendems.cli.logs import configure_logs
from opendems.cli.runtime import clear_errors, console, err, state
from opendems.domain.jobs import JobState
from opendems.services import evidence as evidence_svc
from opendems.services.ingest import recover_storage
from opendems.services.jobs import WorkerThread, wait_until_idle, worker_name
from opendems.services.uploads import expire_uploads


@clear_errors
def worker(
    threads: Annotated[int, typer.Option("--threads", min=1, max=64, help="Jobs run at once.")] = 1,
    until_idle: Annotated[
        bool, typer.Option("--until-idle", help="Run what is due, then exit (non-zero if a job failed).")
    ] = False,
) -> None:
    """Run processing jobs in this process (beside or instead of the server's own workers).
    In scale-out mode (OPENDEMS_JOB_QUEUE=celery) the jobs come from the broker."""
    c = state.container()
    if until_idle or c.settings.job_queue != "celery":  # a Celery worker sets up its own
        configure_logs()
    if until_idle:  # in either mode: what is due in the jobs table, then exit
        ended = c.processor.run_until_idle(worker_name("cli"))
        failed = [j for j in ended if j.state is JobState.FAILED]
        console.print(f"Ran {len(ended)} job(s); {len(failed)} failed.")
        for j in failed:
            err.print(f"  job {j.id} {j.kind} {j.evidence_id or ''}: {j.error}", highlight=False)
        raise typer.Exit(1 if failed else 0)
    if c.settings.job_queue == "celery":
        raise typer.Exit(_celery_worker(threads))
    pool = [WorkerThread(c.processor, f"worker-{n}") for n in range(threads)]
    for w in pool:
        w.start()
    err.print(f"Running jobs with {threads} thread(s); Ctrl-C stops after the current job.")
    stop = {"now": False}

    def halt(*_: object) -> None:
        stop["now"] = True

    signal.signal(signal.SIGTERM, halt)
    try:
        while not stop["now"]:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    for w in pool:
        w.stop()
    for w in pool:
        w.join()


def _celery_worker(threads: int) -> int:
    """Consume the broker's queue until SIGTERM or Ctrl-C (each lets the jobs in hand end)."""
    from opendems.adapters.jobs.celery_queue import CeleryPublisher, run_worker

    c = state.container()
    publisher = c.job_publisher
    assert isinstance(publisher, CeleryPublisher)
    err.print(
        f"Running jobs from the broker's queue '{c.settings.celery_queue}' with {threads} thread(s); "
        "SIGTERM stops after the current job.",
        highlight=False,
        soft_wrap=True,
    )
    return run_worker(
        c.settings,
        run_job=c.processor.run_job,
        publisher=publisher,
        engine=c.engine,
        clock=c.clock,
        threads=threads,
        housekeeping=lambda: _housekeeping(c),
    )


def _housekeeping(c: Container) -> None:
    """What start-up does on one machine, done by every worker from time to time in a
    cluster (no node restarts often enough): the leftovers of crashed writes that have lain
    untouched for an hour, and expired uploads."""
    recovered = recover_storage(c.uow(), c.blobs, older_than_s=3600)
    expired = expire_uploads(c.uow(), c.blobs, c.clock)
    if any(recovered.values()) or expired:
        err.print(f"Housekeeping: {recovered}, {expired} expired upload(s)", highlight=False)


@clear_errors
def jobs(
    wait: Annotated[
        bool,
        typer.Option("--wait", help="Block until nothing is queued or running; exit 1 if any job failed."),
    ] = False,
    timeout: Annotated[
        float, typer.Option("--timeout", min=0, help="Give up waiting after this many seconds.")
    ] = 3600,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000)] = 50,
) -> None:
    """The processing queue: state, progress and errors of recent jobs."""
    c = state.container()
    started = c.clock.now()
    if wait:
        wait_until_idle(c.uow(), timeout_s=timeout)
    with c.uow().for_reading() as reader:
        recent = reader.jobs.listing(limit=limit)
        counts = reader.jobs.counts()
        # Failures that happened while we waited (or were still to come when we started).
        failed = reader.jobs.failed_since(started) if wait else []
    if as_json:
        body = {
            "counts": counts,
            "jobs": [
                {
                    "id": j.id,
                    "kind": j.kind,
                    "evidence_id": j.evidence_id,
                    "state": j.state.value,
                    "attempts": j.attempts,
                    "progress": j.progress,
                    "error": j.error,
                    "worker": j.locked_by,  # host:process of the worker running it
                }
                for j in recent
            ],
        }
        sys.stdout.write(json.dumps(body, indent=2) + "\n")
    else:
        table = Table("id", "kind", "item", "state", "tries", "progress", "worker", "error")
        for j in recent:
            table.add_row(
                str(j.id),
                j.kind,
                j.evidence_id or "",
                j.state.value,
                str(j.attempts),
                f"{j.progress:.0%}",
                (j.locked_by or "") if j.state is JobState.RUNNING else "",
                j.error or "",
            )
        console.print(table)
        console.print(", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no jobs")
    if wait:
        busy = counts.get(JobState.QUEUED.value, 0) + counts.get(JobState.RUNNING.value, 0)
        if busy:
            err.print(f"[red]error:[/red] still {busy} job(s) queued or running after {timeout:g} s")
            raise typer.Exit(1)
        if failed:
            for j in failed:
                err.print(
                    f"[red]error:[/red] job {j.id} {j.kind} {j.evidence_id or ''} failed: {j.error}",
                    highlight=False,
                )
            raise typer.Exit(1)


@clear_errors
def retry(job_id: Annotated[int, typer.Argument(help="A failed job's id (see 'opendems jobs').")]) -> None:
    """Run a job that failed for good once more."""
    c = state.container()
    job = evidence_svc.retry_job(state.actor("jobs retry"), job_id, uow=c.uow(), clock=c.clock)
    console.print(f"Job {job.id} ({job.kind} of {job.evidence_id}) is queued again.")
