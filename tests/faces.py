"""Synthetic video frames with real faces at known boxes, for the face detector, the tracker
and the redaction tests.

The face is the astronaut's (Eileen Collins) from ``skimage.data.astronaut()``, a public-domain
NASA photograph that ships inside scikit-image: her head and some of its surroundings are cut
out, scaled, blended in with a soft elliptical edge and pasted onto a noisy grey background at
chosen places, one or several per frame, moving in straight lines across a clip. The true box
of each pasted face is the detector's box on the original photograph, scaled and moved with
it, so a detector's answer can be scored against it. numpy and OpenCV's resize only: a
60-frame 640x360 clip takes well under a second."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
from skimage import data

from opendems.domain.tracking import Box

Frame = npt.NDArray[np.uint8]

ASTRONAUT_FACE: Box = (182.0, 60.0, 270.0, 177.0)
"""The face in ``skimage.data.astronaut()`` (512x512), as CenterFace boxes it at full
resolution (182, 58, 270, 178) and at 640x384 (184, 65, 269, 176): brow to chin, cheek to
cheek."""

FACE_HEIGHT = ASTRONAUT_FACE[3] - ASTRONAUT_FACE[1]
CONTEXT = 1.0
"""The cut-out reaches this many face widths/heights beyond the face box in all (hair, neck,
a little background): a detector looks at a face in its surroundings, not at a bare oval."""


@dataclass(frozen=True)
class FacePath:
    """One face: its centre at frame 0 (pixels), its height (pixels, brow to chin), and how
    far it moves each frame. ``mirror`` flips it left to right, for a second face that does
    not look exactly like the first."""

    x: float
    y: float
    height: float
    dx: float = 0.0
    dy: float = 0.0
    mirror: bool = False

    def centre(self, frame: int) -> tuple[float, float]:
        return self.x + self.dx * frame, self.y + self.dy * frame


@dataclass(frozen=True)
class Clip:
    """Frames (RGB, height x width x 3, uint8) and, for each, the true box of each face that is
    in it, in the order of the paths (a face wholly outside the frame has no box there)."""

    frames: list[Frame]
    boxes: list[list[Box]]


@cache
def _source() -> tuple[Frame, tuple[int, int, int, int], Box]:
    """The cut-out (RGB) with the face box inside it, from the astronaut photograph."""
    image: Frame = data.astronaut()  # type: ignore[no-untyped-call]
    x1, y1, x2, y2 = ASTRONAUT_FACE
    w, h = x2 - x1, y2 - y1
    left, top = max(0, int(x1 - CONTEXT * w / 2)), max(0, int(y1 - CONTEXT * h / 2))
    right = min(image.shape[1], int(x2 + CONTEXT * w / 2))
    bottom = min(image.shape[0], int(y2 + CONTEXT * h / 2))
    cut = np.ascontiguousarray(image[top:bottom, left:right])
    return cut, (left, top, right, bottom), (x1 - left, y1 - top, x2 - left, y2 - top)


@cache
def face_patch(height: int, mirror: bool = False) -> tuple[Frame, npt.NDArray[np.float32], Box]:
    """The cut-out scaled so that the face is ``height`` pixels tall: its pixels, its opacity
    (1 inside an ellipse, fading to 0 at the edge) and the face box within it."""
    cut, _, (fx1, fy1, fx2, fy2) = _source()
    scale = height / FACE_HEIGHT
    pw, ph = max(2, round(cut.shape[1] * scale)), max(2, round(cut.shape[0] * scale))
    sx, sy = pw / cut.shape[1], ph / cut.shape[0]
    method = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    patch: Frame = cv2.resize(cut, (pw, ph), interpolation=method).astype(np.uint8)
    box: Box = (fx1 * sx, fy1 * sy, fx2 * sx, fy2 * sy)
    if mirror:
        patch = np.ascontiguousarray(patch[:, ::-1])
        box = (pw - box[2], box[1], pw - box[0], box[3])
    yy, xx = np.mgrid[0:ph, 0:pw].astype(np.float32)
    r = np.hypot((xx + 0.5) / pw * 2 - 1, (yy + 0.5) / ph * 2 - 1)
    alpha = np.clip((1.0 - r) / 0.2, 0.0, 1.0).astype(np.float32)
    return patch, alpha, box


def background(width: int, height: int, *, seed: int = 0) -> Frame:
    """A grey frame with a soft left-to-right gradient and mild noise (no faces)."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(90, 150, width, dtype=np.float32)[None, :, None]
    noise = rng.normal(0, 6, (height, width, 3)).astype(np.float32)
    frame: Frame = np.clip(ramp + noise, 0, 255).astype(np.uint8)
    return frame


def paste(frame: Frame, cx: float, cy: float, height: float, *, mirror: bool = False) -> Box | None:
    """Blend a face ``height`` pixels tall centred on (cx, cy) into ``frame`` (in place); its
    true box, clamped to the frame, or None when the face lies wholly outside."""
    patch, alpha, (bx1, by1, bx2, by2) = face_patch(max(2, round(height)), mirror)
    ph, pw = alpha.shape
    # Place the patch so the face box's centre falls on (cx, cy), on whole pixels.
    left = round(cx - (bx1 + bx2) / 2)
    top = round(cy - (by1 + by2) / 2)
    fh, fw = frame.shape[:2]
    x0, y0, x1, y1 = max(0, left), max(0, top), min(fw, left + pw), min(fh, top + ph)
    if x0 < x1 and y0 < y1:
        a = alpha[y0 - top : y1 - top, x0 - left : x1 - left, None]
        p = patch[y0 - top : y1 - top, x0 - left : x1 - left].astype(np.float32)
        region = frame[y0:y1, x0:x1].astype(np.float32)
        frame[y0:y1, x0:x1] = (p * a + region * (1 - a) + 0.5).astype(np.uint8)
    box = (
        min(max(left + bx1, 0.0), float(fw)),
        min(max(top + by1, 0.0), float(fh)),
        min(max(left + bx2, 0.0), float(fw)),
        min(max(top + by2, 0.0), float(fh)),
    )
    return box if box[2] > box[0] and box[3] > box[1] else None


def still(width: int, height: int, faces: Sequence[FacePath], *, seed: int = 0) -> tuple[Frame, list[Box]]:
    """One frame with ``faces`` at their frame-0 places, and their true boxes."""
    clip = moving_clip(width, height, 1, faces, seed=seed)
    return clip.frames[0], clip.boxes[0]


def moving_clip(
    width: int, height: int, frame_count: int, faces: Sequence[FacePath], *, seed: int = 0
) -> Clip:
    """``frame_count`` frames of ``width`` x ``height`` with each face moving along its path."""
    base = background(width, height, seed=seed)
    made = [frame_with(base, faces, index) for index in range(frame_count)]
    return Clip([frame for frame, _ in made], [truth for _, truth in made])


def frame_with(base: Frame, faces: Sequence[FacePath], index: int) -> tuple[Frame, list[Box]]:
    """Frame ``index`` of a clip: ``base`` with each face at its place then, and the true box
    of each face that is in the picture."""
    frame = base.copy()
    truth = []
    for face in faces:
        cx, cy = face.centre(index)
        box = paste(frame, cx, cy, face.height, mirror=face.mirror)
        if box is not None:
            truth.append(box)
    return frame, truth


def detail(image: Frame, box: Box) -> float:
    """How much fine detail the central 60% of ``box`` holds in an RGB frame: the mean
    absolute Laplacian of its grey levels. A blurred, pixelated or boxed face keeps a small
    fraction of what the face had; an untouched one keeps most of it through compression."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    a, b = int(x1 + 0.2 * w), int(y1 + 0.2 * h)
    c, d = math.ceil(x2 - 0.2 * w), math.ceil(y2 - 0.2 * h)
    height, width = image.shape[:2]
    a, b, c, d = max(0, a), max(0, b), min(width, c), min(height, d)
    if c - a < 3 or d - b < 3:
        return 0.0
    grey = cv2.cvtColor(np.ascontiguousarray(image[b:d, a:c]), cv2.COLOR_RGB2GRAY)
    return float(np.abs(cv2.Laplacian(grey, cv2.CV_32F)).mean())


def face_shows(source: Frame, output: Frame, box: Box, *, keep: float = 0.4) -> bool:
    """Whether the face in ``box`` of ``source`` can still be seen in ``output``: its detail
    there is at least ``keep`` of the source's."""
    before = detail(source, box)
    return before > 0 and detail(output, box) >= keep * before


def visible_part(box: Box, width: int, height: int) -> Box | None:
    """The part of a true face box inside the frame (None when less than 8 pixels show)."""
    x1, y1, x2, y2 = max(0.0, box[0]), max(0.0, box[1]), min(float(width), box[2]), min(float(height), box[3])
    return (x1, y1, x2, y2) if x2 - x1 >= 8 and y2 - y1 >= 8 else None


def covered_share(box: Box, regions: Sequence[Box]) -> float:
    """The share of ``box`` that the union of ``regions`` covers."""
    x1, y1, x2, y2 = (round(v) for v in box)
    if x2 <= x1 or y2 <= y1:
        return 1.0
    mask = np.zeros((y2 - y1, x2 - x1), dtype=bool)
    for r in regions:
        a, b = max(0, math.floor(r[0]) - x1), max(0, math.floor(r[1]) - y1)
        c, d = max(0, math.ceil(r[2]) - x1), max(0, math.ceil(r[3]) - y1)
        mask[b:d, a:c] = True
    return float(mask.mean())


def write_clip(
    path: Path,
    *,
    width: int,
    height: int,
    fps: int,
    seconds: int,
    faces: Sequence[FacePath],
    seed: int = 0,
    preset: str = "ultrafast",
    tone_hz: float = 440.0,
    tone_level: float = 0.5,
) -> list[list[Box]]:
    """Write an H.264/AAC MP4 of ``faces`` moving over a background, with a steady tone on
    its sound track, frame by frame (a long clip never sits in memory). Returns each frame's
    true face boxes."""
    import av

    base = background(width, height, seed=seed)
    truth: list[list[Box]] = []
    rate = 48000
    with av.open(str(path), "w", format="mp4") as out:
        video: Any = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.codec_context.options = {"preset": preset, "crf": "16"}
        audio: Any = out.add_stream("aac", rate=rate)
        audio.layout = "mono"
        for i in range(fps * seconds):
            frame, boxes = frame_with(base, faces, i)
            truth.append(boxes)
            picture = av.VideoFrame.from_ndarray(frame, format="rgb24")
            picture.pts = i
            for packet in video.encode(picture):
                out.mux(packet)
        tone = (tone_level * np.sin(2 * np.pi * tone_hz * np.arange(rate * seconds) / rate)).astype(
            np.float32
        )
        for k in range(0, len(tone), 1024):
            sound = av.AudioFrame.from_ndarray(tone[None, k : k + 1024], format="fltp", layout="mono")
            sound.sample_rate, sound.pts = rate, k
            for packet in audio.encode(sound):
                out.mux(packet)
        for stream in (video, audio):
            for packet in stream.encode():
                out.mux(packet)
    return truth
