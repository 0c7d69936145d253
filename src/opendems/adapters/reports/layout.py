"""What both court documents share: fonts, styles, text helpers, tables, "page X of Y" footers.

Fonts: DejaVu Sans (every Latin script, Greek, Cyrillic) where the host has it (Debian's
``fonts-dejavu-core`` and the usual places of other systems), else the Bitstream Vera that
ships inside ReportLab (Western European only: it lacks e.g. "ź", "ą", "ő"). Either is
embedded (subset) in the PDF. Hashes are set in DejaVu Sans Mono, else the PDF's own Courier.

Output is deterministic: ``invariant=1`` fixes the creation date and file id, so the same
data and fonts give byte-identical PDFs.
"""

from __future__ import annotations

import io
import json
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import reportlab
from reportlab.lib import colors
from reportlab.lib.styles import ParagraphStyle
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import LongTable, Paragraph, SimpleDocTemplate, TableStyle

CREATOR = "OpenDEMS"
MARGIN = 36.0  # points (half an inch)
CELL_PADDING = 3.0  # left and right, in table cells
FOOTER_Y, FOOTER_SIZE = MARGIN / 2, 7.5
ELLIPSIS = "\u2026"
DASH = "\u2014"  # what an empty field shows
HEADER_BG = colors.HexColor("#d9dee5")
STRIPE_BG = colors.HexColor("#f3f5f8")
RULE = colors.HexColor("#8a94a3")
OK_BG = colors.HexColor("#1e7b34")
BAD_BG = colors.HexColor("#b3261e")

_REPORTLAB_FONTS = Path(reportlab.__file__).parent / "fonts"
_FONT_DIRS = (
    _REPORTLAB_FONTS,  # in case a ReportLab release ships DejaVu
    Path("/usr/share/fonts/truetype/dejavu"),  # Debian, Ubuntu (fonts-dejavu-core)
    Path("/usr/share/fonts/dejavu"),  # Alpine
    Path("/usr/share/fonts/dejavu-sans-fonts"),  # Fedora, RHEL
    Path("/usr/share/fonts/dejavu-sans-mono-fonts"),
    Path("/usr/share/fonts/TTF"),  # Arch
    Path("/usr/local/share/fonts"),
)


@dataclass(frozen=True)
class Fonts:
    """The registered names of the report fonts, and the file of the body font."""

    sans: str
    bold: str
    mono: str
    sans_file: Path

    def missing(self, text: str) -> str:
        """The characters of ``text`` the body font has no glyph for (they would print as boxes)."""
        cmap: dict[int, int] = pdfmetrics.getFont(self.sans).face.charToGlyph
        return "".join(sorted({c for c in text if c.isprintable() and ord(c) not in cmap}))


def _find(name: str) -> Path | None:
    return next((d / name for d in _FONT_DIRS if (d / name).is_file()), None)


_fonts: Fonts | None = None
_fonts_lock = threading.Lock()


def fonts() -> Fonts:
    """Register the report fonts with ReportLab once (threads wait for the first), and name them."""
    global _fonts
    if _fonts is not None:
        return _fonts
    with _fonts_lock:
        if _fonts is None:
            _fonts = _register_fonts()
        return _fonts


def _register_fonts() -> Fonts:
    regular, bold = _find("DejaVuSans.ttf"), _find("DejaVuSans-Bold.ttf")
    if regular is None or bold is None:
        regular, bold = _REPORTLAB_FONTS / "Vera.ttf", _REPORTLAB_FONTS / "VeraBd.ttf"
    pdfmetrics.registerFont(TTFont("OpenDEMS-Sans", str(regular)))
    pdfmetrics.registerFont(TTFont("OpenDEMS-Sans-Bold", str(bold)))
    pdfmetrics.registerFontFamily(
        "OpenDEMS-Sans",
        normal="OpenDEMS-Sans",
        bold="OpenDEMS-Sans-Bold",
        italic="OpenDEMS-Sans",
        boldItalic="OpenDEMS-Sans-Bold",
    )
    mono = "Courier"
    mono_file = _find("DejaVuSansMono.ttf")
    if mono_file is not None:
        pdfmetrics.registerFont(TTFont("OpenDEMS-Mono", str(mono_file)))
        mono = "OpenDEMS-Mono"
    return Fonts("OpenDEMS-Sans", "OpenDEMS-Sans-Bold", mono, regular)


@lru_cache(maxsize=1)
def styles() -> dict[str, ParagraphStyle]:
    f = fonts()
    base = ParagraphStyle("base", fontName=f.sans, fontSize=8.5, leading=10.5)
    return {
        "body": base,
        "small": ParagraphStyle("small", base, fontSize=7.5, leading=9),
        "agency": ParagraphStyle("agency", base, fontName=f.bold, fontSize=10, leading=13),
        "title": ParagraphStyle("title", base, fontName=f.bold, fontSize=17, leading=21, spaceAfter=4),
        "h2": ParagraphStyle(
            "h2", base, fontName=f.bold, fontSize=11, leading=14, spaceBefore=10, spaceAfter=4, keepWithNext=1
        ),
        "label": ParagraphStyle("label", base, fontName=f.bold, fontSize=8, leading=10),
        "value": ParagraphStyle("value", base, fontSize=8.5, leading=10.5),
        "cell": ParagraphStyle("cell", base, fontSize=7, leading=8.5),
        "cell_head": ParagraphStyle("cell_head", base, fontName=f.bold, fontSize=7, leading=8.5),
        "status": ParagraphStyle(
            "status", base, fontName=f.bold, fontSize=15, leading=18, textColor=colors.white
        ),
        "status_text": ParagraphStyle("status_text", base, fontSize=9, leading=11.5, textColor=colors.white),
    }


# Text ------------------------------------------------------------------------------------------


def clean(text: str) -> str:
    """User text made printable: line breaks and odd spaces become spaces; controls and invisible
    format characters (zero-width, bidi overrides) are shown as ``\\xNN`` / ``\\uNNNN``."""
    if text.isprintable():
        return text
    out = []
    for c in text:
        category = unicodedata.category(c)
        if c.isprintable():
            out.append(c)
        elif c in "\t\n\r" or category in ("Zs", "Zl", "Zp"):
            out.append(" ")
        else:  # Cc, Cf, Cs, Co, Cn
            out.append(f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")
    return "".join(out)


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + ELLIPSIS


def markup(text: str | None, limit: int | None = None) -> str:
    """User text as Paragraph markup that prints literally ("<b>" stays "<b>"); None is a dash."""
    if text is None or text == "":
        return DASH
    text = clean(text)
    return escape(truncate(text, limit) if limit else text)


def para(text: str | None, style: str = "cell", limit: int | None = None) -> Paragraph:
    return Paragraph(markup(text, limit), styles()[style])


def raw(markup_text: str, style: str = "cell") -> Paragraph:
    """A paragraph from markup built here (its user parts already went through :func:`markup`)."""
    return Paragraph(markup_text, styles()[style])


def cell(lines: Sequence[str | None], width: float, *, limit: int | None = None) -> str | Paragraph:
    """A table cell of plain text ``lines`` (None: a dash) in a column ``width`` points wide.

    Lines that all fit stay plain text, which tables draw as is and much faster than a Paragraph;
    otherwise it becomes a Paragraph that wraps them.
    """
    texts = [DASH if not line else clean(truncate(line, limit) if limit else line) for line in lines]
    room = width - 2 * CELL_PADDING
    font, size = fonts().sans, styles()["cell"].fontSize
    if all(pdfmetrics.stringWidth(text, font, size) <= room for text in texts):
        return "\n".join(texts)
    return Paragraph("<br/>".join(escape(text) for text in texts), styles()["cell"])


def value_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def mapping_text(data: dict[str, Any], limit: int = 300) -> str:
    """``key=value; key=value`` of a details or parameters dict, at most ``limit`` characters."""
    return truncate("; ".join(f"{k}={value_text(v)}" for k, v in data.items()), limit)


def hash_lines(sha256: str | None) -> str:
    """A full SHA-256 as two lines of 32 hex digits (a plain table cell: no markup)."""
    if not sha256:
        return DASH
    half = (len(sha256) + 1) // 2
    return f"{sha256[:half]}\n{sha256[half:]}"


def time_lines(at: str | None) -> str:
    """``2026-11-26T10:00:00.123456Z`` as date over time (a plain table cell: no markup)."""
    if not at:
        return DASH
    date, sep, clock = at.partition("T")
    return f"{date}\n{clock}" if sep else at


# Tables ----------------------------------------------------------------------------------------


def fill_widths(width: float, *widths: float | None) -> list[float]:
    """Column widths, the one given as None taking what the others leave of ``width``."""
    rest = width - sum(w for w in widths if w is not None)
    return [rest if w is None else w for w in widths]


def grid_table(
    header: Sequence[str],
    rows: list[list[Any]],
    widths: Sequence[float],
    *,
    mono_columns: Sequence[int] = (),
) -> LongTable:
    """A ruled table whose header row repeats on every page it runs onto."""
    f = fonts()
    data: list[list[Any]] = [[raw(escape(h), "cell_head") for h in header], *rows]
    commands: list[tuple[Any, ...]] = [
        ("FONT", (0, 1), (-1, -1), f.sans, 7, 8.5),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("BACKGROUND", (0, 0), (-1, 0), HEADER_BG),
        ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, STRIPE_BG]),
        ("LINEBELOW", (0, 0), (-1, 0), 0.8, RULE),
        ("LINEBELOW", (0, 1), (-1, -1), 0.25, RULE),
        ("BOX", (0, 0), (-1, -1), 0.6, RULE),
        ("LEFTPADDING", (0, 0), (-1, -1), CELL_PADDING),
        ("RIGHTPADDING", (0, 0), (-1, -1), CELL_PADDING),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
    ]
    commands += [("FONT", (c, 1), (c, -1), f.mono, 6.5, 8.5) for c in mono_columns]
    table = LongTable(data, colWidths=list(widths), repeatRows=1, hAlign="LEFT", splitInRow=1)
    table.setStyle(TableStyle(commands))
    return table


def fields_table(
    pairs: Sequence[tuple[str, str]], width: float, *, columns: int = 2, label_width: float = 78
) -> LongTable:
    """Label/value pairs (values already markup), ``columns`` pairs a row."""
    label_w = label_width
    value_w = width / columns - label_w
    cells = [raw(escape(label), "label") for label, _ in pairs]
    values = [raw(value, "value") for _, value in pairs]
    rows: list[list[Any]] = []
    for i in range(0, len(pairs), columns):
        row: list[Any] = []
        for j in range(i, i + columns):
            row += [cells[j], values[j]] if j < len(pairs) else ["", ""]
        rows.append(row)
    table = LongTable(rows, colWidths=[label_w, value_w] * columns, hAlign="LEFT", splitInRow=1)
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 8),
                ("TOPPADDING", (0, 0), (-1, -1), 1.5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
            ]
        )
    )
    return table


# Pages -----------------------------------------------------------------------------------------


class _NumberedCanvas(Canvas):  # type: ignore[misc]  # reportlab has no type hints
    """Holds each finished page back until the end, to write "page X of Y" on all of them."""

    def __init__(self, *args: Any, footer: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._footer = footer
        self._held: list[dict[str, Any]] = []

    def showPage(self) -> None:
        self._held.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._held)
        font, size = fonts().sans, FOOTER_SIZE
        width = self._pagesize[0]
        room = width - 2 * MARGIN - pdfmetrics.stringWidth(f"page {total} of {total}", font, size) - 18
        footer = self._footer
        while len(footer) > 1 and pdfmetrics.stringWidth(footer, font, size) > room:
            footer = truncate(footer, len(footer) - 1)
        for number, state in enumerate(self._held, start=1):
            self.__dict__.update(state)
            self.saveState()
            self.setStrokeColor(RULE)
            self.setLineWidth(0.4)
            self.line(MARGIN, FOOTER_Y + 10, width - MARGIN, FOOTER_Y + 10)
            self.setFont(font, size)
            self.setFillColor(colors.black)
            self.drawString(MARGIN, FOOTER_Y, footer)
            self.drawRightString(width - MARGIN, FOOTER_Y, f"page {number} of {total}")
            self.restoreState()
            super().showPage()
        super().save()


def render(
    story: list[Any],
    *,
    pagesize: tuple[float, float],
    title: str,
    author: str,
    subject: str,
    footer: str,
) -> bytes:
    """Lay ``story`` out on pages with ``footer`` and "page X of Y" at the foot of each; PDF bytes."""
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=pagesize,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN + 6,
        title=clean(title),
        author=clean(author),
        subject=clean(subject),
        creator=CREATOR,
        invariant=1,
    )
    doc.build(story, canvasmaker=partial(_NumberedCanvas, footer=clean(footer)))
    return out.getvalue()
