"""Pixels: images blackened under the boxes in their own data, and checked afterwards; shadings
turned into pictures; PDFium bitmaps as arrays, and placed on the page as new images."""

from __future__ import annotations

import ctypes
import io
import math

import numpy as np
import numpy.typing as npt
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import Image

from opendems.adapters.media.pdf.geometry import MARGIN, Matrix, Rect, _apply, _inside, _invert
from opendems.adapters.media.pdf.handles import (
    IMAGE,
    SHADING,
    Handle,
    _addr,
    _bounds,
    _kind,
    _matrix,
    _objects,
    _remove,
)

SHADING_DPI = 150  # and a shading (a smooth blend of colours) this sharp
JPEG_QUALITY = 92  # a redacted JPEG image is saved again as JPEG at this quality
JPEG_BLOCK = 16  # in whole blocks of this many pixels (a JPEG's largest unit, with 4:2:0 colour)
JPEG_TOLERANCE = 16  # and a pixel this close to black counts as black after decoding
PIXEL_SIZES = {  # bitmap format -> bytes per pixel; the last byte of four is alpha (or unused)
    pdfium_c.FPDFBitmap_Gray: 1,
    pdfium_c.FPDFBitmap_BGR: 3,
    pdfium_c.FPDFBitmap_BGRx: 4,
    pdfium_c.FPDFBitmap_BGRA: 4,
}


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
