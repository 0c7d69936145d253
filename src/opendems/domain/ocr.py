"""The text read from a picture or a document's pages (OCR): lines of words, each word with its
box, page by page; the engine and models that read it; and what is said where nothing could
be read (a page that failed, a picture without text).

The text is a derivative of the original (kind ``ocr``, JSON). Boxes are in the coordinates the
redaction plan uses for that kind of item: pixels of the photo as displayed (EXIF orientation
applied) for an image, points from the top-left corner of the page as displayed for a PDF. A PDF
page that carries its own text layer is not read again: its text is taken from the layer (lines
without word boxes; the redaction's search of the text layer boxes those pages).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from opendems.domain.measures import error_rate
from opendems.domain.redaction import Effect, PlanTrack, RedactionPlan, outward
from opendems.domain.tracking import Box
from opendems.domain.transcripts import PiiFinding

OCR_FORMAT = 1
READ = "ocr"  # a page read by the OCR engine (words with boxes)
TEXT_LAYER = "text-layer"  # a PDF page's own text (no boxes kept)
FAILED = "failed"  # a page that could not be read (``note`` says why)
SKIPPED = "skipped"  # a page past the limit of pages read

# What the redaction plan calls each kind of personal data found in recognised text.
ENTITY_LABELS = {
    "PERSON": "name",
    "PHONE_NUMBER": "phone",
    "EMAIL_ADDRESS": "email",
    "US_SSN": "ssn",
    "US_DRIVER_LICENSE": "licence",
    "CREDIT_CARD": "card",
    "IBAN_CODE": "bank",
    "US_STREET_ADDRESS": "address",
    "LOCATION": "place",
    "LICENCE_PLATE": "plate",
    "CASE_NUMBER": "case",
}


@dataclass(frozen=True)
class OcrWord:
    text: str
    box: Box
    confidence: float  # 0 to 1, as the engine says

    def to_dict(self) -> dict[str, Any]:
        return {"t": self.text, "b": [round(v, 1) for v in self.box], "c": round(self.confidence, 3)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> OcrWord:
        x1, y1, x2, y2 = (float(v) for v in d["b"])
        return cls(str(d["t"]), (x1, y1, x2, y2), float(d.get("c", 0.0)))


@dataclass(frozen=True)
class OcrLine:
    """A line of text; its words with their boxes where an engine read them."""

    text: str
    words: tuple[OcrWord, ...] = ()

    @classmethod
    def of_words(cls, words: Sequence[OcrWord]) -> OcrLine:
        return cls(" ".join(w.text for w in words), tuple(words))

    def to_dict(self) -> dict[str, Any]:
        if self.words:
            return {"words": [w.to_dict() for w in self.words]}
        return {"text": self.text}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> OcrLine:
        if "words" in d:
            return cls.of_words([OcrWord.from_dict(w) for w in d["words"]])
        return cls(str(d.get("text", "")))


@dataclass(frozen=True)
class OcrPage:
    """One page (a photo is one page): its number from 1, its size in the box units, how it was
    read (``READ``, ``TEXT_LAYER``, ``FAILED``, ``SKIPPED``) and, where it has no text, why."""

    number: int
    width: float
    height: float
    source: str
    lines: tuple[OcrLine, ...] = ()
    note: str = ""
    seconds: float = 0.0  # how long the engine took over it

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines if line.text)

    @property
    def words(self) -> list[OcrWord]:
        return [w for line in self.lines for w in line.words]

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "page": self.number,
            "width": round(self.width, 2),
            "height": round(self.height, 2),
            "source": self.source,
            "lines": [line.to_dict() for line in self.lines],
        }
        if self.note:
            d["note"] = self.note
        if self.seconds:
            d["seconds"] = round(self.seconds, 3)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> OcrPage:
        return cls(
            int(d["page"]),
            float(d.get("width", 0.0)),
            float(d.get("height", 0.0)),
            str(d.get("source", READ)),
            tuple(OcrLine.from_dict(line) for line in d.get("lines", [])),
            str(d.get("note", "")),
            float(d.get("seconds", 0.0)),
        )


@dataclass(frozen=True)
class OcrText:
    """What was read from an original. ``unit`` is ``px`` (a photo) or ``pt`` (a PDF);
    ``engine`` names the tool, its version and its models' SHA-256; ``note`` says in words
    why there is little or nothing to read."""

    unit: str
    pages: tuple[OcrPage, ...]
    engine: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    total_pages: int = 0  # the document's pages (more than ``pages`` where a limit cut it short)

    @property
    def text(self) -> str:
        return "\n\n".join(p.text for p in self.pages if p.text)

    @property
    def word_count(self) -> int:
        return sum(len(line.text.split()) for p in self.pages for line in p.lines)

    def pages_of(self, source: str) -> list[OcrPage]:
        return [p for p in self.pages if p.source == source]

    def summary(self) -> dict[str, Any]:
        """The parameters a derivative records: counts, what failed, and the engine."""
        return {
            "unit": self.unit,
            "pages": self.total_pages or len(self.pages),
            "pages_read": len(self.pages_of(READ)),
            "pages_text_layer": len(self.pages_of(TEXT_LAYER)),
            "pages_failed": [p.number for p in self.pages_of(FAILED)][:100],
            "pages_skipped": len(self.pages_of(SKIPPED)),
            "words": self.word_count,
            "note": self.note,
            **self.engine,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": OCR_FORMAT,
            "unit": self.unit,
            "total_pages": self.total_pages or len(self.pages),
            "note": self.note,
            "engine": self.engine,
            "pages": [p.to_dict() for p in self.pages],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> OcrText:
        return cls(
            unit=str(d.get("unit", "px")),
            pages=tuple(OcrPage.from_dict(p) for p in d.get("pages", [])),
            engine=dict(d.get("engine", {})),
            note=str(d.get("note", "")),
            total_pages=int(d.get("total_pages", 0)),
        )

    def search_segments(self) -> list[tuple[float | None, str]]:
        """(page number, text) per page with text, for the search index: a hit on a document
        leads to its page. A photo is one page with no number to go to (None)."""
        at = (lambda p: float(p.number)) if self.unit == "pt" else (lambda p: None)
        return [(at(p), " ".join(p.text.split())) for p in self.pages if p.text.strip()]


def explain_empty(ocr: OcrText) -> str:
    """Why an OCR result holds no text, in words (empty when it holds some)."""
    if ocr.word_count:
        return ""
    failed = ocr.pages_of(FAILED)
    if failed and len(failed) == len(ocr.pages):
        return "no page could be read: " + "; ".join(f"page {p.number}: {p.note}" for p in failed[:5])
    return "no text was found" + (" in the picture" if ocr.unit == "px" else " on any page")


# -- personal data in the text, and where it lies -------------------------------------------------


def page_text(page: OcrPage) -> tuple[str, list[tuple[int, int, int, OcrWord]]]:
    """A page's read words as one text (lines joined by line breaks, words by spaces), with each
    word's (start, end, line index, word) in it: what a finder reads, and how to box what it
    finds."""
    parts: list[str] = []
    spans: list[tuple[int, int, int, OcrWord]] = []
    at = 0
    for n, line in enumerate(page.lines):
        if not line.words:
            continue
        if parts:
            parts.append("\n")
            at += 1
        for i, w in enumerate(line.words):
            if i:
                parts.append(" ")
                at += 1
            parts.append(w.text)
            spans.append((at, at + len(w.text), n, w))
            at += len(w.text)
    return "".join(parts), spans


@dataclass(frozen=True)
class TextFinding:
    """Personal data found in read text: its kind (a plan label, e.g. "phone"), the page
    (index from 0), how many characters, and a box per line it spans. The text itself is not
    kept in a plan: it is what the redaction hides."""

    label: str
    page: int
    length: int
    boxes: tuple[Box, ...]
    score: float


def _union(boxes: Iterable[Box]) -> Box:
    bs = list(boxes)
    return (min(b[0] for b in bs), min(b[1] for b in bs), max(b[2] for b in bs), max(b[3] for b in bs))


def locate(page: OcrPage, index: int, found: Iterable[tuple[str, int, int, float]]) -> list[TextFinding]:
    """Boxes for findings (label, start, end, score; in the characters of :func:`page_text`):
    the words each overlaps, one box per line. Findings over the same words are one (the first
    given is kept: pass the surer kinds first)."""
    _, spans = page_text(page)
    out: list[TextFinding] = []
    taken: set[int] = set()
    for label, start, end, score in found:
        hit = [(k, line, w) for k, (a, b, line, w) in enumerate(spans) if a < end and b > start]
        if not hit or any(k in taken for k, _, _ in hit):
            continue
        taken.update(k for k, _, _ in hit)
        lines: dict[int, list[Box]] = {}
        for _, line, w in hit:
            lines.setdefault(line, []).append(w.box)
        out.append(
            TextFinding(label, index, end - start, tuple(_union(b) for _, b in sorted(lines.items())), score)
        )
    return out


def with_text_tracks(
    plan: RedactionPlan, findings: Iterable[TextFinding], *, detections: dict[str, Any]
) -> RedactionPlan:
    """A photo's plan with a ``text`` track for each line of each finding: included (reason
    "pii") for a person to keep or drop, covered by a solid box (blurred text can stay
    legible), labelled with what was found, never the text."""
    boxes = [(f.label, box) for f in findings for box in f.boxes]
    tracks = tuple(
        PlanTrack(f"text-{n}", "text", True, "pii", Effect.BOX, boxes={0: outward(box)}, label=label)
        for n, (label, box) in enumerate(boxes, 1)
    )
    return plan.with_changes(
        tracks=plan.tracks + tracks, detections={**plan.detections, "ocr": dict(detections)}
    )


def pattern_findings(
    text: str, patterns: Sequence[tuple[str, re.Pattern[str]]]
) -> list[tuple[str, int, int, float]]:
    """Matches of (label, pattern) in ``text`` as (label, start, end, 1.0); a pattern's group
    ``pii``, where it has one, is the part found (as for a PDF's text layer)."""
    out = []
    for label, pattern in patterns:
        for m in pattern.finditer(text):
            start, end = m.span("pii") if "pii" in pattern.groupindex else m.span()
            if end > start:
                out.append((label, start, end, 1.0))
    return out


def scanner_findings(found: Iterable[PiiFinding]) -> list[tuple[str, int, int, float]]:
    """A personal-data finder's findings as (plan label, start, end, score)."""
    return [(ENTITY_LABELS[f.entity], f.start, f.end, f.score) for f in found if f.entity in ENTITY_LABELS]


# -- the measure the tests and the benchmark state -------------------------------------------------


def normal_text(text: str) -> str:
    """Text as it is compared: runs of white space as one space, trimmed."""
    return " ".join(text.split())


def character_error_rate(reference: str, hypothesis: str) -> float:
    """(substitutions + deletions + insertions) / reference characters, over the texts with
    white space runs made one space (case and punctuation count)."""
    return error_rate(normal_text(reference), normal_text(hypothesis))
