"""Licence plates: OpenCV's plate cascade on synthetic plates (a white plate with dark
characters, drawn into the test's own frames), found in a photo and tracked through a clip
as a car drives by, then covered by the render; frames without plates give no plate boxes."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from opendems.adapters.media.redact import analyse, analyse_image, face_detector, render
from opendems.adapters.vision.plates import PlateDetector
from opendems.domain.tracking import Box, iou
from tests.faces import FacePath, background, detail, still

W, H, FPS, FRAMES = 640, 360, 30, 60


def plate(width: int, text: str = "A123BC77") -> np.ndarray:
    """A plate of the long format ``width`` pixels wide: white, a dark border, dark letters."""
    height = round(width * 0.22)
    image = np.full((height, width, 3), 245, np.uint8)
    cv2.rectangle(image, (1, 1), (width - 2, height - 2), (0, 0, 0), max(1, width // 100))
    scale = width / 190
    cv2.putText(
        image,
        text,
        (round(width * 0.05), round(height * 0.78)),
        cv2.FONT_HERSHEY_SIMPLEX,
        scale,
        (0, 0, 0),
        max(1, round(2 * scale)),
        cv2.LINE_AA,
    )
    return image


def with_plate(frame: np.ndarray, x: int, y: int, width: int) -> Box:
    p = plate(width)
    frame[y : y + p.shape[0], x : x + width] = p
    return (float(x), float(y), float(x + width), float(y + p.shape[0]))


@pytest.fixture(scope="module")
def detector() -> PlateDetector:
    return PlateDetector()


def test_a_plate_in_a_photo_is_found_and_the_faces_are_not_taken_for_plates(
    detector: PlateDetector, tmp_path: Path
) -> None:
    picture, _ = still(800, 600, [FacePath(200, 250, 150), FacePath(600, 300, 120, mirror=True)])
    truth = with_plate(picture, 320, 460, 160)
    (found,) = detector.detect(picture)
    # The cascade's window holds the plate with a margin round it: covered whole, not much more.
    assert _contains(found.box, truth) and _area(found.box) < 3 * _area(truth) and 0 < found.score <= 1
    path = tmp_path / "car.png"
    cv2.imwrite(str(path), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
    analysis = analyse_image(path, face_detector(), plates=detector)
    plan = analysis.plan()
    kinds = sorted(t.kind for t in plan.tracks)
    assert kinds == ["face", "face", "plate"]
    assert plan.detections["plate_model_file"] == "haarcascade_russian_plate_number.xml"
    assert len(plan.detections["plate_model_sha256"]) == 64


def test_no_plates_in_frames_without_one(detector: PlateDetector) -> None:
    for seed in range(3):
        picture, _ = still(W, H, [FacePath(320, 180, 120)], seed=seed)
        assert detector.detect(picture) == []
        assert detector.detect(background(W, H, seed=seed)) == []


def test_a_passing_car_s_plate_is_tracked_and_covered_in_every_frame(
    detector: PlateDetector, tmp_path: Path
) -> None:
    src = tmp_path / "street.mp4"
    base = background(W, H, seed=4)
    truth: list[Box] = []
    frames = []
    with av.open(str(src), "w", format="mp4") as out:
        video = out.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = W, H, "yuv420p"
        video.codec_context.options = {"preset": "ultrafast", "crf": "16"}
        for i in range(FRAMES):
            frame = base.copy()
            truth.append(with_plate(frame, 60 + 6 * i, 220 - i, 140))  # drives right, a little away
            frames.append(frame)
            picture = av.VideoFrame.from_ndarray(frame, format="rgb24")
            picture.pts = i
            for packet in video.encode(picture):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)

    analysis = analyse(src, face_detector(), plates=detector)
    assert analysis.tracks == []  # no faces here
    assert len(analysis.plates) == 1
    plan = analysis.plan()
    (plate_track,) = plan.tracks
    assert plate_track.kind == "plate" and plate_track.include
    covered = [
        any(iou(box, truth[i]) > 0.4 or _contains(box, truth[i]) for box, _ in plan.regions_at(i))
        for i in range(FRAMES)
    ]
    assert sum(covered) / FRAMES >= 0.95, covered

    out = tmp_path / "redacted.mp4"
    render(src, out, plan)
    with av.open(str(out)) as b:
        after = [f.to_ndarray(format="rgb24") for f in b.decode(video=0)]
    shown = [
        i
        for i in range(FRAMES)
        if covered[i] and detail(after[i], truth[i]) > 0.4 * detail(frames[i], truth[i])
    ]
    assert not shown  # the characters are gone wherever the plate was tracked


def _contains(outer: Box, inner: Box) -> bool:
    return outer[0] <= inner[0] and outer[1] <= inner[1] and outer[2] >= inner[2] and outer[3] >= inner[3]


def _area(box: Box) -> float:
    return (box[2] - box[0]) * (box[3] - box[1])
