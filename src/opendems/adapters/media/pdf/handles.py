"""PDFium handles: the one process-wide lock, opening a document, and what a page object tells."""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from opendems.adapters.media.pdf.geometry import Matrix, Rect
from opendems.domain.jobs import PermanentFailure

Handle = Any  # a PDFium handle (ctypes pointer)
TOOL_PDFIUM = f"pypdfium2 {pdfium.PYPDFIUM_INFO}"
PDFIUM_LOCK = threading.RLock()
TEXT, PATH, IMAGE, SHADING, FORM = (
    pdfium_c.FPDF_PAGEOBJ_TEXT,
    pdfium_c.FPDF_PAGEOBJ_PATH,
    pdfium_c.FPDF_PAGEOBJ_IMAGE,
    pdfium_c.FPDF_PAGEOBJ_SHADING,
    pdfium_c.FPDF_PAGEOBJ_FORM,
)


def open_pdf(
    src: BinaryIO | str | Path,
    password: str | None = None,
    *,
    locked: str = "the PDF is protected by a password: give it to redact the PDF",
    in_memory: bool = True,
) -> pdfium.PdfDocument:
    """The document (call under ``PDFIUM_LOCK``); a ``PermanentFailure`` naming the problem with
    one that cannot be opened -- ``locked`` where it needs a password none was given for.
    ``in_memory=False``: PDFium reads a (seekable) file object as it needs it, so a long scan
    is not held in memory whole."""
    try:
        if isinstance(src, str | Path):
            return pdfium.PdfDocument(Path(src), password=password)
        return pdfium.PdfDocument(src.read() if in_memory else src, password=password)
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            if password is None:
                raise PermanentFailure(locked) from None
            raise PermanentFailure("the password given does not open the PDF") from None
        raise PermanentFailure(f"the PDF cannot be opened ({exc})") from None
    except OSError as exc:
        raise PermanentFailure(f"the PDF cannot be read ({exc.strerror or exc})") from None


@contextmanager
def _reading(src: BinaryIO | str | Path, password: str | None, failure: str) -> Iterator[pdfium.PdfDocument]:
    """The document, opened and read under ``PDFIUM_LOCK`` and closed after; an error PDFium raises
    meanwhile becomes a ``PermanentFailure`` saying ``failure`` (and the error)."""
    with PDFIUM_LOCK:
        pdf = open_pdf(src, password)
        try:
            yield pdf
        except pdfium.PdfiumError as exc:
            raise PermanentFailure(f"{failure} ({exc})") from None
        finally:
            pdf.close()


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


def _copy_colours(source: Handle, target: Handle) -> None:
    """Give ``target`` the fill and stroke colours of ``source`` (the same object sets its own again)."""
    red, green, blue, alpha = (ctypes.c_uint() for _ in range(4))
    if pdfium_c.FPDFPageObj_GetFillColor(source, red, green, blue, alpha):
        pdfium_c.FPDFPageObj_SetFillColor(target, red, green, blue, alpha)
    if pdfium_c.FPDFPageObj_GetStrokeColor(source, red, green, blue, alpha):
        pdfium_c.FPDFPageObj_SetStrokeColor(target, red, green, blue, alpha)


def _rect_of(rect: pdfium_c.FS_RECTF) -> Rect:
    """A PDFium rect as left, bottom, right, top, whichever way round its corners are given."""
    return (
        min(rect.left, rect.right),
        min(rect.bottom, rect.top),
        max(rect.left, rect.right),
        max(rect.bottom, rect.top),
    )


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
