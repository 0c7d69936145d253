"""CenterFace converted to PyTorch (the accelerator path, extra ``gpu``) against the
onnxruntime model it is made from: the same faces, at the same boxes, on real pixels, and a
moving clip analysed end to end. On a CUDA machine it runs on the GPU in float16; elsewhere,
where PyTorch is installed, on the CPU in float32. It needs nothing from the suite's conftest
(``pytest --noconftest`` runs it on a bare GPU machine)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from skimage import data

from opendems.adapters.media import redact
from opendems.adapters.vision.centerface import FaceDetector
from opendems.domain.tracking import boxes_by_frame, iou
from tests.faces import FacePath, still, visible_part, write_clip

torch = pytest.importorskip("torch", reason="the PyTorch runtime is the extra 'gpu'")
pytest.importorskip("onnx2torch", reason="the PyTorch runtime is the extra 'gpu'")

from opendems.adapters.vision.centerface_torch import TorchFaceDetector  # noqa: E402

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
SCORE_TOLERANCE = 0.02 if DEVICE == "cuda" else 1e-3  # float16 on the GPU


@pytest.fixture(scope="module")
def gpu() -> TorchFaceDetector:
    return TorchFaceDetector(device=DEVICE)


@pytest.fixture(scope="module")
def cpu() -> FaceDetector:
    return FaceDetector(threads=2)


FRAMES = [
    lambda: data.astronaut(),  # type: ignore[no-untyped-call]
    lambda: still(1280, 720, [FacePath(640, 360, 60)])[0],
    lambda: still(1280, 720, [FacePath(250, 200, 120, mirror=True), FacePath(1050, 480, 240)])[0],
    lambda: still(1920, 1080, [FacePath(400, 700, 300)])[0],
    lambda: still(640, 360, [FacePath(560, 90, 32)])[0],
    lambda: np.zeros((360, 640, 3), np.uint8),
]


def test_the_converted_network_finds_what_the_onnx_model_finds(
    gpu: TorchFaceDetector, cpu: FaceDetector
) -> None:
    frames = [make() for make in FRAMES]
    together = gpu.detect_batch(frames)  # frames of four sizes: batched by size
    assert [len(found) for found in together] == [1, 1, 2, 1, 1, 0]
    for frame, batched in zip(frames, together, strict=True):
        reference = cpu.detect(frame)
        alone = gpu.detect(frame)
        assert len(reference) == len(alone) == len(batched)
        for want, got, got_alone in zip(reference, batched, alone, strict=True):
            assert iou(want.box, got.box) >= 0.97, (want, got)
            assert got.score == pytest.approx(want.score, abs=SCORE_TOLERANCE)
            assert got_alone.box == pytest.approx(got.box, abs=0.5)


def test_the_provenance_names_the_model_file_and_the_runtime(
    gpu: TorchFaceDetector, cpu: FaceDetector
) -> None:
    assert gpu.model_sha256 == cpu.model_sha256
    runtime = gpu.provenance["runtime"]
    assert runtime.startswith(f"pytorch {torch.__version__}") and "onnx2torch" in runtime
    assert ("float16" if DEVICE == "cuda" else "float32") in runtime
    assert "runtime" not in cpu.provenance  # the CPU default records what it always did


def test_a_moving_clip_is_covered_in_every_frame_through_the_analysis(
    gpu: TorchFaceDetector, tmp_path: Path
) -> None:

    faces = [FacePath(60, 190, 110, dx=9.0, dy=0.5), FacePath(1180, 520, 150, dx=-8.0, dy=-0.8, mirror=True)]
    clip = tmp_path / "clip.mp4"
    truth = write_clip(clip, width=1280, height=720, fps=30, seconds=3, faces=faces, seed=5)
    analysis = redact.analyse(str(clip), gpu)
    assert analysis.detected_frames == len(range(0, len(truth), redact.DETECT_EVERY))
    tracked = boxes_by_frame(analysis.tracks, len(truth))
    visible = [
        (i, part) for i, boxes in enumerate(truth) for box in boxes if (part := visible_part(box, 1280, 720))
    ]
    assert len(visible) == 2 * len(truth)
    hits = sum(max((iou(box, b) for b in tracked[i]), default=0.0) >= 0.5 for i, box in visible)
    assert hits / len(visible) >= 0.99
    assert analysis.parameters["runtime"] == gpu.runtime
