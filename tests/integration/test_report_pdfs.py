"""The PDF chain-of-custody report and share receipt, rendered for real and read back with PDFium."""

from __future__ import annotations

import hashlib
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pypdfium2
import pytest

from opendems.adapters.reports import layout
from opendems.adapters.reports.pdf import TOOL, custody_report_pdf, share_receipt_pdf
from opendems.domain.reports import CustodyReport, ReceiptItem, ReportEvent, ReportFile, ShareReceipt

EVENTS = 1500
MARKUP_TITLE = "<b>Stop</b> & search <i>Main St</i> </para> &amp;"
OFFICER = "Zoë Ångström"
LOCATION_NAME = "Łódź, ul. Piotrkowska 104"
ACTIONS = (
    "evidence:view",
    "evidence:stream",
    "evidence:download",
    "evidence:metadata_edit",
    "share:create",
    "evidence:verify",
)


def sha(label: str) -> str:
    return hashlib.sha256(label.encode()).hexdigest()


def event(seq: int) -> ReportEvent:
    action = "evidence:ingest" if seq == 1 else ACTIONS[seq % len(ACTIONS)]
    outcome = "denied" if seq % 97 == 0 else "success"
    details: dict[str, object] = {"range": f"bytes={seq * 1024}-{seq * 2048}", "client": "Firefox/139.0"}
    if seq % 50 == 0:
        details = {"changed": {"title": ["old", "new " * 80]}, "note": "x" * 500}  # cut to 300 chars
    return ReportEvent(
        seq=seq,
        at=f"2026-11-{1 + seq // 100:02d}T10:{seq % 60:02d}:{seq % 59:02d}.{seq:06d}Z",
        action=action,
        actor="system" if seq == 1 else ("Zoë Ångström" if seq % 3 else "jdoe"),
        actor_id=None if seq == 1 else 10 + seq % 7,
        outcome=outcome,
        reason="Court order 2026-CR-1182 (Łódź liaison)" if seq % 10 == 0 else None,
        service="worker" if seq == 1 else "api",
        endpoint="GET /api/v1/evidence/{id}/download",
        client_address=None if seq == 1 else f"203.0.113.{seq % 250}",
        details=details,
        event_hash=sha(f"event {seq}"),
    )


ORIGINAL = ReportFile(
    role="original",
    filename="AXON_Body_4_Video_2026-11-01_0931.mp4",
    mime_type="video/mp4",
    size=1_283_457_024,
    sha256=sha("original"),
    created_at="2026-11-01T09:45:12.000000Z",
)


def custody_report(events: int = EVENTS, *, chain_ok: bool = True) -> CustodyReport:
    return CustodyReport(
        agency="Metro Police Department — Évidence Unit",
        evidence_id="EV-2026-000123",
        title=MARKUP_TITLE,
        kind="video",
        case_numbers=["2026-CR-1182", "2026-IA-0042"],
        captured_at="2026-11-01T09:31:00Z",
        captured_by=OFFICER,
        device="Axon Body 4, serial X6039AB12",
        location=f"51.759250, 19.455983 ({LOCATION_NAME})",
        files=[
            ORIGINAL,
            ReportFile(
                role="proxy",
                filename="EV-2026-000123.proxy.mp4",
                mime_type="video/mp4",
                size=48_213_004,
                sha256=sha("proxy"),
                created_at="2026-11-01T09:47:30.500000Z",
                source_sha256=ORIGINAL.sha256,
                tool="PyAV 14.1.0 (FFmpeg 7.1)",
                parameters={"codec": "h264", "crf": 28, "height": 720},
            ),
            ReportFile(
                role="redacted",
                filename="EV-2026-000123.redacted-faces-plates.mp4",
                mime_type="video/mp4",
                size=51_004_112,
                sha256=sha("redacted"),
                created_at="2026-11-03T14:02:11.250000Z",
                source_sha256=ORIGINAL.sha256,
                tool="OpenDEMS redact 0.1.0 (PyAV 14.1.0)",
                parameters={"plan": 7, "blur": "gaussian", "tracks": 12},
            ),
        ],
        events=[event(seq) for seq in range(1, events + 1)],
        chain_ok=chain_ok,
        chain_status=(
            f"All {events} events verified: every hash and link matches."
            if chain_ok
            else "Event 733's hash does not match its contents: the log was altered after it was written."
        ),
        generated_at="2026-12-01T08:00:00.000000Z",
        generated_by="Łukasz Wójcik",
    )


def receipt() -> ShareReceipt:
    return ShareReceipt(
        agency="Metro Police Department",
        share_id="SH-2026-000045",
        created_at="2026-12-01T08:10:00.000000Z",
        created_by=OFFICER,
        recipient="Jane Roe <jroe@da.example.gov>",
        recipient_kind="link",
        items=[
            ReceiptItem(
                evidence_id=f"EV-2026-{100 + n:06d}",
                title=f"Interview room camera {n} — Łódź" if n % 2 else MARKUP_TITLE,
                filename=f"interview_{n}.mp4",
                content="redacted" if n % 3 == 0 else "original",
                size=10_000_000 * (n + 1),
                sha256=sha(f"item {n}"),
            )
            for n in range(12)
        ],
        terms=[
            ("Expires", "2026-12-31T23:59:59Z"),
            ("Downloads", "at most 5"),
            ("Watermark", "Jane Roe, District Attorney's Office"),
            ("Purpose", "Discovery in People v. Ångström <2026-CR-1182>"),
        ],
        case_number="2026-CR-1182",
    )


def pages_text(pdf: bytes) -> list[str]:
    doc = pypdfium2.PdfDocument(pdf)
    try:
        return [page.get_textpage().get_text_range() for page in doc]
    finally:
        doc.close()


def flat(text: str) -> str:
    """All whitespace gone: a hash broken over two lines reads whole again."""
    return re.sub(r"\s+", "", text)


def spaced(text: str) -> str:
    return re.sub(r"\s+", " ", text)


@pytest.fixture(scope="module")
def report_pdf() -> bytes:
    started = time.perf_counter()
    layout.fonts()  # loads the TTF fonts: once per process
    loaded = time.perf_counter()
    pdf = custody_report_pdf(custody_report())
    done = time.perf_counter()
    print(
        f"\nfonts loaded in {loaded - started:.2f} s; {EVENTS} custody events rendered in "
        f"{done - loaded:.2f} s ({len(pdf):,} bytes)"
    )
    return pdf


@pytest.fixture(scope="module")
def report_pages(report_pdf: bytes) -> list[str]:
    return pages_text(report_pdf)


def test_report_lists_every_event_in_order(report_pages: list[str]) -> None:
    text = "\n".join(report_pages)
    # Each event row starts with its seq and date; its action, actor and hash follow in the row.
    starts = list(re.finditer(r"(?m)^(\d{1,4}) 2026-11-\d\d\s", text))
    assert [int(m[1]) for m in starts] == list(range(1, EVENTS + 1))
    ends = [m.start() for m in starts[1:]] + [len(text)]
    for m, end in zip(starts, ends, strict=True):
        row, e = spaced(text[m.start() : end]), event(int(m[1]))
        assert e.action in row, e.seq
        assert e.event_hash[:16] in row, e.seq
        assert e.actor in row, e.seq
    assert spaced(text).count("denied") == EVENTS // 97


def test_report_has_hashes_status_and_header(report_pages: list[str]) -> None:
    text = "\n".join(report_pages)
    flat_text = flat(text)
    assert "VERIFIED" in text and "NOT VERIFIED" not in text
    assert ORIGINAL.sha256 in flat_text
    assert flat_text.count(ORIGINAL.sha256) >= 4  # integrity section, the original, two derivatives' sources
    assert sha("proxy") in flat_text and sha("redacted") in flat_text
    assert event(EVENTS).event_hash in flat_text  # the chain's head, in full
    first = spaced(report_pages[0])
    assert "Chain of custody report" in first
    assert "EV-2026-000123" in first
    assert MARKUP_TITLE.replace(" ", "") in flat(first)  # printed literally, not as markup
    for name in (OFFICER, LOCATION_NAME, "Łukasz Wójcik", "Metro Police Department — Évidence Unit"):
        assert name in first, name
    assert "1,283,457,024 bytes" in first
    assert "PyAV 14.1.0 (FFmpeg 7.1)" in first
    assert "2026-CR-1182, 2026-IA-0042" in first


def test_report_pages_are_numbered_with_the_evidence_id(report_pages: list[str]) -> None:
    total = len(report_pages)
    assert total > 20  # the events table ran over many pages
    for number, page in enumerate(report_pages, start=1):
        assert f"page {number} of {total}" in page
        assert "EV-2026-000123" in page
        if number > 1:  # the table's header row repeats
            assert "Event hash" in page


def test_report_shows_a_broken_chain() -> None:
    pdf = custody_report_pdf(custody_report(20, chain_ok=False))
    text = spaced(pages_text(pdf)[0])
    assert "NOT VERIFIED" in text
    assert "Event 733's hash does not match its contents" in text


def test_details_are_shortened_and_control_characters_shown() -> None:
    base = custody_report(3)
    odd = replace(base.events[2], details={"note": "line1\nline2\x00end\u202eevil", "long": "y" * 1000})
    pdf = custody_report_pdf(replace(base, events=[*base.events[:2], odd], files=[]))
    text = "\n".join(pages_text(pdf))
    assert "line1 line2\\x00end\\u202eevil" in spaced(text)  # hidden characters made visible
    assert "y" * 1000 not in flat(text) and "yyyy…" in flat(text)
    assert "1 of 1" in text  # no original: still renders


def test_same_input_gives_identical_bytes(report_pdf: bytes) -> None:
    assert custody_report_pdf(custody_report()) == report_pdf
    assert share_receipt_pdf(receipt()) == share_receipt_pdf(receipt())


def test_oversized_fields_still_render() -> None:
    base = custody_report(3)
    huge = replace(
        base,
        title="word " * 3000,
        chain_status="x" * 8000,
        case_numbers=[f"2026-CR-{n:04d}" for n in range(1500)],
        events=[replace(base.events[0], reason="because " * 3000, actor="a" * 400)],
    )
    pages = pages_text(custody_report_pdf(huge))
    assert len(pages) > 3
    assert "2026-CR-1499" in "\n".join(pages)


def test_concurrent_renders_agree() -> None:
    report, r = custody_report(40), receipt()
    want = {id(report): custody_report_pdf(report), id(r): share_receipt_pdf(r)}
    jobs = [(custody_report_pdf, report), (share_receipt_pdf, r)] * 4
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda job: (id(job[1]), job[0](job[1])), jobs))
    assert all(pdf == want[key] for key, pdf in got)


def test_metadata() -> None:
    doc = pypdfium2.PdfDocument(share_receipt_pdf(receipt()))
    try:
        meta = doc.get_metadata_dict()
    finally:
        doc.close()
    assert meta["Title"] == "Share receipt SH-2026-000045"
    assert meta["Author"] == "Metro Police Department"
    assert TOOL.startswith("ReportLab ")


def test_receipt_lists_items_and_terms() -> None:
    r = receipt()
    pages = pages_text(share_receipt_pdf(r))
    text = "\n".join(pages)
    for item in r.items:
        assert item.sha256 in flat(text), item.evidence_id
        assert item.evidence_id in text
        assert item.filename in text
    for label, value in r.terms:
        assert label in text
        assert spaced(value) in spaced(text), value
    for want in ("Share receipt", "SH-2026-000045", "Jane Roe <jroe@da.example.gov>", "share link", OFFICER):
        assert want in spaced(text), want
    assert MARKUP_TITLE.replace(" ", "") in flat(text)
    assert "Interview room camera 1 — Łódź" in spaced(text)
    for number, page in enumerate(pages, start=1):
        assert f"page {number} of {len(pages)}" in page
        assert "SH-2026-000045" in page


def test_body_font_covers_latin_scripts() -> None:
    if layout.fonts().sans_file.name.startswith("Vera"):
        pytest.skip("DejaVu Sans not installed (fonts-dejavu-core): Vera lacks e.g. 'ź'")
    assert layout.fonts().missing(OFFICER + LOCATION_NAME + "Łukasz Wójcik ČŠŽ őű ąęśćń ġħ ŧ ǅ ș ț") == ""
