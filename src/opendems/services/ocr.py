"""Text recognition (OCR) as a processing step: the text in every photo and in every PDF's
pages, kept as an ``ocr`` derivative (JSON: pages, lines, each word's box, the engine and its
models), indexed for search (a hit on a document names its page).

The redaction's first pass reads it too (``first_pass_text``): on a scanned page, and in a
photo, the personal data found in the text (the patterns a PDF's text layer is searched with,
and the personal-data finder) become text tracks of the plan, each for a person to keep or
drop.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from opendems.domain.evidence import EvidenceItem, EvidenceKind
from opendems.domain.jobs import Job, PermanentFailure
from opendems.domain.ocr import (
    READ,
    TEXT_LAYER,
    OcrText,
    TextFinding,
    explain_empty,
    locate,
    page_text,
    pattern_findings,
    scanner_findings,
)
from opendems.services.jobs import Step, StepContext
from opendems.services.media import has_derivative, item_of_job, store_derivative

KIND = "ocr"
PDF = "application/pdf"


def readable(item: EvidenceItem) -> bool:
    """Whether OCR reads this item: a photo, or a PDF document."""
    if item.original is None:
        return False
    return item.kind is EvidenceKind.IMAGE or item.original.mime_type.split(";")[0].strip().lower() == PDF


def ocr_step(ctx: StepContext, job: Job) -> None:
    item = item_of_job(ctx, job)
    if ctx.ocr is None or not readable(item):
        return  # switched off on this installation (OPENDEMS_OCR=off), or nothing to read
    if has_derivative(item, KIND):
        return  # done by an earlier run of this job
    read_and_store(ctx, item)


def read_and_store(ctx: StepContext, item: EvidenceItem) -> tuple[OcrText, str]:
    """Read the item's text and store it (with its search index) as the ``ocr`` derivative;
    the text and the derivative's SHA-256. PermanentFailure, with nothing stored, where the file cannot be opened or no page of it
    could be read."""
    assert item.original is not None and ctx.ocr is not None
    with ctx.blobs.open_plaintext(item.original.blob_key) as f:
        if item.kind is EvidenceKind.IMAGE:
            ocr = ctx.ocr.read_image(f, ctx.report)
        else:
            ocr = ctx.ocr.read_pdf(f, ctx.report)
    why = explain_empty(ocr)
    if why.startswith("no page could be read"):
        raise PermanentFailure(why)
    if why and not ocr.note:
        ocr = OcrText(ocr.unit, ocr.pages, ocr.engine, why, ocr.total_pages)
    tool = str(ocr.engine.get("ocr_tool", "ocr"))
    stored = store_derivative(
        ctx,
        item,
        KIND,
        mime_type="application/json",
        tool=tool,
        parameters={k: v for k, v in ocr.summary().items() if k != "ocr_tool"},
        data=json.dumps(ocr.to_dict(), ensure_ascii=False, separators=(",", ":")).encode(),
        also=lambda uow: uow.search.add_text(item.id, KIND, ocr.search_segments()),
    )
    return ocr, stored.sha256


def stored_text(ctx: StepContext, item: EvidenceItem) -> tuple[OcrText, str] | None:
    """The item's OCR text made from its current original, and the derivative's SHA-256."""
    source = item.original.sha256 if item.original else None
    d = next((d for d in item.derivatives if d.kind == KIND and d.source_sha256 == source), None)
    if d is None:
        return None
    return OcrText.from_dict(json.loads(b"".join(ctx.blobs.read_all(d.blob_key)))), d.sha256


@dataclass(frozen=True)
class FirstPassText:
    """What the redaction's first pass found in an item's OCR text: the findings (boxes per
    line), a note in words, and what the plan records of it (never the text found)."""

    findings: tuple[TextFinding, ...] = ()
    note: str = ""
    detections: dict[str, Any] = field(default_factory=dict)
    # (plan label, words) the finder names in a PDF's own text layer, each once: no boxes are
    # kept for that text, so the first pass finds them in the layer as a reviewer's terms.
    layer_terms: tuple[tuple[str, str], ...] = ()

    def counts(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for f in self.findings:
            found[f.label] = found.get(f.label, 0) + 1
        return found


def first_pass_text(
    ctx: StepContext, item: EvidenceItem, patterns: Sequence[tuple[str, Any]]
) -> FirstPassText | None:
    """The personal data in the text OCR read from a photo or from a PDF's scanned pages.
    Where the text has not been read yet (its job is queued, or running on another worker) it
    is read now. None when OCR is switched off or the item is neither a photo nor a PDF; a
    file whose text cannot be read gives no findings and a note saying why (faces and the text
    layer are still searched)."""
    if ctx.ocr is None or not readable(item):
        return None
    with ctx.uow:
        item = ctx.uow.evidence.get(item.id) or item  # the text may have been read meanwhile
    stored = stored_text(ctx, item)
    if stored is None:
        try:
            stored = read_and_store(ctx, item)
        except PermanentFailure as exc:
            return FirstPassText(note=f"its text could not be read by OCR ({exc})")
    ocr, sha256 = stored
    scanner = ctx.pii() if ctx.pii is not None else None
    findings: list[TextFinding] = []
    terms: dict[str, tuple[str, str]] = {}
    for page in ocr.pages_of(TEXT_LAYER):
        if scanner is None:
            break
        text = "\n".join(line.text for line in page.lines)
        for label, start, end, _ in scanner_findings(scanner.find(text)):
            words = " ".join(text[start:end].split())
            terms.setdefault(words.casefold(), (label, words))
    for page in (p for p in ocr.pages if p.source == READ and p.lines):
        text, _ = page_text(page)
        found = pattern_findings(text, patterns)  # the exact patterns first: their labels win
        if scanner is not None:
            found += scanner_findings(scanner.find(text))
        for f in locate(page, page.number - 1, found):
            boxes = tuple(
                (min(b[0], page.width), min(b[1], page.height), min(b[2], page.width), min(b[3], page.height))
                for b in f.boxes
            )
            findings.append(TextFinding(f.label, f.page, f.length, boxes, f.score))
    result = FirstPassText(tuple(findings))
    counts = ", ".join(f"{n} {label}" for label, n in sorted(result.counts().items())) or "nothing"
    what = "the picture" if ocr.unit == "px" else f"{len(ocr.pages_of(READ))} scanned page(s)"
    return FirstPassText(
        result.findings,
        f"text read by OCR in {what}: {len(findings)} finding(s) of personal data ({counts})",
        {
            "ocr_sha256": sha256,
            "ocr_tool": ocr.engine.get("ocr_tool"),
            "ocr_model_sha256": ocr.engine.get("ocr_model_sha256"),
            "pages_read": len(ocr.pages_of(READ)),
            "found": result.counts(),
            "searched_for": sorted({label for label, _ in patterns}),
            **(scanner.provenance if scanner is not None else {}),
        },
        tuple(terms.values()),
    )


STEPS: dict[str, Step] = {KIND: ocr_step}
