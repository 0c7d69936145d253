"""Chain-of-custody reports and share receipts as PDF, for courts and recipients.

Both render the plain data of :mod:`opendems.domain.reports` and nothing else: what a report
says is decided by the services. Every custody event and every file is listed, hashes in full
(event hashes are shortened in the table; the report's JSON form has them whole). The same
data gives byte-identical PDFs on the same installation (same fonts).
"""

from __future__ import annotations

from typing import Any

import reportlab
from reportlab.lib.pagesizes import LETTER, landscape
from reportlab.platypus import Spacer, Table, TableStyle

from opendems.domain.reports import CustodyReport, ReceiptItem, ReportEvent, ReportFile, ShareReceipt
from opendems.domain.sizes import size_text

from .layout import (
    BAD_BG,
    MARGIN,
    OK_BG,
    cell,
    fields_table,
    fill_widths,
    fonts,
    grid_table,
    hash_lines,
    mapping_text,
    markup,
    para,
    raw,
    render,
    time_lines,
)

TOOL: str = f"ReportLab {reportlab.Version}"

DETAILS_LIMIT = 300  # characters of an event's details shown in the table
REASON_LIMIT = 600
EVENT_HASH_DIGITS = 16
_OUTCOME_COLOR = "#b3261e"  # outcomes other than success stand out


def _mono(text: str | None) -> str:
    return f"<font name='{fonts().mono}'>{markup(text)}</font>"


def _header(agency: str, title: str) -> list[Any]:
    return [para(agency, "agency"), raw(title, "title")]


def _status_box(ok: bool, sentence: str, width: float) -> Table:
    box = Table(
        [[raw("VERIFIED" if ok else "NOT VERIFIED", "status"), para(sentence, "status_text")]],
        colWidths=[150, width - 150],
        hAlign="LEFT",
        splitInRow=1,
    )
    box.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, -1), OK_BG if ok else BAD_BG),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("LEFTPADDING", (0, 0), (-1, -1), 8),
                ("TOPPADDING", (0, 0), (-1, -1), 6),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 7),
            ]
        )
    )
    return box


# Chain-of-custody report -----------------------------------------------------------------------


def _files_table(files: list[ReportFile], width: float) -> Table:
    widths = fill_widths(width, 62, 124, 78, 134, 134, None, 74)
    rows: list[list[Any]] = []
    for f in files:
        tool = markup(f.tool)
        if f.parameters:
            tool += f"<br/><font size='6.5'>{markup(mapping_text(f.parameters, 200))}</font>"
        rows.append(
            [
                raw(f"<b>{markup(f.role)}</b><br/>{markup(f.mime_type)}"),
                para(f.filename, limit=300),
                para(size_text(f.size)),
                hash_lines(f.sha256),
                hash_lines(f.source_sha256),
                raw(tool),
                time_lines(f.created_at),
            ]
        )
    header = [
        "Role",
        "File name",
        "Size",
        "SHA-256",
        "Source SHA-256",
        "Tool and parameters",
        "Created (UTC)",
    ]
    return grid_table(header, rows, widths, mono_columns=(3, 4))


def _event_row(e: ReportEvent, widths: list[float]) -> list[Any]:
    actor = [e.actor] if e.actor_id is None else [e.actor, f"id {e.actor_id}"]
    outcome: Any = e.outcome
    if e.outcome != "success":
        outcome = raw(f"<font color='{_OUTCOME_COLOR}'><b>{markup(e.outcome)}</b></font>")
    method, _, path = e.endpoint.partition(" ")
    return [
        str(e.seq),
        time_lines(e.at),
        cell([e.action], widths[2], limit=100),
        cell(actor, widths[3], limit=200),
        outcome,
        cell([e.client_address, f"{e.service} · {method}", path], widths[5], limit=300),
        cell([e.reason], widths[6], limit=REASON_LIMIT),
        cell([mapping_text(e.details, DETAILS_LIMIT) if e.details else None], widths[7]),
        e.event_hash[:EVENT_HASH_DIGITS],
    ]


def _events_table(events: list[ReportEvent], width: float) -> Table:
    widths = fill_widths(width, 36, 74, 92, 72, 44, 124, 80, None, 72)
    header = ["Seq", "Time (UTC)", "Action", "Actor", "Outcome", "Where (address, service)", "Reason"]
    header += ["Details", "Event hash"]
    return grid_table(header, [_event_row(e, widths) for e in events], widths, mono_columns=(8,))


def custody_report_pdf(report: CustodyReport) -> bytes:
    """The chain-of-custody report of one evidence item, as a PDF (landscape US Letter)."""
    pagesize = landscape(LETTER)
    width = pagesize[0] - 2 * MARGIN
    r = report
    original = next((f for f in r.files if f.role == "original"), None)
    fields = [
        ("Evidence ID", f"<b>{markup(r.evidence_id)}</b>"),
        ("Title", markup(r.title)),
        ("Kind", markup(r.kind)),
        ("Cases", markup(", ".join(r.case_numbers))),
        ("Captured at", markup(r.captured_at)),
        ("Captured by", markup(r.captured_by)),
        ("Device", markup(r.device)),
        ("Location", markup(r.location)),
        ("Generated at", markup(r.generated_at)),
        ("Generated by", markup(r.generated_by)),
    ]
    events = f"{len(r.events):,}"
    if r.events:
        events += f" (seq {r.events[0].seq:,} to {r.events[-1].seq:,})"
    integrity = [
        ("Original SHA-256", _mono(original.sha256 if original else None)),
        ("Original size", markup(size_text(original.size) if original else None)),
        ("Original file", markup(f"{original.filename} ({original.mime_type})" if original else None)),
        ("Custody events", markup(events)),
        ("Last event hash", _mono(r.events[-1].event_hash if r.events else None)),
    ]
    story: list[Any] = [
        *_header(r.agency, "Chain of custody report"),
        fields_table(fields, width, columns=2),
        raw("Integrity", "h2"),
        _status_box(r.chain_ok, r.chain_status, width),
        Spacer(1, 5),
        fields_table(integrity, width, columns=1, label_width=96),
        raw(f"Files ({len(r.files)})", "h2"),
        _files_table(r.files, width),
        raw(f"Custody events ({len(r.events):,})", "h2"),
        raw(
            "Every event of the item's custody chain, in order. Event hashes are shortened to their "
            f"first {EVENT_HASH_DIGITS} hex digits here; the report's JSON form gives them in full.",
            "small",
        ),
        Spacer(1, 4),
        _events_table(r.events, width),
    ]
    return render(
        story,
        pagesize=pagesize,
        title=f"Chain of custody report {r.evidence_id}",
        author=r.agency,
        subject=f"{r.evidence_id}: {r.title}",
        footer=f"{r.evidence_id} · Chain of custody report · {r.agency}",
    )


# Share receipt ---------------------------------------------------------------------------------

_RECIPIENT_KINDS = {"user": "user account", "link": "share link"}


def _items_table(items: list[ReceiptItem], width: float) -> Table:
    widths = fill_widths(width, 74, None, 100, 50, 70, 136)
    rows: list[list[Any]] = [
        [
            para(i.evidence_id),
            para(i.title, limit=300),
            para(i.filename, limit=300),
            para(i.content),
            para(size_text(i.size)),
            hash_lines(i.sha256),
        ]
        for i in items
    ]
    header = ["Evidence ID", "Title", "File name", "Content", "Size", "SHA-256"]
    return grid_table(header, rows, widths, mono_columns=(5,))


def share_receipt_pdf(receipt: ShareReceipt) -> bytes:
    """The receipt of one share: what was shared, with whom, on what terms (portrait US Letter)."""
    pagesize = LETTER
    width = pagesize[0] - 2 * MARGIN
    r = receipt
    fields = [
        ("Share ID", f"<b>{markup(r.share_id)}</b>"),
        ("Case", markup(r.case_number)),
        ("Created at", markup(r.created_at)),
        ("Created by", markup(r.created_by)),
        ("Shared with", markup(r.recipient)),
        ("Recipient kind", markup(_RECIPIENT_KINDS.get(r.recipient_kind, r.recipient_kind))),
    ]
    terms = grid_table(["Term", "Value"], [[para(k), para(v)] for k, v in r.terms], [120, width - 120])
    story: list[Any] = [
        *_header(r.agency, "Share receipt"),
        fields_table(fields, width, columns=2),
        raw(f"Terms ({len(r.terms)})", "h2"),
        terms if r.terms else raw("No terms were set.", "body"),
        raw(f"Items ({len(r.items)})", "h2"),
        raw(
            "Recompute the SHA-256 of each file received: equal to the value here, it is the exact "
            "file that was shared.",
            "small",
        ),
        Spacer(1, 4),
        _items_table(r.items, width),
    ]
    return render(
        story,
        pagesize=pagesize,
        title=f"Share receipt {r.share_id}",
        author=r.agency,
        subject=f"Share {r.share_id} with {r.recipient}",
        footer=f"{r.share_id} · Share receipt · {r.agency}",
    )
