"""Boxes and rects: a box of the page as displayed mapped into the page's own coordinates (crop box
and /Rotate applied) and back, checked before anything is changed; overlap tests and matrices."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pypdfium2 as pdfium

from opendems.domain.jobs import PermanentFailure

Box = tuple[float, float, float, float]  # x1, y1, x2, y2: points, top-left origin, page as displayed
Rect = tuple[float, float, float, float]  # left, bottom, right, top in the page's own coordinates
Matrix = tuple[float, float, float, float, float, float]
MARGIN = 0.5  # a glyph, pixel or annotation this close to a box (points) counts as under it
EDGE_TOLERANCE = 1.0  # a box may overhang the page by this much (points); it is cut at the edge


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
