"""Probing real media generated here: what each kind of file yields, and clear failures."""

from __future__ import annotations

import io

import pytest

from opendems.adapters.media.probe import probe_av, probe_image
from opendems.domain.jobs import PermanentFailure
from tests.factories import wav_bytes
from tests.media import corrupt_exif_jpeg, jpeg_bytes, mp3_bytes, video_bytes


def test_h264_mp4_with_time_and_place() -> None:
    data = video_bytes(
        metadata={"creation_time": "2026-03-01T10:00:00.000000Z", "location": "+37.7749-122.4194/"}
    )
    info = probe_av(io.BytesIO(data))
    assert info["kind"] == "video" and info["container"].startswith("mov,mp4")
    assert (info["width"], info["height"], info["video_codec"], info["audio_codec"]) == (
        320,
        240,
        "h264",
        "aac",
    )
    assert info["frame_rate"] == 15 and 0.9 <= info["duration_s"] <= 1.2
    assert info["captured_at"] == "2026-03-01T10:00:00+00:00"
    assert (info["latitude"], info["longitude"]) == (37.7749, -122.4194)


def test_quicktime_keys_name_the_camera() -> None:
    data = video_bytes(
        container="mov",
        options={"movflags": "use_metadata_tags"},
        metadata={
            "com.apple.quicktime.make": "Axon",
            "com.apple.quicktime.model": "Body 4",
            "com.apple.quicktime.location.ISO6709": "-33.8688+151.2093+012.000/",
            "com.apple.quicktime.creationdate": "2026-02-03T04:05:06-0800",
        },
    )
    info = probe_av(io.BytesIO(data))
    assert (info["device_make"], info["device_model"]) == ("Axon", "Body 4")
    assert (info["latitude"], info["longitude"]) == (-33.8688, 151.2093)
    assert info["captured_at"] == "2026-02-03T12:05:06+00:00"  # the phone's local time, in UTC


def test_hevc_mov_recorded_sideways_reports_upright_size() -> None:
    info = probe_av(
        io.BytesIO(
            video_bytes(codec="libx265", container="mov", width=320, height=180, rotation=90, audio=False)
        )
    )
    assert info["video_codec"] == "hevc" and abs(info["rotation"]) == 90
    assert (info["width"], info["height"]) == (180, 320)
    assert "audio_codec" not in info


def test_mjpeg_avi_and_odd_sizes() -> None:
    info = probe_av(
        io.BytesIO(
            video_bytes(
                codec="mjpeg", container="avi", width=322, height=182, audio=False, pix_fmt="yuvj420p"
            )
        )
    )
    assert (info["video_codec"], info["width"], info["height"]) == ("mjpeg", 322, 182)


@pytest.mark.parametrize(("data", "codec"), [(wav_bytes(seconds=0.5), "pcm_s16le"), (mp3_bytes(), "mp3")])
def test_audio(data: bytes, codec: str) -> None:
    info = probe_av(io.BytesIO(data))
    assert info["kind"] == "audio" and info["audio_codec"] == codec and info["duration_s"] > 0.3


def test_truncated_video_fails_with_a_reason() -> None:
    data = video_bytes(seconds=2)
    with pytest.raises(PermanentFailure, match=r"not a readable|does not decode|no decodable"):
        probe_av(io.BytesIO(data[: len(data) // 3]))


def test_not_media_fails_with_a_reason() -> None:
    with pytest.raises(PermanentFailure, match="not a readable audio or video file"):
        probe_av(io.BytesIO(b"%PDF-1.4 this is not a video" * 20))


def test_jpeg_exif_gps_time_camera_and_orientation() -> None:
    info = probe_image(io.BytesIO(jpeg_bytes(gps=(40.7128, -74.006), orientation=6, width=64, height=48)))
    assert info["container"] == "jpeg" and (info["width"], info["height"]) == (48, 64)  # upright
    assert info["captured_at"] == "2026-03-01T10:15:30+00:00"
    assert abs(info["latitude"] - 40.7128) < 1e-4 and abs(info["longitude"] + 74.006) < 1e-4
    assert (info["device_make"], info["device_model"], info["device_serial"]) == (
        "Axon",
        "Body 4",
        "X60A1234",
    )


def test_jpeg_with_a_corrupt_exif_block_keeps_the_picture() -> None:
    info = probe_image(io.BytesIO(corrupt_exif_jpeg()))
    assert (info["width"], info["height"]) == (40, 30)
    assert "latitude" not in info
    assert any("EXIF" in w for w in info["warnings"])


def test_broken_image_fails_with_a_reason() -> None:
    with pytest.raises(PermanentFailure, match="not a readable image"):
        probe_image(io.BytesIO(b"\xff\xd8\xff\xe0" + b"\x00" * 50))
