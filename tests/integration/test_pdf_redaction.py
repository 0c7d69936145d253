"""True PDF redaction on real PDFs, made here with PDFium itself or written out by hand: what lay under
a box must be gone from the output file (its text layer, and every stream inflated), while the rest
of the page stays where it was and stays text."""

from __future__ import annotations

import ctypes
import hashlib
import io
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import pytest
from PIL import Image

from opendems.adapters.media.pdf import Box, find_text, page_image, pdf_pages, redact_pdf
from opendems.adapters.media.pdf import document as pdf_document
from opendems.domain.jobs import PermanentFailure

SECRET = "SECRETWORD"
LINE = f"Name: John {SECRET} Smith lives here"
HELVETICA = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


# -- making PDFs ---------------------------------------------------------------------------------


def add_text(
    pdf: pdfium.PdfDocument, page: pdfium.PdfPage, text: str, x: float, y: float, size: float = 12
) -> None:
    font = pdfium_c.FPDFText_LoadStandardFont(pdf.raw, b"Helvetica")
    obj = pdfium_c.FPDFPageObj_CreateTextObj(pdf.raw, font, size)
    data = ctypes.create_string_buffer((text + "\0").encode("utf-16-le"))
    assert pdfium_c.FPDFText_SetText(obj, ctypes.cast(data, pdfium_c.FPDF_WIDESTRING))
    pdfium_c.FPDFPageObj_Transform(obj, 1, 0, 0, 1, x, y)
    pdfium_c.FPDFPage_InsertObject(page.raw, obj)


def add_image(
    pdf: pdfium.PdfDocument, page: pdfium.PdfPage, pixels: np.ndarray, matrix: tuple[float, ...]
) -> None:
    image = pdfium.PdfImage.new(pdf)
    bitmap = pdfium.PdfBitmap.from_pil(Image.fromarray(pixels))
    image.set_bitmap(bitmap)
    image.set_matrix(pdfium.PdfMatrix(*matrix))
    page.insert_obj(image)


def letter_pdf(path: Path, pages: list[list[tuple[str, float, float]]], rotation: int = 0) -> Path:
    pdf = pdfium.PdfDocument.new()
    for lines in pages:
        page = pdf.new_page(612, 792)
        page.set_rotation(rotation)
        for text, x, y in lines:
            add_text(pdf, page, text, x, y)
        page.gen_content()
    pdf.save(path)
    return path


def raw_pdf(objects: list[bytes], trailer: bytes = b"") -> bytes:
    """A PDF written out by hand: ``objects[i]`` is object i + 1; object 1 is the catalog."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    start = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R %s >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        trailer,
        start,
    )
    return bytes(out)


def stream(data: bytes, extra: bytes = b"") -> bytes:
    return b"<< /Length %d %s >>\nstream\n%s\nendstream" % (len(data), extra, data)


def one_page(
    content: bytes, resources: bytes, page_extra: bytes = b"", more: list[bytes] | None = None
) -> list[bytes]:
    """Catalog, pages, page (object 3), its content (4), Helvetica (5), then ``more`` from object 6."""
    return [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources %s %s >>"
        % (resources, page_extra),
        stream(content),
        HELVETICA,
        *(more or []),
    ]


# -- reading them back -----------------------------------------------------------------------------


def inflated(data: bytes) -> list[bytes]:
    """Every stream of the file, inflated where it is Flate-compressed."""
    found = []
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        try:
            found.append(zlib.decompressobj().decompress(match.group(1)))
        except zlib.error:
            found.append(match.group(1))
    return found


def assert_gone(path: Path, secret: str) -> None:
    data = path.read_bytes()
    forms = [secret.encode(), secret.encode().hex().encode(), secret.encode().hex().upper().encode()]
    for blob in [data, *inflated(data)]:
        for form in forms:
            assert form not in blob
    assert all(secret not in text for text in page_texts(path))


def page_texts(path: Path) -> list[str]:
    pdf = pdfium.PdfDocument(path)
    try:
        return [pdf[i].get_textpage().get_text_range() for i in range(len(pdf))]
    finally:
        pdf.close()


def origins(path: Path, index: int, word: str) -> list[tuple[float, float]]:
    """Where PDFium's text layer puts each character of ``word`` on a page."""
    pdf = pdfium.PdfDocument(path)
    try:
        textpage = pdf[index].get_textpage()
        start = textpage.get_text_range().index(word)
        points = []
        for i in range(start, start + len(word)):
            x, y = ctypes.c_double(), ctypes.c_double()
            pdfium_c.FPDFText_GetCharOrigin(textpage.raw, i, x, y)
            points.append((x.value, y.value))
        return points
    finally:
        pdf.close()


def display_box(path: Path, index: int, word: str, pad: float = 1.0, password: str | None = None) -> Box:
    """The box around ``word`` as the page is displayed (top-left origin, rotation applied),
    worked out with PDFium's own page-to-device mapping at 100 device units per point."""
    pdf = pdfium.PdfDocument(path, password=password)
    try:
        page = pdf[index]
        width, height = page.get_size()
        textpage = page.get_textpage()
        start = textpage.get_text_range().index(word)
        xs, ys = [], []
        for i in range(start, start + len(word)):
            left, bottom, right, top = textpage.get_charbox(i)
            for x, y in ((left, bottom), (right, top)):
                dx, dy = ctypes.c_int(), ctypes.c_int()
                pdfium_c.FPDF_PageToDevice(
                    page.raw, 0, 0, round(width * 100), round(height * 100), 0, x, y, dx, dy
                )
                xs.append(dx.value / 100)
                ys.append(dy.value / 100)
        return min(xs) - pad, min(ys) - pad, max(xs) + pad, max(ys) + pad
    finally:
        pdf.close()


def render(path: Path, index: int = 0) -> npt.NDArray[np.int_]:
    """The page at 72 dpi, RGB."""
    pdf = pdfium.PdfDocument(path)
    try:
        pixels: npt.NDArray[np.int_] = pdf[index].render(scale=1, rev_byteorder=True).to_numpy()[:, :, :3]
        return pixels.astype(int)
    finally:
        pdf.close()


# -- the tests ---------------------------------------------------------------------------------------


def test_the_word_under_the_box_is_gone_and_its_line_stays(tmp_path: Path) -> None:
    src = letter_pdf(tmp_path / "src.pdf", [[(LINE, 72, 700), ("Second line untouched", 72, 680)]])
    before = src.read_bytes()
    smith = origins(src, 0, "Smith")
    dst = tmp_path / "out.pdf"

    params = redact_pdf(src, dst, {0: [display_box(src, 0, SECRET)]})

    assert_gone(dst, SECRET)
    text = page_texts(dst)[0]
    assert "Name: John" in text and "Smith lives here" in text and "Second line untouched" in text
    assert all(np.allclose(a, b, atol=0.05) for a, b in zip(origins(dst, 0, "Smith"), smith, strict=True))
    assert src.read_bytes() == before
    assert params["pages"] == 1 and params["pages_redacted"] == 1 and params["boxes"] == 1
    assert params["text_objects_trimmed"] == 1 and params["text_objects_removed"] == 0
    assert params["metadata_stripped"] is True and params["format"] == "pdf"
    # The box is drawn too, opaque black.
    x1, y1, x2, y2 = display_box(src, 0, SECRET)
    assert render(dst)[int(y1) + 2 : int(y2) - 2, int(x1) + 2 : int(x2) - 2].max() == 0


def test_a_box_given_on_a_rotated_page_removes_the_word_shown_there(tmp_path: Path) -> None:
    src = letter_pdf(
        tmp_path / "src.pdf", [[(LINE, 72, 700), ("Other words ANOTHER here", 72, 400)]], rotation=90
    )
    assert pdf_pages(src) == [(792.0, 612.0)]
    box = display_box(src, 0, SECRET)
    # A quarter turn clockwise: the top of the page is on the right, the line runs down it.
    assert box[0] > 650 and box[3] - box[1] > 5 * (box[2] - box[0])

    redact_pdf(src, tmp_path / "out.pdf", {0: [box]})

    assert_gone(tmp_path / "out.pdf", SECRET)
    text = page_texts(tmp_path / "out.pdf")[0]
    assert "John" in text and "Smith" in text and "ANOTHER" in text


def test_a_scanned_page_loses_the_pixels_and_the_ocr_text_under_the_box(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    scan = rng.integers(40, 255, size=(300, 240, 3), dtype=np.uint8)  # 240 x 300 px over the whole page
    pdf = pdfium.PdfDocument.new()
    page = pdf.new_page(612, 792)
    add_image(pdf, page, scan, (612, 0, 0, 792, 0, 0))
    add_text(pdf, page, LINE, 72, 700)
    pdfium_c.FPDFTextObj_SetTextRenderMode(
        pdfium_c.FPDFPage_GetObject(page.raw, 1), pdfium_c.FPDF_TEXTRENDERMODE_INVISIBLE
    )
    page.gen_content()
    src = tmp_path / "scan.pdf"
    pdf.save(src)
    pdf.close()
    box = (100.0, 200.0, 300.0, 320.0)

    params = redact_pdf(src, tmp_path / "out.pdf", {0: [box, display_box(src, 0, SECRET)]})

    assert params["images_redacted"] == 1 and params["text_objects_trimmed"] == 1
    assert_gone(tmp_path / "out.pdf", SECRET)
    # The image's own pixels: black under the box (page points -> image pixels at 240/612 across,
    # 300/792 down), untouched well away from it.
    out = pdfium.PdfDocument(tmp_path / "out.pdf")
    page = out[0]
    images = [obj for obj in page.get_objects() if obj.type == pdfium_c.FPDF_PAGEOBJ_IMAGE]
    assert len(images) == 1
    pixels = images[0].get_bitmap().to_numpy()[:, :, :3]
    sx, sy = 240 / 612, 300 / 792
    assert pixels[int(200 * sy) + 1 : int(320 * sy) - 1, int(100 * sx) + 1 : int(300 * sx) - 1].max() == 0
    assert np.array_equal(pixels[160:, :][:, :, ::-1], scan[160:, :])  # BGR in PDFium's bitmap
    # Rendered: black there too.
    shown = page.render(scale=1).to_numpy()
    assert shown[202:318, 102:298, :3].max() == 0
    out.close()


def test_a_jpeg_scan_stays_a_jpeg(tmp_path: Path) -> None:
    """A scan stored as JPEG comes back as JPEG (not a file ten times larger), black under the box."""
    yy, xx = np.mgrid[0:500, 0:400]
    scan = np.stack([(xx * 0.6) % 256, (yy * 0.5) % 256, ((xx + yy) * 0.3) % 256], axis=2).astype(np.uint8)
    Image.fromarray(scan).save(tmp_path / "scan.jpg", quality=90)
    pdf = pdfium.PdfDocument.new()
    page = pdf.new_page(400, 500)
    image = pdfium.PdfImage.new(pdf)
    image.load_jpeg(tmp_path / "scan.jpg")
    image.set_matrix(pdfium.PdfMatrix(400, 0, 0, 500, 0, 0))  # one pixel per point
    page.insert_obj(image)
    page.gen_content()
    src = tmp_path / "scan.pdf"
    pdf.save(src)
    pdf.close()

    params = redact_pdf(src, tmp_path / "out.pdf", {0: [(100.0, 100.0, 250.0, 180.0)]})

    assert params["images_redacted"] == 1
    assert (tmp_path / "out.pdf").stat().st_size < 2 * src.stat().st_size
    out = pdfium.PdfDocument(tmp_path / "out.pdf")
    page = out[0]
    (image,) = [obj for obj in page.get_objects() if obj.type == pdfium_c.FPDF_PAGEOBJ_IMAGE]
    assert image.get_filters() == ["DCTDecode"]
    pixels = image.get_bitmap().to_numpy()[:, :, 2::-1].astype(int)
    assert pixels[100:180, 100:250].max() <= 16
    assert np.abs(pixels[260:, :] - scan[260:, :]).mean() < 3
    out.close()


def test_pages_without_boxes_come_out_unchanged(tmp_path: Path) -> None:
    pages = [[(f"Page {n} says {SECRET} and more", 72.0, 700.0)] for n in range(3)]
    src = letter_pdf(tmp_path / "src.pdf", pages)
    before = page_texts(src)

    with open(src, "rb") as stream_:  # a stream will do as well as a path
        params = redact_pdf(stream_, tmp_path / "out.pdf", {1: [display_box(src, 1, SECRET)], 2: []})

    after = page_texts(tmp_path / "out.pdf")
    assert after[0] == before[0] and after[2] == before[2]
    assert SECRET not in after[1] and "Page 1 says" in after[1] and "and more" in after[1]
    assert pdf_pages(tmp_path / "out.pdf") == [(612.0, 792.0)] * 3
    assert params["pages"] == 3 and params["pages_redacted"] == 1


def test_spacing_inline_images_and_clipping_survive_the_rewrite(tmp_path: Path) -> None:
    """PDFium does not write character or word spacing, inline images or CMYK colours back; the
    words left on such a line must still be where they were, and nothing outside the box may
    change on the page."""
    content = (
        b"BT /F1 12 Tf 72 700 Td 1.5 Tc (Character spaced line) Tj ET\n"
        b"BT /F1 12 Tf 72 680 Td 0 Tc 6 Tw (Justified with SECRETWORD in the middle) Tj ET\n"
        b"BT /F1 12 Tf 72 660 Td 0 Tw 130 Tz (Stretched) Tj 100 Tz ET\n"
        b"BT /F1 12 Tf 72 640 Td [(Kern) -400 (ed) 250 (TJ)] TJ ET\n"
        b"0.4 g BT /F1 12 Tf 72 620 Td (gray text) Tj ET 0 g\n"
        b"0 0.8 1 0 k 0.7 0 0 0 K 4 w 72 580 100 20 re B 0 0 0 1 k\n"
        b"0.1 0.9 0 0 k BT /F1 12 Tf 200 580 Td (cmyk text) Tj ET 0 g\n"
        b"q 72 500 120 60 re W n BT /F1 30 Tf 60 520 Td (Clipped overflow) Tj ET Q\n"
        b"q 40 0 0 20 300 500 cm BI /W 4 /H 2 /BPC 8 /CS /G ID \x10\x50\x90\xd0\xe0\xa0\x60\x20 EI Q\n"
    )
    src = tmp_path / "styles.pdf"
    src.write_bytes(raw_pdf(one_page(content, b"<< /Font << /F1 5 0 R >> >>")))
    box = display_box(src, 0, SECRET)

    params = redact_pdf(src, tmp_path / "out.pdf", {0: [box]})

    assert_gone(tmp_path / "out.pdf", SECRET)
    for word in ("Character", "middle", "Stretched", "TJ", "gray", "cmyk", "Clipped"):
        assert np.allclose(origins(tmp_path / "out.pdf", 0, word), origins(src, 0, word), atol=0.05), word
    before, after = render(src), render(tmp_path / "out.pdf")
    x1, y1, x2, y2 = box
    outside = np.ones(before.shape[:2], dtype=bool)
    outside[int(y1) - 2 : int(y2) + 3, int(x1) - 2 : int(x2) + 3] = False
    assert np.abs(before - after)[outside].max() <= 8
    assert params["objects_dropped"] == 0


def test_see_through_images_keep_their_transparency_and_colour(tmp_path: Path) -> None:
    """A stencil mask (painted in the fill colour) and an image with a soft mask: PDFium's own
    bitmap of either leaves the mask out; blackened, they must look as before outside the box."""
    stencil = b"".join(
        sum(1 << (15 - x) for x in range(16) if (x // 4 + y // 4) % 2).to_bytes(2, "big") for y in range(16)
    )
    alpha = bytes(x * 16 for _ in range(16) for x in range(16))
    content = (
        b"0.9 0.9 0.2 rg 0 0 612 792 re f\n"
        b"0 0 1 rg q 160 0 0 160 100 500 cm /Mk Do Q\n"
        b"q 160 0 0 160 300 500 cm /Sm Do Q\n"
    )
    image = b"/Type /XObject /Subtype /Image /Width 16 /Height 16 /BitsPerComponent "
    more = [
        stream(stencil, image + b"1 /ImageMask true"),
        stream(bytes([200, 30, 30] * 256), image + b"8 /ColorSpace /DeviceRGB /SMask 8 0 R"),
        stream(alpha, image + b"8 /ColorSpace /DeviceGray"),
    ]
    src = tmp_path / "masks.pdf"
    src.write_bytes(raw_pdf(one_page(content, b"<< /XObject << /Mk 6 0 R /Sm 7 0 R >> >>", more=more)))
    boxes: list[Box] = [(120, 200, 200, 260), (320, 200, 400, 260)]

    params = redact_pdf(src, tmp_path / "out.pdf", {0: boxes})

    assert params["images_redacted"] == 2
    before, after = render(src), render(tmp_path / "out.pdf")
    outside = np.ones(before.shape[:2], dtype=bool)
    for x1, y1, x2, y2 in boxes:  # one image pixel is 10 points: those partly under a box go black
        outside[int(y1) - 11 : int(y2) + 12, int(x1) - 11 : int(x2) + 12] = False
        assert after[int(y1) : int(y2), int(x1) : int(x2)].max() == 0
    assert np.abs(before - after)[outside].max() <= 8


def test_alternate_text_of_marked_content_does_not_carry_the_word_out(tmp_path: Path) -> None:
    words = b"BT /F1 12 Tf 140 700 Td (SECRETWORD) Tj ET\nBT /F1 12 Tf 230 700 Td (Smith) Tj ET\n"
    marked = b"/Span << /ActualText (John SECRETWORD Smith) >> BDC\n" + words + b"EMC\n"
    plain, src = tmp_path / "plain.pdf", tmp_path / "marked.pdf"
    plain.write_bytes(raw_pdf(one_page(words, b"<< /Font << /F1 5 0 R >> >>")))
    src.write_bytes(raw_pdf(one_page(marked, b"<< /Font << /F1 5 0 R >> >>")))
    assert "John SECRETWORD Smith" in page_texts(src)[0]  # PDFium's text extraction reads /ActualText

    redact_pdf(src, tmp_path / "out.pdf", {0: [display_box(plain, 0, SECRET)]})

    assert_gone(tmp_path / "out.pdf", SECRET)
    assert page_texts(tmp_path / "out.pdf")[0] == "Smith"


@pytest.mark.skipif(not DEJAVU.exists(), reason="needs the DejaVu Sans font file")
def test_an_embedded_subset_font_is_re_encoded_through_its_unicode_map(tmp_path: Path) -> None:
    data = DEJAVU.read_bytes()
    pdf = pdfium.PdfDocument.new()
    page = pdf.new_page(612, 792)
    font = pdfium_c.FPDFText_LoadFont(
        pdf.raw,
        (ctypes.c_uint8 * len(data)).from_buffer_copy(data),
        len(data),
        pdfium_c.FPDF_FONT_TRUETYPE,
        True,
    )
    line = f"Zeugin Jürgen Müller-{SECRET} Straße Ωmega"
    obj = pdfium_c.FPDFPageObj_CreateTextObj(pdf.raw, font, 11)
    data16 = ctypes.create_string_buffer((line + "\0").encode("utf-16-le"))
    pdfium_c.FPDFText_SetText(obj, ctypes.cast(data16, pdfium_c.FPDF_WIDESTRING))
    pdfium_c.FPDFPageObj_Transform(obj, 1, 0, 0, 1, 72, 700)
    pdfium_c.FPDFPage_InsertObject(page.raw, obj)
    page.gen_content()
    src = tmp_path / "cid.pdf"
    pdf.save(src)
    pdf.close()

    params = redact_pdf(src, tmp_path / "out.pdf", {0: [display_box(src, 0, SECRET, pad=0.2)]})

    assert params["text_objects_trimmed"] == 1
    text = page_texts(tmp_path / "out.pdf")[0]
    assert SECRET not in text and "Jürgen Müller" in text and "Straße Ωmega" in text
    assert np.allclose(origins(tmp_path / "out.pdf", 0, "Straße"), origins(src, 0, "Straße"), atol=0.05)


def test_what_pdfium_cannot_write_back_is_kept_as_pictures(tmp_path: Path) -> None:
    """Text in a Type 3 font (PDFium would write a broken text block) and a shading (PDFium would
    leave it out) on a redacted page: both must still show, the text still be found."""
    content = (
        b"BT /T3 24 Tf 72 600 Td (abab) Tj ET\n"
        b"BT /F1 12 Tf 72 700 Td (" + LINE.encode() + b") Tj ET\n"
        b"q 300 100 200 300 re W n /Sh1 sh Q\n"
    )
    type3 = (
        b"<< /Type /Font /Subtype /Type3 /FontBBox [0 0 1000 1000] /FontMatrix [0.001 0 0 0.001 0 0]"
        b" /CharProcs << /a 7 0 R /b 8 0 R >> /Encoding << /Type /Encoding /Differences [97 /a /b] >>"
        b" /FirstChar 97 /LastChar 98 /Widths [1000 1000] /ToUnicode 9 0 R >>"
    )
    to_unicode = (
        b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap /CMapName /T3 def"
        b" 1 begincodespacerange <00> <FF> endcodespacerange"
        b" 2 beginbfchar <61> <0058> <62> <0059> endbfchar endcmap"
        b" CMapName currentdict /CMap defineresource pop end end"
    )
    more = [
        type3,
        stream(b"1000 0 0 0 800 800 d1 100 100 600 600 re f"),
        stream(b"1000 0 0 0 800 800 d1 0 0 800 300 re f"),
        stream(to_unicode),
        b"<< /ShadingType 2 /ColorSpace /DeviceRGB /Coords [300 0 500 0]"
        b" /Function << /FunctionType 2 /Domain [0 1] /C0 [1 0 0] /C1 [0 0.8 0] /N 1 >> >>",
    ]
    src = tmp_path / "src.pdf"
    resources = b"<< /Font << /F1 5 0 R /T3 6 0 R >> /Shading << /Sh1 10 0 R >> >>"
    src.write_bytes(raw_pdf(one_page(content, resources, more=more)))
    box = display_box(src, 0, SECRET)

    params = redact_pdf(src, tmp_path / "out.pdf", {0: [box]})

    assert params["text_objects_pictured"] == 1 and params["objects_dropped"] == 0
    assert_gone(tmp_path / "out.pdf", SECRET)
    assert "XYXY" in page_texts(tmp_path / "out.pdf")[0].replace(" ", "")
    for blob in inflated((tmp_path / "out.pdf").read_bytes()):
        assert len(re.findall(rb"\bBT\b", blob)) == len(re.findall(rb"\bET\b", blob))
    before, after = render(src), render(tmp_path / "out.pdf")
    assert np.abs(before - after)[170:190, 72:170].mean() < 8  # the Type 3 glyphs
    assert np.abs(before - after)[400:690, 305:495].mean() < 4  # the shading


def test_a_line_with_a_ligature_becomes_a_picture_of_what_is_left(tmp_path: Path) -> None:
    """A glyph standing for two characters (here "~" read as "fi") cannot be written again from
    its characters: the line is kept as a picture, under its remaining text in invisible type."""
    to_unicode = stream(
        b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap /CMapName /L def"
        b" 1 begincodespacerange <00> <FF> endcodespacerange 1 beginbfchar <7E> <00660069> endbfchar"
        b" 1 beginbfrange <20> <7D> <0020> endbfrange endcmap CMapName currentdict /CMap defineresource pop end end"
    )
    content = b"BT /F1 12 Tf 72 700 Td (The of~cer ~ned him SECRETWORD yesterday) Tj ET"
    objects = one_page(content, b"<< /Font << /F1 5 0 R >> >>", more=[to_unicode])
    objects[4] = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /ToUnicode 6 0 R >>"
    src = tmp_path / "src.pdf"
    src.write_bytes(raw_pdf(objects))
    assert page_texts(src)[0] == "The officer fined him SECRETWORD yesterday"
    box = display_box(src, 0, SECRET)

    params = redact_pdf(src, tmp_path / "out.pdf", {0: [box]})

    assert params["text_objects_pictured"] == 1
    assert_gone(tmp_path / "out.pdf", SECRET)
    text = page_texts(tmp_path / "out.pdf")[0]
    assert "The" in text and "yesterday" in text and "ned him" in text
    before, after = render(src), render(tmp_path / "out.pdf")
    x1, y1, x2, y2 = box
    outside = np.ones(before.shape[:2], dtype=bool)
    outside[int(y1) - 2 : int(y2) + 3, int(x1) - 2 : int(x2) + 3] = False
    assert np.abs(before - after)[outside].mean() < 0.5


def test_text_in_a_form_is_redacted_on_this_page_only(tmp_path: Path) -> None:
    form = b"BT /F1 12 Tf 72 700 Td (" + LINE.encode() + b") Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R 6 0 R] /Count 2 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources 8 0 R >>",
        stream(b"q 1 0 0 1 0 -100 cm /Fm1 Do Q"),
        HELVETICA,
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 7 0 R /Resources 8 0 R >>",
        stream(b"/Fm1 Do"),
        b"<< /XObject << /Fm1 9 0 R >> >>",
        stream(
            form, b"/Type /XObject /Subtype /Form /BBox [0 0 612 792] /Resources << /Font << /F1 5 0 R >> >>"
        ),
    ]
    src = tmp_path / "form.pdf"
    src.write_bytes(raw_pdf(objects))

    params = redact_pdf(src, tmp_path / "out.pdf", {0: [display_box(src, 0, SECRET)]})

    first, second = page_texts(tmp_path / "out.pdf")
    assert SECRET not in first and "Name: John" in first and "Smith lives here" in first
    assert second == LINE  # the form drawn on page 2 is not touched
    assert params["forms_opened"] == 1 and params["text_objects_trimmed"] == 1
    assert np.allclose(origins(tmp_path / "out.pdf", 0, "Smith"), origins(src, 0, "Smith"), atol=0.05)


def test_metadata_annotations_paths_and_unused_objects_do_not_leak(tmp_path: Path) -> None:
    content = (
        b"BT /F1 12 Tf 72 700 Td (" + LINE.encode() + b") Tj ET\n"
        b"1 0 0 rg 150 300 50 40 re f\n"  # entirely inside the second box: removed
        b"0 0 1 rg 100 310 400 10 re f\n"  # running under the second box: covered there, kept
    )
    more = [
        b"<< /Type /Annot /Subtype /Link /Rect [140 695 230 712] /Border [0 0 0]"
        b" /A << /S /URI /URI (https://example.org/SECRETLINK) >> >>",
        b"<< /Type /Annot /Subtype /Text /Rect [400 400 420 420] /Contents (a note kept) >>",
        b"<< /Title (SECRETTITLE) /Author (SECRETAUTHOR) >>",
        stream(b"<x:xmpmeta>SECRETXMP</x:xmpmeta>", b"/Type /Metadata /Subtype /XML"),
        stream(b"BT /F1 12 Tf (SECRETORPHAN) Tj ET"),  # in the file, used by nothing
    ]
    objects = one_page(content, b"<< /Font << /F1 5 0 R >> >>", b"/Annots [6 0 R 7 0 R]", more)
    objects[0] = b"<< /Type /Catalog /Pages 2 0 R /Metadata 9 0 R >>"
    src = tmp_path / "src.pdf"
    src.write_bytes(raw_pdf(objects, b"/Info 8 0 R"))
    assert pdfium.PdfDocument(src).get_metadata_value("Title") == "SECRETTITLE"

    params = redact_pdf(src, tmp_path / "out.pdf", {0: [display_box(src, 0, SECRET), (140, 450, 210, 500)]})

    for secret in (SECRET, "SECRETLINK", "SECRETTITLE", "SECRETAUTHOR", "SECRETXMP", "SECRETORPHAN"):
        assert_gone(tmp_path / "out.pdf", secret)
    out = pdfium.PdfDocument(tmp_path / "out.pdf")
    assert out.get_metadata_value("Title") == "" and out.get_metadata_value("Author") == ""
    assert pdfium_c.FPDFPage_GetAnnotCount(out[0].raw) == 1
    out.close()
    assert params["paths_removed"] == 1 and params["annotations_removed"] == 1
    shown = render(tmp_path / "out.pdf")
    assert shown[792 - 315, 110].tolist() == [0, 0, 255]  # the blue bar, outside the box
    assert shown[792 - 315, 175].tolist() == [0, 0, 0]  # under the box
    assert "Smith lives here" in page_texts(tmp_path / "out.pdf")[0]


def test_a_thumbnail_of_the_page_before_redaction_is_not_kept(tmp_path: Path) -> None:
    pixels = (SECRET * 4).encode()[:40]  # a recognisable 8 x 5 grey "image"
    content = b"BT /F1 12 Tf 72 700 Td (" + LINE.encode() + b") Tj ET"
    thumb = stream(pixels, b"/Width 8 /Height 5 /BitsPerComponent 8 /ColorSpace /DeviceGray")
    src = tmp_path / "src.pdf"
    src.write_bytes(raw_pdf(one_page(content, b"<< /Font << /F1 5 0 R >> >>", b"/Thumb 6 0 R", [thumb])))

    redact_pdf(src, tmp_path / "out.pdf", {0: [display_box(src, 0, SECRET)]})

    data = (tmp_path / "out.pdf").read_bytes()
    assert all(pixels not in blob for blob in [data, *inflated(data)])
    assert_gone(tmp_path / "out.pdf", SECRET)
    assert "Smith lives here" in page_texts(tmp_path / "out.pdf")[0]
    assert np.allclose(origins(tmp_path / "out.pdf", 0, "Smith"), origins(src, 0, "Smith"), atol=0.05)


def test_an_encrypted_pdf_needs_its_password(tmp_path: Path) -> None:
    src = tmp_path / "locked.pdf"
    src.write_bytes(encrypted_pdf("s3cret", b"BT /F1 12 Tf 72 700 Td (" + LINE.encode() + b") Tj ET"))

    with pytest.raises(PermanentFailure, match="password"):
        redact_pdf(src, tmp_path / "out.pdf", {0: [(0, 0, 10, 10)]})
    with pytest.raises(PermanentFailure, match="password given does not open"):
        redact_pdf(src, tmp_path / "out.pdf", {0: [(0, 0, 10, 10)]}, password="wrong")
    assert not (tmp_path / "out.pdf").exists()

    box = display_box(src, 0, SECRET, password="s3cret")
    redact_pdf(src, tmp_path / "out.pdf", {0: [box]}, password="s3cret")
    assert_gone(tmp_path / "out.pdf", SECRET)
    assert "Smith" in page_texts(tmp_path / "out.pdf")[0]


def test_the_checks_after_writing_catch_what_the_redaction_missed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fail-secure: with the object-by-object redaction switched off, the page parsed again from
    what was written still has the word under the box, and the whole text object goes; with that
    check switched off too, the final check of the saved file refuses to write anything."""
    src = letter_pdf(tmp_path / "src.pdf", [[(LINE, 72, 700), ("Second line untouched", 72, 680)]])
    box = display_box(src, 0, SECRET)
    monkeypatch.setattr(pdf_document, "_redact_objects", lambda *args: [])

    params = redact_pdf(src, tmp_path / "out.pdf", {0: [box]})

    assert params["text_objects_removed"] == 1
    assert_gone(tmp_path / "out.pdf", SECRET)
    assert page_texts(tmp_path / "out.pdf")[0] == "Second line untouched"

    monkeypatch.setattr(pdf_document, "_enforce", lambda *args: None)
    with pytest.raises(PermanentFailure, match="survived the redaction"):
        redact_pdf(src, tmp_path / "again.pdf", {0: [box]})
    assert not (tmp_path / "again.pdf").exists() and not (tmp_path / ".again.pdf.part").exists()


@pytest.mark.parametrize(
    ("regions", "message"),
    [
        ({3: [(10, 10, 20, 20)]}, "no page 3"),
        ({-1: [(10, 10, 20, 20)]}, "no page -1"),
        ({0: [(10, 10, 10, 20)]}, "no area"),
        ({0: [(30, 10, 20, 20)]}, "no area"),
        ({0: [(10, 10, 700, 20)]}, "outside the page"),
        ({0: [(float("nan"), 10, 20, 20)]}, "no area"),
        ({0: [("a", 10, 20, 20)]}, "four numbers"),
    ],
)
def test_bad_regions_are_refused_and_write_nothing(
    tmp_path: Path, regions: dict[int, list[Box]], message: str
) -> None:
    src = letter_pdf(tmp_path / "src.pdf", [[(LINE, 72, 700)]])
    with pytest.raises(PermanentFailure, match=message):
        redact_pdf(src, tmp_path / "out.pdf", regions)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src.pdf"]


def test_a_file_that_is_not_a_pdf_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x.pdf").write_bytes(b"%PDF-1.4\nthis is not really a PDF")
    with pytest.raises(PermanentFailure, match="cannot be opened"):
        redact_pdf(tmp_path / "x.pdf", tmp_path / "out.pdf", {0: [(0, 0, 10, 10)]})
    with pytest.raises(PermanentFailure, match="place of the original"):
        redact_pdf(tmp_path / "x.pdf", tmp_path / "x.pdf", {0: [(0, 0, 10, 10)]})
    with open(tmp_path / "x.pdf", "rb") as stream_, pytest.raises(PermanentFailure, match="cannot be opened"):
        pdf_pages(stream_)
    assert not (tmp_path / "out.pdf").exists()


# -- finding text for the editor -----------------------------------------------------------------------

PII_LINES = [
    ("Name: Jane Doe SSN: 123-45-6789 lives", 72, 700),
    ("Write to jane.doe@example.com please", 72, 680),
    ("Badge 4471 attended with Jane", 72, 660),
    ("Doe at the scene", 72, 640),
]


@pytest.mark.parametrize("rotation", [0, 90, 270])
def test_found_text_boxes_take_out_exactly_the_words_found(tmp_path: Path, rotation: int) -> None:
    src = letter_pdf(tmp_path / "src.pdf", [PII_LINES], rotation=rotation)
    patterns = [
        ("ssn", re.compile(r"\d{3}-\d{2}-\d{4}")),
        ("email", re.compile(r"\S+@\S+")),
        ("name", re.compile(r"Jane\s+Doe")),
        ("lives", re.compile(r"SSN: (?P<pii>\d+)")),  # only the group is boxed; overlaps the SSN: left out
    ]

    found = find_text(src, patterns)

    assert found.pages == pdf_pages(src) and found.text_pages == 1
    by_label: dict[str, list[tuple[int, int, Box]]] = {}
    for page, label, length, box in found.matches:
        by_label.setdefault(label, []).append((page, length, box))
    assert sorted(by_label) == ["email", "name", "ssn"]
    assert [(p, n) for p, n, _ in by_label["ssn"]] == [(0, 11)]
    assert np.allclose(by_label["ssn"][0][2], display_box(src, 0, "123-45-6789", pad=0), atol=0.01)
    assert np.allclose(by_label["email"][0][2], display_box(src, 0, "jane.doe@example.com", pad=0), atol=0.01)
    if rotation == 0:  # PDFium reads the lines of a turned page in another order: "Jane" then "Doe" apart
        # "Jane Doe" on one line, and again over a line break: one box for each line it is on.
        assert [n for _, n, _ in by_label["name"]] == [7, 4, 3]

    params = redact_pdf(src, tmp_path / "out.pdf", {0: [box for _, _, _, box in found.matches]})

    # Boxes as tight as the glyphs: the rest of each line stays, and stays text.
    assert params["text_objects_removed"] == 0
    for gone in ("123-45-6789", "jane.doe@example.com"):
        assert_gone(tmp_path / "out.pdf", gone)
    text = page_texts(tmp_path / "out.pdf")[0]
    for kept in ("Name:", "SSN:", "lives", "Write to", "please", "Badge 4471 attended with", "at the scene"):
        assert kept in text, (kept, text)


def test_a_page_is_drawn_as_it_is_displayed(tmp_path: Path) -> None:
    src = letter_pdf(tmp_path / "src.pdf", [[(LINE, 72, 700)], [(LINE, 72, 700)]], rotation=90)
    drawn = page_image(src, 1, 792)
    assert drawn is not None
    png, meta = drawn
    assert meta == {
        "page": 1,
        "pages": 2,
        "width": 792,
        "height": 612,
        "page_width_pt": 792.0,
        "page_height_pt": 612.0,
    }
    with Image.open(io.BytesIO(png)) as picture:
        assert picture.format == "PNG" and picture.size == (792, 612)
        pixels = np.asarray(picture.convert("L"))
    x1, y1, x2, y2 = display_box(src, 1, SECRET)
    assert pixels[int(y1) : int(y2), int(x1) : int(x2)].min() < 100  # the word is where the box says
    assert page_image(src, 2, 792) is None
    assert page_image(src, 0, 100_000) is not None  # capped, not refused


# -- an RC4 (revision 2) encrypted PDF, written by hand --------------------------------------------

PADDING = bytes.fromhex("28BF4E5E4E758A4164004E56FFFA01082E2E00B6D0683E802F0CA9FE6453697A")


def rc4(key: bytes, data: bytes) -> bytes:
    state, j = list(range(256)), 0
    for i in range(256):
        j = (j + state[i] + key[i % len(key)]) % 256
        state[i], state[j] = state[j], state[i]
    out, i, j = bytearray(), 0, 0
    for byte in data:
        i = (i + 1) % 256
        j = (j + state[i]) % 256
        state[i], state[j] = state[j], state[i]
        out.append(byte ^ state[(state[i] + state[j]) % 256])
    return bytes(out)


def encrypted_pdf(password: str, content: bytes) -> bytes:
    def padded(text: str) -> bytes:
        return (text.encode() + PADDING)[:32]

    file_id, permissions = b"0123456789abcdef", -4
    owner = rc4(hashlib.md5(padded("owner")).digest()[:5], padded(password))
    key = hashlib.md5(padded(password) + owner + struct.pack("<i", permissions) + file_id).digest()[:5]
    object_key = hashlib.md5(key + struct.pack("<I", 4)[:3] + b"\0\0").digest()[:10]
    objects = one_page(rc4(object_key, content), b"<< /Font << /F1 5 0 R >> >>")
    objects.append(
        b"<< /Filter /Standard /V 1 /R 2 /O <%s> /U <%s> /P %d >>"
        % (owner.hex().encode(), rc4(key, PADDING).hex().encode(), permissions)
    )
    return raw_pdf(
        objects, b"/Encrypt 6 0 R /ID [<%s> <%s>]" % (file_id.hex().encode(), file_id.hex().encode())
    )
