"""Text in pictures, read offline.

- **Documents** (a PDF's pages): Debian's ``tesseract-ocr`` with its English model, reached
  through pytesseract (which finds the program and its version). A page that carries its own
  text layer is not read again: its text is taken from the layer. A scanned page is drawn by
  PDFium at 300 dpi (less for a page so large that it would pass ``MAX_RENDER_SIDE`` pixels),
  in grey, one page at a time, and handed to tesseract through a pipe: pytesseract would write
  each page, and the text read from it, to the system's temporary folder, where evidence has
  no business lying in plaintext. A page that fails is noted and the others are read.
- **Photos** (scene text: plates, signs, screens, papers on a desk): RapidOCR, the PP-OCR
  detection, orientation and recognition models (ONNX, run by onnxruntime) that ship inside
  the ``rapidocr`` package. The models are given by path, each checked against its pinned
  SHA-256, so rapidocr's own download code is never reached.

Boxes are those of the redaction plan: pixels of the photo as displayed (EXIF orientation
applied), or points from the top-left corner of the PDF page as displayed.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, BinaryIO

from opendems.domain.jobs import PermanentFailure
from opendems.domain.ocr import FAILED, READ, SKIPPED, TEXT_LAYER, OcrLine, OcrPage, OcrText, OcrWord

RENDER_DPI = 300
MAX_RENDER_SIDE = 6000  # pixels: a poster-sized page is read at a lower resolution
PAGE_TIMEOUT_S = 180  # tesseract's time on one page before the page is given up
MAX_PAGES = 5000  # pages read from one document; the rest are counted, not read
MIN_LAYER_CHARS = 20  # a page with fewer characters in its text layer is taken for a scan
MIN_MARK_CONFIDENCE = 0.5  # below this, a "word" of punctuation alone is a speck of dust
LANGUAGE = "eng"

# The RapidOCR models inside the pinned rapidocr package, and their SHA-256.
RAPIDOCR_MODELS = {
    "Det": ("PP-OCRv6_det_small.onnx", "090f04abcd9d9a7498bc4ebf677e4cb9bdce1fe4197ddb7e529f1ef44e1ff94f"),
    "Rec": ("PP-OCRv6_rec_small.onnx", "6f327246b50388f3c176ae304bd95767ea6dc0c9ae92153ef8cbe210b3c14884"),
    "Cls": (
        "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
        "e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c",
    ),
}


class OcrUnavailable(PermanentFailure):
    """The OCR engine or its model is not installed, or is not the one pinned."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


# -- tesseract -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tesseract:
    program: str
    version: str
    model: Path

    @property
    def provenance(self) -> dict[str, Any]:
        return {
            "ocr_tool": f"tesseract {self.version}",
            "ocr_wrapper": f"pytesseract {importlib.metadata.version('pytesseract')}",
            "ocr_model": f"tesseract {LANGUAGE}.traineddata",
            "ocr_model_sha256": _model_sha256(self.model),
            "ocr_settings": {"language": LANGUAGE, "psm": 3, "dpi": RENDER_DPI},
        }


@cache
def _model_sha256(path: Path) -> str:
    return _sha256(path)


@cache
def tesseract() -> Tesseract:
    """The installed tesseract: its program, version and English model (OcrUnavailable if not)."""
    import pytesseract

    program = shutil.which(pytesseract.pytesseract.tesseract_cmd)
    if program is None:
        raise OcrUnavailable(
            "tesseract is not installed (Debian: apt install tesseract-ocr tesseract-ocr-eng)"
        )
    version = str(pytesseract.get_tesseract_version()).split()[0]
    listing = subprocess.run(
        [program, "--list-langs"], capture_output=True, text=True, timeout=30, check=False
    )
    head, _, rest = (listing.stdout or "").partition("\n")
    folder = head[head.find('"') + 1 : head.rfind('"')] if '"' in head else ""
    if LANGUAGE not in rest.split() or not folder:
        raise OcrUnavailable(
            f"tesseract has no {LANGUAGE} model (Debian: apt install tesseract-ocr-{LANGUAGE})"
        )
    return Tesseract(program, version, Path(folder) / f"{LANGUAGE}.traineddata")


def read_with_tesseract(
    image: Any, *, dpi: int = RENDER_DPI, timeout_s: float = PAGE_TIMEOUT_S
) -> list[OcrLine]:
    """The lines of words tesseract reads in a PIL image, boxes in its pixels."""
    engine = tesseract()
    buf = io.BytesIO()
    (image if image.mode in ("L", "RGB", "1") else image.convert("RGB")).save(buf, format="PPM")
    env = {"PATH": os.environ.get("PATH", "/usr/bin"), "OMP_THREAD_LIMIT": "1"}
    try:
        done = subprocess.run(
            [engine.program, "stdin", "stdout", "-l", LANGUAGE, "--psm", "3", "--dpi", str(dpi), "tsv"],
            input=buf.getvalue(),
            capture_output=True,
            timeout=timeout_s,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise PermanentFailure(f"tesseract took longer than {timeout_s:g} s over the page") from None
    if done.returncode != 0:
        said = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise PermanentFailure(f"tesseract could not read it ({said[-1] if said else done.returncode})")
    return parse_tsv(done.stdout.decode("utf-8", "replace"))


def parse_tsv(tsv: str) -> list[OcrLine]:
    """Tesseract's TSV output as lines of words (level 5 rows, grouped by block, paragraph
    and line)."""
    lines: dict[tuple[int, int, int, int], list[OcrWord]] = {}
    rows = tsv.splitlines()
    for row in rows[1:]:
        cells = row.split("\t")
        if len(cells) < 12 or cells[0] != "5":
            continue
        text = cells[11].strip()
        try:
            left, top, width, height = (int(v) for v in cells[6:10])
            confidence = max(0.0, float(cells[10]) / 100)
            key = (int(cells[1]), int(cells[2]), int(cells[3]), int(cells[4]))
        except ValueError:
            continue
        if not text or (confidence < MIN_MARK_CONFIDENCE and not any(ch.isalnum() for ch in text)):
            continue
        lines.setdefault(key, []).append(
            OcrWord(text, (float(left), float(top), float(left + width), float(top + height)), confidence)
        )
    return [OcrLine.of_words(words) for _, words in sorted(lines.items())]


# -- RapidOCR --------------------------------------------------------------------------------------


def rapidocr_model_paths() -> dict[str, Path]:
    """The models inside the installed rapidocr package, each checked against its pinned
    SHA-256 (OcrUnavailable where one is missing or different)."""
    import rapidocr

    folder = Path(rapidocr.__file__).resolve().parent / "models"
    paths = {}
    for task, (name, pinned) in RAPIDOCR_MODELS.items():
        path = folder / name
        if not path.is_file():
            raise OcrUnavailable(f"the RapidOCR model {name} is missing from the rapidocr package")
        if _model_sha256(path) != pinned:
            raise OcrUnavailable(
                f"the RapidOCR model {name} is not the one pinned (SHA-256 {_model_sha256(path)})"
            )
        paths[task] = path
    return paths


class SceneText:
    """One RapidOCR engine per process (loading takes about a second); one picture at a time."""

    def __init__(self, threads: int = 2) -> None:
        from rapidocr import RapidOCR

        paths = rapidocr_model_paths()
        params: dict[str, Any] = {f"{task}.model_path": str(path) for task, path in paths.items()}
        params.update(
            {
                "Global.return_word_box": True,
                "Global.log_level": "error",
                "EngineConfig.onnxruntime.intra_op_num_threads": threads,
                "EngineConfig.onnxruntime.inter_op_num_threads": 1,
            }
        )
        self._engine = RapidOCR(params=params)
        self._lock = threading.Lock()
        self.paths = paths
        self.provenance = {
            "ocr_tool": f"rapidocr {importlib.metadata.version('rapidocr')}",
            "ocr_runtime": f"onnxruntime {importlib.metadata.version('onnxruntime')}",
            "ocr_model": ", ".join(name for name, _ in RAPIDOCR_MODELS.values()),
            "ocr_model_sha256": {name: sha for name, sha in RAPIDOCR_MODELS.values()},
        }

    def read(self, rgb: Any) -> list[OcrLine]:
        """The lines (with word boxes) in an RGB array, boxes in its pixels."""
        with self._lock:
            out: Any = self._engine(rgb)  # RapidOCROutput (the union rapidocr declares is wider)
        texts = out.txts or ()
        boxes = out.boxes if out.boxes is not None else ()
        scores = out.scores or ()
        per_line = out.word_results or ()
        lines = []
        for n, text in enumerate(texts):
            words = []
            for entry in per_line[n] if n < len(per_line) else ():
                word, score, points = entry[0], entry[1], entry[2]
                if str(word).strip():
                    words.append(OcrWord(str(word).strip(), _bounds(points), float(score)))
            if not words and str(text).strip():  # no word boxes: the line as one word
                words = [OcrWord(str(text).strip(), _bounds(boxes[n]), float(scores[n]))]
            if words:
                lines.append(OcrLine.of_words(words))
        return lines


def _bounds(points: Any) -> tuple[float, float, float, float]:
    xs = [float(p[0]) for p in points]
    ys = [float(p[1]) for p in points]
    return (max(0.0, min(xs)), max(0.0, min(ys)), max(xs), max(ys))


_SCENE: list[SceneText] = []
_SCENE_LOCK = threading.Lock()


def scene_text() -> SceneText:
    with _SCENE_LOCK:
        if not _SCENE:
            _SCENE.append(SceneText())
        return _SCENE[0]


# -- the port ----------------------------------------------------------------------------------


class TextReader:
    """The ``TextReader`` port: photos through RapidOCR, PDF pages through tesseract."""

    def __init__(self, *, page_timeout_s: float = PAGE_TIMEOUT_S) -> None:
        self.page_timeout_s = page_timeout_s

    def read_image(self, src: BinaryIO, report: Callable[[float], None]) -> OcrText:
        """The text in a photo (its first frame), upright as its EXIF says."""
        from opendems.adapters.media.images import upright_rgb

        pixels = upright_rgb(src, "read")
        engine = scene_text()
        started = time.monotonic()
        lines = engine.read(pixels)
        height, width = int(pixels.shape[0]), int(pixels.shape[1])
        page = OcrPage(1, width, height, READ, tuple(lines), seconds=time.monotonic() - started)
        report(1.0)
        return OcrText(
            "px", (page,), engine.provenance, "" if lines else "no text was found in the picture", 1
        )

    def read_pdf(
        self, src: BinaryIO, report: Callable[[float], None], *, max_pages: int = MAX_PAGES
    ) -> OcrText:
        """The text of every page: from its text layer where it has one, read by tesseract
        where it is a scan. A page that cannot be drawn or read is noted (``FAILED``) and the
        rest are read; a document that cannot be opened is a PermanentFailure."""

        from opendems.adapters.media.pdf import PDFIUM_LOCK, TOOL_PDFIUM, open_pdf

        engine = tesseract()  # before the first page: a missing engine fails the whole job
        provenance = {**engine.provenance, "pdf_tool": TOOL_PDFIUM}
        with PDFIUM_LOCK:
            doc = open_pdf(
                src,
                locked="the PDF is protected by a password: its text cannot be read (the original is kept unchanged)",
            )
            total = len(doc)
        try:
            if total == 0:
                raise PermanentFailure("the PDF has no pages")
            pages: list[OcrPage] = []
            count = min(total, max_pages)
            for index in range(count):
                pages.append(_read_page(doc, index, self.page_timeout_s))
                report((index + 1) / count)
        finally:
            with PDFIUM_LOCK:
                doc.close()
        note = ""
        if total > count:
            pages.append(
                OcrPage(count + 1, 0, 0, SKIPPED, note=f"pages {count + 1} to {total} were not read")
            )
            note = f"only the first {count} of {total} pages were read (the limit of pages read)"
        return OcrText("pt", tuple(pages), provenance, note, total)


def _points(box: tuple[float, float, float, float], scale: float) -> tuple[float, float, float, float]:
    return (box[0] / scale, box[1] / scale, box[2] / scale, box[3] / scale)


def _read_page(doc: Any, index: int, timeout_s: float) -> OcrPage:
    """One page: its text layer, or tesseract over a drawing of it; FAILED with the reason."""
    import pypdfium2 as pdfium

    from opendems.adapters.media.pdf import PDFIUM_LOCK

    number = index + 1
    width = height = 0.0
    started = time.monotonic()
    try:
        with PDFIUM_LOCK:
            page = doc[index]
            try:
                width, height = page.get_size()
                textpage = page.get_textpage()
                try:
                    layer = textpage.get_text_range()
                finally:
                    textpage.close()
                if sum(1 for ch in layer if not ch.isspace()) >= MIN_LAYER_CHARS:
                    lines = tuple(OcrLine(" ".join(t.split())) for t in layer.splitlines() if t.strip())
                    return OcrPage(number, width, height, TEXT_LAYER, lines)
                scale = min(RENDER_DPI / 72, MAX_RENDER_SIDE / max(width, height, 1.0))
                image = page.render(scale=scale, grayscale=True).to_pil()
            finally:
                page.close()
        dpi = max(1, round(scale * 72))
        lines = tuple(
            OcrLine.of_words([OcrWord(w.text, _points(w.box, scale), w.confidence) for w in line.words])
            for line in read_with_tesseract(image, dpi=dpi, timeout_s=timeout_s)
        )
        del image
        return OcrPage(number, width, height, READ, lines, seconds=time.monotonic() - started)
    except OcrUnavailable:
        raise
    except PermanentFailure as exc:
        return OcrPage(number, width, height, FAILED, note=str(exc))
    except pdfium.PdfiumError as exc:
        return OcrPage(number, width, height, FAILED, note=f"the page does not render ({exc})")
    except MemoryError:
        return OcrPage(number, width, height, FAILED, note="the page needs more memory than this worker has")
