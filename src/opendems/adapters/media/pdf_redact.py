"""True redaction of PDFs with PDFium (pypdfium2): what lies under a box is taken out of the file.

A box is given in points from the top-left corner of the page as displayed and is mapped into the
page's own coordinates (crop box and /Rotate applied). On a page with boxes, a Form XObject a box
touches is first opened up: its objects move onto the page (the form itself, which other pages may
draw, is left as it is). Then:

* a text object loses the characters whose glyphs a box touches and keeps the others, each pinned
  where it was (``FPDFText_SetPositions``), so the rest of the line stays in place and stays text.
  Text that cannot be written again from its characters (a Type 3 font; one glyph for several
  characters, as in a ligature) becomes a 300 dpi picture of what is left of it, under those
  characters in invisible Helvetica, so that they can still be found and copied;
* an image has the pixels under a box set to black in its own data (its transparency kept, a
  JPEG kept a JPEG); an image entirely inside a box is removed;
* a vector path or shading entirely inside a box is removed; anything else is covered;
* annotations a box touches are removed, with their pop-ups and replies, and the alternate text
  of marked content (which can spell out the words it marks) is dropped;
* an opaque black rectangle is drawn over each box.

PDFium then writes the page's content anew (shadings, which it never writes, have been turned into
pictures, and CMYK colours, which it writes as black, into the RGB they show), and the page is
parsed again from what it wrote: text it put out of place (it does not write character and word
spacing) is drawn again as new objects, inline images it left out come back as image XObjects, and
whatever still has a glyph or a non-black pixel under a box is removed whole. The pages are then copied into a new document, saved whole: unused objects, the
document information, XMP metadata, bookmarks, the structure tree, form fields, attachments and
scripts do not come along, nor the thumbnail of a redacted page. The saved file is opened again and
its text checked against the boxes before it takes the place of ``dst``.

Two helpers serve the redaction editor: ``find_text`` searches the text layer with regular
expressions and gives each match's box in the same coordinates as the boxes above (so that a match
handed back to ``redact_pdf`` takes out exactly its characters), and ``page_image`` draws one page.

PDFium is not thread-safe: every call into it in this process (``documents`` too, through the
``MediaTools`` adapter) holds ``PDFIUM_LOCK``.
"""

from __future__ import annotations

import ctypes
import io
import itertools
import math
import os
import re
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import Image

from opendems.domain.jobs import PermanentFailure

Box = tuple[float, float, float, float]  # x1, y1, x2, y2: points, top-left origin, page as displayed
Rect = tuple[float, float, float, float]  # left, bottom, right, top in the page's own coordinates
Matrix = tuple[float, float, float, float, float, float]
Handle = Any  # a PDFium handle (ctypes pointer)

MARGIN = 0.5  # a glyph, pixel or annotation this close to a box (points) counts as under it
PLACE_TOLERANCE = 0.05  # a character drawn again may land this far (points) from where it was
EDGE_TOLERANCE = 1.0  # a box may overhang the page by this much (points); it is cut at the edge
MAX_FORM_DEPTH = 8  # forms nested deeper than this under a box are removed whole
ALT_TEXT_KEYS = (b"ActualText", b"Alt", b"E")
PICTURE_DPI = 300  # text PDFium cannot write back (Type 3 fonts) is kept as a picture this sharp
SHADING_DPI = 150  # and a shading (a smooth blend of colours) this sharp
JPEG_QUALITY = 92  # a redacted JPEG image is saved again as JPEG at this quality
JPEG_BLOCK = 16  # in whole blocks of this many pixels (a JPEG's largest unit, with 4:2:0 colour)
JPEG_TOLERANCE = 16  # and a pixel this close to black counts as black after decoding
TOOL_PDFIUM = f"pypdfium2 {pdfium.PYPDFIUM_INFO}"
PDFIUM_LOCK = threading.RLock()
PAGE_IMAGE_MAX_WIDTH = 2000  # pixels: a page drawn for the editor is never wider
PAGE_IMAGE_MAX_HEIGHT = 4000  # nor taller (a page a metre long)
SPACES = dict.fromkeys([0x00A0, *range(0x2000, 0x200B), 0x202F, 0x205F, 0x3000], " ")
DASHES = dict.fromkeys([*range(0x2010, 0x2016), 0x2212, 0xFE63, 0xFF0D], "-")

TEXT, PATH, IMAGE, SHADING, FORM = (
    pdfium_c.FPDF_PAGEOBJ_TEXT,
    pdfium_c.FPDF_PAGEOBJ_PATH,
    pdfium_c.FPDF_PAGEOBJ_IMAGE,
    pdfium_c.FPDF_PAGEOBJ_SHADING,
    pdfium_c.FPDF_PAGEOBJ_FORM,
)
PIXEL_SIZES = {  # bitmap format -> bytes per pixel; the last byte of four is alpha (or unused)
    pdfium_c.FPDFBitmap_Gray: 1,
    pdfium_c.FPDFBitmap_BGR: 3,
    pdfium_c.FPDFBitmap_BGRx: 4,
    pdfium_c.FPDFBitmap_BGRA: 4,
}
COUNTERS = (
    "text_objects_removed",
    "text_objects_trimmed",
    "images_redacted",
    "images_removed",
    "paths_removed",
    "forms_opened",
    "forms_removed",
    "annotations_removed",
    "text_objects_pictured",
    "objects_dropped",
)


def pdf_pages(src: BinaryIO | str | Path) -> list[tuple[float, float]]:
    """(width, height) in points of each page as displayed (rotation applied)."""
    with PDFIUM_LOCK:
        pdf = _open(src, None)
        try:
            sizes: list[tuple[float, float]] = []
            for index in range(len(pdf)):
                width, height = pdf.get_page_size(index)
                sizes.append((float(width), float(height)))
            return sizes
        except pdfium.PdfiumError as exc:
            raise PermanentFailure(f"the PDF's pages cannot be read ({exc})") from None
        finally:
            pdf.close()


def redact_pdf(
    src: BinaryIO | str | Path,
    dst: Path,
    regions: dict[int, list[Box]],
    *,
    password: str | None = None,
    report: Callable[[float], None] | None = None,
) -> dict[str, Any]:
    """Write the redacted copy to ``dst`` (the source is only read); ``regions`` maps a page index
    (0-based) to its boxes. ``report`` is told the share done after each redacted page (it may
    raise to stop: nothing is written then). Returns the parameters to record as provenance."""
    dst = Path(dst)
    if isinstance(src, str | Path) and Path(src).resolve() == dst.resolve():
        raise PermanentFailure("the redacted copy cannot take the place of the original PDF")
    part = dst.with_name(f".{dst.name}.part")
    try:
        with PDFIUM_LOCK:
            params = _redact(src, part, regions, password, report)
        os.replace(part, dst)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return params


# -- the editor's helpers: search the text layer, draw a page -------------------------------------

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
    with PDFIUM_LOCK:
        pdf = _open(src, password)
        try:
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
        except pdfium.PdfiumError as exc:
            raise PermanentFailure(f"the PDF's text cannot be read ({exc})") from None
        finally:
            pdf.close()
    return TextFound(sizes, text_pages, matches)


def page_image(
    src: BinaryIO | str | Path, index: int, width: int, *, password: str | None = None
) -> tuple[bytes, dict[str, Any]] | None:
    """Page ``index`` (from 0) as displayed, drawn ``width`` pixels wide (at most
    ``PAGE_IMAGE_MAX_WIDTH``, and never taller than ``PAGE_IMAGE_MAX_HEIGHT``), as a PNG with its
    annotations and form fields; None when the PDF has no such page."""
    with PDFIUM_LOCK:
        pdf = _open(src, password)
        try:
            total = len(pdf)
            if not 0 <= index < total:
                return None
            page = pdf.get_page(index)
            try:
                points = page.get_size()
                wanted = max(1, min(int(width), PAGE_IMAGE_MAX_WIDTH))
                scale = min(wanted / max(points[0], 1.0), PAGE_IMAGE_MAX_HEIGHT / max(points[1], 1.0))
                picture = page.render(scale=scale, may_draw_forms=True).to_pil().convert("RGB")
            finally:
                page.close()
        except pdfium.PdfiumError as exc:
            raise PermanentFailure(f"page {index + 1} of the PDF does not render ({exc})") from None
        finally:
            pdf.close()
    out = io.BytesIO()
    picture.save(out, format="PNG")
    return out.getvalue(), {
        "page": index,
        "pages": total,
        "width": picture.width,
        "height": picture.height,
        "page_width_pt": round(float(points[0]), 2),
        "page_height_pt": round(float(points[1]), 2),
    }


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


def _to_display(bbox: Rect, rotation: int, rect: Rect, size: tuple[float, float]) -> Box | None:
    """A rect in the page's own coordinates as a box of the page as displayed, cut at its edges;
    None when nothing of it is on the page."""
    left, bottom, right, top = rect
    corners = [_page_to_display(bbox, rotation, x, y) for x in (left, right) for y in (bottom, top)]
    width, height = size
    x1, x2 = max(min(x for x, _ in corners), 0.0), min(max(x for x, _ in corners), width)
    y1, y2 = max(min(y for _, y in corners), 0.0), min(max(y for _, y in corners), height)
    if x2 - x1 < 0.01 or y2 - y1 < 0.01:
        return None
    return x1, y1, x2, y2


def _page_to_display(bbox: Rect, rotation: int, x: float, y: float) -> tuple[float, float]:
    """A point in the page's own coordinates on the page as displayed (the inverse of
    ``_display_to_page``)."""
    left, bottom, right, top = bbox
    if rotation == 90:
        return y - bottom, x - left
    if rotation == 180:
        return right - x, y - bottom
    if rotation == 270:
        return top - y, right - x
    return x - left, top - y


# -- the document ----------------------------------------------------------------------------------


def _open(src: BinaryIO | str | Path, password: str | None) -> pdfium.PdfDocument:
    try:
        if isinstance(src, str | Path):
            return pdfium.PdfDocument(Path(src), password=password)
        return pdfium.PdfDocument(src.read(), password=password)
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            if password is None:
                raise PermanentFailure(
                    "the PDF is protected by a password: give it to redact the PDF"
                ) from None
            raise PermanentFailure("the password given does not open the PDF") from None
        raise PermanentFailure(f"the PDF cannot be opened ({exc})") from None
    except OSError as exc:
        raise PermanentFailure(f"the PDF cannot be read ({exc.strerror or exc})") from None


def _redact(
    src: BinaryIO | str | Path,
    part: Path,
    regions: Mapping[int, Sequence[Box]],
    password: str | None,
    report: Callable[[float], None] | None = None,
) -> dict[str, Any]:
    pdf = _open(src, password)
    try:
        total = len(pdf)
        if total == 0:
            raise PermanentFailure("the PDF has no pages")
        rects = _page_rects(pdf, regions)
        counts = dict.fromkeys(COUNTERS, 0)
        order = list(range(total))
        for done, (index, page_rects) in enumerate(rects.items(), 1):
            order[index] = _redact_page(pdf, index, page_rects, counts)
            if report is not None:
                report(0.9 * done / len(rects))
        out = pdfium.PdfDocument.new()
        try:
            out.import_pages(pdf, pages=order)
            out.save(part, flags=pdfium_c.FPDF_NO_INCREMENTAL)
        finally:
            out.close()
    except pdfium.PdfiumError as exc:
        raise PermanentFailure(f"the PDF cannot be redacted ({exc})") from None
    finally:
        pdf.close()
    try:
        _check_output(part, total, rects)
    except pdfium.PdfiumError as exc:
        raise PermanentFailure(f"the redacted PDF does not open again ({exc}); nothing was written") from None
    return {
        "pages": total,
        "pages_redacted": len(rects),
        "boxes": sum(len(page_rects) for page_rects in rects.values()),
        **counts,
        "metadata_stripped": True,
        "format": "pdf",
        "tool": TOOL_PDFIUM,
    }


def _page_rects(pdf: pdfium.PdfDocument, regions: Mapping[int, Sequence[Box]]) -> dict[int, list[Rect]]:
    """Check every box before anything is changed; map them into each page's own coordinates."""
    total = len(pdf)
    for index in regions:
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < total:
            raise PermanentFailure(
                f"there is no page {index!r} to redact: the PDF's pages are 0 to {total - 1}"
            )
    rects: dict[int, list[Rect]] = {}
    for index in sorted(regions):
        if regions[index]:
            page = pdf.get_page(index)
            try:
                rects[index] = [_page_rect(page, index, box) for box in regions[index]]
            finally:
                page.close()
    return rects


def _page_rect(page: pdfium.PdfPage, index: int, box: Box) -> Rect:
    width, height = page.get_size()
    try:
        x1, y1, x2, y2 = (float(value) for value in box)
    except (TypeError, ValueError):
        raise PermanentFailure(
            f"box {box!r} on page {index + 1} is not four numbers x1, y1, x2, y2"
        ) from None
    if not all(math.isfinite(value) for value in (x1, y1, x2, y2)) or x2 - x1 < 0.01 or y2 - y1 < 0.01:
        raise PermanentFailure(
            f"box {box!r} on page {index + 1} has no area (x1 < x2 and y1 < y2 are needed)"
        )
    if (
        x1 < -EDGE_TOLERANCE
        or y1 < -EDGE_TOLERANCE
        or x2 > width + EDGE_TOLERANCE
        or y2 > height + EDGE_TOLERANCE
    ):
        raise PermanentFailure(
            f"box {box!r} on page {index + 1} lies outside the page ({width:g} x {height:g} points)"
        )
    x1, x2 = max(x1, 0.0), min(x2, width)
    y1, y2 = max(y1, 0.0), min(y2, height)
    left, bottom, right, top = page.get_bbox()
    rotation = page.get_rotation()
    corners = [
        _display_to_page((left, bottom, right, top), rotation, x, y) for x in (x1, x2) for y in (y1, y2)
    ]
    xs, ys = [x for x, _ in corners], [y for _, y in corners]
    return min(xs), min(ys), max(xs), max(ys)


def _display_to_page(bbox: Rect, rotation: int, x: float, y: float) -> tuple[float, float]:
    """A point of the page as displayed (top-left origin, y down) in the page's own coordinates."""
    left, bottom, right, top = bbox
    if rotation == 90:
        return left + y, bottom + x
    if rotation == 180:
        return right - x, bottom + y
    if rotation == 270:
        return right - y, top - x
    return left + x, top - y


def _check_output(path: Path, total: int, rects: Mapping[int, list[Rect]]) -> None:
    """The saved file opens, has every page, and no character of it lies under a box."""
    pdf = pdfium.PdfDocument(path)
    try:
        if len(pdf) != total:
            raise PermanentFailure("the redacted PDF lost pages when it was saved; nothing was written")
        for index, page_rects in rects.items():
            page = pdf.get_page(index)
            try:
                if any(_touches(char.box, page_rects, 0.0) for char in _text_layer(page.raw)):
                    raise PermanentFailure(
                        f"text under a box on page {index + 1} survived the redaction; nothing was written"
                    )
            finally:
                page.close()
    finally:
        pdf.close()


def _page_without_thumbnail(pdf: pdfium.PdfDocument, index: int) -> int:
    """A copy of the page at the end of the document, its content as one form, without the
    thumbnail (nor annotations) of the original; returns its index."""
    page = pdf.get_page(index)
    try:
        media, crop, rotation = page.get_mediabox(), page.get_cropbox(), page.get_rotation()
    finally:
        page.close()
    xobject = pdfium_c.FPDF_NewXObjectFromPage(pdf.raw, pdf.raw, index)
    if not xobject:
        raise PermanentFailure(f"page {index + 1} carries a thumbnail that cannot be removed")
    try:
        copy = pdf.new_page(media[2] - media[0], media[3] - media[1])
        try:
            copy.set_mediabox(*media)
            copy.set_cropbox(*crop)
            copy.set_rotation(rotation)
            pdfium_c.FPDFPage_InsertObject(copy.raw, pdfium_c.FPDF_NewFormObjectFromXObject(xobject))
            _generate(copy.raw, index)
        finally:
            copy.close()
    finally:
        pdfium_c.FPDF_CloseXObject(xobject)
    return len(pdf) - 1


# -- one page --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Char:
    obj: int  # address of the text object that drew it
    code: int  # Unicode code point
    origin: tuple[float, float]
    box: Rect


@dataclass(frozen=True)
class _Run:
    obj: Handle  # a text object given new characters
    chars: list[_Char]
    source: int  # address of the text object they come from


def _redact_page(pdf: pdfium.PdfDocument, index: int, rects: list[Rect], counts: dict[str, int]) -> int:
    """Redact one page in place; returns the index of the page to export in its stead."""
    page = pdf.get_page(index)
    try:
        raw = page.raw
        counts["forms_opened"] += _open_forms(raw, rects)
        counts["annotations_removed"] += _remove_annotations(raw, rects)
        _picture_shadings(page, rects)
        runs = _redact_objects(page, rects, counts)
        _check_runs(raw, runs, counts)
        _picture_type3_text(pdf.raw, raw, counts)
        _settle_objects(raw)
        for rect in rects:
            _draw_box(raw, rect)
        _generate(raw, index)
        _repair(pdf, raw, index)
        kinds = Counter(_kind(obj) for obj in _objects(raw))
        thumbnail = pdfium_c.FPDFPage_GetRawThumbnailData(raw, None, 0) > 0
        annotations = int(pdfium_c.FPDFPage_GetAnnotCount(raw))
    finally:
        page.close()
    _enforce(pdf, index, rects, kinds, counts)
    if thumbnail:  # an image of the page before redaction: the page is drawn anew without it
        counts["annotations_removed"] += annotations
        return _page_without_thumbnail(pdf, index)
    return index


def _open_forms(page: Handle, rects: list[Rect]) -> int:
    """Move the objects of each form a box touches onto the page, in the form's place."""
    opened = 0
    for _ in range(MAX_FORM_DEPTH):
        found = False
        for index in reversed(range(pdfium_c.FPDFPage_CountObjects(page))):
            form = pdfium_c.FPDFPage_GetObject(page, index)
            if _kind(form) != FORM or not _touches(_bounds(form), rects):
                continue
            matrix = _matrix(form)
            children = [
                pdfium_c.FPDFFormObj_GetObject(form, k)
                for k in range(pdfium_c.FPDFFormObj_CountObjects(form))
            ]
            for offset, child in enumerate(children, 1):
                if not pdfium_c.FPDFFormObj_RemoveObject(form, child):
                    raise PermanentFailure("a form on the page cannot be opened for redaction")
                pdfium_c.FPDFPageObj_Transform(child, *matrix)
                pdfium_c.FPDFPageObj_TransformClipPath(child, *matrix)
                if not pdfium_c.FPDFPage_InsertObjectAtIndex(page, child, index + offset):
                    pdfium_c.FPDFPageObj_Destroy(child)
            _remove(page, form)
            opened += 1
            found = True
        if not found:
            break
    return opened


def _remove_annotations(page: Handle, rects: list[Rect]) -> int:
    """Remove the annotations a box touches, then the pop-ups and replies that belong to them."""
    doomed: set[int] = set()
    owners: dict[int, list[int]] = {}
    for index in range(pdfium_c.FPDFPage_GetAnnotCount(page)):
        annot = pdfium_c.FPDFPage_GetAnnot(page, index)
        try:
            rect = pdfium_c.FS_RECTF()
            if not pdfium_c.FPDFAnnot_GetRect(annot, rect) or _touches(
                (
                    min(rect.left, rect.right),
                    min(rect.bottom, rect.top),
                    max(rect.left, rect.right),
                    max(rect.bottom, rect.top),
                ),
                rects,
            ):
                doomed.add(index)
            for key in (b"Parent", b"IRT"):
                other = pdfium_c.FPDFAnnot_GetLinkedAnnot(annot, key)
                if other:
                    owners.setdefault(index, []).append(int(pdfium_c.FPDFPage_GetAnnotIndex(page, other)))
                    pdfium_c.FPDFPage_CloseAnnot(other)
        finally:
            pdfium_c.FPDFPage_CloseAnnot(annot)
    grown = True
    while grown:
        grown = False
        for index, linked in owners.items():
            if index not in doomed and doomed.intersection(linked):
                doomed.add(index)
                grown = True
    for index in sorted(doomed, reverse=True):
        pdfium_c.FPDFPage_RemoveAnnot(page, index)
    return len(doomed)


def _redact_objects(wrapper: pdfium.PdfPage, rects: list[Rect], counts: dict[str, int]) -> list[_Run]:
    doc, page = wrapper.pdf.raw, wrapper.raw
    chars = _by_object(_text_layer(page))
    runs: list[_Run] = []
    for index in reversed(range(pdfium_c.FPDFPage_CountObjects(page))):
        obj = pdfium_c.FPDFPage_GetObject(page, index)
        kind, bounds = _kind(obj), _bounds(obj)
        if kind == TEXT:
            runs += _redact_text(doc, page, index, obj, chars.get(_addr(obj), []), rects, counts)
        elif not _touches(bounds, rects):
            continue
        elif kind == IMAGE:
            _redact_image(wrapper, obj, bounds, rects, counts)
        elif kind in (PATH, SHADING) and _inside(bounds, rects):
            _remove(page, obj)
            counts["paths_removed"] += 1
        elif kind == FORM:  # nested deeper than MAX_FORM_DEPTH
            _remove(page, obj)
            counts["forms_removed"] += 1
    return runs


def _settle_objects(page: Handle) -> None:
    """Marked content can carry the words it marks (/ActualText, /Alt): it is dropped on a redacted
    page. PDFium writes colours back only in RGB or grey: a CMYK or other colour is set again as
    the RGB it shows, so that it does not come out black."""
    red, green, blue, alpha = (ctypes.c_uint() for _ in range(4))
    for obj in _objects(page):
        for index in reversed(range(max(pdfium_c.FPDFPageObj_CountMarks(obj), 0))):
            mark = pdfium_c.FPDFPageObj_GetMark(obj, index)
            if mark and any(
                pdfium_c.FPDFPageObjMark_GetParamValueType(mark, key) != pdfium_c.FPDF_OBJECT_UNKNOWN
                for key in ALT_TEXT_KEYS
            ):
                pdfium_c.FPDFPageObj_RemoveMark(obj, mark)
        if _kind(obj) in (TEXT, PATH):
            if pdfium_c.FPDFPageObj_GetFillColor(obj, red, green, blue, alpha):
                pdfium_c.FPDFPageObj_SetFillColor(obj, red, green, blue, alpha)
            if pdfium_c.FPDFPageObj_GetStrokeColor(obj, red, green, blue, alpha):
                pdfium_c.FPDFPageObj_SetStrokeColor(obj, red, green, blue, alpha)


def _draw_box(page: Handle, rect: Rect) -> None:
    left, bottom, right, top = rect
    box = pdfium_c.FPDFPageObj_CreateNewRect(left, bottom, right - left, top - bottom)
    pdfium_c.FPDFPageObj_SetFillColor(box, 0, 0, 0, 255)
    pdfium_c.FPDFPath_SetDrawMode(box, pdfium_c.FPDF_FILLMODE_WINDING, False)
    pdfium_c.FPDFPage_InsertObject(page, box)


def _generate(page: Handle, index: int) -> None:
    if not pdfium_c.FPDFPage_GenerateContent(page):
        raise PermanentFailure(f"PDFium could not write page {index + 1} after redaction")


def _repair(pdf: pdfium.PdfDocument, page: Handle, index: int) -> None:
    """Compare what PDFium wrote with what the page holds: text written out of place is drawn again
    as new objects (kept only if they read back right), inline images left out come back as image
    XObjects."""
    for _ in range(2):
        expected = _text_layer(page)
        fresh = pdf.get_page(index)
        try:
            moved = _moved_text(expected, _text_layer(fresh.raw))
            lost = _lost_images(page, fresh.raw)
        finally:
            fresh.close()
        if not moved and not lost:
            return
        chars = _by_object(expected)
        swaps: list[tuple[int, Handle, Handle, list[_Char]]] = []
        for position in reversed(range(pdfium_c.FPDFPage_CountObjects(page))):
            old = pdfium_c.FPDFPage_GetObject(page, position)
            want = chars.get(_addr(old), []) if _addr(old) in moved else []
            new = _new_text(pdf.raw, old, want, _matrix(old)) if want else None
            if _addr(old) in lost:
                new = _image_copy(pdf.raw, old)
            if new is None:
                continue
            # The old object is taken off first: PDFium's text layer skips a copy drawn over its original.
            pdfium_c.FPDFPage_RemoveObject(page, old)
            pdfium_c.FPDFPage_InsertObjectAtIndex(page, new, position)
            swaps.append((position, old, new, want))
        placed = _by_object(_text_layer(page))
        for position, old, new, want in swaps:  # descending positions: each swap keeps the count
            if want and not _same_text(placed.get(_addr(new), []), want):
                _remove(page, new)
                pdfium_c.FPDFPage_InsertObjectAtIndex(page, old, position)
            else:
                pdfium_c.FPDFPageObj_Destroy(old)
        _generate(page, index)


def _enforce(
    pdf: pdfium.PdfDocument, index: int, rects: list[Rect], kinds: Counter[int], counts: dict[str, int]
) -> None:
    """Parse the page again from what was written: whatever still has a glyph or a non-black pixel
    under a box goes whole (with the form it sits in)."""
    page = pdf.get_page(index)
    try:
        raw = page.raw
        top = _top_level(raw)
        doomed = {top.get(char.obj, -1) for char in _text_layer(raw) if _touches(char.box, rects, 0.0)}
        for position, obj in enumerate(_objects(raw)):
            if _kind(obj) == IMAGE and _touches(_bounds(obj), rects) and not _blackened(obj, rects):
                doomed.add(position)
        if -1 in doomed:
            raise PermanentFailure(f"text under a box on page {index + 1} cannot be removed")
        written = Counter(_kind(obj) for obj in _objects(raw))
        counts["objects_dropped"] += sum(max(kinds[kind] - written[kind], 0) for kind in kinds)
        for position in sorted(doomed, reverse=True):
            obj = pdfium_c.FPDFPage_GetObject(raw, position)
            kind = _kind(obj)
            counts[
                "text_objects_removed"
                if kind == TEXT
                else "images_removed"
                if kind == IMAGE
                else "forms_removed"
            ] += 1
            _remove(raw, obj)
        if doomed:
            _generate(raw, index)
    finally:
        page.close()


# -- text ------------------------------------------------------------------------------------------


def _redact_text(
    doc: Handle,
    page: Handle,
    index: int,
    obj: Handle,
    chars: list[_Char],
    rects: list[Rect],
    counts: dict[str, int],
) -> list[_Run]:
    """Take the characters under a box out of a text object; returns the objects given new text.
    Text that cannot be written again character by character (a Type 3 font, or one glyph for
    several characters, as in a ligature) becomes a picture of what is left of it."""
    hit = [_touches(char.box, rects) for char in chars]
    if not any(hit) and (chars or not _touches(_bounds(obj), rects)):
        return []
    # PDFium's text layer does not read back a space beside a gap, nor the second of two spaces in a
    # row: a space next to the cut goes with it, or the object would not read back as it was set
    # (and would be removed whole). The gap itself still reads as a space.
    kept = [
        char
        for n, (char, under) in enumerate(zip(chars, hit, strict=True))
        if not under
        and not (char.code == 0x20 and ((n > 0 and hit[n - 1]) or (n + 1 < len(chars) and hit[n + 1])))
    ]
    kept = [char for n, char in enumerate(kept) if not (char.code == 0x20 and n and kept[n - 1].code == 0x20)]
    if kept and (_font_program_size(obj) == 0 or _shared_glyphs(kept)):
        cut = [char.box for char, under in zip(chars, hit, strict=True) if under]
        _as_picture(doc, page, index, obj, kept, rects + cut, counts)
        return []
    matrix = _matrix(obj)
    lines = _baselines(kept, matrix)
    if not lines or not _set_run(obj, lines[0], matrix):
        _remove(page, obj)
        counts["text_objects_removed"] += 1
        return []
    runs = [_Run(obj, lines[0], _addr(obj))]
    for offset, line in enumerate(lines[1:], 1):
        new = _new_text(doc, obj, line, matrix)
        if new is not None and pdfium_c.FPDFPage_InsertObjectAtIndex(page, new, index + offset):
            runs.append(_Run(new, line, _addr(obj)))
    counts["text_objects_trimmed"] += 1
    return runs


def _check_runs(page: Handle, runs: list[_Run], counts: dict[str, int]) -> None:
    """Read the rewritten objects back: one whose characters are not exactly what was set goes."""
    if not runs:
        return
    placed = _by_object(_text_layer(page))
    failed = {run.source for run in runs if not _same_text(placed.get(_addr(run.obj), []), run.chars)}
    for run in runs:
        if run.source in failed:
            _remove(page, run.obj)
    counts["text_objects_trimmed"] -= len(failed)
    counts["text_objects_removed"] += len(failed)


def _text_layer(page: Handle) -> list[_Char]:
    """Every character PDFium's text extraction sees on the page (not the spaces and line breaks it adds)."""
    textpage = pdfium_c.FPDFText_LoadPage(page)
    if not textpage:
        raise PermanentFailure("PDFium cannot read the text of a page to redact")
    try:
        chars: list[_Char] = []
        x, y = ctypes.c_double(), ctypes.c_double()
        for index in range(pdfium_c.FPDFText_CountChars(textpage)):
            if pdfium_c.FPDFText_IsGenerated(textpage, index) == 1:
                continue
            pdfium_c.FPDFText_GetCharOrigin(textpage, index, x, y)
            chars.append(
                _Char(
                    obj=_addr(pdfium_c.FPDFText_GetTextObject(textpage, index)),
                    code=int(pdfium_c.FPDFText_GetUnicode(textpage, index)),
                    origin=(x.value, y.value),
                    box=_char_box(textpage, index, x.value, y.value),
                )
            )
        return chars
    finally:
        pdfium_c.FPDFText_ClosePage(textpage)


def _char_box(textpage: Handle, index: int, x: float, y: float) -> Rect:
    """The glyph's own box; for a glyph without one (a space), its cell (advance by ascent and descent)."""
    left, right, bottom, top = (ctypes.c_double() for _ in range(4))
    found = pdfium_c.FPDFText_GetCharBox(textpage, index, left, right, bottom, top)
    if found and right.value > left.value and top.value > bottom.value:
        return left.value, bottom.value, right.value, top.value
    loose = pdfium_c.FS_RECTF()
    if pdfium_c.FPDFText_GetLooseCharBox(textpage, index, loose):
        return (
            min(loose.left, loose.right),
            min(loose.bottom, loose.top),
            max(loose.left, loose.right),
            max(loose.bottom, loose.top),
        )
    return x, y, x, y


def _shared_glyphs(chars: list[_Char]) -> bool:
    """Whether two characters come from one glyph (same object, same origin: a ligature)."""
    return any(a.obj == b.obj and math.dist(a.origin, b.origin) < 1e-3 for a, b in itertools.pairwise(chars))


def _by_object(chars: list[_Char]) -> dict[int, list[_Char]]:
    grouped: dict[int, list[_Char]] = {}
    for char in chars:
        grouped.setdefault(char.obj, []).append(char)
    return grouped


def _baselines(chars: list[_Char], matrix: Matrix) -> list[list[_Char]]:
    """Split consecutive characters into groups that share a baseline (one text object each)."""
    a, b = matrix[0], matrix[1]
    norm = math.hypot(a, b) or 1.0
    groups: list[list[_Char]] = []
    for char in chars:
        if groups:
            x0, y0 = groups[-1][0].origin
            if abs((char.origin[0] - x0) * b - (char.origin[1] - y0) * a) / norm <= PLACE_TOLERANCE:
                groups[-1].append(char)
                continue
        groups.append([char])
    return groups


def _set_run(obj: Handle, chars: list[_Char], matrix: Matrix) -> bool:
    """Give a text object exactly these characters, each at its own origin on the page."""
    if not all(0 < char.code <= 0x10FFFF and not 0xD800 <= char.code <= 0xDFFF for char in chars):
        return False
    text = "".join(chr(char.code) for char in chars)
    data = ctypes.create_string_buffer((text + "\0").encode("utf-16-le"))
    if not pdfium_c.FPDFText_SetText(obj, ctypes.cast(data, pdfium_c.FPDF_WIDESTRING)):
        return False
    placed = (*matrix[:4], *chars[0].origin)
    if not pdfium_c.FPDFPageObj_SetMatrix(obj, pdfium_c.FS_MATRIX(*placed)):
        return False
    inverse = _invert(placed)
    if inverse is None:
        return False
    offsets = [_apply(inverse, char.origin)[0] for char in chars[1:]]
    return not offsets or bool(
        pdfium_c.FPDFText_SetPositions(obj, (ctypes.c_float * len(offsets))(*offsets), len(offsets))
    )


def _new_text(
    doc: Handle,
    like: Handle,
    chars: list[_Char],
    matrix: Matrix,
    font: Handle = None,
    mode: int | None = None,
) -> Handle | None:
    """A new text object in the font, size, colours and render mode of ``like`` (or those given)."""
    font, size = font or pdfium_c.FPDFTextObj_GetFont(like), ctypes.c_float()
    if not font or not pdfium_c.FPDFTextObj_GetFontSize(like, size):
        return None
    new = pdfium_c.FPDFPageObj_CreateTextObj(doc, font, size.value)
    if not new:
        return None
    red, green, blue, alpha = (ctypes.c_uint() for _ in range(4))
    if pdfium_c.FPDFPageObj_GetFillColor(like, red, green, blue, alpha):
        pdfium_c.FPDFPageObj_SetFillColor(new, red, green, blue, alpha)
    if pdfium_c.FPDFPageObj_GetStrokeColor(like, red, green, blue, alpha):
        pdfium_c.FPDFPageObj_SetStrokeColor(new, red, green, blue, alpha)
    width = ctypes.c_float()
    if pdfium_c.FPDFPageObj_GetStrokeWidth(like, width):
        pdfium_c.FPDFPageObj_SetStrokeWidth(new, width.value)
    mode = pdfium_c.FPDFTextObj_GetTextRenderMode(like) if mode is None else mode
    if mode != pdfium_c.FPDF_TEXTRENDERMODE_UNKNOWN:
        pdfium_c.FPDFTextObj_SetTextRenderMode(new, mode)
    if not _set_run(new, chars, matrix):
        pdfium_c.FPDFPageObj_Destroy(new)
        return None
    return new


def _same_text(got: list[_Char], want: list[_Char]) -> bool:
    return len(got) == len(want) and all(
        g.code == w.code and math.dist(g.origin, w.origin) <= PLACE_TOLERANCE
        for g, w in zip(got, want, strict=True)
    )


def _moved_text(expected: list[_Char], written: list[_Char]) -> set[int]:
    """Text objects whose characters PDFium wrote elsewhere than the page holds them."""
    if [char.code for char in expected] != [char.code for char in written]:
        return set()  # not comparable character by character (PDFium left something out)
    return {
        want.obj
        for want, got in zip(expected, written, strict=True)
        if math.dist(want.origin, got.origin) > PLACE_TOLERANCE
    }


# -- pictures of what PDFium cannot write back -----------------------------------------------------


def _picture_type3_text(doc: Handle, page: Handle, counts: dict[str, int]) -> None:
    """PDFium writes text in a Type 3 font (glyphs drawn by the PDF itself) back as a broken text
    block: such text left on a redacted page becomes a picture of itself too."""
    chars = _by_object(_text_layer(page))
    for index in reversed(range(pdfium_c.FPDFPage_CountObjects(page))):
        obj = pdfium_c.FPDFPage_GetObject(page, index)
        if _kind(obj) == TEXT and _font_program_size(obj) == 0:
            _as_picture(doc, page, index, obj, chars.get(_addr(obj), []), [], counts)


def _as_picture(
    doc: Handle,
    page: Handle,
    index: int,
    obj: Handle,
    kept: list[_Char],
    cut: list[Rect],
    counts: dict[str, int],
) -> None:
    """Replace a text object by a picture of it at 300 dpi, transparent where ``cut`` is, under its
    ``kept`` characters in invisible Helvetica, so that they can still be found and copied."""
    picture = _text_picture(doc, page, obj, cut)
    helvetica = pdfium_c.FPDFText_LoadStandardFont(doc, b"Helvetica")
    try:
        invisible = pdfium_c.FPDF_TEXTRENDERMODE_INVISIBLE
        ghost = _new_text(doc, obj, kept, _matrix(obj), helvetica, invisible) if kept else None
    finally:
        pdfium_c.FPDFFont_Close(helvetica)
    _remove(page, obj)
    for new in (ghost, picture):
        if new is not None and not pdfium_c.FPDFPage_InsertObjectAtIndex(page, new, index):
            pdfium_c.FPDFPageObj_Destroy(new)
    counts["text_objects_pictured" if picture is not None else "text_objects_removed"] += 1


def _font_program_size(obj: Handle) -> int | None:
    """Bytes of the font program PDFium draws a text object with: 0 for a Type 3 font."""
    size = ctypes.c_size_t()
    font = pdfium_c.FPDFTextObj_GetFont(obj)
    if not font or not pdfium_c.FPDFFont_GetFontData(font, None, 0, size):
        return None
    return int(size.value)


def _text_picture(doc: Handle, page: Handle, obj: Handle, cut: list[Rect]) -> Handle | None:
    bounds = _bounds(obj)
    bitmap = pdfium_c.FPDFTextObj_GetRenderedBitmap(doc, page, obj, PICTURE_DPI / 72)
    if not bitmap:
        return None
    try:
        pixels = _pixels(bitmap)
        if bounds is None or pixels is None:
            return None
        left, bottom, right, top = bounds
        matrix = (right - left, 0.0, 0.0, top - bottom, left, bottom)
        pixels[_pixel_mask(matrix, pixels.shape[1], pixels.shape[0], cut)] = 0  # transparent, no colour
        return _placed_image(doc, bitmap, matrix)
    finally:
        pdfium_c.FPDFBitmap_Destroy(bitmap)


def _picture_shadings(page: pdfium.PdfPage, rects: list[Rect]) -> None:
    """PDFium does not write shadings (``sh``) back at all: each one on a redacted page becomes a
    picture of itself, at 150 dpi, which is then redacted like any image."""
    for index in reversed(range(pdfium_c.FPDFPage_CountObjects(page.raw))):
        obj = pdfium_c.FPDFPage_GetObject(page.raw, index)
        if _kind(obj) != SHADING or _inside(_bounds(obj), rects):
            continue  # one entirely under a box is removed like a path
        picture = _picture_of(page, obj, SHADING_DPI)
        if picture is not None and pdfium_c.FPDFPage_InsertObjectAtIndex(page.raw, picture, index):
            _remove(page.raw, obj)


def _picture_of(page: pdfium.PdfPage, obj: Handle, dpi: float) -> Handle | None:
    """An image of one page object as the page draws it (its clip applied), transparent around it."""
    bounds = _bounds(obj)
    if bounds is None:
        return None
    width, height = (round(side * dpi / 72) for side in page.get_size())
    corners = [ctypes.c_int(), ctypes.c_int()]
    xs, ys = [], []
    for x in bounds[0::2]:
        for y in bounds[1::2]:
            pdfium_c.FPDF_PageToDevice(page.raw, 0, 0, width, height, 0, x, y, *corners)
            xs.append(corners[0].value)
            ys.append(corners[1].value)
    x0, y0 = max(min(xs) - 1, 0), max(min(ys) - 1, 0)
    x1, y1 = min(max(xs) + 1, width), min(max(ys) + 1, height)
    if x1 <= x0 or y1 <= y0:
        return None
    others = [other for other in _objects(page.raw) if _addr(other) != _addr(obj)]
    bitmap = pdfium_c.FPDFBitmap_Create(x1 - x0, y1 - y0, 1)
    try:
        pdfium_c.FPDFBitmap_FillRect(bitmap, 0, 0, x1 - x0, y1 - y0, 0)
        for other in others:
            pdfium_c.FPDFPageObj_SetIsActive(other, False)
        try:
            pdfium_c.FPDF_RenderPageBitmap(bitmap, page.raw, -x0, -y0, width, height, 0, 0)
        finally:
            for other in others:
                pdfium_c.FPDFPageObj_SetIsActive(other, True)
        points = []
        for x, y in ((x0, y1), (x1, y1), (x0, y0)):  # the image's bottom-left, bottom-right, top-left
            px, py = ctypes.c_double(), ctypes.c_double()
            pdfium_c.FPDF_DeviceToPage(page.raw, 0, 0, width, height, 0, x, y, px, py)
            points.append((px.value, py.value))
        (ex, ey), (ux, uy), (vx, vy) = points
        matrix = (ux - ex, uy - ey, vx - ex, vy - ey, ex, ey)
        return _placed_image(page.pdf.raw, bitmap, matrix)
    finally:
        pdfium_c.FPDFBitmap_Destroy(bitmap)


def _placed_image(doc: Handle, bitmap: Handle, matrix: Matrix) -> Handle | None:
    """A new image object holding ``bitmap``, placed by ``matrix``."""
    image = pdfium_c.FPDFPageObj_NewImageObj(doc)
    if not image:
        return None
    if pdfium_c.FPDFImageObj_SetBitmap(None, 0, image, bitmap) and pdfium_c.FPDFPageObj_SetMatrix(
        image, pdfium_c.FS_MATRIX(*matrix)
    ):
        return image
    pdfium_c.FPDFPageObj_Destroy(image)
    return None


# -- images ----------------------------------------------------------------------------------------


def _redact_image(
    page: pdfium.PdfPage, obj: Handle, bounds: Rect | None, rects: list[Rect], counts: dict[str, int]
) -> None:
    if _inside(bounds, rects):
        _remove(page.raw, obj)
        counts["images_removed"] += 1
        return
    changed = _blacken(page, obj, rects)
    if changed is None:  # PDFium cannot decode it: it goes
        _remove(page.raw, obj)
        counts["images_removed"] += 1
    elif changed:
        counts["images_redacted"] += 1


def _blacken(page: pdfium.PdfPage, obj: Handle, rects: list[Rect]) -> bool | None:
    """Set the image's pixels under the boxes to black in its own data. None: it cannot be decoded.
    A JPEG stays a JPEG, blackened in whole 16-pixel blocks so that no block mixes black with what
    was under the box; any other image is stored losslessly (Flate)."""
    width, height = ctypes.c_uint(), ctypes.c_uint()
    if not pdfium_c.FPDFImageObj_GetImagePixelSize(obj, width, height) or not width.value or not height.value:
        return None
    mask = _pixel_mask(_matrix(obj), width.value, height.value, rects)
    if not mask.any():
        return False
    see_through = _see_through(page, obj, mask.shape)
    bitmap = see_through or pdfium_c.FPDFImageObj_GetBitmap(obj)
    if not bitmap:
        return None
    try:
        pixels = _pixels(bitmap)
        if pixels is None or pixels.shape[:2] != mask.shape:
            return None
        if see_through is None and _is_jpeg(obj):
            pixels[_whole_blocks(mask), :3] = 0
            return _set_jpeg(page, obj, pixels) or None
        pixels[mask, :3] = 0
        if pixels.shape[2] == 4:
            pixels[mask, 3] = 255
        return bool(pdfium_c.FPDFImageObj_SetBitmap(None, 0, obj, bitmap)) or None
    finally:
        pdfium_c.FPDFBitmap_Destroy(bitmap)


def _is_jpeg(obj: Handle) -> bool:
    count = pdfium_c.FPDFImageObj_GetImageFilterCount(obj)
    if count < 1:
        return False
    name = ctypes.create_string_buffer(64)
    pdfium_c.FPDFImageObj_GetImageFilter(obj, count - 1, name, len(name))
    return name.value in (b"DCTDecode", b"DCT")


def _whole_blocks(mask: npt.NDArray[np.bool_], size: int = JPEG_BLOCK) -> npt.NDArray[np.bool_]:
    height, width = mask.shape
    padded = np.zeros((-(-height // size) * size, -(-width // size) * size), dtype=bool)
    padded[:height, :width] = mask
    blocks = padded.reshape(padded.shape[0] // size, size, padded.shape[1] // size, size).any(axis=(1, 3))
    return np.repeat(np.repeat(blocks, size, axis=0), size, axis=1)[:height, :width]


def _set_jpeg(page: pdfium.PdfPage, obj: Handle, pixels: npt.NDArray[np.uint8]) -> bool:
    if pixels.shape[2] == 1:
        picture = Image.fromarray(np.ascontiguousarray(pixels[:, :, 0]), "L")
    else:
        picture = Image.fromarray(np.ascontiguousarray(pixels[:, :, 2::-1]), "RGB")  # from BGR(x)
    data = io.BytesIO()
    picture.save(data, "JPEG", quality=JPEG_QUALITY)
    try:
        pdfium.PdfImage(obj, page=page).load_jpeg(data, inline=True)
    except pdfium.PdfiumError:
        return False
    return True


def _see_through(page: pdfium.PdfPage, obj: Handle, shape: tuple[int, ...]) -> Handle | None:
    """The image as drawn, in its own pixel grid, if any of it is transparent: its soft mask, or the
    colour of a stencil mask, is then kept in the pixels set back (PDFium's own bitmap of the image
    leaves both out)."""
    height, width = shape
    placed = pdfium_c.FS_MATRIX()
    pdfium_c.FPDFPageObj_GetMatrix(obj, placed)
    pdfium_c.FPDFPageObj_SetMatrix(obj, pdfium_c.FS_MATRIX(width, 0, 0, height, 0, 0))
    try:
        bitmap = pdfium_c.FPDFImageObj_GetRenderedBitmap(page.pdf.raw, page.raw, obj)
    finally:
        pdfium_c.FPDFPageObj_SetMatrix(obj, placed)
    if not bitmap:
        return None
    pixels = _pixels(bitmap)
    if pixels is not None and pixels.shape == (height, width, 4) and (pixels[:, :, 3] < 255).any():
        return bitmap
    pdfium_c.FPDFBitmap_Destroy(bitmap)
    return None


def _blackened(obj: Handle, rects: list[Rect]) -> bool:
    bitmap = pdfium_c.FPDFImageObj_GetBitmap(obj)
    if not bitmap:
        return False
    try:
        pixels = _pixels(bitmap)
        if pixels is None:
            return False
        mask = _pixel_mask(_matrix(obj), pixels.shape[1], pixels.shape[0], rects)
        return int(pixels[mask, :3].max(initial=0)) <= (JPEG_TOLERANCE if _is_jpeg(obj) else 0)
    finally:
        pdfium_c.FPDFBitmap_Destroy(bitmap)


def _pixels(bitmap: Handle) -> npt.NDArray[np.uint8] | None:
    """A writable (height, width, channels) view of a PDFium bitmap's buffer."""
    channels = PIXEL_SIZES.get(pdfium_c.FPDFBitmap_GetFormat(bitmap))
    width, height = pdfium_c.FPDFBitmap_GetWidth(bitmap), pdfium_c.FPDFBitmap_GetHeight(bitmap)
    stride, buffer = pdfium_c.FPDFBitmap_GetStride(bitmap), pdfium_c.FPDFBitmap_GetBuffer(bitmap)
    if channels is None or width <= 0 or height <= 0 or not buffer:
        return None
    view = (ctypes.c_uint8 * (height * stride)).from_address(buffer)
    return np.ndarray((height, width, channels), dtype=np.uint8, buffer=view, strides=(stride, channels, 1))


def _pixel_mask(matrix: Matrix, width: int, height: int, rects: list[Rect]) -> npt.NDArray[np.bool_]:
    """The image pixels any part of which lies under a box (the image matrix maps the unit square,
    row 0 at its top, onto the page)."""
    mask = np.zeros((height, width), dtype=bool)
    inverse = _invert(matrix)
    if inverse is None:
        return mask
    a, b, c, d, e, f = matrix
    half_x = (abs(a) / width + abs(c) / height) / 2
    half_y = (abs(b) / width + abs(d) / height) / 2
    for left, bottom, right, top in rects:
        left, bottom, right, top = left - MARGIN, bottom - MARGIN, right + MARGIN, top + MARGIN
        corners = [_apply(inverse, (x, y)) for x in (left, right) for y in (bottom, top)]
        columns = [u * width for u, _ in corners]
        rows = [(1 - v) * height for _, v in corners]
        x0, x1 = max(math.floor(min(columns)) - 1, 0), min(math.ceil(max(columns)) + 1, width)
        y0, y1 = max(math.floor(min(rows)) - 1, 0), min(math.ceil(max(rows)) + 1, height)
        if x0 >= x1 or y0 >= y1:
            continue
        u = (np.arange(x0, x1) + 0.5)[None, :] / width
        v = 1 - (np.arange(y0, y1) + 0.5)[:, None] / height
        x, y = a * u + c * v + e, b * u + d * v + f
        mask[y0:y1, x0:x1] |= (
            (x + half_x > left) & (x - half_x < right) & (y + half_y > bottom) & (y - half_y < top)
        )
    return mask


def _image_copy(doc: Handle, obj: Handle) -> Handle | None:
    """A new image XObject with the pixels and placement of ``obj``."""
    bitmap = pdfium_c.FPDFImageObj_GetBitmap(obj)
    if not bitmap:
        return None
    try:
        return _placed_image(doc, bitmap, _matrix(obj))
    finally:
        pdfium_c.FPDFBitmap_Destroy(bitmap)


def _lost_images(page: Handle, written: Handle) -> set[int]:
    """The page's images that PDFium did not write (inline images), by address."""
    placed = [_matrix(obj) for obj in _objects(written) if _kind(obj) == IMAGE]

    def found(matrix: Matrix) -> bool:
        return any(
            all(abs(p - m) <= 1e-3 * max(1.0, abs(m)) for p, m in zip(other, matrix, strict=True))
            for other in placed
        )

    return {_addr(obj) for obj in _objects(page) if _kind(obj) == IMAGE and not found(_matrix(obj))}


# -- geometry and handles --------------------------------------------------------------------------


def _touches(rect: Rect | None, rects: list[Rect], margin: float = MARGIN) -> bool:
    """Whether ``rect`` overlaps a box widened by ``margin`` (an unknown rect is taken to)."""
    if rect is None:
        return True
    left, bottom, right, top = rect
    return any(
        left < r + margin and right > l - margin and bottom < t + margin and top > b - margin
        for l, b, r, t in rects  # noqa: E741
    )


def _inside(rect: Rect | None, rects: list[Rect]) -> bool:
    if rect is None:
        return False
    left, bottom, right, top = rect
    return any(
        left >= l - MARGIN and bottom >= b - MARGIN and right <= r + MARGIN and top <= t + MARGIN
        for l, b, r, t in rects  # noqa: E741
    )


def _invert(matrix: Matrix) -> Matrix | None:
    a, b, c, d, e, f = matrix
    det = a * d - b * c
    if abs(det) < 1e-12:
        return None
    return d / det, -b / det, -c / det, a / det, (c * f - d * e) / det, (b * e - a * f) / det


def _apply(matrix: Matrix, point: tuple[float, float]) -> tuple[float, float]:
    a, b, c, d, e, f = matrix
    x, y = point
    return a * x + c * y + e, b * x + d * y + f


def _matrix(obj: Handle) -> Matrix:
    m = pdfium_c.FS_MATRIX()
    if not pdfium_c.FPDFPageObj_GetMatrix(obj, m):
        return 1.0, 0.0, 0.0, 1.0, 0.0, 0.0
    return m.a, m.b, m.c, m.d, m.e, m.f


def _bounds(obj: Handle) -> Rect | None:
    left, bottom, right, top = (ctypes.c_float() for _ in range(4))
    if not pdfium_c.FPDFPageObj_GetBounds(obj, left, bottom, right, top):
        return None
    return left.value, bottom.value, right.value, top.value


def _kind(obj: Handle) -> int:
    return int(pdfium_c.FPDFPageObj_GetType(obj))


def _objects(page: Handle) -> list[Handle]:
    return [pdfium_c.FPDFPage_GetObject(page, index) for index in range(pdfium_c.FPDFPage_CountObjects(page))]


def _top_level(page: Handle) -> dict[int, int]:
    """Address of every object on the page, inside forms too -> index of the page-level object holding it."""
    top: dict[int, int] = {}

    def visit(obj: Handle, index: int, depth: int) -> None:
        top[_addr(obj)] = index
        if _kind(obj) == FORM and depth < 32:
            for k in range(pdfium_c.FPDFFormObj_CountObjects(obj)):
                visit(pdfium_c.FPDFFormObj_GetObject(obj, k), index, depth + 1)

    for index, obj in enumerate(_objects(page)):
        visit(obj, index, 0)
    return top


def _remove(page: Handle, obj: Handle) -> None:
    if pdfium_c.FPDFPage_RemoveObject(page, obj):
        pdfium_c.FPDFPageObj_Destroy(obj)


def _addr(handle: Handle) -> int:
    return int(ctypes.cast(handle, ctypes.c_void_p).value or 0)
