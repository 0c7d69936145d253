"""Scale-out job delivery on real parts: Redis as the Celery broker, PostgreSQL holding the
jobs table, and ``opendems worker`` processes consuming the queue. Ingest hands each job to
the broker; workers run it and the table records it; a job the broker never got (it was
down), a job whose worker was killed, and a retry after a passing failure are all delivered
again; and many workers claiming at once never run a job twice."""

from __future__ import annotations

import os
import random
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from io import BytesIO
from pathlib import Path

import av
import pytest
import redis
from PIL import Image
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine, make_url

from opendems.adapters.db.jobs_repo import JobRepository
from opendems.adapters.db.migrate import upgrade
from opendems.bootstrap import Container
from opendems.config import ENV_FILE
from opendems.domain.evidence import EvidenceItem
from opendems.domain.jobs import Job, JobState
from opendems.services.ingest import IngestRequest, ingest_stream
from tests.factories import admin, make_container
from tests.media import jpeg_bytes, video_bytes
from tests.stack.postgres import create_database, drop_database, free_port
from tests.stack.redis import start_redis


@pytest.fixture(scope="session")
def broker_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    given = os.environ.get("OPENDEMS_TEST_REDIS")
    if given:
        yield given
        return
    server = start_redis(tmp_path_factory.mktemp("redis"))
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def database_url(postgres_admin_url: str) -> Iterator[str]:
    """A new, empty PostgreSQL database for the test (dropped after it)."""
    admin_url = postgres_admin_url
    name = f"t_celery_{secrets.token_hex(6)}"
    create_database(admin_url, name)
    try:
        yield (
            make_url(admin_url)
            .set(drivername="postgresql+psycopg", database=name)
            .render_as_string(hide_password=False)
        )
    finally:
        drop_database(admin_url, name)


class Cluster:
    """One data directory shared by this test (which ingests) and ``opendems worker``
    processes, all pointed at the same database, broker and queue by ``opendems.env``."""

    def __init__(self, root: Path, database_url: str, broker_url: str, lease_s: int) -> None:
        self.root = root
        self.data = root / "data"
        self.queue = f"opendems-test-{secrets.token_hex(4)}"
        self.broker_url = broker_url
        self.values = {
            "database_url": database_url,
            "job_queue": "celery",
            "broker_url": broker_url,
            "celery_queue": self.queue,
            "job_lease_seconds": lease_s,
        }
        self.data.mkdir(parents=True, exist_ok=True)
        (self.data / ENV_FILE).write_text(
            "".join(f"OPENDEMS_{k.upper()}={v}\n" for k, v in self.values.items())
        )
        self.c = make_container(root, **self.values)  # type: ignore[arg-type]
        self.workers: list[subprocess.Popen[bytes]] = []

    def start_worker(self, *args: str) -> subprocess.Popen[bytes]:
        """``opendems worker`` in a process of its own; returns once it consumes the queue."""
        log_path = self.root / f"worker-{len(self.workers)}.log"
        # Only opendems.env names the parts: nothing from this process's environment.
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPENDEMS_")}
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "opendems.cli.main", "--data-dir", str(self.data), "worker", *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        self.workers.append(proc)
        deadline = time.monotonic() + 60
        while b" ready." not in log_path.read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the worker did not start: {log_path.read_text(errors='replace')}")
            time.sleep(0.1)
        return proc

    def log_of(self, proc: subprocess.Popen[bytes]) -> str:
        return (self.root / f"worker-{self.workers.index(proc)}.log").read_text(errors="replace")

    def ingest(self, data: bytes, name: str, c: Container | None = None) -> EvidenceItem:
        c = c or self.c
        return ingest_stream(
            admin(c),
            IngestRequest(filename=name),
            [data],
            uow=c.uow(),
            blobs=c.blobs,
            clock=c.clock,
            limits=c.limits,
        ).item

    def jobs(self, evidence_id: str | None = None) -> list[Job]:
        with self.c.uow() as uow:
            if evidence_id is not None:
                return uow.jobs.for_item(evidence_id)
            return list(reversed(uow.jobs.listing(limit=1000)))

    def wait_for(self, what: str, ready: Callable[[], bool], timeout_s: float) -> float:
        """Seconds until ``ready()``; fails with the workers' logs after ``timeout_s``."""
        started = time.monotonic()
        while not ready():
            if time.monotonic() - started > timeout_s:
                logs = "\n".join(self.log_of(p)[-3000:] for p in self.workers)
                raise AssertionError(f"{what}: not after {timeout_s} s; jobs {self.jobs()}\n{logs}")
            time.sleep(0.1)
        return time.monotonic() - started

    def all_done(self) -> bool:
        return all(j.state is JobState.DONE for j in self.jobs())

    def close(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
        self.c.engine.dispose()


@pytest.fixture
def cluster(tmp_path: Path, database_url: str, broker_url: str) -> Iterator[Callable[[int], Cluster]]:
    made: list[Cluster] = []

    def make(lease_s: int) -> Cluster:
        made.append(Cluster(tmp_path, database_url, broker_url, lease_s))
        return made[-1]

    yield make
    for one in made:
        one.close()


def derivatives(c: Container, evidence_id: str) -> list[str]:
    with c.uow() as uow:
        item = uow.evidence.get(evidence_id)
    assert item is not None
    return sorted(d.kind for d in item.derivatives)


def test_ingest_hands_jobs_to_the_broker_and_a_worker_process_runs_them(
    cluster: Callable[[int], Cluster],
) -> None:
    # A long lease: a sweeper would wait 30 s before sending a job again, so everything
    # done sooner was delivered by the message sent at ingest.
    cl = cluster(30)
    worker = cl.start_worker("--threads", "2")
    photo = cl.ingest(jpeg_bytes(), "scene.jpg")
    clip = cl.ingest(video_bytes(seconds=1), "bwc.mp4")
    cl.wait_for("every job done", cl.all_done, timeout_s=25)  # sooner than a sweeper would send
    assert sorted((j.kind, j.attempts) for j in cl.jobs()) == [
        ("ocr", 1),  # (switched off in the tests' settings: it makes nothing)
        ("previews", 1),
        ("probe", 1),
        ("probe", 1),
        ("proxy", 1),
        ("transcribe", 1),
    ]
    assert derivatives(cl.c, photo.id) == ["ocr", "preview", "thumbnail"]
    assert derivatives(cl.c, clip.id) == ["poster", "proxy", "sprite", "transcript", "waveform"]
    # SIGTERM: the worker stops, cleanly, at once when idle.
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=20) == 0, cl.log_of(worker)
    assert "Warm shutdown" in cl.log_of(worker)


def test_a_job_queued_while_the_broker_was_down_is_sent_by_a_sweeper(
    cluster: Callable[[int], Cluster],
) -> None:
    cl = cluster(3)
    # The node that ingests cannot reach the broker: nobody listens on its port.
    dead_broker = f"redis://127.0.0.1:{free_port()}/0"
    cut_off = make_container(cl.root, **{**cl.values, "broker_url": dead_broker})  # type: ignore[arg-type]
    started = time.monotonic()
    photo = cl.ingest(jpeg_bytes(), "scene.jpg", c=cut_off)
    assert time.monotonic() - started < 5  # the upload is not held up by the broker
    assert [(j.kind, j.state) for j in cl.jobs(photo.id)] == [
        ("probe", JobState.QUEUED),
        ("previews", JobState.QUEUED),
        ("ocr", JobState.QUEUED),
    ]
    assert redis.Redis.from_url(cl.broker_url).llen(cl.queue) == 0  # nothing reached the broker
    worker = cl.start_worker()
    cl.wait_for("the sweeper's delivery", cl.all_done, timeout_s=30)
    assert [j.attempts for j in cl.jobs(photo.id)] == [1, 1, 1]
    assert derivatives(cl.c, photo.id) == ["ocr", "preview", "thumbnail"]
    assert re.search(r"sending job\(s\) \[[\d, ]+\] to the broker again", cl.log_of(worker)), cl.log_of(
        worker
    )
    cut_off.engine.dispose()
    # Ctrl-C: the worker stops too (Celery's exit status for it is 1).
    worker.send_signal(signal.SIGINT)
    worker.wait(timeout=20)
    assert "Warm shutdown" in cl.log_of(worker)


def noisy_video(seconds: int, width: int = 640, height: int = 480, fps: int = 15) -> bytes:
    """A clip of random noise: quick to make, slow to transcode (about 4 s for 20 s of it)."""
    buf = BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        v = out.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = width, height, "yuv420p"
        v.codec_context.options = {"preset": "ultrafast"}
        frames = [
            av.VideoFrame.from_image(
                Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
            ).reformat(format="yuv420p")
            for _ in range(4)
        ]
        for n in range(seconds * fps):
            frame = frames[n % len(frames)]
            frame.pts, frame.time_base = n, Fraction(1, fps)
            for packet in v.encode(frame):
                out.mux(packet)
        for packet in v.encode():
            out.mux(packet)
    return buf.getvalue()


def test_a_job_whose_worker_is_killed_midway_is_finished_by_another(
    cluster: Callable[[int], Cluster],
) -> None:
    cl = cluster(3)
    first, second = cl.start_worker(), cl.start_worker()
    clip = cl.ingest(noisy_video(20), "long.mp4")

    def proxy() -> Job:
        return next(j for j in cl.jobs(clip.id) if j.kind == "proxy")

    cl.wait_for(
        "the transcode under way", lambda: proxy().state is JobState.RUNNING and proxy().progress > 0, 30
    )
    holder = proxy().locked_by or ""
    pid = int(holder.split(":")[1])
    victim = next(p for p in (first, second) if p.pid == pid)
    survivor = second if victim is first else first
    victim.send_signal(signal.SIGKILL)  # mid-transcode: no clean-up of any kind
    victim.wait(timeout=30)
    left = proxy()
    assert left.state is JobState.RUNNING and left.locked_until  # as the dead worker left it

    cl.wait_for("the proxy finished by the other worker", lambda: proxy().state is JobState.DONE, 60)
    done = proxy()
    assert done.attempts == 2 and done.error is None
    assert done.finished_at and done.finished_at > left.locked_until  # not before the lease ran out
    # (no sound: no waveform; a transcript that says so)
    assert derivatives(cl.c, clip.id) == ["poster", "proxy", "sprite", "transcript"]
    assert f"sending job(s) [{proxy().id}] to the broker again" in cl.log_of(survivor)
    assert not list((cl.data / "work").glob(f"job-{proxy().id}-*"))  # the dead run's file is gone


def test_a_passing_failure_is_sent_again_when_its_wait_is_over(cluster: Callable[[int], Cluster]) -> None:
    cl = cluster(30)  # a sweeper would wait 30 s: a retry sooner came from its own message
    photo = cl.ingest(jpeg_bytes(), "scene.jpg")  # its jobs wait in the broker: no worker yet
    (original,) = [p for p in (cl.data / "blobs").rglob("*") if p.is_file()]
    away = cl.root / "away"
    original.rename(away)  # the store cannot give the original back for now (a share went away)
    cl.start_worker()

    def probe() -> Job:
        return next(j for j in cl.jobs(photo.id) if j.kind == "probe")

    cl.wait_for(
        "the first attempt failed", lambda: probe().attempts == 1 and probe().state is JobState.QUEUED, 20
    )
    failed = probe()
    assert "missing from the store" in (failed.error or "")
    assert failed.run_after - failed.updated_at == timedelta(seconds=5)  # the first backoff
    away.rename(original)
    cl.wait_for("the retries done", cl.all_done, 20)  # sooner than a sweeper would send them
    done = probe()
    assert done.attempts == 2 and done.error is None
    assert done.finished_at is not None and done.finished_at >= failed.run_after  # it waited its turn
    assert derivatives(cl.c, photo.id) == ["ocr", "preview", "thumbnail"]  # the previews were retried too


# -- claims on PostgreSQL, many at once -------------------------------------------------

CLAIMERS = 8
JOBS = 200


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_engine(database_url, pool_size=CLAIMERS + 2)
    upgrade(engine)
    yield engine
    engine.dispose()


def _queue_jobs(engine: Engine, n: int) -> list[int]:
    with engine.begin() as conn:
        repo = JobRepository(conn)
        now = _now()
        return [repo.enqueue(f"step-{i}", None, now) or 0 for i in range(n)]


def _now() -> datetime:
    return datetime.now(UTC)


@pytest.mark.parametrize("how", ["next", "by id", "sweep"])
def test_many_workers_at_once_never_take_the_same_job(engine: Engine, how: str) -> None:
    ids = _queue_jobs(engine, JOBS)
    assert len(set(ids)) == JOBS and 0 not in ids
    lease = timedelta(minutes=5)
    start = threading.Barrier(CLAIMERS)
    taken: dict[str, list[int]] = {}
    errors: list[BaseException] = []

    def claimer(name: str) -> None:
        mine: list[int] = []
        order = random.sample(ids, len(ids))
        try:
            start.wait(30)
            if how == "sweep":  # sweepers, a little later: every job has gone unclaimed for long
                later = _now() + timedelta(seconds=10)
                while True:
                    with engine.begin() as conn:
                        got = JobRepository(conn).take_stale(later, timedelta(seconds=5), limit=7)
                    if not got:
                        break
                    mine += got
            elif how == "next":
                while True:
                    with engine.begin() as conn:
                        job = JobRepository(conn).claim(name, _now(), lease)
                    if job is None:
                        break
                    mine.append(job.id)
            else:
                for job_id in order:
                    with engine.begin() as conn:
                        job = JobRepository(conn).claim(name, _now(), lease, job_id=job_id)
                    if job is not None:
                        assert job.id == job_id
                        mine.append(job.id)
        except BaseException as exc:
            errors.append(exc)
        taken[name] = mine

    threads = [threading.Thread(target=claimer, args=(f"worker-{n}",)) for n in range(CLAIMERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    every = [job_id for mine in taken.values() for job_id in mine]
    assert sorted(every) == sorted(ids)  # each job exactly once
    assert sum(1 for mine in taken.values() if mine) > 1  # they really did compete
    if how != "sweep":
        with engine.begin() as conn:
            repo = JobRepository(conn)
            for name, mine in taken.items():
                for job_id in mine:
                    job = repo.get(job_id)
                    assert (
                        job and job.state is JobState.RUNNING and job.attempts == 1 and job.locked_by == name
                    )


def test_a_sweeper_sends_a_lost_job_once_and_again_only_while_the_broker_queue_is_empty(
    engine: Engine,
) -> None:
    t0 = _now()
    quiet, lease = timedelta(seconds=10), timedelta(seconds=30)
    with engine.begin() as conn:
        repo = JobRepository(conn)
        waiting, lost, held, later = (repo.enqueue(k, None, t0) or 0 for k in ("a", "b", "c", "d"))
        assert repo.claim("dies", t0, lease, job_id=lost) is not None
        assert repo.claim("lives", t0 + timedelta(seconds=40), lease, job_id=held) is not None
        assert repo.claim("w", t0, lease, job_id=later) is not None
        assert repo.fail(later, "w", "passing", t0, retry_at=t0 + timedelta(minutes=10))

    def take(at: timedelta, again: bool) -> list[int]:
        with engine.begin() as conn:
            return JobRepository(conn).take_stale(t0 + at, quiet, again=again)

    now = timedelta(seconds=45)  # the lease of ``lost`` ran out; ``held`` was renewed at 40 s
    assert take(now, again=False) == [lost]  # a lost lease: sent at once, queue busy or not
    assert take(now, again=False) == []  # ...once
    assert take(now, again=True) == [waiting]  # queued, due and untouched for long
    assert take(now + timedelta(seconds=5), again=True) == []  # both touched just now
    assert take(now + quiet, again=False) == []  # while messages wait in the broker: no more
    assert take(now + quiet, again=True) == [waiting, lost]  # the queue is empty: theirs were lost
    # Later: the retry is due, and the worker holding ``held`` has stopped renewing its lease.
    assert take(timedelta(minutes=11), again=True) == [waiting, lost, held, later]


def test_every_worker_clears_crash_leftovers_from_time_to_time(engine: Engine, broker_url: str) -> None:
    from opendems.adapters.jobs.celery_queue import CeleryPublisher, Sweeper
    from opendems.config import Settings
    from opendems.services.context import SystemClock

    calls: list[float] = []
    publisher = CeleryPublisher(Settings(broker_url=broker_url, celery_queue=f"t-{secrets.token_hex(4)}"))
    sweeper = Sweeper(
        engine,
        publisher,
        SystemClock(),
        quiet=timedelta(seconds=30),
        every_s=0.05,
        housekeeping=lambda: calls.append(time.monotonic()),
        housekeeping_every_s=0.3,
    )
    sweeper.start()
    time.sleep(1.2)
    sweeper.stop()
    sweeper.join(5)
    assert 2 <= len(calls) <= 5  # every 0.3 s, not on every sweep


@pytest.fixture(scope="session")
def rabbitmq_url() -> Iterator[str]:
    """A private RabbitMQ broker (AMQP), for the same delivery by configuration."""
    import tempfile

    from tests.stack.rabbitmq import start_rabbitmq

    with (
        tempfile.TemporaryDirectory(prefix="opendems-rabbitmq-") as tmp,
        start_rabbitmq(Path(tmp) / "mq") as mq,
    ):
        yield mq.url


def test_rabbitmq_delivers_jobs_by_configuration(
    tmp_path: Path, database_url: str, rabbitmq_url: str
) -> None:
    cl = Cluster(tmp_path, database_url, rabbitmq_url, 30)
    try:
        cl.start_worker()
        photo = cl.ingest(jpeg_bytes(), "scene.jpg")
        cl.wait_for("every job done", cl.all_done, timeout_s=25)  # sooner than a sweeper would send
        assert sorted((j.kind, j.attempts) for j in cl.jobs()) == [("ocr", 1), ("previews", 1), ("probe", 1)]
        assert derivatives(cl.c, photo.id) == ["ocr", "preview", "thumbnail"]
        assert "amqp://guest:**@127.0.0.1" in cl.log_of(cl.workers[0])  # it was RabbitMQ that delivered
    finally:
        cl.close()
