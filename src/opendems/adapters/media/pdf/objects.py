"""The other things on a redacted page: forms opened up, annotations removed, paths and forms under
a box removed, marked content and colours settled, and the black boxes drawn."""

from __future__ import annotations

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from opendems.adapters.media.pdf.geometry import Rect, _inside, _touches
from opendems.adapters.media.pdf.handles import (
    FORM,
    IMAGE,
    PATH,
    SHADING,
    TEXT,
    Handle,
    _addr,
    _bounds,
    _copy_colours,
    _kind,
    _matrix,
    _objects,
    _rect_of,
    _remove,
)
from opendems.adapters.media.pdf.images import _redact_image
from opendems.adapters.media.pdf.text import _by_object, _redact_text, _Run, _text_layer
from opendems.domain.jobs import PermanentFailure

MAX_FORM_DEPTH = 8  # forms nested deeper than this under a box are removed whole
ALT_TEXT_KEYS = (b"ActualText", b"Alt", b"E")


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
            if not pdfium_c.FPDFAnnot_GetRect(annot, rect) or _touches(_rect_of(rect), rects):
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
    for obj in _objects(page):
        for index in reversed(range(max(pdfium_c.FPDFPageObj_CountMarks(obj), 0))):
            mark = pdfium_c.FPDFPageObj_GetMark(obj, index)
            if mark and any(
                pdfium_c.FPDFPageObjMark_GetParamValueType(mark, key) != pdfium_c.FPDF_OBJECT_UNKNOWN
                for key in ALT_TEXT_KEYS
            ):
                pdfium_c.FPDFPageObj_RemoveMark(obj, mark)
        if _kind(obj) in (TEXT, PATH):
            _copy_colours(obj, obj)


def _draw_box(page: Handle, rect: Rect) -> None:
    left, bottom, right, top = rect
    box = pdfium_c.FPDFPageObj_CreateNewRect(left, bottom, right - left, top - bottom)
    pdfium_c.FPDFPageObj_SetFillColor(box, 0, 0, 0, 255)
    pdfium_c.FPDFPath_SetDrawMode(box, pdfium_c.FPDF_FILLMODE_WINDING, False)
    pdfium_c.FPDFPage_InsertObject(page, box)
