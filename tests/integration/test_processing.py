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
from tests.media import audio_only_mp4, jpeg_bytes, video_bytes


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
    assert [(j.kind, j.state) for j in jobs_of(c, clip.id)] == [
        ("probe", JobState.QUEUED),
        ("proxy", JobState.QUEUED),
        ("transcribe", JobState.QUEUED),
    ]
    assert [j.kind for j in jobs_of(c, photo.id)] == ["probe", "previews", "ocr"]
    assert [j.kind for j in jobs_of(c, doc.id)] == ["pages", "ocr"]

    ended = c.processor.run_until_idle("test-worker")
    assert [(j.kind, j.state) for j in ended] == [
        ("probe", JobState.DONE),
        ("proxy", JobState.DONE),
        ("transcribe", JobState.DONE),  # (switched off in the tests' settings: it makes nothing)
        ("probe", JobState.DONE),
        ("previews", JobState.DONE),
        ("ocr", JobState.DONE),  # (switched off too)
        ("pages", JobState.DONE),
        ("ocr", JobState.DONE),
    ]

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
    ended = {(j.evidence_id, j.kind): j for j in c.processor.run_until_idle("w")}
    probe = ended[(broken.id, "probe")]
    assert probe.state is JobState.FAILED and probe.attempts == 1  # not retried: it would not help
    assert probe.error == "not a readable audio or video file (Invalid data found when processing input)"
    assert ended[(broken.id, "proxy")].state is JobState.FAILED
    assert (
        ended[(fine.id, "probe")].state is JobState.DONE
        and ended[(fine.id, "previews")].state is JobState.DONE
    )
    assert item(c, broken.id).media == {"error": probe.error}
    assert item(c, broken.id).derivatives == []
    with c.uow() as uow:
        failed = [e for e in uow.custody.for_object("evidence", broken.id) if e.action == "evidence:probe"]
    assert failed[0].outcome == "failed" and failed[0].reason == probe.error


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
    other = c.processor.run_next("w")
    assert other and other.kind == "previews" and other.state is JobState.DONE  # not blocked by it
    other = c.processor.run_next("w")
    assert other and other.kind == "ocr" and other.state is JobState.DONE
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
    assert taken and taken.state is JobState.RUNNING and taken.kind == "probe"
    other = c.processor.run_next("other")
    assert other and other.kind == "previews"  # the leased probe is not taken...
    other = c.processor.run_next("other")
    assert other and other.kind == "ocr"
    assert c.processor.run_next("other") is None
    clock.advance(minutes=5, seconds=1)  # the lease ran out: its worker is gone
    resumed = c.processor.run_next("other")
    assert resumed and resumed.state is JobState.DONE and resumed.attempts == 2
    assert item(c, clip.id).media is not None


def test_asking_twice_is_not_doing_twice(c: Container, clock: FakeClock) -> None:
    clip = ingest(c, jpeg_bytes(), "p.jpg")
    with c.uow() as uow:
        assert uow.jobs.enqueue("probe", clip.id, clock.now()) is None
        uow.commit()
    assert [j.kind for j in jobs_of(c, clip.id)] == ["probe", "previews", "ocr"]


def test_derivatives_are_new_files_with_provenance_and_the_original_is_untouched(c: Container) -> None:
    import io

    import av
    from PIL import Image

    from tests.factories import wav_bytes

    clip = ingest(c, video_bytes(seconds=5, width=1280, height=960, rotation=90), "phone.mp4")
    odd = ingest(
        c,
        video_bytes(
            seconds=1, width=641, height=1081, codec="mjpeg", container="avi", pix_fmt="yuvj420p", audio=False
        ),
        "cctv.avi",
    )
    call = ingest(c, wav_bytes(seconds=1.0), "911.wav")
    photo = ingest(c, jpeg_bytes(width=80, height=60, orientation=6), "sideways.jpg")
    ended = c.processor.run_until_idle("w")
    assert all(j.state is JobState.DONE for j in ended), [(j.kind, j.error) for j in ended]

    def blob(d: object) -> bytes:
        return b"".join(c.blobs.read_all(d.blob_key))  # type: ignore[attr-defined]

    got = item(c, clip.id)
    kinds = {d.kind: d for d in got.derivatives}
    assert set(kinds) == {"proxy", "poster", "sprite", "waveform"}
    proxy = kinds["proxy"]
    assert proxy.mime_type == "video/mp4" and proxy.source_sha256 == got.original.sha256  # type: ignore[union-attr]
    assert proxy.tool == "PyAV" and "FFmpeg" in proxy.tool_version
    assert proxy.parameters["crf"] == 23 and proxy.parameters["display_rotation"] == 90
    data = blob(proxy)
    import hashlib

    assert hashlib.sha256(data).hexdigest() == proxy.sha256 and len(data) == proxy.size
    assert data.find(b"moov") < data.find(b"mdat")  # faststart: playable before fully loaded
    with av.open(io.BytesIO(data)) as p:
        v = p.streams.video[0]
        assert (v.codec_context.name, v.width, v.height) == ("h264", 960, 720)  # 720p: the short side
        assert p.streams.audio[0].codec_context.name == "aac"
        keys = [round(float(pkt.pts * pkt.time_base), 1) for pkt in p.demux(v) if pkt.is_keyframe]
    assert keys == [0.0, 2.0, 4.0]
    assert Image.open(io.BytesIO(blob(kinds["poster"]))).size == (480, 640)  # upright
    layout = kinds["sprite"].parameters
    assert layout == {"interval_s": 1, "columns": 10, "tile_width": 160, "tile_height": 213, "tiles": 5}
    assert Image.open(io.BytesIO(blob(kinds["sprite"]))).size == (5 * 160, 213)
    import json

    wave = json.loads(blob(kinds["waveform"]))
    assert (
        wave["per_second"] == 10 and len(wave["peaks"]) == 50 and all(0 <= p <= 1000 for p in wave["peaks"])
    )
    # The original is the same bytes, under the same hash.
    assert hashlib.sha256(blob(got.original)).hexdigest() == got.original.sha256  # type: ignore[union-attr]

    odd_proxy = next(d for d in item(c, odd.id).derivatives if d.kind == "proxy")
    assert (odd_proxy.parameters["width"], odd_proxy.parameters["height"]) == (640, 1080)
    audio = {d.kind: d for d in item(c, call.id).derivatives}
    assert set(audio) == {"proxy", "waveform"} and audio["proxy"].mime_type == "audio/mp4"
    tone = json.loads(blob(audio["waveform"]))["peaks"]
    assert len(tone) == 10 and min(tone) > 100  # a one-second 440 Hz tone, loud throughout
    with av.open(io.BytesIO(blob(audio["proxy"]))) as a:
        assert a.streams.audio[0].codec_context.name == "aac" and not a.streams.video
    pics = {d.kind: d for d in item(c, photo.id).derivatives}
    assert Image.open(io.BytesIO(blob(pics["preview"]))).size == (60, 80)  # EXIF orientation applied
    assert Image.open(io.BytesIO(blob(pics["thumbnail"]))).size == (60, 80)
    with c.uow() as uow:
        derived = [e for e in uow.custody.for_object("evidence", clip.id) if e.action == "evidence:derive"]
    assert [e.details_dict["kind"] for e in derived] == ["poster", "sprite", "waveform", "proxy"]
    assert derived[0].details_dict["source_sha256"] == got.original.sha256  # type: ignore[union-attr]

    # Running the step again (a worker that died after storing) makes nothing twice.
    from opendems.services.media import proxy_step

    proxy_step(
        c.processor.make_context(), next(j for j in ended if j.kind == "proxy" and j.evidence_id == clip.id)
    )
    assert len(item(c, clip.id).derivatives) == 4


def test_pdf_pages_are_previewed_and_a_password_protected_pdf_says_so(c: Container) -> None:
    import io

    from PIL import Image

    report = ingest(c, pdf_bytes("Use of force report"), "report.pdf")
    locked = ingest(c, pdf_bytes("Sealed statement", encrypted=True), "locked.pdf")
    ended = {j.evidence_id: j for j in c.processor.run_until_idle("w") if j.kind == "pages"}
    assert ended[report.id].state is JobState.DONE
    page = next(d for d in item(c, report.id).derivatives if d.kind == "page-1")
    assert page.parameters == {"page": 1, "pages": 1, "width": 1000, "height": 1295}
    assert Image.open(io.BytesIO(b"".join(c.blobs.read_all(page.blob_key)))).size == (1000, 1295)
    assert ended[locked.id].state is JobState.FAILED
    assert (
        ended[locked.id].error
        == "the PDF is protected by a password: no previews (the original is kept unchanged)"
    )


def test_a_video_file_without_pictures_and_a_variable_frame_rate_clip(c: Container) -> None:
    import io
    from fractions import Fraction

    import av
    from PIL import Image

    sound_only = ingest(c, audio_only_mp4(), "cam-audio.mp4")
    # A phone's variable frame rate: frames at irregular times over 3 seconds.
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        v = out.add_stream("libx264", rate=30)
        v.width, v.height, v.pix_fmt = 160, 120, "yuv420p"
        v.codec_context.time_base = Fraction(1, 1000)
        for n, ms in enumerate([0, 33, 50, 120, 400, 410, 1000, 1500, 1510, 2900]):
            frame = av.VideoFrame.from_image(Image.new("RGB", (160, 120), (n * 20, 0, 0))).reformat(
                format="yuv420p"
            )
            frame.pts, frame.time_base = ms, Fraction(1, 1000)
            for p in v.encode(frame):
                out.mux(p)
        for p in v.encode():
            out.mux(p)
    vfr = ingest(c, buf.getvalue(), "phone-vfr.mp4")
    ended = {(j.evidence_id, j.kind): j for j in c.processor.run_until_idle("w")}
    assert all(j.state is JobState.DONE for j in ended.values()), {k: j.error for k, j in ended.items()}
    audio = {d.kind: d for d in item(c, sound_only.id).derivatives}
    assert set(audio) == {"proxy", "waveform"} and audio["proxy"].mime_type == "audio/mp4"
    proxy = next(d for d in item(c, vfr.id).derivatives if d.kind == "proxy")
    with av.open(io.BytesIO(b"".join(c.blobs.read_all(proxy.blob_key)))) as p:
        times = [round(float(f.time or 0), 2) for f in p.decode(video=0)]
    assert times == [0.0, 0.03, 0.05, 0.12, 0.4, 0.41, 1.0, 1.5, 1.51, 2.9]  # the timing is kept


def test_a_ten_hour_recording_and_an_hevc_mov(c: Container) -> None:
    """Length alone must not matter: a 10-hour recording (tiny, 1 frame a second) gets a
    probe, a proxy, a poster and a sprite sheet of at most 100 tiles. H.265 from a phone
    (QuickTime) is transcoded like any other."""
    import io
    from fractions import Fraction

    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        v = out.add_stream("libx264", rate=1)
        v.width, v.height, v.pix_fmt = 32, 18, "yuv420p"
        v.codec_context.options = {"preset": "ultrafast"}
        frames = [av.VideoFrame(32, 18, "yuv420p") for _ in range(2)]
        for n in range(10 * 3600):
            frame = frames[n % 2]
            frame.pts, frame.time_base = n, Fraction(1, 1)
            for p in v.encode(frame):
                out.mux(p)
        for p in v.encode():
            out.mux(p)
    long_one = ingest(c, buf.getvalue(), "interview-room.mp4")
    hevc = ingest(
        c, video_bytes(codec="libx265", container="mov", width=320, height=180, audio=False), "phone.mov"
    )
    ended = {(j.evidence_id, j.kind): j for j in c.processor.run_until_idle("w")}
    assert all(j.state is JobState.DONE for j in ended.values()), {k: j.error for k, j in ended.items()}
    got = item(c, long_one.id)
    assert got.media and abs(got.media["duration_s"] - 36000) < 2
    kinds = {d.kind: d for d in got.derivatives}
    assert kinds["sprite"].parameters["tiles"] == 100 and kinds["sprite"].parameters["interval_s"] == 360
    with av.open(io.BytesIO(b"".join(c.blobs.read_all(kinds["proxy"].blob_key)))) as p:
        assert abs(float(p.duration or 0) / 1_000_000 - 36000) < 2
    h = {d.kind: d for d in item(c, hevc.id).derivatives}
    assert item(c, hevc.id).media["video_codec"] == "hevc"  # type: ignore[index]
    with av.open(io.BytesIO(b"".join(c.blobs.read_all(h["proxy"].blob_key)))) as p:
        assert p.streams.video[0].codec_context.name == "h264"


def test_a_worker_that_lost_its_lease_cannot_end_the_job(c: Container, clock: FakeClock) -> None:
    ingest(c, jpeg_bytes(), "p.jpg")
    lease = timedelta(minutes=5)
    with c.uow() as uow:
        a = uow.jobs.claim("A", clock.now(), lease)
        uow.commit()
    assert a is not None
    clock.advance(minutes=6)  # A stalled; B takes the job over
    with c.uow() as uow:
        b = uow.jobs.claim("B", clock.now(), lease)
        assert b is not None and b.id == a.id
        assert not uow.jobs.finish(a.id, "A", clock.now())  # A wakes up: refused
        assert not uow.jobs.fail(a.id, "A", "late", clock.now(), retry_at=None)
        assert not uow.jobs.progress(a.id, "A", 0.5, clock.now(), lease)
        assert uow.jobs.finish(b.id, "B", clock.now())
        uow.commit()
        done = uow.jobs.get(a.id)
    assert done is not None and done.state is JobState.DONE and done.error is None


def test_a_job_that_kills_its_worker_every_time_stops_being_retried(c: Container, clock: FakeClock) -> None:
    clip = ingest(c, jpeg_bytes(), "p.jpg")
    lease = timedelta(minutes=5)
    for n in range(5):  # five workers die on it (a native crash, the memory killer)
        with c.uow() as uow:
            job = uow.jobs.claim(f"doomed-{n}", clock.now(), lease)
            uow.commit()
        assert job is not None and job.kind == "probe" and job.attempts == n + 1
        clock.advance(minutes=6)
    ended = {j.kind: j for j in c.processor.run_until_idle("survivor")}
    probe = next(j for j in jobs_of(c, clip.id) if j.kind == "probe")
    assert probe.state is JobState.FAILED and "stopped during each of 5 attempts" in (probe.error or "")
    assert ended["previews"].state is JobState.DONE  # the rest of the queue goes on
