"""Following faces (or any boxed object) through a video: link each frame's detections to the
tracks of the frames before, fill the frames where the detector missed, and widen every track
a little in time and in space.

Redaction blurs whatever the tracks cover, so each rule here leans towards covering too much
rather than too little: a face missed for one frame is a face published, an extra blur costs
nothing. Pure: numbers in, numbers out; numpy and the standard library only."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

Box = tuple[float, float, float, float]
"""x1, y1, x2, y2 in source-frame pixels (x2 > x1, y2 > y1 for a box that covers anything)."""

Source = Literal["detected", "interpolated", "extended"]
"""Where a track's box in one frame comes from: the detector itself, a straight line between
two detections around a gap, or the first/last box held over the track's margins."""

MAX_SIZE_RATIO = 2.0
"""Linking by centre distance (no overlap) also asks that the two boxes' sizes are within this
factor of each other, so that a small face passing near a large one is not taken for it."""


@dataclass(frozen=True, slots=True)
class Detection:
    """One object the detector found in one frame, in source-frame pixels."""

    x1: float
    y1: float
    x2: float
    y2: float
    score: float

    @property
    def box(self) -> Box:
        return (self.x1, self.y1, self.x2, self.y2)


@dataclass(frozen=True, slots=True)
class TrackPoint:
    """A track's box in one frame."""

    box: Box
    score: float  # the detector's score; across gaps interpolated, over margins held
    source: Source

    @property
    def interpolated(self) -> bool:
        """True where the detector did not see the object in this frame (gap or margin)."""
        return self.source != "detected"


@dataclass(frozen=True)
class Track:
    """One object through consecutive frames: a box in every frame from ``first_frame`` to
    ``last_frame`` inclusive (frame indices count from 0 in the clip)."""

    id: int
    points: Mapping[int, TrackPoint] = field(repr=False)

    @property
    def first_frame(self) -> int:
        return min(self.points)

    @property
    def last_frame(self) -> int:
        return max(self.points)

    @property
    def hits(self) -> int:
        """How many frames the detector itself saw the object in."""
        return sum(1 for p in self.points.values() if p.source == "detected")

    @property
    def boxes(self) -> dict[int, Box]:
        return {frame: p.box for frame, p in self.points.items()}

    def box_at(self, frame_index: int) -> Box | None:
        point = self.points.get(frame_index)
        return None if point is None else point.box


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes (0 when either is empty)."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def clamp_box(box: Box, frame_size: tuple[int, int]) -> Box:
    """The part of ``box`` inside a ``(width, height)`` frame (zero-area when it lies outside)."""
    width, height = frame_size
    x1 = min(max(box[0], 0.0), float(width))
    y1 = min(max(box[1], 0.0), float(height))
    x2 = min(max(box[2], x1), float(width))
    y2 = min(max(box[3], y1), float(height))
    return (x1, y1, x2, y2)


def pad_box(box: Box, factor: float, frame_size: tuple[int, int] | None = None) -> Box:
    """``box`` grown about its centre by ``factor`` of its width and height (0.2: 20% wider and
    20% taller), clamped to a ``(width, height)`` frame when given. Face detectors box the face
    tightly; a redaction must also cover hair, ears and the detector's jitter."""
    if factor <= -1:
        raise ValueError("a padding factor must be greater than -1")
    dx = (box[2] - box[0]) * factor / 2
    dy = (box[3] - box[1]) * factor / 2
    grown = (box[0] - dx, box[1] - dy, box[2] + dx, box[3] + dy)
    return clamp_box(grown, frame_size) if frame_size is not None else grown


def boxes_at(tracks: Sequence[Track], frame_index: int) -> list[Box]:
    """Every track's box in one frame (the boxes to redact there)."""
    return [box for t in tracks if (box := t.box_at(frame_index)) is not None]


def boxes_by_frame(tracks: Sequence[Track], frame_count: int) -> list[list[Box]]:
    """``boxes_at`` for every frame of a clip of ``frame_count`` frames, in one pass."""
    frames: list[list[Box]] = [[] for _ in range(frame_count)]
    for t in tracks:
        for frame, point in t.points.items():
            if 0 <= frame < frame_count:
                frames[frame].append(point.box)
    return frames


def track(
    detections_per_frame: Sequence[Sequence[Detection]],
    *,
    iou_threshold: float = 0.3,
    max_distance: float = 1.0,
    max_gap: int = 10,
    margin_before: int = 0,
    margin_after: int = 0,
    margin_padding: float = 0.0,
    min_hits: int = 1,
    frame_size: tuple[int, int] | None = None,
) -> list[Track]:
    """Link detections across frames into tracks.

    A detection joins a live track when its box overlaps the track's predicted box (the last
    box moved on at the track's recent speed) by ``iou_threshold`` or more, or, for fast
    movers that no longer overlap, when its centre lies within ``max_distance`` box sizes of
    the prediction for every frame since the track was last seen, and the sizes are
    comparable. Each frame's pairs are chosen together (minimum-cost assignment, overlap
    always before distance), so two faces crossing keep their own tracks. A track stays live while unseen for up to ``max_gap`` frames; the
    frames it was missed in get boxes on a straight line between the detections around them.

    Each track is then extended ``margin_before`` frames before its first detection and
    ``margin_after`` after its last (clamped to the clip), holding the first/last box grown
    by ``margin_padding`` (see ``pad_box``). Tracks detected in fewer than ``min_hits`` frames
    are dropped; the default 1 keeps everything, since for redaction a missed face is worse
    than an extra blur. With ``frame_size`` (width, height) every box is clamped to the frame.

    Returns the tracks ordered by first detection, with ids 1, 2, 3 ... in that order."""
    if not 0 <= iou_threshold <= 1:
        raise ValueError("iou_threshold must lie in [0, 1]")
    if max_distance < 0 or max_gap < 0 or margin_before < 0 or margin_after < 0:
        raise ValueError("max_distance, max_gap and the margins must not be negative")
    if min_hits < 1:
        raise ValueError("min_hits must be at least 1")
    frame_count = len(detections_per_frame)
    chains: list[_Chain] = []
    for frame, detections in enumerate(detections_per_frame):
        found = [d for d in detections if d.x2 > d.x1 and d.y2 > d.y1]
        if not found:
            continue
        live = [c for c in chains if frame - c.last_frame - 1 <= max_gap]
        taken: set[int] = set()
        if live:
            predicted = np.array([c.predict(frame) for c in live], dtype=np.float64)
            reach = np.array([max_distance * (frame - c.last_frame) for c in live], dtype=np.float64)
            boxes = np.array([d.box for d in found], dtype=np.float64)
            costs = _link_costs(predicted, boxes, iou_threshold, reach)
            for row, col in _assign(costs):
                live[row].add(frame, found[col])
                taken.add(col)
        chains.extend(_Chain(frame, d) for i, d in enumerate(found) if i not in taken)

    kept = sorted((c for c in chains if len(c.frames) >= min_hits), key=lambda c: c.frames[0])
    return [
        _build(
            c,
            number,
            frame_count=frame_count,
            margin_before=margin_before,
            margin_after=margin_after,
            margin_padding=margin_padding,
            frame_size=frame_size,
        )
        for number, c in enumerate(kept, start=1)
    ]


class _Chain:
    """A track while it is being linked: its detections and the frames they came from."""

    __slots__ = ("detections", "frames")

    def __init__(self, frame: int, detection: Detection) -> None:
        self.frames = [frame]
        self.detections = [detection]

    @property
    def last_frame(self) -> int:
        return self.frames[-1]

    def add(self, frame: int, detection: Detection) -> None:
        self.frames.append(frame)
        self.detections.append(detection)

    def predict(self, frame: int) -> Box:
        """The last box moved on to ``frame`` at the centre's speed over the last few
        detections (constant velocity; the size is held)."""
        x1, y1, x2, y2 = self.detections[-1].box
        if len(self.frames) < 2:
            return (x1, y1, x2, y2)
        back = max(0, len(self.frames) - 3)
        bx1, by1, bx2, by2 = self.detections[back].box
        span = self.frames[-1] - self.frames[back]
        ahead = frame - self.frames[-1]
        dx = ((x1 + x2) - (bx1 + bx2)) / 2 / span * ahead
        dy = ((y1 + y2) - (by1 + by2)) / 2 / span * ahead
        return (x1 + dx, y1 + dy, x2 + dx, y2 + dy)


FloatArray = npt.NDArray[np.float64]


def _link_costs(
    predicted: FloatArray, boxes: FloatArray, iou_threshold: float, reach: FloatArray
) -> FloatArray:
    """Cost of linking each predicted track box (rows) to each detection (columns): 1 - IoU for
    overlapping pairs (0..1), 1 + centre distance in box sizes for pairs linked by distance
    only (always dearer than any overlap; the distance may be up to the row's ``reach``),
    infinite for pairs that must not be linked."""
    a, b = predicted[:, None, :], boxes[None, :, :]
    iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = iw * ih
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    overlap = inter / np.maximum(area_a + area_b - inter, 1e-9)

    size_a, size_b = np.sqrt(area_a), np.sqrt(area_b)
    centre_dx = (a[..., 0] + a[..., 2] - b[..., 0] - b[..., 2]) / 2
    centre_dy = (a[..., 1] + a[..., 3] - b[..., 1] - b[..., 3]) / 2
    distance = np.hypot(centre_dx, centre_dy) / np.maximum((size_a + size_b) / 2, 1e-9)
    ratio = np.maximum(size_a, size_b) / np.maximum(np.minimum(size_a, size_b), 1e-9)

    costs = np.full(overlap.shape, np.inf)
    by_overlap = (overlap > 0) & (overlap >= iou_threshold)
    by_distance = ~by_overlap & (distance <= reach[:, None]) & (ratio <= MAX_SIZE_RATIO)
    costs[by_overlap] = 1.0 - overlap[by_overlap]
    costs[by_distance] = 1.0 + distance[by_distance]
    return costs


def _assign(costs: FloatArray) -> list[tuple[int, int]]:
    """The (row, column) pairs of a minimum-cost assignment that use only finite costs: as many
    links as can be made, then the cheapest such set (the Hungarian method, O(n^2 m))."""
    finite = np.isfinite(costs)
    if not finite.any():
        return []
    transposed = costs.shape[0] > costs.shape[1]
    matrix = costs.T if transposed else costs
    # An impossible pair costs more than every possible pair together, so the method first
    # makes as many possible links as there can be, and only then minimises their cost.
    forbidden = float(matrix[np.isfinite(matrix)].sum()) + 1.0
    c: list[list[float]] = np.where(np.isfinite(matrix), matrix, forbidden).tolist()
    n, m = len(c), len(c[0])
    u = [0.0] * (n + 1)
    v = [0.0] * (m + 1)
    owner = [0] * (m + 1)  # owner[j]: the row (1-based) holding column j, 0 if none
    way = [0] * (m + 1)
    for i in range(1, n + 1):
        owner[0] = i
        j0 = 0
        minv = [math.inf] * (m + 1)
        used = [False] * (m + 1)
        while True:
            used[j0] = True
            i0, delta, j1 = owner[j0], math.inf, 0
            row = c[i0 - 1]
            for j in range(1, m + 1):
                if not used[j]:
                    cur = row[j - 1] - u[i0] - v[j]
                    if cur < minv[j]:
                        minv[j], way[j] = cur, j0
                    if minv[j] < delta:
                        delta, j1 = minv[j], j
            for j in range(m + 1):
                if used[j]:
                    u[owner[j]] += delta
                    v[j] -= delta
                else:
                    minv[j] -= delta
            j0 = j1
            if owner[j0] == 0:
                break
        while j0:
            j1 = way[j0]
            owner[j0] = owner[j1]
            j0 = j1
    pairs = [(owner[j] - 1, j - 1) for j in range(1, m + 1) if owner[j]]
    if transposed:
        pairs = [(col, row) for row, col in pairs]
    return sorted((r, col) for r, col in pairs if np.isfinite(costs[r, col]))


def _lerp(a: Box, b: Box, t: float) -> Box:
    return (
        a[0] + (b[0] - a[0]) * t,
        a[1] + (b[1] - a[1]) * t,
        a[2] + (b[2] - a[2]) * t,
        a[3] + (b[3] - a[3]) * t,
    )


def _build(
    chain: _Chain,
    number: int,
    *,
    frame_count: int,
    margin_before: int,
    margin_after: int,
    margin_padding: float,
    frame_size: tuple[int, int] | None,
) -> Track:
    points: dict[int, TrackPoint] = {}
    steps = list(zip(chain.frames, chain.detections, strict=True))
    for (f0, d0), (f1, d1) in itertools.pairwise(steps):
        points[f0] = TrackPoint(d0.box, d0.score, "detected")
        for f in range(f0 + 1, f1):
            t = (f - f0) / (f1 - f0)
            points[f] = TrackPoint(
                _lerp(d0.box, d1.box, t), d0.score + (d1.score - d0.score) * t, "interpolated"
            )
    first_frame, first = steps[0]
    last_frame, last = steps[-1]
    points[last_frame] = TrackPoint(last.box, last.score, "detected")
    if margin_before:
        held = pad_box(first.box, margin_padding)
        for f in range(max(0, first_frame - margin_before), first_frame):
            points[f] = TrackPoint(held, first.score, "extended")
    if margin_after:
        held = pad_box(last.box, margin_padding)
        for f in range(last_frame + 1, min(frame_count, last_frame + margin_after + 1)):
            points[f] = TrackPoint(held, last.score, "extended")
    if frame_size is not None:
        points = {f: TrackPoint(clamp_box(p.box, frame_size), p.score, p.source) for f, p in points.items()}
    return Track(number, dict(sorted(points.items())))


def _touches_edge(box: Box, frame_size: tuple[int, int]) -> bool:
    return box[0] <= 1 or box[1] <= 1 or box[2] >= frame_size[0] - 1 or box[3] >= frame_size[1] - 1


def _centred(cx: float, cy: float, w: float, h: float) -> Box:
    return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


def follow_out_of_frame(
    tracks: Sequence[Track], frame_size: tuple[int, int], frame_count: int, *, max_frames: int
) -> list[Track]:
    """Cover faces at the frame's edge as well as those inside it.

    A detector boxes only the visible part of a face cut by the frame's edge, and loses it
    once too little shows, while the rest of it is still in the picture. So every box of a
    track that touches the edge is grown to the track's typical size (the median of its
    boxes clear of the edges), and a track that ends (or starts) at the edge is carried on
    along its own motion, at that size, until its box has left the frame (at most
    ``max_frames`` frames; likewise backwards for a face walking in). Added boxes are
    ``extended`` points; a track that ends inside the frame keeps its own margins only."""
    result = []
    for t in tracks:
        detected = sorted(f for f, p in t.points.items() if p.source == "detected")
        if not detected:
            result.append(t)
            continue
        clear = [t.points[f].box for f in detected if not _touches_edge(t.points[f].box, frame_size)]
        sample = clear or [t.points[f].box for f in detected]
        tw = float(np.median([b[2] - b[0] for b in sample]))
        th = float(np.median([b[3] - b[1] for b in sample]))
        points = dict(t.points)
        for f, p in t.points.items():
            if _touches_edge(p.box, frame_size):
                b = p.box
                grown = _centred(
                    (b[0] + b[2]) / 2, (b[1] + b[3]) / 2, max(tw, b[2] - b[0]), max(th, b[3] - b[1])
                )
                points[f] = TrackPoint(clamp_box(grown, frame_size), p.score, p.source)
        if len(detected) >= 2:
            # The motion over the last (first) few detections: boxes cut by the edge jitter.
            reach = min(len(detected) - 1, 8)
            for fa, fb, step in ((detected[-1 - reach], detected[-1], 1), (detected[reach], detected[0], -1)):
                end = points[fb].box
                if not _touches_edge(end, frame_size):
                    continue
                a, b = t.points[fa].box, t.points[fb].box
                span = abs(fb - fa)
                vx = ((b[0] + b[2]) - (a[0] + a[2])) / 2 / span
                vy = ((b[1] + b[3]) - (a[1] + a[3])) / 2 / span
                cx, cy = (end[0] + end[2]) / 2, (end[1] + end[3]) / 2
                for k in range(1, max_frames + 1):
                    f = fb + k * step
                    if not 0 <= f < frame_count:
                        break
                    box = clamp_box(_centred(cx + vx * k, cy + vy * k, tw, th), frame_size)
                    if box[2] - box[0] < 1 or box[3] - box[1] < 1:
                        break  # wholly outside now
                    current = points.get(f)
                    if current is None or current.source == "extended":
                        points[f] = TrackPoint(box, t.points[fb].score, "extended")
        result.append(Track(t.id, dict(sorted(points.items()))))
    return result
