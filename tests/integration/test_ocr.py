"""Text recognition with the real engines (Debian's tesseract, RapidOCR's packaged models) on
pages and photos made here: the text read within a stated character error rate, each word's
box where it was drawn, the text kept as a derivative with its provenance, found by search on
its page, personal data in it suggested for redaction, and bad input ending with a reason."""

from __future__ import annotations

import io
import socket
from pathlib import Path

import pypdfium2 as pdfium
import pytest

from opendems.adapters.text.ocr import RAPIDOCR_MODELS, SceneText, TextReader, rapidocr_model_paths
from opendems.bootstrap import Container
from opendems.domain.evidence import EvidenceItem
from opendems.domain.jobs import JobState, PermanentFailure
from opendems.domain.ocr import FAILED, READ, SKIPPED, TEXT_LAYER, OcrText, character_error_rate
from opendems.domain.redaction import check_document_plan
from opendems.services import redaction
from opendems.services.context import Actor
from opendems.services.ingest import IngestRequest, ingest_stream
from opendems.services.jobs import StepContext
from opendems.services.search import search
from tests.factories import make_container, pdf_bytes, user_actor
from tests.scans import PLAIN, REPORT, blank_photo, line_top, scanned_pdf, sign_photo, typed_pdf

# The bounds the tests hold the engines to (character error rate: edits / reference characters,
# white space runs counted as one space).
SCAN_CER = 0.02  # tesseract, a clean 200 dpi scan of 12 pt type
PHOTO_CER = 0.05  # RapidOCR, a sign photographed on a wall
SIGN = ["NO PARKING", "TOW-AWAY ZONE", "CALL 555-867-5309"]


@pytest.fixture(scope="module")
def reader() -> TextReader:
    return TextReader()


def nothing(fraction: float) -> None:
    pass


def test_a_scanned_page_is_read_within_the_stated_error_rate(reader: TextReader) -> None:
    scan = scanned_pdf([REPORT])
    with pdfium.PdfDocument(scan) as doc:  # a true scan: a picture, no text layer
        assert doc[0].get_textpage().get_text_range() == ""
    ocr = reader.read_pdf(io.BytesIO(scan), nothing)
    (page,) = ocr.pages
    assert page.source == READ and (page.width, page.height) == (612, 792)
    cer = character_error_rate("\n".join(REPORT), page.text)
    assert cer <= SCAN_CER, (cer, page.text)
    # Each word's box lies where it was typed (points from the page's top-left corner).
    smith = next(w for w in page.words if w.text.startswith("Smith"))
    baseline = line_top(3)
    assert smith.box[3] == pytest.approx(baseline, abs=3.5)  # "Smith," has a comma below the line
    assert smith.box[1] == pytest.approx(baseline - 9, abs=2.5)  # a capital's height above it
    assert 72 < smith.box[0] < smith.box[2] < 300 and smith.confidence > 0.8
    assert ocr.engine["ocr_tool"] == "tesseract 5.3.0" and len(ocr.engine["ocr_model_sha256"]) == 64


def test_scene_text_in_a_photo_is_read_with_its_boxes(reader: TextReader) -> None:
    photo, drawn = sign_photo(SIGN)
    ocr = reader.read_image(io.BytesIO(photo), nothing)
    (page,) = ocr.pages
    assert ocr.unit == "px" and (page.width, page.height) == (1280, 960)
    cer = character_error_rate("\n".join(SIGN), page.text)
    assert cer <= PHOTO_CER, (cer, page.text)
    number = next(w for w in page.words if "867" in w.text)
    x1, y1, x2, y2 = drawn[2]
    assert number.box[0] > x1 and number.box[2] == pytest.approx(x2, abs=12)
    assert number.box[1] == pytest.approx(y1, abs=15) and number.box[3] == pytest.approx(y2, abs=15)
    assert ocr.engine["ocr_tool"].startswith("rapidocr ")


def test_rapidocr_runs_only_the_models_inside_its_package(monkeypatch: pytest.MonkeyPatch) -> None:
    import rapidocr
    from rapidocr.utils.download_file import DownloadFile

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("rapidocr tried to download a file")

    monkeypatch.setattr(DownloadFile, "run", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    package = Path(rapidocr.__file__).resolve().parent
    paths = rapidocr_model_paths()
    assert {p.name for p in paths.values()} == {name for name, _ in RAPIDOCR_MODELS.values()}
    assert all(p.is_relative_to(package) for p in paths.values())
    engine = SceneText(threads=1)  # a fresh engine, built while downloads are refused
    assert engine.paths == paths
    assert engine.provenance["ocr_model_sha256"] == dict(RAPIDOCR_MODELS.values())
    lines = engine.read(__import__("numpy").zeros((64, 64, 3), dtype="uint8"))
    assert lines == []


def test_a_model_that_is_not_the_pinned_one_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    name, _ = RAPIDOCR_MODELS["Rec"]
    monkeypatch.setitem(RAPIDOCR_MODELS, "Rec", (name, "0" * 64))
    with pytest.raises(PermanentFailure, match="is not the one pinned"):
        rapidocr_model_paths()


# -- bad input ------------------------------------------------------------------------------------


def test_a_document_part_scanned_part_typed_reads_each_page_its_own_way(reader: TextReader) -> None:
    fractions: list[float] = []
    ocr = reader.read_pdf(io.BytesIO(scanned_pdf([REPORT, PLAIN], keep_text={1})), fractions.append)
    assert [p.source for p in ocr.pages] == [READ, TEXT_LAYER]
    assert ocr.pages[1].text == "\n".join(PLAIN) and ocr.pages[1].words == []
    assert fractions == [0.5, 1.0]


def test_a_page_that_cannot_be_read_is_noted_and_the_others_are_read() -> None:
    # Tesseract is given a millisecond a page: the scanned page fails, the typed page is read.
    hurried = TextReader(page_timeout_s=0.001)
    ocr = hurried.read_pdf(io.BytesIO(scanned_pdf([REPORT, PLAIN], keep_text={1})), nothing)
    assert [p.source for p in ocr.pages] == [FAILED, TEXT_LAYER]
    assert ocr.pages[0].note == "tesseract took longer than 0.001 s over the page"
    assert ocr.summary()["pages_failed"] == [1] and ocr.word_count > 20


def test_a_long_scan_is_read_page_by_page_and_a_limit_is_said(reader: TextReader) -> None:
    pages = [PLAIN if n % 4 == 0 else [] for n in range(12)]  # mostly blank pages, as scans are
    data = scanned_pdf(pages, dpi=100)
    fractions: list[float] = []
    ocr = reader.read_pdf(io.BytesIO(data), fractions.append, max_pages=6)
    assert len(fractions) == 6 and fractions == sorted(fractions) and fractions[-1] == 1.0
    assert [p.number for p in ocr.pages if p.source == READ] == list(range(1, 7))
    assert ocr.pages[-1].source == SKIPPED and ocr.total_pages == 12
    assert ocr.note == "only the first 6 of 12 pages were read (the limit of pages read)"
    assert [p.number for p in ocr.pages if p.text] == [1, 5]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog", "the PDF cannot be opened"),
        (b"not a PDF at all", "the PDF cannot be opened"),
        (pdf_bytes("Sealed statement", encrypted=True), "the PDF is protected by a password"),
    ],
)
def test_a_corrupt_pdf_is_refused_with_a_reason(reader: TextReader, data: bytes, reason: str) -> None:
    with pytest.raises(PermanentFailure, match=reason):
        reader.read_pdf(io.BytesIO(data), nothing)


def test_a_corrupt_image_is_refused_with_a_reason(reader: TextReader) -> None:
    photo, _ = sign_photo(SIGN)
    with pytest.raises(PermanentFailure, match="the image does not decode"):
        reader.read_image(io.BytesIO(b"\x89PNG\r\n\x1a\n" + photo[100:400]), nothing)


# -- the processing step, search and redaction -----------------------------------------------------


@pytest.fixture
def c(tmp_path: Path) -> Container:
    return make_container(tmp_path, ocr="on")


def ingest(c: Container, who: Actor, data: bytes, name: str) -> EvidenceItem:
    return ingest_stream(
        who, IngestRequest(filename=name), [data], uow=c.uow(), blobs=c.blobs, clock=c.clock, limits=c.limits
    ).item


def reload(c: Container, evidence_id: str) -> EvidenceItem:
    with c.uow() as uow:
        found = uow.evidence.get(evidence_id)
    assert found is not None
    return found


def stored_ocr(c: Container, item: EvidenceItem) -> OcrText:
    import json

    d = next(d for d in reload(c, item.id).derivatives if d.kind == "ocr")
    return OcrText.from_dict(json.loads(b"".join(c.blobs.read_all(d.blob_key))))


def test_a_scan_is_read_found_by_search_on_its_page_and_its_personal_data_suggested(
    c: Container, reader: TextReader
) -> None:
    ivy = user_actor(c, "ivy", "investigator")
    item = ingest(c, ivy, scanned_pdf([PLAIN, REPORT]), "scan.pdf")
    ended = {j.kind: j for j in c.processor.run_until_idle("w")}
    assert ended["ocr"].state is JobState.DONE and ended["ocr"].progress == 1.0

    got = reload(c, item.id)
    d = next(d for d in got.derivatives if d.kind == "ocr")
    assert d.mime_type == "application/json" and (d.tool, d.tool_version) == ("tesseract", "5.3.0")
    assert d.source_sha256 == got.original.sha256  # type: ignore[union-attr]
    assert d.parameters["pages_read"] == 2 and d.parameters["words"] > 100
    assert len(d.parameters["ocr_model_sha256"]) == 64 and d.parameters["ocr_model"]
    with c.uow() as uow:
        derived = [e for e in uow.custody.for_object("evidence", item.id) if e.action == "evidence:derive"]
    assert any(e.details_dict["kind"] == "ocr" for e in derived)

    found = search(ivy, "Alvarez", limit=10, offset=0, facets=False, uow=c.uow(), clock=c.clock)
    assert [(h.evidence_id, h.source, h.at_seconds) for h in found.hits] == [(item.id, "ocr", 2.0)]
    assert "Alvarez" in found.hits[0].snippet

    # The first pass of redaction: personal data on the scanned page 2 (index 1), boxed.
    redaction.start_detection(ivy, item.id, uow=c.uow(), clock=c.clock)
    c.processor.run_until_idle("w")
    view = redaction.get_plan(ivy, item.id, uow=c.uow(), clock=c.clock)
    check_document_plan(view.plan)
    tracks = {t.label: t for t in view.plan.tracks}
    assert {"phone", "name", "address"} <= set(tracks), view.plan.tracks
    assert all(t.kind == "text" and t.include and t.reason == "pii" for t in view.plan.tracks)
    phone = tracks["phone"]
    assert list(phone.boxes) == [1]
    x1, _, x2, y2 = phone.boxes[1]
    assert y2 == pytest.approx(line_top(3), abs=4) and 200 < x1 < x2 < 420
    assert "Smith" not in str(view.plan.to_dict()) and "4567" not in str(view.plan.to_dict())
    assert "scanned page(s)" in view.note and view.plan.detections["ocr"]["ocr_sha256"] == d.sha256
    assert view.plan.detections["ocr"]["pii_tool"].startswith("presidio-analyzer")

    # A person drops the place names and keeps the rest; the render takes the phone number out.
    body = view.plan.to_dict()
    for t in body["tracks"]:
        t["include"] = t.get("label") not in {"place", "case"}
    version = redaction.save_plan(
        ivy, item.id, body, base_version=view.version, reason="reviewed", uow=c.uow(), clock=c.clock
    )
    redaction.request_render(ivy, item.id, version=version, uow=c.uow(), clock=c.clock)
    c.processor.run_until_idle("w")
    rendered = next(d for d in reload(c, item.id).derivatives if d.kind == f"redacted-v{version}")
    copy = b"".join(c.blobs.read_all(rendered.blob_key))
    again = reader.read_pdf(io.BytesIO(copy), nothing)
    assert "555" not in again.pages[1].text and "Smith" not in again.pages[1].text
    assert "blue sedan" in again.pages[1].text  # the rest of the page is still there


def test_a_photo_gets_text_tracks_beside_its_faces(c: Container) -> None:
    ivy = user_actor(c, "ivy", "investigator")
    photo, drawn = sign_photo(SIGN)
    item = ingest(c, ivy, photo, "sign.jpg")
    c.processor.run_until_idle("w")
    assert "TOW" in stored_ocr(c, item).text
    redaction.start_detection(ivy, item.id, uow=c.uow(), clock=c.clock)
    c.processor.run_until_idle("w")
    view = redaction.get_plan(ivy, item.id, uow=c.uow(), clock=c.clock)
    text = [t for t in view.plan.tracks if t.kind == "text"]
    assert [t.label for t in text] == ["phone"]
    box = text[0].boxes[0]
    assert box[0] >= drawn[2][0] - 5 and box[2] == pytest.approx(drawn[2][2], abs=12)
    assert text[0].effect is not None and text[0].effect.value == "box" and text[0].include
    assert "text read by OCR in the picture: 1 finding(s)" in view.note


def test_no_text_and_bad_files_end_with_a_clear_result(c: Container) -> None:
    ivy = user_actor(c, "ivy", "investigator")
    empty = ingest(c, ivy, blank_photo(), "wall.jpg")
    broken = ingest(c, ivy, scanned_pdf([REPORT])[:600], "broken.pdf")
    later = ingest(c, ivy, scanned_pdf([PLAIN]), "fine.pdf")
    ended = {(j.evidence_id, j.kind): j for j in c.processor.run_until_idle("w")}
    assert ended[(empty.id, "ocr")].state is JobState.DONE
    blank = next(d for d in reload(c, empty.id).derivatives if d.kind == "ocr")
    assert blank.parameters["words"] == 0 and blank.parameters["note"] == "no text was found in the picture"
    job = ended[(broken.id, "ocr")]
    assert job.state is JobState.FAILED and job.attempts == 1
    assert (job.error or "").startswith("the PDF cannot be opened")
    assert not any(d.kind == "ocr" for d in reload(c, broken.id).derivatives)  # nothing half-stored
    assert ended[(later.id, "ocr")].state is JobState.DONE  # the queue went on
    assert "handover" in stored_ocr(c, later).text


def test_switched_off_it_reads_nothing(tmp_path: Path) -> None:
    c = make_container(tmp_path)  # the tests' settings: OCR off
    ivy = user_actor(c, "ivy", "investigator")
    item = ingest(c, ivy, scanned_pdf([PLAIN]), "scan.pdf")
    ended = {j.kind: j for j in c.processor.run_until_idle("w")}
    assert ended["ocr"].state is JobState.DONE
    assert not any(d.kind == "ocr" for d in reload(c, item.id).derivatives)


def test_the_step_reads_a_scan_the_same_way_twice_only_once(c: Container) -> None:
    ivy = user_actor(c, "ivy", "investigator")
    item = ingest(c, ivy, scanned_pdf([PLAIN]), "scan.pdf")
    c.processor.run_until_idle("w")
    ctx: StepContext = c.processor.make_context()
    with c.uow() as uow:
        ocr_job = next(j for j in uow.jobs.for_item(item.id) if j.kind == "ocr")
    c.processor.steps["ocr"](ctx, ocr_job)  # a redelivered job: nothing new
    assert [d.kind for d in reload(c, item.id).derivatives].count("ocr") == 1


def test_names_and_addresses_in_a_typed_pdfs_own_text_are_suggested_too(c: Container) -> None:
    """A born-digital report: the fixed patterns find the phone number in its text layer, and
    the personal-data finder the names and the street address, each boxed where it stands."""
    ivy = user_actor(c, "ivy", "investigator")
    item = ingest(c, ivy, typed_pdf([REPORT]), "report.pdf")
    c.processor.run_until_idle("w")
    assert stored_ocr(c, item).pages[0].source == "text-layer"
    redaction.start_detection(ivy, item.id, uow=c.uow(), clock=c.clock)
    c.processor.run_until_idle("w")
    view = redaction.get_plan(ivy, item.id, uow=c.uow(), clock=c.clock)
    check_document_plan(view.plan)
    labels = [t.label for t in view.plan.tracks]
    assert labels.count("phone") == 1 and labels.count("name") >= 2 and "address" in labels, labels
    by_line = sorted(
        (round(t.boxes[0][3]), t.label) for t in view.plan.tracks if t.label in {"name", "address", "phone"}
    )
    # "Sergeant Maria Alvarez" on line 2; "John Smith", the phone and "42 Oak Street" on line 3
    # (counted from 0).
    assert {label for y, label in by_line if abs(y - line_top(2)) <= 4} >= {"name"}
    assert {label for y, label in by_line if abs(y - line_top(3)) <= 4} >= {"name", "phone", "address"}
    assert "Smith" not in str(view.plan.to_dict()) and "Oak" not in str(view.plan.to_dict())
