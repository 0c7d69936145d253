"""Enrichment benchmark: text recognition (OCR).

Generates, from a known typed report (tests/scans.py), an image-only "scanned" PDF of N pages
at 200 dpi (reportlab, drawn by PDFium) and photos of a sign, then measures in the same run, with
the engines the installation uses (Debian's tesseract with its English model for scanned pages;
RapidOCR's packaged PP-OCR models for photos, on the CPU):
  - seconds per scanned page (the whole job's path: the page drawn at 300 dpi, read by
    tesseract, boxes converted), against the target of <= 3 s a page (a 500-page scan in
    25 minutes on one core), and the character error rate on those pages, target <= 0.02;
  - seconds per photo and the character error rate on the sign, target <= 0.05;
and, as the limit measured in the same run, the bare engine: the tesseract program alone over
the same pages, already drawn (PDFium at 300 dpi, grey), handed to it the same way -- the
ratio bare / whole says what the job adds around the engine (1.0: nothing).
Usage: python bench/enrich_ocr.py [--pages 20] [--photos 5]
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.scans import PLAIN, REPORT, scanned_pdf, sign_photo  # noqa: E402

from opendems.adapters.text.ocr import LANGUAGE, RENDER_DPI, TextReader, scene_text, tesseract  # noqa: E402
from opendems.domain.ocr import READ, character_error_rate  # noqa: E402

PAGE_TARGET_S = 3.0
SCAN_CER_TARGET = 0.02
PHOTO_CER_TARGET = 0.05
SIGN = ["NO PARKING", "TOW-AWAY ZONE", "CALL 555-867-5309"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--photos", type=int, default=5)
    args = parser.parse_args(argv)
    pages = [REPORT if n % 2 == 0 else REPORT[:5] + PLAIN for n in range(args.pages)]
    scan = scanned_pdf(pages)
    reader = TextReader()
    engine = tesseract()
    print(
        f"tesseract {engine.version}, model {engine.model} (SHA-256 {engine.provenance['ocr_model_sha256'][:16]}...)"
    )

    started = time.perf_counter()
    ocr = reader.read_pdf(io.BytesIO(scan), lambda fraction: None)
    spent = time.perf_counter() - started
    read = [p for p in ocr.pages if p.source == READ]
    assert len(read) == args.pages, ocr.summary()
    errors = sum(
        character_error_rate("\n".join(lines), p.text) * len(" ".join(lines))
        for lines, p in zip(pages, read, strict=True)
    )
    scan_cer = errors / sum(len(" ".join(lines)) for lines in pages)
    per_page = spent / args.pages
    engine_s = sum(p.seconds for p in read) / args.pages

    bare_s = bare_tesseract(scan, engine.program)

    scene_text()  # the models load once per process: not counted per photo
    photo_s: list[float] = []
    photo_cer: list[float] = []
    for n in range(args.photos):
        photo, _ = sign_photo(SIGN, at=(160 + 40 * n, 240 + 30 * n))
        started = time.perf_counter()
        text = reader.read_image(io.BytesIO(photo), lambda fraction: None)
        photo_s.append(time.perf_counter() - started)
        photo_cer.append(character_error_rate("\n".join(SIGN), text.pages[0].text))
    mean_photo = sum(photo_s) / len(photo_s)
    mean_photo_cer = sum(photo_cer) / len(photo_cer)

    print(f"scanned PDF: {args.pages} pages at 200 dpi, read in {spent:.1f} s")
    print(
        f"  seconds per page:         {per_page:.2f} s (the page itself, drawn and read: {engine_s:.2f} s)"
        f"  ratio to the {PAGE_TARGET_S:g} s target: {per_page / PAGE_TARGET_S:.2f}"
    )
    print(
        f"  the tesseract program alone on the same drawn pages: {bare_s:.2f} s a page;"
        f" ratio bare / whole: {bare_s / per_page:.2f}"
    )
    print(
        f"  character error rate:     {scan_cer:.4f}  ratio to the {SCAN_CER_TARGET} target: {scan_cer / SCAN_CER_TARGET:.2f}"
    )
    print(f"photos (1280x960 JPEG, a sign): {args.photos}")
    print(f"  seconds per photo:        {mean_photo:.2f} s")
    print(
        f"  character error rate:     {mean_photo_cer:.4f}  ratio to the {PHOTO_CER_TARGET} target: {mean_photo_cer / PHOTO_CER_TARGET:.2f}"
    )


def bare_tesseract(scan: bytes, program: str) -> float:
    """Seconds a page for the tesseract program alone, the pages drawn beforehand (untimed)."""
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(scan)
    images = []
    for page in doc:
        buf = io.BytesIO()
        page.render(scale=RENDER_DPI / 72, grayscale=True).to_pil().save(buf, format="PPM")
        images.append(buf.getvalue())
    doc.close()
    env = {"PATH": os.environ.get("PATH", "/usr/bin"), "OMP_THREAD_LIMIT": "1"}
    command = [program, "stdin", "stdout", "-l", LANGUAGE, "--psm", "3", "--dpi", str(RENDER_DPI), "tsv"]
    started = time.perf_counter()
    for image in images:
        subprocess.run(command, input=image, capture_output=True, env=env, check=True)
    return (time.perf_counter() - started) / len(images)


if __name__ == "__main__":
    main()
