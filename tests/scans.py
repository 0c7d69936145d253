"""Pictures of text made here, for the OCR tests and benchmark: typed pages (reportlab) drawn by
PDFium into image-only "scanned" PDFs, and photos of signs (Pillow, DejaVu Sans)."""

from __future__ import annotations

import io
from pathlib import Path

import pypdfium2 as pdfium
from PIL import Image, ImageDraw, ImageFilter, ImageFont

DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
DEJAVU_BOLD = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")
LINE_START = (72.0, 720.0)  # where the first line's baseline lies (points from the bottom-left)
LINE_GAP = 22.0
FONT_SIZE = 12.0

REPORT = [
    "CITY POLICE DEPARTMENT - INCIDENT REPORT",
    "Report number 2024-10231, filed on March 3, 2024 at 14:20.",
    "Reporting officer: Sergeant Maria Alvarez, badge 4471.",
    "Witness: John Smith, phone (555) 123-4567, lives at 42 Oak Street.",
    "The witness saw a blue sedan leave the car park at speed.",
    "Its licence plate was read as 7ABC123 by the officer on scene.",
    "No injuries were reported. The vehicle was later found abandoned",
    "near the river, with its doors open and the engine still warm.",
    "Property recovered: one wallet, two phones, a set of keys.",
    "Follow-up interview scheduled with the owner of the vehicle.",
]
PLAIN = [
    "The patrol returned to the station at the end of the shift.",
    "All equipment was checked and signed back in by the sergeant.",
    "Nothing further was noted during the handover to the next team.",
]


def typed_pdf(pages: list[list[str]]) -> bytes:
    """A born-digital PDF (with a text layer): each page's lines in 12 pt Helvetica."""
    from reportlab.lib.pagesizes import letter
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=letter)
    for lines in pages:
        x, y = LINE_START
        c.setFont("Helvetica", FONT_SIZE)
        for line in lines:
            c.drawString(x, y, line)
            y -= LINE_GAP
        c.showPage()
    c.save()
    return buf.getvalue()


def line_top(n: int) -> float:
    """Where line ``n`` (from 0) of a typed page lies, in points from the top of the page: its
    baseline (the letters stand on it; capitals reach about 9 points above)."""
    return 792.0 - (LINE_START[1] - n * LINE_GAP)


def scanned_pdf(pages: list[list[str]], dpi: int = 200, *, keep_text: set[int] | None = None) -> bytes:
    """An image-only PDF, as a scanner makes: each typed page drawn at ``dpi`` in grey and
    stored as a picture (no text layer), except the pages in ``keep_text`` (indexes), kept as
    typed (a document that is part scan, part born-digital)."""
    typed = pdfium.PdfDocument(typed_pdf(pages))
    out = pdfium.PdfDocument.new()
    try:
        for index in range(len(typed)):
            if keep_text and index in keep_text:
                out.import_pages(typed, [index])
                continue
            picture = typed[index].render(scale=dpi / 72, grayscale=True).to_pil()
            single = io.BytesIO()
            picture.save(single, format="PDF", resolution=dpi)
            out.import_pages(pdfium.PdfDocument(single.getvalue()))
        buf = io.BytesIO()
        out.save(buf)
        return buf.getvalue()
    finally:
        out.close()
        typed.close()


def sign_photo(
    lines: list[str], size: tuple[int, int] = (1280, 960), *, at: tuple[int, int] = (240, 300)
) -> tuple[bytes, list[tuple[int, int, int, int]]]:
    """A JPEG "photo" of a sign on a textured wall (slightly soft, as a camera sees it), and
    the box of each line of the sign's text in its pixels."""
    width, height = size
    wall = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    wall = Image.blend(wall, Image.new("RGB", size, (120, 110, 90)), 0.6)
    draw = ImageDraw.Draw(wall)
    font = ImageFont.truetype(str(DEJAVU_BOLD), 48)
    x, y = at
    boxes = [draw.textbbox((x, y + n * 80), line, font=font) for n, line in enumerate(lines)]
    sign = (x - 30, y - 30, max(b[2] for b in boxes) + 30, boxes[-1][3] + 30)
    draw.rectangle(sign, fill=(240, 240, 235), outline=(30, 30, 30), width=6)
    for n, line in enumerate(lines):
        draw.text((x, y + n * 80), line, fill=(20, 20, 20), font=font)
    photo = wall.filter(ImageFilter.GaussianBlur(0.8))
    buf = io.BytesIO()
    photo.save(buf, format="JPEG", quality=88)
    return buf.getvalue(), boxes


def blank_photo(size: tuple[int, int] = (800, 600)) -> bytes:
    """A photo with no text in it: a smooth gradient."""
    picture = Image.linear_gradient("L").resize(size).convert("RGB")
    buf = io.BytesIO()
    picture.save(buf, format="JPEG", quality=90)
    return buf.getvalue()
