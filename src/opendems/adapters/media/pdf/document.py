"""The redaction of a whole PDF: each page redacted, written, parsed again and enforced; the pages
copied into a new document, saved, and checked before it takes the place of the output."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from opendems.adapters.media.pdf.geometry import Box, Rect, _page_rects, _touches
from opendems.adapters.media.pdf.handles import (
    IMAGE,
    PDFIUM_LOCK,
    TEXT,
    TOOL_PDFIUM,
    Handle,
    _addr,
    _bounds,
    _kind,
    _matrix,
    _objects,
    _remove,
    _top_level,
    open_pdf,
)
from opendems.adapters.media.pdf.images import _blackened, _image_copy, _lost_images, _picture_shadings
from opendems.adapters.media.pdf.objects import (
    _draw_box,
    _open_forms,
    _redact_objects,
    _remove_annotations,
    _settle_objects,
)
from opendems.adapters.media.pdf.text import (
    _by_object,
    _Char,
    _check_runs,
    _moved_text,
    _new_text,
    _picture_type3_text,
    _same_text,
    _text_layer,
)
from opendems.domain.jobs import PermanentFailure

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


def _redact(
    src: BinaryIO | str | Path,
    part: Path,
    regions: Mapping[int, Sequence[Box]],
    password: str | None,
    report: Callable[[float], None] | None = None,
) -> dict[str, Any]:
    pdf = open_pdf(src, password)
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
