"""What was said in a recording: segments of speech with each word's timing, the language,
and the model that heard it; captions (WebVTT) and the search index are made from it.

A transcript is a derivative of an original (kind ``transcript``, JSON); the captions the
player shows are another (kind ``captions``, WebVTT), made from the same transcript.

People correct what the model misheard: each set of corrections makes the next revision
(``transcript-r2``, ``captions-r2``, ...), never changing an earlier one, and says which
words changed from what to what (``Correction``, ``corrected``)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from itertools import pairwise
from typing import Any

from opendems.domain.errors import Invalid
from opendems.domain.measures import error_rate

TRANSCRIPT_FORMAT = 1
CAPTION_MAX_CHARS = 84  # two lines of a caption, as broadcasters keep them
CAPTION_MAX_SECONDS = 6.0
CAPTION_PAUSE_S = 0.5  # half a second of silence between words ends a cue (no text over a pause)


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

    def shifted(self, seconds: float) -> Segment:
        """The same segment ``seconds`` later (a stretch heard on its own, put in its place)."""
        return replace(
            self,
            start=self.start + seconds,
            end=self.end + seconds,
            words=tuple(replace(w, start=w.start + seconds, end=w.end + seconds) for w in self.words),
        )

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
    revision: int = 1  # 1: as the model heard it; each set of corrections the next
    changes: tuple[dict[str, Any], ...] = ()  # what this revision corrected (see ``corrected``)

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
            "revision": self.revision,
            "changes": list(self.changes),
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
            revision=int(d.get("revision", 1)),
            changes=tuple(dict(c) for c in d.get("changes", [])),
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
        for start, end, text, speaker in self._cues():
            voice = f"<v {_vtt_safe(speaker)}>" if speaker else ""  # WebVTT's voice span
            lines += [f"{_timestamp(start)} --> {_timestamp(end)}", voice + _vtt_safe(text), ""]
        return "\n".join(lines)

    def _cues(self) -> list[tuple[float, float, str, str | None]]:
        cues: list[tuple[float, float, str, str | None]] = []
        for s in self.segments:
            if not s.words:
                if s.text.strip():
                    cues.append((s.start, max(s.end, s.start + 0.5), s.text.strip(), s.speaker))
                continue
            run: list[Word] = []
            for w in s.words:
                text = "".join(x.text for x in [*run, w]).strip()
                if run and (
                    len(text) > CAPTION_MAX_CHARS
                    or w.end - run[0].start > CAPTION_MAX_SECONDS
                    or w.start - run[-1].end >= CAPTION_PAUSE_S
                ):
                    cues.append((run[0].start, run[-1].end, "".join(x.text for x in run).strip(), s.speaker))
                    run = []
                run.append(w)
            if run:
                cues.append((run[0].start, run[-1].end, "".join(x.text for x in run).strip(), s.speaker))
        return [(a, max(b, a + 0.2), t, v) for a, b, t, v in cues if t]


# -- corrections ---------------------------------------------------------------------------

MAX_CORRECTIONS = 2000  # in one revision
MAX_CORRECTION_CHARS = 200  # what replaces one word (a few words at most)
REVISION_KIND = re.compile(r"^(transcript|captions)(?:-r([1-9][0-9]{0,5}))?$")


def revision_kind(base: str, revision: int) -> str:
    """The derivative kind of a revision: ``transcript`` for the first, ``transcript-r<n>``."""
    return base if revision == 1 else f"{base}-r{revision}"


def revision_of(kind: str) -> tuple[str, int] | None:
    """(``transcript`` or ``captions``, revision) of a derivative kind; None for other kinds."""
    m = REVISION_KIND.match(kind)
    return (m.group(1), int(m.group(2) or 1)) if m else None


@dataclass(frozen=True)
class Correction:
    """Word ``index`` of the transcript (counted from 0 through all its words) is to read
    ``text``; an empty ``text`` takes the word out (a sound the model took for a word)."""

    index: int
    text: str


def _clean(text: str) -> str:
    text = unicodedata.normalize("NFC", text)
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in text):
        raise Invalid("a correction may not hold control characters or line breaks")
    text = " ".join(text.split())
    if len(text) > MAX_CORRECTION_CHARS:
        raise Invalid(f"a correction replaces one word with at most {MAX_CORRECTION_CHARS} characters")
    return text


def corrected(transcript: Transcript, corrections: Sequence[Correction]) -> Transcript:
    """The next revision: the words at the corrections' places replaced (or taken out), each
    keeping its timing; segments' text follows their words. ``changes`` says for each where it
    was said, what it read and what it reads now."""
    if not corrections:
        raise Invalid("no corrections: change at least one word")
    if len(corrections) > MAX_CORRECTIONS:
        raise Invalid(f"at most {MAX_CORRECTIONS} corrections at a time")
    count = len(transcript.words)
    wanted: dict[int, str] = {}
    for c in corrections:
        if not 0 <= c.index < count:
            raise Invalid(f"there is no word {c.index}: the transcript has {count} words (counted from 0)")
        if c.index in wanted:
            raise Invalid(f"word {c.index} is corrected twice")
        wanted[c.index] = _clean(c.text)
    changes: list[dict[str, Any]] = []
    segments: list[Segment] = []
    at = 0
    for s in transcript.segments:
        words: list[Word] = []
        touched = False
        for w in s.words:
            if at in wanted:
                new = wanted[at]
                was = w.text.strip()
                if new != was:
                    touched = True
                    changes.append({"index": at, "start_s": round(w.start, 3), "was": was, "now": new})
                    if new:
                        lead = " " if w.text.startswith(" ") or words else ""
                        words.append(replace(w, text=lead + new, probability=1.0))
                else:
                    words.append(w)
            else:
                words.append(w)
            at += 1
        if touched:
            s = replace(s, words=tuple(words), text=_said(words))
        if s.words or s.text:
            segments.append(s)
    if not changes:
        raise Invalid("the corrections change nothing: each word already reads so")
    return replace(
        transcript,
        segments=tuple(segments),
        revision=transcript.revision + 1,
        changes=tuple(changes),
    )


# -- sentences ---------------------------------------------------------------------------------

SENTENCE_ENDS = (".", "?", "!", "\u3002", "\uff1f", "\uff01")  # and the full-width ones
ABBREVIATIONS = frozenset({"mr.", "mrs.", "ms.", "dr.", "st.", "no.", "vs.", "jr.", "sr.", "mt.", "ft."})
LONG_PAUSE_S = 1.5  # a silence this long between words ends a segment, punctuated or not


def sentences(segment: Segment) -> list[Segment]:
    """A stretch heard at once (up to 30 s of speech) as one segment per sentence: split after
    a word that ends one (not after a title such as "Dr."), and at a long pause. The words
    and their times are kept; each piece runs from its first word to its last (the first
    from the stretch's start, the last to its end)."""
    words = segment.words
    if not words:
        return [segment]
    pieces: list[list[Word]] = [[words[0]]]
    for w, following in pairwise(words):
        said = w.text.strip()
        if (said.endswith(SENTENCE_ENDS) and said.lower() not in ABBREVIATIONS) or (
            following.start - w.end >= LONG_PAUSE_S
        ):
            pieces.append([])
        pieces[-1].append(following)
    if len(pieces) == 1:
        return [segment]
    last = len(pieces) - 1
    return [
        replace(
            segment,
            start=segment.start if i == 0 else piece[0].start,
            end=segment.end if i == last else piece[-1].end,
            text=_said(piece),
            words=tuple(piece),
        )
        for i, piece in enumerate(pieces)
    ]


def _said(words: Sequence[Word]) -> str:
    """The text of a run of words (each word's text carries the space before it)."""
    return "".join(w.text for w in words).strip()


# -- speaker turns ---------------------------------------------------------------------------

MIN_TURN_S = 1.0  # a change of voice shorter than this within a segment is taken for noise


def with_speakers(transcript: Transcript, voices: Sequence[int | None]) -> Transcript:
    """The transcript with its speaker turns, from a voice per word (``voices``, in word
    order; None where it could not be told): a segment where the voice changes for at least
    ``MIN_TURN_S`` is split there; speakers are named "Speaker 1", "Speaker 2", ... in the
    order they are first heard. With fewer than two voices the transcript is unchanged."""
    words = transcript.words
    if len(voices) != len(words):
        raise ValueError(f"{len(voices)} voices for {len(words)} words")
    filled = _filled(list(voices))
    if len({v for v in filled if v is not None}) < 2:
        return transcript
    turns: list[tuple[Segment, int | None]] = []
    at = 0
    for s in transcript.segments:
        mine = filled[at : at + len(s.words)]
        at += len(s.words)
        runs = _runs(list(s.words), mine)
        if len(runs) <= 1:
            turns.append((s, runs[0][0] if runs else None))
            continue
        for n, (voice, run) in enumerate(runs):
            start = s.start if n == 0 else run[0].start
            end = s.end if n == len(runs) - 1 else run[-1].end
            text = _said(run)
            turns.append((Segment(start, end, text, tuple(run)), voice))
    names: dict[int, str] = {}
    for _, voice in turns:
        if voice is not None and voice not in names:
            names[voice] = f"Speaker {len(names) + 1}"
    if len(names) < 2:
        return transcript
    segments = tuple(replace(s, speaker=names.get(v) if v is not None else None) for s, v in turns)
    return replace(transcript, segments=segments)


def _filled(voices: list[int | None]) -> list[int | None]:
    """Words of unknown voice take the voice before them (or, at the start, after them)."""
    last: int | None = None
    for i, v in enumerate(voices):
        voices[i] = last = v if v is not None else last
    after: int | None = None
    for i in range(len(voices) - 1, -1, -1):
        voices[i] = after = voices[i] if voices[i] is not None else after
    return voices


def _runs(words: list[Word], voices: Sequence[int | None]) -> list[tuple[int | None, list[Word]]]:
    """The words in runs of one voice; runs shorter than ``MIN_TURN_S``, the shortest first,
    join the run before them (the first, the run after it)."""
    runs: list[tuple[int | None, list[Word]]] = []
    for w, v in zip(words, voices, strict=True):
        if runs and runs[-1][0] == v:
            runs[-1][1].append(w)
        else:
            runs.append((v, [w]))
    while len(runs) > 1:
        lengths = [r[-1].end - r[0].start for _, r in runs]
        n = min(range(len(runs)), key=lengths.__getitem__)
        if lengths[n] >= MIN_TURN_S:
            break
        into = n - 1 if n > 0 else 1
        voice, target = runs[into]
        merged = target + runs[n][1] if into < n else runs[n][1] + target
        runs[min(n, into)] = (voice, merged)
        del runs[max(n, into)]
        coalesced: list[tuple[int | None, list[Word]]] = []
        for v, r in runs:
            if coalesced and coalesced[-1][0] == v:
                coalesced[-1][1].extend(r)
            else:
                coalesced.append((v, r))
        runs = coalesced
    return runs


# -- the transcript of a redacted copy ------------------------------------------------------

REDACTED_WORD = "[redacted]"


def silenced(transcript: Transcript, stretches: Sequence[tuple[float, float]]) -> Transcript:
    """The transcript of a copy whose sound is muted (or bleeped) over ``stretches``: every
    word said (even partly) within one reads ``[redacted]``, a run of them one marker, so the
    captions of the redacted copy do not give back what its sound hides. A segment without
    word timings that overlaps a stretch is redacted whole."""

    def hidden(a: float, b: float) -> bool:
        return any(a < end and start < b for start, end in stretches)

    segments: list[Segment] = []
    for s in transcript.segments:
        if not s.words:
            segments.append(replace(s, text=REDACTED_WORD) if s.text and hidden(s.start, s.end) else s)
            continue
        words: list[Word] = []
        for w in s.words:
            if not hidden(w.start, w.end):
                words.append(w)
            elif words and words[-1].text.strip() == REDACTED_WORD:
                words[-1] = replace(words[-1], end=max(words[-1].end, w.end))
            else:
                words.append(replace(w, text=" " + REDACTED_WORD, probability=1.0))
        segments.append(replace(s, words=tuple(words), text=_said(words)))
    return replace(transcript, segments=tuple(segments), changes=())


# The names of the languages most often met in an agency's recordings (others are shown by
# their ISO 639-1 code, as the speech model gives it).
LANGUAGE_NAMES = {
    "en": "English", "es": "Spanish", "fr": "French", "de": "German", "it": "Italian",
    "pt": "Portuguese", "nl": "Dutch", "pl": "Polish", "ru": "Russian", "uk": "Ukrainian",
    "ar": "Arabic", "fa": "Persian", "tr": "Turkish", "hi": "Hindi", "ur": "Urdu",
    "bn": "Bengali", "pa": "Punjabi", "zh": "Chinese", "ja": "Japanese", "ko": "Korean",
    "vi": "Vietnamese", "tl": "Tagalog", "th": "Thai", "id": "Indonesian", "ro": "Romanian",
    "el": "Greek", "he": "Hebrew", "so": "Somali", "sw": "Swahili", "ht": "Haitian Creole",
    "hy": "Armenian", "km": "Khmer", "lo": "Lao", "am": "Amharic", "ne": "Nepali",
}  # fmt: skip


def language_name(code: str) -> str:
    return LANGUAGE_NAMES.get(code, code or "an unknown language")


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
    return error_rate(normal_words(reference), normal_words(hypothesis))


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
