"""PDF page previews, rendered with PDFium (pypdfium2, bundled in its wheel)."""

from __future__ import annotations

import io
from typing import Any, BinaryIO

import pypdfium2 as pdfium

from opendems.domain.jobs import PermanentFailure

MAX_PAGES = 20
PAGE_WIDTH = 1000
MAX_HEIGHT = 4000
TOOL_PDFIUM = f"pypdfium2 {pdfium.PYPDFIUM_INFO}"


def pdf_pages(src: BinaryIO) -> list[tuple[bytes, dict[str, Any]]]:
    """JPEG previews of the first pages, 1000 px wide; names the problem with a PDF that
    cannot be opened (damaged, or protected by a password)."""
    data = src.read()
    try:
        doc = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise PermanentFailure(
                "the PDF is protected by a password: no previews (the original is kept unchanged)"
            ) from None
        raise PermanentFailure(f"the PDF cannot be opened ({exc})") from None
    pages: list[tuple[bytes, dict[str, Any]]] = []
    try:
        total = len(doc)
        for index in range(min(total, MAX_PAGES)):
            try:
                page = doc[index]
                width, height = page.get_width() or PAGE_WIDTH, page.get_height() or PAGE_WIDTH
                # 1000 px wide, but never taller than MAX_HEIGHT (a page a metre long).
                scale = min(PAGE_WIDTH / width, MAX_HEIGHT / height)
                image = page.render(scale=scale).to_pil().convert("RGB")
            except pdfium.PdfiumError as exc:
                raise PermanentFailure(f"page {index + 1} of the PDF does not render ({exc})") from None
            buf = io.BytesIO()
            image.save(buf, format="JPEG", quality=80)
            pages.append(
                (
                    buf.getvalue(),
                    {"page": index + 1, "pages": total, "width": image.width, "height": image.height},
                )
            )
    finally:
        doc.close()
    if not pages:
        raise PermanentFailure("the PDF has no pages")
    return pages
