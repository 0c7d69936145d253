"""Visible watermarks on shared copies, on real media generated here: the output is decoded
and compared with the source pixel by pixel; the source is never changed."""

from __future__ import annotations

import hashlib
import io
import threading
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from opendems.adapters.media import watermark
from opendems.domain.jobs import NoPicture, PermanentFailure
from tests.media import audio_only_mp4, jpeg_bytes, video_bytes

LINES = ["Shared with Jane Roe <jroe@da.example.gov>", "Share SH-7KQ2-9XTR · 2026-11-26 10:15 UTC"]
W, H, FPS, SECONDS = 640, 360, 25, 2


def decoded(path: Path) -> tuple[list[npt.NDArray[np.uint8]], float, bool, int]:
    """RGB frames (turned upright), duration, whether there is sound, display rotation."""
    with av.open(str(path)) as inp:
        duration = (inp.duration or 0) / 1_000_000
        sound = bool(inp.streams.audio)
        frames, rotation = [], 0
        video: Any = inp.decode(video=0)
        for frame in video:
            rotation = int(getattr(frame, "rotation", 0) or 0)
            image = frame.to_image()
            frames.append(np.asarray(image.rotate(rotation, expand=True) if rotation else image))
    return frames, duration, sound, rotation


def diff(a: npt.NDArray[np.uint8], b: npt.NDArray[np.uint8]) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("wm") / "clip.mp4"
    path.write_bytes(video_bytes(width=W, height=H, seconds=SECONDS, fps=FPS))
    return path


def test_video_carries_the_mark_in_every_frame_and_the_source_is_untouched(
    clip: Path, tmp_path: Path
) -> None:
    before = hashlib.sha256(clip.read_bytes()).hexdigest()
    dst = tmp_path / "marked.mp4"
    progress: list[float] = []
    with clip.open("rb") as src:
        params = watermark.watermark_video(src, dst, LINES, progress.append)
    assert hashlib.sha256(clip.read_bytes()).hexdigest() == before

    assert params["codec"] == "h264" and params["lines"] == LINES
    assert (params["width"], params["height"], params["fps"]) == (W, H, FPS)
    assert progress and all(0 <= f <= 1 for f in progress) and progress == sorted(progress)
    source, src_duration, _, _ = decoded(clip)
    frames, duration, sound, rotation = decoded(dst)
    assert abs(len(frames) - len(source)) <= 1 and abs(params["frames"] - len(source)) <= 1
    assert abs(duration - src_duration) <= 0.1 and sound and rotation == 0
    data = dst.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")  # faststart: the index first, so it streams
    with av.open(str(dst)) as out:
        assert out.streams.video[0].codec_context.name == "h264"
        assert out.streams.video[0].format.name == "yuv420p"
        assert out.streams.audio[0].codec_context.name == "aac"

    x1, y1, x2, y2 = params["band"]
    assert y1 > H / 2 and x2 - x1 > W / 3  # low in the picture, across much of it
    corner = (slice(0, H // 8), slice(0, W // 8))  # far from the band and from the diagonal
    for n in (0, len(frames) // 2, len(frames) - 1):
        assert diff(frames[n][y1:y2, x1:x2], source[n][y1:y2, x1:x2]) > 20, n
        assert diff(frames[n][corner], source[n][corner]) < 3, n
        # The diagonal crosses the middle of the picture too.
        middle = (slice(H // 3, H // 2), slice(W // 3, 2 * W // 3))
        assert diff(frames[n][middle], source[n][middle]) > 2, n


def test_the_mark_is_upright_as_a_phone_video_is_displayed(tmp_path: Path) -> None:
    src = tmp_path / "phone.mp4"
    src.write_bytes(video_bytes(width=320, height=240, seconds=0.4, fps=10, rotation=90))
    dst = tmp_path / "marked.mp4"
    with src.open("rb") as f:
        params = watermark.watermark_video(f, dst, LINES, lambda f: None)
    source, _, _, src_rotation = decoded(src)
    frames, _, _, rotation = decoded(dst)
    assert rotation == src_rotation == params["display_rotation"] != 0
    shown_h, shown_w = frames[0].shape[:2]
    assert (shown_w, shown_h) == (240, 320)  # portrait as shown
    x1, y1, x2, y2 = params["band"]  # in displayed coordinates
    assert y1 > shown_h / 2
    assert diff(frames[0][y1:y2, x1:x2], source[0][y1:y2, x1:x2]) > 20
    assert diff(frames[0][: shown_h // 10, : shown_w // 8], source[0][: shown_h // 10, : shown_w // 8]) < 3


def test_a_cancelled_render_stops_and_leaves_nothing(clip: Path, tmp_path: Path) -> None:
    class Stop(Exception):
        pass

    calls: list[float] = []

    def report(fraction: float) -> None:
        calls.append(fraction)
        if len(calls) == 10:
            raise Stop("cancelled")

    dst = tmp_path / "marked.mp4"
    with clip.open("rb") as src, pytest.raises(Stop):
        watermark.watermark_video(src, dst, LINES, report)
    assert len(calls) == 10 and not dst.exists()
    assert not [t for t in threading.enumerate() if t.name.startswith("opendems-wm") and t.is_alive()]


def test_unreadable_and_soundless_or_pictureless_sources_fail_cleanly(tmp_path: Path) -> None:
    dst = tmp_path / "marked.mp4"
    garbage = np.random.default_rng(7).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    with pytest.raises(PermanentFailure, match="not a readable video"):
        watermark.watermark_video(io.BytesIO(garbage), dst, LINES, lambda f: None)
    assert not dst.exists()
    with pytest.raises(NoPicture):
        watermark.watermark_video(io.BytesIO(audio_only_mp4(0.5)), dst, LINES, lambda f: None)
    assert not dst.exists()
    with pytest.raises(PermanentFailure, match="does not decode"):
        watermark.watermark_image(io.BytesIO(garbage), LINES)
    silent = tmp_path / "silent.mp4"
    silent.write_bytes(video_bytes(width=160, height=120, seconds=0.4, fps=10, audio=False))
    with silent.open("rb") as f:
        watermark.watermark_video(f, dst, LINES, lambda f: None)
    with av.open(str(dst)) as out:
        assert not out.streams.audio and out.streams.video


def test_non_ascii_text_renders_and_missing_glyphs_fall_back() -> None:
    lines = ["Shared with Zoë Ångström <zoe@example.se>", "Łódź · Dvořák · 東京"]
    data, params = watermark.watermark_image(io.BytesIO(jpeg_bytes(width=320, height=240)), lines)
    assert params["lines"] == lines
    assert params["drawn_lines"][0].startswith("Shared with Zoë Ångström")  # the font has these
    assert "Łódz · Dvorák · ??" in " ".join(params["drawn_lines"])  # accents it lacks are dropped
    assert Image.open(io.BytesIO(data)).size == (320, 240)
    with pytest.raises(ValueError, match="at least one line"):
        watermark.watermark_image(io.BytesIO(jpeg_bytes()), ["", "\n"])


def test_a_photo_is_marked_upright_and_without_its_metadata() -> None:
    source = jpeg_bytes(width=400, height=300, orientation=6, gps=(52.37, 4.89))
    before = hashlib.sha256(source).hexdigest()
    src = io.BytesIO(source)
    data, params = watermark.watermark_image(src, LINES)
    assert hashlib.sha256(src.getvalue()).hexdigest() == before
    out = Image.open(io.BytesIO(data))
    assert out.format == "JPEG" and params["format"] == "jpeg"
    assert out.size == (300, 400) == (params["width"], params["height"])  # as displayed
    assert not out.getexif() and params["metadata_stripped"]
    x1, y1, x2, y2 = params["band"]
    original = np.asarray(Image.new("RGB", (300, 400), (200, 30, 30)))
    marked = np.asarray(out.convert("RGB"))
    assert y1 > 200
    assert diff(marked[y1:y2, x1:x2], original[y1:y2, x1:x2]) > 20
    assert diff(marked[:40, :40], original[:40, :40]) < 3


def test_a_transparent_png_stays_a_transparent_png() -> None:
    img = Image.new("RGBA", (320, 240), (0, 120, 200, 255))
    img.paste((0, 0, 0, 0), (0, 0, 100, 100))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    data, params = watermark.watermark_image(io.BytesIO(buf.getvalue()), LINES)
    out = Image.open(io.BytesIO(data))
    assert out.format == "PNG" and params["format"] == "png" and out.mode == "RGBA"
    assert out.getpixel((5, 5)) == (0, 0, 0, 0)  # the transparent corner stays transparent
    opaque = io.BytesIO()
    Image.new("RGB", (200, 100), (9, 9, 9)).save(opaque, format="PNG")
    data, params = watermark.watermark_image(opaque, LINES)
    assert Image.open(io.BytesIO(data)).format == "PNG" and params["format"] == "png"
