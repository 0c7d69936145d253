"""Pages: the upload page (resumable tus uploads from the browser) and one item's detail page
(player and viewers, metadata, tags, cases, derivatives, custody timeline, download).

Every read and change goes through the evidence use cases, so the policy decides what is
shown and custody records each view and edit exactly as for the API.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from opendems.domain.custody import CustodyEvent
from opendems.domain.errors import DomainError, Forbidden, Invalid
from opendems.domain.evidence import Derivative, EvidenceItem, EvidenceKind, Restriction
from opendems.domain.jobs import Job, JobState
from opendems.domain.redaction import REASONS as REDACTION_REASONS
from opendems.services import evidence as svc
from opendems.services import redaction, transcripts
from opendems.services.context import Actor
from opendems.services.custody import authorize
from opendems.web.deps import container
from opendems.web.ui.common import FormWho, P, Who, render

router = APIRouter(include_in_schema=False)
Text = Annotated[str, Form(max_length=10_000)]
NOTICES = {
    "edited": "The metadata is saved; the change and its reason are in the custody timeline.",
    "unchanged": "Nothing was changed: the values are the same as before.",
    "tagged": "The tags are saved; the change is in the custody timeline.",
}
PAGE_KIND = re.compile(r"^page-(\d+)$")
DEFAULT_FPS = 30.0
OPTIONAL_TEXT = ("captured_by", "device_make", "device_model", "device_serial", "category")


# -- upload -----------------------------------------------------------------------------------


@router.get("/upload", response_class=HTMLResponse)
def upload_page(request: Request, who: Who) -> HTMLResponse:
    c = container(request)
    uow = c.uow()
    with uow:
        authorize(
            uow,
            who,
            P.EVIDENCE_CREATE,
            clock=c.clock,
            action="evidence:ingest",
            object_type="evidence",
            object_id="upload page",
        )
    return render(
        request,
        "upload.html",
        {"section": "upload", "restrictions": [r.value for r in Restriction]},
    )


# -- what the detail page shows -----------------------------------------------------------------


def derivative_of(item: EvidenceItem, kind: str) -> Derivative | None:
    """The item's derivative of ``kind`` made from its current original."""
    source = item.original.sha256 if item.original else None
    return next((d for d in item.derivatives if d.kind == kind and d.source_sha256 == source), None)


def page_kinds(item: EvidenceItem) -> list[str]:
    """A document's page previews in page order: ``page-1``, ``page-2`` ..."""
    source = item.original.sha256 if item.original else None
    pages = [
        (int(m.group(1)), d.kind)
        for d in item.derivatives
        if (m := PAGE_KIND.match(d.kind)) and d.source_sha256 == source
    ]
    return [kind for _, kind in sorted(pages)]


def frame_rate(item: EvidenceItem) -> float:
    value = (item.media or {}).get("frame_rate")
    return float(value) if isinstance(value, int | float) and value > 0 else DEFAULT_FPS


@dataclass
class EditForm:
    """The metadata form as text, the way the browser sends and shows it."""

    title: str = ""
    description: str = ""
    captured_at: str = ""
    captured_by: str = ""
    device_make: str = ""
    device_model: str = ""
    device_serial: str = ""
    category: str = ""
    restriction: str = ""

    @classmethod
    def of(cls, item: EvidenceItem) -> EditForm:
        return cls(
            title=item.title,
            description=item.description,
            captured_at=item.captured_at.isoformat() if item.captured_at else "",
            restriction=item.restriction.value,
            **{name: getattr(item, name) or "" for name in OPTIONAL_TEXT},
        )

    def changes(self, *, may_restrict: bool) -> dict[str, Any]:
        """Every field for ``edit_evidence`` (it records only what differs); empty is none."""
        out: dict[str, Any] = {"title": self.title, "description": self.description.strip()}
        out["captured_at"] = parse_when(self.captured_at)
        for name in OPTIONAL_TEXT:
            out[name] = getattr(self, name).strip() or None
        if may_restrict and self.restriction:
            out["restriction"] = self.restriction
        return out


def parse_when(value: str) -> datetime | None:
    """An ISO 8601 date and time with its zone (``Z`` or ``+02:00``); empty is none."""
    text = value.strip()
    if not text:
        return None
    try:
        when = datetime.fromisoformat(re.sub(r"[zZ]$", "+00:00", text))
        return when.astimezone(UTC) if when.tzinfo else when  # in UTC it must still be a date
    except (ValueError, OverflowError):
        raise Invalid(f"captured at: {text!r} is not a date and time like 2026-03-01T14:05:00Z") from None


@dataclass(frozen=True)
class CustodyRow:
    seq: int
    at: str
    action: str
    who: str
    outcome: str
    reason: str | None
    summary: str
    event_hash: str


def _summary(details: dict[str, Any]) -> str:
    """The event's details in one line, without the session bookkeeping."""
    shown = {k: v for k, v in details.items() if k not in {"session", "token_id"}}
    parts = []
    for key, value in shown.items():
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        parts.append(f"{key}: {text}")
    line = "; ".join(parts)
    return line if len(line) <= 300 else line[:297] + "..."


def custody_rows(events: list[CustodyEvent], *, newest_first: bool) -> list[CustodyRow]:
    rows = []
    for e in events:
        try:
            details = json.loads(e.details) if e.details else {}
        except ValueError:
            details = {}
        rows.append(
            CustodyRow(
                seq=e.seq,
                at=e.at,
                action=e.action,
                who=e.actor_name,
                outcome=e.outcome,
                reason=e.reason,
                summary=_summary(details if isinstance(details, dict) else {}),
                event_hash=e.event_hash,
            )
        )
    return list(reversed(rows)) if newest_first else rows


def _active(jobs: list[Job]) -> list[Job]:
    return [j for j in jobs if j.state in (JobState.QUEUED, JobState.RUNNING)]


def _viewer(item: EvidenceItem) -> dict[str, Any]:
    """What the viewer region shows: the derivatives made from the current original."""
    proxy = derivative_of(item, "proxy")
    return {
        "proxy": proxy,
        "audio_only": bool(proxy and proxy.mime_type.startswith("audio/")),
        "poster": derivative_of(item, "poster"),
        "waveform": derivative_of(item, "waveform"),
        "sprite": derivative_of(item, "sprite"),
        "transcript": (transcripts.latest(item) or (0, None))[1],
        "captions": transcripts.captions_for(item),
        "preview": derivative_of(item, "preview"),
        "pages": page_kinds(item),
        "fps": frame_rate(item),
        "duration": (item.media or {}).get("duration_s"),
        "is_av": item.kind in (EvidenceKind.VIDEO, EvidenceKind.AUDIO),
        "is_image": item.kind is EvidenceKind.IMAGE,
        "is_document": item.kind is EvidenceKind.DOCUMENT,
    }


def _jobs_context(jobs: list[Job]) -> dict[str, Any]:
    return {
        "jobs": jobs,
        "active_jobs": _active(jobs),
        "failed_jobs": [j for j in jobs if j.state is JobState.FAILED],
    }


def _detail_context(request: Request, who: Actor, item: EvidenceItem, jobs: list[Job]) -> dict[str, Any]:
    c = container(request)
    order = "oldest" if request.query_params.get("order") == "oldest" else "newest"
    events = None
    if P.CUSTODY_READ in who.principal.permissions:
        events = svc.custody_history(who, item.id, uow=c.uow(), clock=c.clock)
    return {
        "section": "evidence",
        "item": item,
        "evidence_id": item.id,
        "viewer": _viewer(item),
        "redactable": redaction.redactable(item),
        **_jobs_context(jobs),
        "custody": custody_rows(events, newest_first=order == "newest") if events is not None else None,
        "order": order,
        "restrictions": [r.value for r in Restriction],
        "form": asdict(EditForm.of(item)),
        "updated": item.updated_at.isoformat() if item.updated_at else "",
        "edit_error": None,
        "tag_error": None,
        "notice": NOTICES.get(request.query_params.get("notice", "")),
    }


def _load(request: Request, who: Actor, evidence_id: str) -> tuple[EvidenceItem, list[Job]]:
    c = container(request)
    item = svc.get_evidence(who, evidence_id, uow=c.uow(), clock=c.clock)
    return item, svc.item_jobs(who, item.id, uow=c.uow(), clock=c.clock)


def _back(evidence_id: str, notice: str, anchor: str) -> RedirectResponse:
    return RedirectResponse(f"/evidence/{evidence_id}?notice={notice}#{anchor}", status_code=303)


# -- the detail page and its forms ---------------------------------------------------------------


@router.get("/evidence/{evidence_id}", response_class=HTMLResponse)
def detail(request: Request, evidence_id: str, who: Who) -> HTMLResponse:
    item, jobs = _load(request, who, evidence_id)
    return render(request, "evidence_detail.html", _detail_context(request, who, item, jobs))


@router.get("/evidence/{evidence_id}/redact", response_class=HTMLResponse)
def redaction_editor(request: Request, evidence_id: str, who: Who) -> HTMLResponse:
    """The redaction editor: review the detected tracks on the paused video, switch them on
    and off, draw boxes with keyframes, mark sound to mute, save a version with a reason,
    render. A PDF is shown a page at a time (drawn by the server), with the personal data
    found in its text, the words a person looks for, and boxes drawn by hand. It works
    through the redaction API, so the same policy and custody apply."""
    c = container(request)
    item = svc.get_evidence(who, evidence_id, uow=c.uow(), clock=c.clock)
    with c.uow() as uow:
        authorize(
            uow,
            who,
            P.EVIDENCE_EDIT,
            clock=c.clock,
            action="redaction:view",
            object_type="evidence",
            object_id=item.id,
            item=item,
        )
    viewer = _viewer(item)
    pdf = redaction.is_pdf(item)
    # The page count, until the plan says: from the page previews, if they are made yet.
    previews = [d for kind in page_kinds(item) if (d := derivative_of(item, kind)) is not None]
    pages = previews[0].parameters.get("pages") if previews else None
    return render(
        request,
        "redact.html",
        {
            "section": "evidence",
            "item": item,
            "evidence_id": item.id,
            "viewer": viewer,
            "redactable": redaction.redactable(item),
            "pdf": pdf,
            "pdf_pages": pages if isinstance(pages, int) and pages > 0 else None,
            "reasons": REDACTION_REASONS,
            "renders": [d for d in item.derivatives if d.kind.startswith("redacted-v")],
        },
    )


@router.get("/evidence/{evidence_id}/processing", response_class=HTMLResponse)
def processing(request: Request, evidence_id: str, who: Who) -> HTMLResponse:
    """The processing panel, polled by htmx while jobs run; once they are done it also
    replaces the viewer region (out of band), so the player appears without a reload."""
    c = container(request)
    jobs = svc.item_jobs(who, evidence_id, uow=c.uow(), clock=c.clock)
    context: dict[str, Any] = {**_jobs_context(jobs), "evidence_id": evidence_id.strip().upper()}
    if not context["active_jobs"]:
        item = svc.get_evidence(who, evidence_id, uow=c.uow(), clock=c.clock)
        context.update(item=item, viewer=_viewer(item), swap_viewer=True)
    return render(request, "_item_processing.html", context)


@router.post("/evidence/{evidence_id}/edit", response_class=HTMLResponse)
def edit(
    request: Request,
    evidence_id: str,
    who: FormWho,
    reason: Text = "",
    updated: Text = "",
    title: Text = "",
    description: Text = "",
    captured_at: Text = "",
    captured_by: Text = "",
    device_make: Text = "",
    device_model: Text = "",
    device_serial: Text = "",
    category: Text = "",
    restriction: Text = "",
) -> Response:
    c = container(request)
    form = EditForm(
        title=title,
        description=description,
        captured_at=captured_at,
        captured_by=captured_by,
        device_make=device_make,
        device_model=device_model,
        device_serial=device_serial,
        category=category,
        restriction=restriction,
    )
    try:
        if not reason.strip():
            raise Invalid("every edit needs a reason: say why the metadata changes")
        changes = form.changes(may_restrict=P.EVIDENCE_RESTRICT in who.principal.permissions)
        after = svc.edit_evidence(
            who, evidence_id, changes, reason=reason, uow=c.uow(), clock=c.clock, limits=c.limits
        )
    except (Invalid, Forbidden) as exc:
        return _with_error(request, who, evidence_id, exc, form=asdict(form), reason=reason)
    changed = (after.updated_at.isoformat() if after.updated_at else "") != updated
    return _back(after.id, "edited" if changed else "unchanged", "metadata")


def _with_error(
    request: Request, who: Actor, evidence_id: str, exc: DomainError, **extra: Any
) -> HTMLResponse:
    """The page again, with the message next to the form that failed and what was typed."""
    item, jobs = _load(request, who, evidence_id)
    context = _detail_context(request, who, item, jobs)
    key = "tag_error" if "tag_value" in extra else "edit_error"
    context.update(extra, **{key: exc.message})
    return render(request, "evidence_detail.html", context, status=exc.status)


@router.post("/evidence/{evidence_id}/tags", response_class=HTMLResponse)
def add_tags(
    request: Request, evidence_id: str, who: FormWho, tags: Text = "", reason: Text = ""
) -> Response:
    c = container(request)
    wanted = [t for t in tags.split(",") if t.strip()]
    try:
        if not wanted:
            raise Invalid("type one or more tags, separated by commas")
        item = svc.change_tags(
            who,
            evidence_id,
            add=wanted,
            reason=reason.strip() or None,
            uow=c.uow(),
            clock=c.clock,
            limits=c.limits,
        )
    except (Invalid, Forbidden) as exc:
        return _with_error(request, who, evidence_id, exc, tag_value=tags)
    return _back(item.id, "tagged", "tags")


@router.post("/evidence/{evidence_id}/tags/remove", response_class=HTMLResponse)
def remove_tag(request: Request, evidence_id: str, who: FormWho, tag: Text = "") -> Response:
    c = container(request)
    item = svc.change_tags(who, evidence_id, remove=[tag], uow=c.uow(), clock=c.clock, limits=c.limits)
    return _back(item.id, "tagged", "tags")
