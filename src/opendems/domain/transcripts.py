"""What was said in a recording: segments of speech with each word's timing, the language,
and the model that heard it; captions (WebVTT) and the search index are made from it.

A transcript is a derivative of an original (kind ``transcript``, JSON); the captions the
player shows are another (kind ``captions``, WebVTT), made from the same transcript."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

TRANSCRIPT_FORMAT = 1
CAPTION_MAX_CHARS = 84  # two lines of a caption, as broadcasters keep them
CAPTION_MAX_SECONDS = 6.0


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    text: str
    probability: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "text": self.text,
            "p": round(self.probability, 3),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Word:
        return cls(float(d["start"]), float(d["end"]), str(d["text"]), float(d.get("p", 0.0)))


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()
    speaker: str | None = None  # where the model can tell turns apart

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "text": self.text,
            "words": [w.to_dict() for w in self.words],
        }
        if self.speaker is not None:
            d["speaker"] = self.speaker
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Segment:
        return cls(
            float(d["start"]),
            float(d["end"]),
            str(d["text"]),
            tuple(Word.from_dict(w) for w in d.get("words", [])),
            d.get("speaker"),
        )


@dataclass(frozen=True)
class Transcript:
    """``note`` says in words why there is little or nothing to read (no speech found, a
    language the model does not transcribe)."""

    language: str
    language_probability: float
    duration_s: float
    segments: tuple[Segment, ...]
    model: dict[str, Any] = field(default_factory=dict)
    note: str = ""

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.segments).strip()

    @property
    def words(self) -> list[Word]:
        return [w for s in self.segments for w in s.words]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": TRANSCRIPT_FORMAT,
            "language": self.language,
            "language_probability": round(self.language_probability, 3),
            "duration_s": round(self.duration_s, 3),
            "note": self.note,
            "model": self.model,
            "segments": [s.to_dict() for s in self.segments],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Transcript:
        return cls(
            language=str(d.get("language", "")),
            language_probability=float(d.get("language_probability", 0.0)),
            duration_s=float(d.get("duration_s", 0.0)),
            segments=tuple(Segment.from_dict(s) for s in d.get("segments", [])),
            model=dict(d.get("model", {})),
            note=str(d.get("note", "")),
        )

    def search_segments(self) -> list[tuple[float | None, str]]:
        """(second, text) per segment, for the search index (a hit opens the player there)."""
        return [(s.start, s.text.strip()) for s in self.segments if s.text.strip()]

    def webvtt(self) -> str:
        """Captions: one cue per segment, split where a segment is long (by its words'
        timings), so that no cue stays on screen longer or holds more than two lines."""
        lines = ["WEBVTT", ""]
        if self.note:
            lines += ["NOTE", _vtt_safe(self.note), ""]
        for start, end, text in self._cues():
            lines += [f"{_timestamp(start)} --> {_timestamp(end)}", _vtt_safe(text), ""]
        return "\n".join(lines)

    def _cues(self) -> list[tuple[float, float, str]]:
        cues: list[tuple[float, float, str]] = []
        for s in self.segments:
            if not s.words:
                if s.text.strip():
                    cues.append((s.start, max(s.end, s.start + 0.5), s.text.strip()))
                continue
            run: list[Word] = []
            for w in s.words:
                text = "".join(x.text for x in [*run, w]).strip()
                if run and (len(text) > CAPTION_MAX_CHARS or w.end - run[0].start > CAPTION_MAX_SECONDS):
                    cues.append((run[0].start, run[-1].end, "".join(x.text for x in run).strip()))
                    run = []
                run.append(w)
            if run:
                cues.append((run[0].start, run[-1].end, "".join(x.text for x in run).strip()))
        return [(a, max(b, a + 0.2), t) for a, b, t in cues if t]


def _timestamp(seconds: float) -> str:
    ms = max(0, round(seconds * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def _vtt_safe(text: str) -> str:
    """Cue text as WebVTT takes it: no blank lines, no "-->", markup characters escaped."""
    text = " ".join(text.split())
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word error rate: (substitutions + deletions + insertions) / reference words, over
    lower-cased words without punctuation (the measure the benchmark and the tests state)."""
    ref, hyp = normal_words(reference), normal_words(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        current = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h))
        previous = current
    return previous[-1] / len(ref)


def normal_words(text: str) -> list[str]:
    cleaned = "".join(ch.lower() if ch.isalnum() or ch == "'" else " " for ch in text)
    return cleaned.split()


@dataclass(frozen=True)
class PiiFinding:
    """A personal detail found in a text: its kind (``entity``, e.g. PERSON; ``label`` in
    words), where it lies (characters), and how sure the finder is."""

    entity: str
    label: str
    start: int
    end: int
    score: float


@dataclass(frozen=True)
class SpokenFinding:
    """A personal detail in a recording: the words, and the stretch of sound to mute."""

    entity: str
    label: str
    text: str
    start_s: float
    end_s: float
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "entity": self.entity,
            "label": self.label,
            "text": self.text,
            "start_s": round(self.start_s, 3),
            "end_s": round(self.end_s, 3),
            "score": round(self.score, 3),
        }


SPOKEN_PADDING_S = 0.15  # each side of the words: the edges of a word's sound are soft


def spoken_text(transcript: Transcript) -> tuple[str, list[tuple[int, int, Word]]]:
    """The transcript's words as one text (what a finder reads), with each word's span in it.
    Words carry their own leading space; one is put between segments where a word has none."""
    parts: list[str] = []
    spans: list[tuple[int, int, Word]] = []
    at = 0
    for segment in transcript.segments:
        for i, w in enumerate(segment.words):
            piece = w.text
            if i == 0 and parts and not piece[:1].isspace():
                piece = " " + piece
            lead = len(piece) - len(piece.lstrip())
            parts.append(piece)
            spans.append((at + lead, at + len(piece), w))
            at += len(piece)
    return "".join(parts), spans


def spoken_findings(
    transcript: Transcript, findings: Iterable[PiiFinding], padding_s: float = SPOKEN_PADDING_S
) -> list[SpokenFinding]:
    """Where in the sound each finding (in the characters of :func:`spoken_text`) was said."""
    text, spans = spoken_text(transcript)
    found: list[SpokenFinding] = []
    for f in findings:
        words = [w for a, b, w in spans if a < f.end and b > f.start]
        if not words:
            continue
        start = max(0.0, min(w.start for w in words) - padding_s)
        end = max(w.end for w in words) + padding_s
        if transcript.duration_s:
            end = min(end, transcript.duration_s)
        found.append(SpokenFinding(f.entity, f.label, text[f.start : f.end].strip(), start, end, f.score))
    return found
