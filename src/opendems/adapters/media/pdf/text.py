"""Text objects: the characters PDFium reads on a page, trimmed from under the boxes and set again
where they were, checked as read back; text PDFium cannot write back becomes a picture of itself."""

from __future__ import annotations

import ctypes
import itertools
import math
from dataclasses import dataclass

import pypdfium2.raw as pdfium_c

from opendems.adapters.media.pdf.geometry import Matrix, Rect, _apply, _invert, _touches
from opendems.adapters.media.pdf.handles import (
    TEXT,
    Handle,
    _addr,
    _bounds,
    _copy_colours,
    _kind,
    _matrix,
    _rect_of,
    _remove,
)
from opendems.adapters.media.pdf.images import _pixel_mask, _pixels, _placed_image
from opendems.domain.jobs import PermanentFailure

PLACE_TOLERANCE = 0.05  # a character drawn again may land this far (points) from where it was
PICTURE_DPI = 300  # text PDFium cannot write back (Type 3 fonts) is kept as a picture this sharp


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
        return _rect_of(loose)
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
    _copy_colours(like, new)
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
