"""Pages for the redaction editor: the size of each page, and one page drawn as a PNG."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, BinaryIO

from opendems.adapters.media.pdf.handles import _reading

PAGE_IMAGE_MAX_WIDTH = 2000  # pixels: a page drawn for the editor is never wider
PAGE_IMAGE_MAX_HEIGHT = 4000  # nor taller (a page a metre long)


def pdf_pages(src: BinaryIO | str | Path) -> list[tuple[float, float]]:
    """(width, height) in points of each page as displayed (rotation applied)."""
    with _reading(src, None, "the PDF's pages cannot be read") as pdf:
        sizes: list[tuple[float, float]] = []
        for index in range(len(pdf)):
            width, height = pdf.get_page_size(index)
            sizes.append((float(width), float(height)))
        return sizes


def page_image(
    src: BinaryIO | str | Path, index: int, width: int, *, password: str | None = None
) -> tuple[bytes, dict[str, Any]] | None:
    """Page ``index`` (from 0) as displayed, drawn ``width`` pixels wide (at most
    ``PAGE_IMAGE_MAX_WIDTH``, and never taller than ``PAGE_IMAGE_MAX_HEIGHT``), as a PNG with its
    annotations and form fields; None when the PDF has no such page."""
    with _reading(src, password, f"page {index + 1} of the PDF does not render") as pdf:
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
