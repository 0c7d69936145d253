"""The redaction editor's text search: regular expressions over each page's text layer, each match
given as a box of the page as displayed."""

from __future__ import annotations

import ctypes
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pypdfium2.raw as pdfium_c

from opendems.adapters.media.pdf.geometry import Box, Rect, _to_display
from opendems.adapters.media.pdf.handles import Handle, _reading
from opendems.adapters.media.pdf.text import _char_box
from opendems.domain.jobs import PermanentFailure

SPACES = dict.fromkeys([0x00A0, *range(0x2000, 0x200B), 0x202F, 0x205F, 0x3000], " ")
DASHES = dict.fromkeys([*range(0x2010, 0x2016), 0x2212, 0xFE63, 0xFF0D], "-")
Pattern = tuple[str, re.Pattern[str]]  # (label, regular expression)
TextHit = tuple[int, str, int, Box]  # page index, label, characters, box as displayed


@dataclass(frozen=True)
class TextFound:
    pages: list[tuple[float, float]]  # (width, height) of each page as displayed, points
    text_pages: int  # pages with a text layer: none in a scan without OCR
    matches: list[TextHit]


def find_text(
    src: BinaryIO | str | Path, patterns: Sequence[Pattern], *, password: str | None = None
) -> TextFound:
    """Search each page's text layer for ``patterns``: every match becomes (page, label, number of
    characters, box), one per line it runs over. The box is the union of its characters' glyph
    boxes in points from the top-left corner of the page as displayed -- what ``redact_pdf`` takes:
    handed back, it takes out exactly those characters. Where a pattern has a group named ``pii``,
    only that group is boxed. A match that overlaps one found earlier on the page (by an earlier
    pattern) is left out. Dashes and spaces of every kind read as "-" and " "; PDFium puts a line
    break between lines and a space between words it sees apart."""
    with _reading(src, password, "the PDF's text cannot be read") as pdf:
        sizes: list[tuple[float, float]] = []
        text_pages = 0
        matches: list[TextHit] = []
        for index in range(len(pdf)):
            page = pdf.get_page(index)
            try:
                width, height = (float(v) for v in page.get_size())
                sizes.append((width, height))
                text, rects = _page_text(page.raw)
                text_pages += any(rect is not None for rect in rects)
                bbox, rotation = page.get_bbox(), page.get_rotation()
                for label, length, rect in _search(text, rects, patterns):
                    box = _to_display(bbox, rotation, rect, (width, height))
                    if box is not None:
                        matches.append((index, label, length, box))
            finally:
                page.close()
    return TextFound(sizes, text_pages, matches)


def _page_text(page: Handle) -> tuple[str, list[Rect | None]]:
    """The page's text as PDFium reads it, one character per character index (so that a match's
    span is a span of indices), and each character's glyph box in the page's own coordinates;
    None for the spaces and line breaks PDFium adds and for blank characters."""
    textpage = pdfium_c.FPDFText_LoadPage(page)
    if not textpage:
        raise PermanentFailure("PDFium cannot read the text of a page")
    try:
        chars: list[str] = []
        rects: list[Rect | None] = []
        x, y = ctypes.c_double(), ctypes.c_double()
        for index in range(pdfium_c.FPDFText_CountChars(textpage)):
            code = int(pdfium_c.FPDFText_GetUnicode(textpage, index))
            char = chr(code) if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else "\ufffd"
            char = SPACES.get(code) or DASHES.get(code) or char
            chars.append(char)
            if pdfium_c.FPDFText_IsGenerated(textpage, index) == 1 or char.isspace():
                rects.append(None)
                continue
            pdfium_c.FPDFText_GetCharOrigin(textpage, index, x, y)
            rects.append(_char_box(textpage, index, x.value, y.value))
        return "".join(chars), rects
    finally:
        pdfium_c.FPDFText_ClosePage(textpage)


def _search(text: str, rects: list[Rect | None], patterns: Sequence[Pattern]) -> list[tuple[str, int, Rect]]:
    """(label, characters, union of their boxes) of each match, one per line it runs over."""
    found: list[tuple[str, int, Rect]] = []
    taken: list[tuple[int, int]] = []
    for label, pattern in patterns:
        for match in pattern.finditer(text):
            start, end = match.span("pii") if "pii" in pattern.groupindex else match.span()
            if start >= end or any(start < b and a < end for a, b in taken):
                continue
            taken.append((start, end))
            line: list[Rect] = []
            for index in range(start, end + 1):
                rect = rects[index] if index < end else None
                if line and (
                    index == end or text[index] in "\r\n" or (rect and not _same_line(line[-1], rect))
                ):
                    found.append((label, len(line), _union(line)))
                    line = []
                if rect is not None:
                    line.append(rect)
    return found


def _same_line(a: Rect, b: Rect) -> bool:
    """Whether two glyph boxes share a line (they overlap across it, or along it for vertical text)."""
    return (a[1] < b[3] and b[1] < a[3]) or (a[0] < b[2] and b[0] < a[2])


def _union(rects: list[Rect]) -> Rect:
    return (
        min(r[0] for r in rects),
        min(r[1] for r in rects),
        max(r[2] for r in rects),
        max(r[3] for r in rects),
    )
