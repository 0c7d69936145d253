"""Automatic redaction end to end on real media: a clip generated here (two faces walking, one
out of the picture, over a 440 Hz tone) is analysed by the real detector, turned into a plan
and rendered by FFmpeg; the output is decoded and compared with the source pixel by pixel."""

from __future__ import annotations

from dataclasses import replace
from itertools import pairwise
from pathlib import Path

import av
import numpy as np
import pytest

from opendems.adapters.media import redact
from opendems.adapters.vision.centerface import FaceDetector
from opendems.domain.jobs import PermanentFailure
from opendems.domain.redaction import AudioSegment, Effect, RedactionPlan
from tests.faces import FacePath, covered_share, face_shows, visible_part, write_clip
from tests.media import audio_rms

W, H, FPS, SECONDS = 640, 360, 30, 4
FACES = [
    FacePath(80, 110, 90, dx=5.0, dy=0.2),  # walks out of the picture on the right
    FacePath(470, 250, 70, dx=-1.5, dy=-0.1, mirror=True),
]
TONE_HZ = 440.0


def make_clip(path: Path) -> list[list[tuple[float, float, float, float]]]:
    return write_clip(path, width=W, height=H, fps=FPS, seconds=SECONDS, faces=FACES, seed=3, tone_hz=TONE_HZ)


def frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as inp:
        return [f.to_ndarray(format="rgb24") for f in inp.decode(video=0)]


@pytest.fixture(scope="module")
def clip(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, list[list[tuple[float, float, float, float]]]]:
    path = tmp_path_factory.mktemp("redact") / "clip.mp4"
    return path, make_clip(path)


@pytest.fixture(scope="module")
def analysed(clip: tuple[Path, list]) -> redact.Analysis:
    detector = FaceDetector(threshold=redact.UNCERTAIN_FLOOR, threads=2)
    return redact.analyse(str(clip[0]), detector)  # as deployed: every DETECT_EVERY-th frame


@pytest.fixture(scope="module")
def plan(analysed: redact.Analysis) -> RedactionPlan:
    return analysed.plan()


def test_every_face_is_covered_in_every_frame_after_tracking(
    clip: tuple[Path, list], analysed: redact.Analysis, plan: RedactionPlan
) -> None:
    _, truth = clip
    assert analysed.frame_count == FPS * SECONDS
    assert analysed.detected_frames == FPS * SECONDS // redact.DETECT_EVERY  # one frame in DETECT_EVERY
    assert analysed.parameters["model_sha256"] and analysed.parameters["every"] == redact.DETECT_EVERY
    shown = [
        (i, box)
        for i, boxes in enumerate(truth)
        for box in boxes
        if (part := visible_part(box, W, H)) is not None
        and covered_share(part, [r for r, _ in plan.regions_at(i)]) < 0.98
    ]
    total = sum(1 for boxes in truth for b in boxes if visible_part(b, W, H) is not None)
    assert 1 - len(shown) / total >= 0.99, shown[:10]
    assert 2 <= len(plan.tracks) <= 3  # two faces (a track may break where one leaves)


def test_no_rendered_frame_shows_a_face_and_the_rest_is_untouched(
    clip: tuple[Path, list], plan: RedactionPlan, tmp_path: Path
) -> None:
    source, truth = clip
    out = tmp_path / "redacted.mp4"
    params = redact.render(str(source), out, plan)
    assert params["frames"] == FPS * SECONDS and params["effect"] == "blur"
    before, after = frames(source), frames(out)
    assert len(after) == len(before)
    for i, boxes in enumerate(truth):
        for box in boxes:
            part = visible_part(box, W, H)
            if part is not None:
                assert not face_shows(before[i], after[i], part), f"frame {i}: a face shows at {part}"
    # Away from the faces the picture is the source's (up to compression).
    corner = (slice(300, 360), slice(0, 60))
    diff = np.abs(before[10][corner].astype(int) - after[10][corner].astype(int)).mean()
    assert diff < 4


def test_an_excluded_track_stays_visible_and_effects_differ(
    clip: tuple[Path, list], plan: RedactionPlan, tmp_path: Path
) -> None:
    source, truth = clip
    # Keep the second face (the suspect, say): exclude every track that covers it at frame 60.
    second = truth[60][1]
    tracks = tuple(
        replace(t, include=False)
        if (b := t.box_at(60)) is not None and covered_share(second, [b]) > 0.5
        else replace(t, effect=Effect.BOX)
        for t in plan.tracks
    )
    assert any(not t.include for t in tracks)
    out = tmp_path / "kept.mp4"
    redact.render(str(source), out, plan.with_changes(tracks=tracks))
    before, after = frames(source), frames(out)
    assert face_shows(before[60], after[60], second, keep=0.6)
    first = visible_part(truth[10][0], W, H)
    assert first is not None
    x1, y1, x2, y2 = (int(v) for v in first)
    region = after[10][y1 + 10 : y2 - 10, x1 + 10 : x2 - 10]
    assert region.mean() < 40  # a solid black box (up to compression)


def test_audio_segments_are_muted_and_the_rest_is_kept(
    clip: tuple[Path, list], plan: RedactionPlan, tmp_path: Path
) -> None:
    source, _ = clip
    out = tmp_path / "muted.mp4"
    muted = plan.with_changes(audio=(AudioSegment(1.0, 2.0, "mute", "pii"),))
    params = redact.render(str(source), out, muted)
    assert params["audio_segments"] == [{"start_s": 1.0, "end_s": 2.0, "mode": "mute", "reason": "pii"}]
    assert audio_rms(out, 1.1, 1.9) < 0.01
    assert audio_rms(out, 2.3, 3.5) > 0.25 and audio_rms(out, 0.2, 0.8) > 0.25


def test_fail_secure_covers_uncertain_frames_whole(
    clip: tuple[Path, list], plan: RedactionPlan, tmp_path: Path
) -> None:
    source, _ = clip
    unsure = replace(plan.fail_secure, enabled=True, frames=frozenset({5, 6, 7}))
    out = tmp_path / "unsure.mp4"
    params = redact.render(str(source), out, plan.with_changes(fail_secure=unsure))
    assert params["fail_secure_frames"] == 3
    before, after = frames(source), frames(out)
    whole = (0.0, 0.0, float(W), float(H))
    assert not face_shows(before[6], after[6], whole, keep=0.3)
    assert face_shows(before[40], after[40], (0.0, 300.0, 60.0, 360.0), keep=0.6)


def test_cancelling_a_render_keeps_nothing(
    clip: tuple[Path, list], plan: RedactionPlan, tmp_path: Path
) -> None:
    out = tmp_path / "cancelled.mp4"
    with pytest.raises(redact.Cancelled):
        redact.render(str(clip[0]), out, plan, cancelled=lambda: True)
    assert not out.exists()


def test_a_plan_for_another_video_and_damaged_input_are_refused(
    clip: tuple[Path, list], plan: RedactionPlan, tmp_path: Path
) -> None:
    with pytest.raises(PermanentFailure, match="made for 1280x720"):
        redact.render(str(clip[0]), tmp_path / "x.mp4", replace(plan, width=1280, height=720))
    assert not (tmp_path / "x.mp4").exists()
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 5000)
    with pytest.raises(PermanentFailure):
        redact.analyse(str(junk), FaceDetector())


def test_several_encoders_at_once_give_one_stream_that_shows_no_face(
    clip: tuple[Path, list], plan: RedactionPlan, tmp_path: Path
) -> None:
    """The chunked render that large machines use (here forced: three x264 instances,
    chunks of 16 frames): the same frames at the same times, each chunk from an IDR frame,
    decoding times that only go up, the sound kept, and no face anywhere."""
    source, truth = clip
    out = tmp_path / "chunked.mp4"
    muted = plan.with_changes(audio=(AudioSegment(1.0, 2.0, "mute", "pii"),))
    params = redact.render(str(source), out, muted, encoders=3, chunk=16)
    assert params["encoders"] == 3 and params["chunk_frames"] == 16
    assert params["frames"] == FPS * SECONDS
    with av.open(str(source)) as a, av.open(str(out)) as b:
        want = [f.time for f in a.decode(video=0)]
        got = [f.time for f in b.decode(video=0)]
    assert got == pytest.approx(want, abs=1e-3)
    with av.open(str(out)) as c:
        packets = [p for p in c.demux(c.streams.video[0]) if p.size]
    dts = [p.dts for p in packets]
    assert all(x < y for x, y in pairwise(dts))
    keyframes = sorted(round(float(p.pts * p.time_base) * FPS) for p in packets if p.is_keyframe)
    assert keyframes == list(range(0, FPS * SECONDS, 16))
    before, after = frames(source), frames(out)
    for i, boxes in enumerate(truth):
        for box in boxes:
            part = visible_part(box, W, H)
            if part is not None:
                assert not face_shows(before[i], after[i], part), f"frame {i}: a face shows at {part}"
    assert audio_rms(out, 1.1, 1.9) < 0.01 and audio_rms(out, 2.3, 3.5) > 0.25


def test_a_failing_encoder_fails_the_render_and_keeps_nothing(
    clip: tuple[Path, list], plan: RedactionPlan, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from opendems.adapters.media import chunked

    def broken(self: chunked.ChunkedEncoder) -> None:
        raise RuntimeError("the encoder refused its settings")

    monkeypatch.setattr(chunked.ChunkedEncoder, "_context", broken)
    out = tmp_path / "broken.mp4"
    with pytest.raises(RuntimeError, match="refused its settings"):
        redact.render(str(clip[0]), out, plan, encoders=2, chunk=8)
    assert not out.exists()


def test_machines_choose_their_encoders(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redact, "_cpus", lambda: 2)
    assert redact.encoders_for(1280, 720, 100_000) == (1, 0)  # x264's own threads suffice
    monkeypatch.setattr(redact, "_cpus", lambda: 16)
    workers, chunk = redact.encoders_for(1280, 720, 100_000)
    assert workers == 4 and redact.MIN_CHUNK <= chunk <= redact.MAX_CHUNK
    assert redact.encoders_for(1280, 720, 1800) == (4, 225)  # a minute: two chunks each
    assert redact.encoders_for(1280, 720, 8 * redact.MIN_CHUNK - 1) == (1, 0)  # too short to share out
    assert redact.encoders_for(1280, 720, 100, encoders=2, chunk=10) == (2, 10)
    workers, chunk = redact.encoders_for(1920, 1080, 100_000, encoders=4)
    assert workers == 4 and redact.MIN_CHUNK <= chunk <= redact.MAX_CHUNK
    assert 4 * chunk * 1920 * 1080 * 3 // 2 <= redact.RENDER_MEMORY


class BrokenPlates:
    """A plate finder that fails on its third frame."""

    threshold = 0.5
    provenance: dict[str, str] = {}

    def __init__(self) -> None:
        self.calls = 0

    def detect(self, frame: np.ndarray) -> list:
        self.calls += 1
        if self.calls == 3:
            raise RuntimeError("the plate finder broke")
        return []


def test_a_failing_plate_finder_among_several_threads_fails_the_analysis(
    clip: tuple[Path, list], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(redact, "_cpus", lambda: 16)  # four plate threads on one queue
    detector = FaceDetector(threshold=redact.UNCERTAIN_FLOOR, threads=2)
    with pytest.raises(RuntimeError, match="the plate finder broke"):
        redact.analyse(str(clip[0]), detector, plates=BrokenPlates(), plate_every=1)
