"""OCR text as domain data: its JSON form, search windows by page, where personal data found in
it lies (one box per line), the photo plan's text tracks, and the error rate the tests state."""

from __future__ import annotations

import pytest

from opendems.adapters.text.ocr import parse_tsv
from opendems.domain.ocr import (
    ENTITY_LABELS,
    FAILED,
    READ,
    TEXT_LAYER,
    OcrLine,
    OcrPage,
    OcrText,
    OcrWord,
    TextFinding,
    character_error_rate,
    explain_empty,
    locate,
    page_text,
    pattern_findings,
    scanner_findings,
    with_text_tracks,
)
from opendems.domain.redaction import LABELS, PII_PATTERNS, Effect, RedactionPlan
from opendems.domain.transcripts import PiiFinding


def words(text: str, y: float, x: float = 10.0) -> OcrLine:
    out = []
    for w in text.split():
        out.append(OcrWord(w, (x, y, x + 8 * len(w), y + 10), 0.9))
        x += 8 * len(w) + 6
    return OcrLine.of_words(out)


PAGE = OcrPage(
    2,
    612,
    792,
    READ,
    (words("Witness: John Smith", 100), words("Smith phone 555-123-4567", 120), words("lives here", 140)),
)


def test_the_text_survives_its_json_form() -> None:
    text = OcrText(
        "pt", (OcrPage(1, 612, 792, TEXT_LAYER, (OcrLine("Typed line"),)), PAGE), {"ocr_tool": "t 1"}, "", 2
    )
    again = OcrText.from_dict(text.to_dict())
    assert again == text
    assert text.word_count == 2 + 3 + 3 + 2 and text.pages_of(TEXT_LAYER)[0].words == []
    assert text.summary()["pages_read"] == 1 and text.summary()["pages_text_layer"] == 1


def test_search_windows_carry_the_page_number_of_a_document_only() -> None:
    doc = OcrText("pt", (OcrPage(1, 1, 1, READ), PAGE))
    assert doc.search_segments() == [(2.0, "Witness: John Smith Smith phone 555-123-4567 lives here")]
    photo = OcrText("px", (OcrPage(1, 640, 480, READ, (words("NO PARKING", 5),)),))
    assert photo.search_segments() == [(None, "NO PARKING")]


def test_a_finding_is_boxed_on_each_line_it_spans() -> None:
    text, _ = page_text(PAGE)
    assert text == "Witness: John Smith\nSmith phone 555-123-4567\nlives here"
    start = text.index("John")
    end = text.index("Smith", text.index("Smith") + 1) + len("Smith")  # "John Smith\nSmith"
    (two_lines,) = locate(PAGE, 1, [("name", start, end, 0.8)])
    assert two_lines.page == 1 and len(two_lines.boxes) == 2
    assert two_lines.boxes[0][1] == 100 and two_lines.boxes[1][1] == 120
    phone = pattern_findings(text, PII_PATTERNS)
    assert [(label, text[a:b]) for label, a, b, _ in phone] == [("phone", "555-123-4567")]
    # The same words found twice (a pattern, then the finder): one finding, the first kept.
    found = locate(PAGE, 1, [*phone, ("name", phone[0][1], phone[0][2], 0.5)])
    assert [f.label for f in found] == ["phone"]
    assert locate(PAGE, 1, [("name", 8, 9, 0.9)]) == []  # a space between words: nothing


def test_the_finders_kinds_are_labels_a_plan_accepts() -> None:
    assert set(ENTITY_LABELS.values()) <= LABELS
    found = scanner_findings([PiiFinding("PERSON", "name", 0, 4, 0.85), PiiFinding("NRP", "x", 0, 1, 0.9)])
    assert found == [("name", 0, 4, 0.85)]


def test_a_photos_plan_gets_solid_text_boxes_beside_its_faces() -> None:
    plan = RedactionPlan(640, 480, 1.0, 1)
    finding = TextFinding("phone", 0, 12, ((10.04, 20.0, 100.0, 30.06),), 1.0)
    out = with_text_tracks(plan, [finding], detections={"ocr_tool": "rapidocr 3"})
    (track,) = out.tracks
    assert (track.id, track.kind, track.label, track.include, track.effect) == (
        "text-1",
        "text",
        "phone",
        True,
        Effect.BOX,
    )
    assert track.boxes == {0: (10.0, 20.0, 100.0, 30.1)} and out.detections["ocr"]["ocr_tool"] == "rapidocr 3"
    assert RedactionPlan.from_dict(out.to_dict()).tracks == out.tracks


def test_why_there_is_no_text_is_said() -> None:
    assert explain_empty(OcrText("px", (OcrPage(1, 9, 9, READ),))) == "no text was found in the picture"
    failed = OcrText("pt", (OcrPage(1, 9, 9, FAILED, note="it broke"),))
    assert explain_empty(failed) == "no page could be read: page 1: it broke"
    assert explain_empty(OcrText("pt", (PAGE,))) == ""


def test_the_character_error_rate() -> None:
    assert character_error_rate("Hello  world", "Hello world") == 0.0
    assert character_error_rate("abcd", "abed") == pytest.approx(0.25)
    assert character_error_rate("abcd", "") == 1.0 and character_error_rate("", "") == 0.0


def test_tesseract_output_becomes_lines_of_words() -> None:
    tsv = "\n".join(
        [
            "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext",
            "4\t1\t1\t1\t1\t0\t44\t48\t513\t30\t-1\t",
            "5\t1\t1\t1\t1\t1\t44\t48\t95\t30\t96.3\tHello",
            "5\t1\t1\t1\t1\t2\t156\t48\t105\t30\t91\tworld",
            "5\t1\t1\t1\t2\t1\t44\t90\t5\t5\t20\t.",  # a speck of dust read as a full stop
            "5\t1\t1\t1\t3\t1\t44\t120\t60\t30\t35\tJo",
        ]
    )
    lines = parse_tsv(tsv)
    assert [line.text for line in lines] == ["Hello world", "Jo"]
    assert lines[0].words[1].box == (156.0, 48.0, 261.0, 78.0) and lines[0].words[1].confidence == 0.91
