"""The jobs queue on the real database and disk: probing after ingest, failures with a
reason that never block other jobs, retries with backoff, and a dead worker's job resumed."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from opendems.bootstrap import Container
from opendems.domain.evidence import EvidenceItem
from opendems.domain.jobs import Job, JobState
from opendems.services.ingest import IngestRequest, ingest_stream
from opendems.services.jobs import StepContext
from tests.factories import FakeClock, admin, make_container, pdf_bytes
from tests.media import jpeg_bytes, video_bytes


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def c(tmp_path: Path, clock: FakeClock) -> Container:
    return make_container(tmp_path, clock=clock)


def ingest(c: Container, data: bytes, name: str, **fields: object) -> EvidenceItem:
    req = IngestRequest(filename=name, **fields)  # type: ignore[arg-type]
    return ingest_stream(
        admin(c), req, [data], uow=c.uow(), blobs=c.blobs, clock=c.clock, limits=c.limits
    ).item


def jobs_of(c: Container, evidence_id: str) -> list[Job]:
    with c.uow() as uow:
        return uow.jobs.for_item(evidence_id)


def item(c: Container, evidence_id: str) -> EvidenceItem:
    with c.uow() as uow:
        found = uow.evidence.get(evidence_id)
    assert found is not None
    return found


def test_ingest_queues_a_probe_that_fills_in_what_nobody_set(c: Container) -> None:
    clip = ingest(
        c,
        video_bytes(metadata={"creation_time": "2026-03-01T10:00:00Z", "location": "+51.5074-000.1278/"}),
        "bwc.mp4",
        device_make="Axon",  # set by the officer: the probe must not overwrite it
    )
    photo = ingest(c, jpeg_bytes(gps=(48.8566, 2.3522)), "scene.jpg")
    doc = ingest(c, pdf_bytes(), "report.pdf")
    assert [(j.kind, j.state) for j in jobs_of(c, clip.id)] == [("probe", JobState.QUEUED)]
    assert jobs_of(c, doc.id) == []  # documents are not probed (yet)

    ended = c.processor.run_until_idle("test-worker")
    assert [j.state for j in ended] == [JobState.DONE, JobState.DONE]

    got = item(c, clip.id)
    assert got.media and got.media["kind"] == "video" and got.media["video_codec"] == "h264"
    assert got.captured_at is not None and got.captured_at.isoformat() == "2026-03-01T10:00:00+00:00"
    assert (got.latitude, got.longitude) == (51.5074, -0.1278)
    assert got.device_make == "Axon"
    pic = item(c, photo.id)
    assert pic.device_make == "Axon" and pic.device_serial == "X60A1234" and pic.latitude is not None
    with c.uow() as uow:
        probes = [e for e in uow.custody.for_object("evidence", clip.id) if e.action == "evidence:probe"]
    assert len(probes) == 1 and probes[0].actor_name == "cli"
    assert sorted(probes[0].details_dict["filled"]) == ["captured_at", "latitude", "longitude"]
    assert probes[0].details_dict["sha256"] == clip.original.sha256  # type: ignore[union-attr]


def test_a_corrupt_file_fails_with_a_reason_and_blocks_nothing(c: Container) -> None:
    good = video_bytes()
    broken = ingest(c, good[: len(good) // 3], "broken.mp4")
    fine = ingest(c, jpeg_bytes(), "fine.jpg")
    ended = {j.evidence_id: j for j in c.processor.run_until_idle("w")}
    assert ended[broken.id].state is JobState.FAILED and ended[broken.id].attempts == 1  # not retried
    assert "not a readable" in (ended[broken.id].error or "") or "decod" in (ended[broken.id].error or "")
    assert ended[fine.id].state is JobState.DONE
    assert item(c, broken.id).media == {"error": ended[broken.id].error}
    with c.uow() as uow:
        failed = [e for e in uow.custody.for_object("evidence", broken.id) if e.action == "evidence:probe"]
    assert failed[0].outcome == "failed" and failed[0].reason == ended[broken.id].error


def test_a_passing_failure_is_retried_with_backoff(c: Container, clock: FakeClock) -> None:
    clip = ingest(c, jpeg_bytes(), "p.jpg")
    calls: list[int] = []
    real = c.processor.steps["probe"]

    def flaky(ctx: StepContext, job: Job) -> None:
        calls.append(job.attempts)
        if len(calls) < 3:
            raise OSError("the network share went away")
        real(ctx, job)

    c.processor.steps["probe"] = flaky
    first = c.processor.run_next("w")
    assert first and first.state is JobState.QUEUED and "network share" in (first.error or "")
    assert c.processor.run_next("w") is None  # not due yet: it waits 5 s
    clock.advance(seconds=5)
    second = c.processor.run_next("w")
    assert second and second.state is JobState.QUEUED
    assert c.processor.run_next("w") is None
    clock.advance(seconds=9)
    assert c.processor.run_next("w") is None  # the second wait is 10 s
    clock.advance(seconds=1)
    third = c.processor.run_next("w")
    assert third and third.state is JobState.DONE and third.attempts == 3 and third.error is None
    assert calls == [1, 2, 3]
    assert item(c, clip.id).media is not None


def test_a_job_whose_worker_died_is_picked_up_again(c: Container, clock: FakeClock) -> None:
    clip = ingest(c, jpeg_bytes(), "p.jpg")
    with c.uow() as uow:
        taken = uow.jobs.claim("worker-that-dies", clock.now(), timedelta(minutes=5))
        uow.commit()
    assert taken and taken.state is JobState.RUNNING
    assert c.processor.run_next("other") is None  # leased: nobody else takes it
    clock.advance(minutes=5, seconds=1)  # the lease ran out: its worker is gone
    resumed = c.processor.run_next("other")
    assert resumed and resumed.state is JobState.DONE and resumed.attempts == 2
    assert item(c, clip.id).media is not None


def test_asking_twice_is_not_doing_twice(c: Container, clock: FakeClock) -> None:
    clip = ingest(c, jpeg_bytes(), "p.jpg")
    with c.uow() as uow:
        assert uow.jobs.enqueue("probe", clip.id, clock.now()) is None
        uow.commit()
    assert len(jobs_of(c, clip.id)) == 1
