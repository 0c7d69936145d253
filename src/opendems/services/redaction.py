"""Redaction of videos, photos and PDF documents: the automatic first pass, the versioned plan
a person reviews, and renders of a chosen version into a redacted derivative.

- ``start_detection`` queues the ``faces`` job: for a video or photo the detector and tracker
  go through the original and their result becomes version 1 of the item's plan (every face
  included, reason "unreviewed", fail-secure on the frames the detector was unsure of); for a
  PDF the text layer is searched for personal data (``PII_PATTERNS``), each match a ``text``
  track included with reason "pii" (a scan without a text layer gives an empty plan).
- ``save_plan`` stores a person's changes as the next version -- never rewriting one -- with
  the reason they give, and only on top of the version they were looking at. A PDF's plan
  also keeps to the rules of ``check_document_plan`` (a box per page, inside its page).
- ``find_text`` finds the words a reviewer types in a PDF and gives their boxes, without
  changing the plan (the editor adds them as tracks the person saves); ``page_image`` draws a
  page of the original PDF for the editor. Both read the evidence: custody events.
- ``request_render`` queues a ``redact:<version>`` job; the render becomes a derivative
  ``redacted-v<version>`` with its provenance: plan version, detector model and hash (or the
  PDF tool), parameters and the source's SHA-256. The original is only read. A PDF's render
  takes what lies under each box out of the file (text, image pixels, vector graphics).

Redaction needs ``evidence:edit`` on the item (reading a plan: ``evidence:view``; a page of
the original: ``evidence:play``, as for any other picture of the content); every step is a
custody event.
"""

from __future__ import annotations

import dataclasses
import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from opendems import __version__
from opendems.domain.access import Permission
from opendems.domain.errors import Conflict, Invalid, NotFound
from opendems.domain.evidence import EvidenceItem, EvidenceKind
from opendems.domain.jobs import Job, JobState, PermanentFailure
from opendems.domain.ocr import with_text_tracks
from opendems.domain.redaction import (
    MAX_TERM_CHARS,
    MAX_TERMS,
    PII_PATTERNS,
    RedactionPlan,
    TextMatch,
    TextScan,
    check_document_plan,
    outward,
    plan_for_document,
    term_patterns,
)
from opendems.domain.transcripts import silenced
from opendems.ports import BlobStore, Clock, MediaTools, UnitOfWork
from opendems.services import transcripts
from opendems.services.context import Actor
from opendems.services.custody import record
from opendems.services.evidence import load_item
from opendems.services.jobs import StepContext
from opendems.services.media import has_derivative, item_of_job, store_derivative
from opendems.services.ocr import FirstPassText, first_pass_text

DETECT_JOB = "faces"
RENDER_JOB = "redact"
MAX_NOTE = 2000
PDF = "application/pdf"


@dataclass(frozen=True)
class PlanView:
    evidence_id: str
    version: int
    plan: RedactionPlan
    note: str
    created_by: str
    created_at: datetime


REDACTABLE = {EvidenceKind.VIDEO, EvidenceKind.IMAGE}


def is_pdf(item: EvidenceItem) -> bool:
    """A document whose original is a PDF (other documents cannot be redacted yet)."""
    return (
        item.kind is EvidenceKind.DOCUMENT
        and item.original is not None
        and item.original.mime_type.split(";")[0].strip().lower() == PDF
    )


def redactable(item: EvidenceItem) -> bool:
    return item.original is not None and (item.kind in REDACTABLE or is_pdf(item))


def _redactable(item: EvidenceItem) -> None:
    if not redactable(item):
        raise Invalid(f"{item.id} is not a video, a photo or a PDF: redaction works on those")


def _pdf(item: EvidenceItem) -> None:
    if not is_pdf(item):
        raise Invalid(f"{item.id} is not a PDF document: pages and words are found in PDFs only")


def start_detection(actor: Actor, evidence_id: str, *, uow: UnitOfWork, clock: Clock) -> int | None:
    """Queue the detector on the item's original; None when it already ran or is queued."""
    with uow:
        item = load_item(
            actor, evidence_id, Permission.EVIDENCE_EDIT, "redaction:detect", uow=uow, clock=clock
        )
        _redactable(item)
        job_id = uow.jobs.enqueue(DETECT_JOB, item.id, clock.now())
        record(uow, actor, "redaction:detect", "evidence", item.id, clock=clock, details={"job": job_id})
        uow.commit()
        return job_id


def get_plan(
    actor: Actor, evidence_id: str, version: int | None = None, *, uow: UnitOfWork, clock: Clock
) -> PlanView:
    with uow:
        item = load_item(actor, evidence_id, Permission.EVIDENCE_VIEW, "redaction:view", uow=uow, clock=clock)
        found = uow.redaction.get(item.id, version)
        if found is None:
            raise NotFound(
                f"{item.id} has no redaction plan{f' version {version}' if version else ''} yet"
                + ("" if version else ": start the automatic detection first")
            )
        record(
            uow, actor, "redaction:view", "evidence", item.id, clock=clock, details={"version": found.version}
        )
        uow.commit()
    return PlanView(
        item.id,
        found.version,
        RedactionPlan.from_dict(found.body),
        found.note,
        found.created_by,
        found.created_at,
    )


def plan_history(actor: Actor, evidence_id: str, *, uow: UnitOfWork, clock: Clock) -> list[dict[str, Any]]:
    with uow:
        item = load_item(actor, evidence_id, Permission.EVIDENCE_VIEW, "redaction:view", uow=uow, clock=clock)
        return [
            {"version": v.version, "note": v.note, "created_by": v.created_by, "created_at": v.created_at}
            for v in uow.redaction.history(item.id)
        ]


def _summary(plan: RedactionPlan) -> dict[str, Any]:
    return {
        "tracks_included": sum(1 for t in plan.tracks if t.include),
        "tracks_excluded": sum(1 for t in plan.tracks if not t.include),
        "manual_tracks": sum(1 for t in plan.tracks if t.kind == "manual"),
        "text_tracks": sum(1 for t in plan.tracks if t.kind == "text"),
        "audio_segments": len(plan.audio),
        "effect": plan.effect.value,
        "fail_secure": plan.fail_secure.enabled,
    }


def save_plan(
    actor: Actor,
    evidence_id: str,
    body: Any,
    *,
    base_version: int,
    reason: str,
    uow: UnitOfWork,
    clock: Clock,
) -> int:
    """Store ``body`` as the next version of the item's plan. ``base_version`` is the version
    the person edited: if another was saved meanwhile, Conflict (nothing is lost: reload,
    reapply). Returns the new version."""
    reason = (reason or "").strip()
    if not reason:
        raise Invalid("say why the plan changes (a reason is kept with every version)")
    if len(reason) > MAX_NOTE:
        raise Invalid(f"the reason is longer than {MAX_NOTE} characters")
    plan = RedactionPlan.from_dict(body)
    with uow:
        item = load_item(actor, evidence_id, Permission.EVIDENCE_EDIT, "redaction:edit", uow=uow, clock=clock)
        _redactable(item)
        current = uow.redaction.get(item.id)
        if current is None:
            raise NotFound(f"{item.id} has no redaction plan yet: start the automatic detection first")
        if base_version != current.version:
            raise Conflict(
                f"version {current.version} of the plan was saved since version {base_version} was loaded; "
                "reload it and apply the changes again"
            )
        before = RedactionPlan.from_dict(current.body)
        if (plan.width, plan.height, plan.frame_count) != (before.width, before.height, before.frame_count):
            raise Invalid(
                "the plan's geometry (width, height, frame or page count) is that of the original; "
                "it cannot change"
            )
        plan = plan.with_changes(detections=before.detections)  # the detector's provenance stays
        if is_pdf(item):
            check_document_plan(plan)
        version = current.version + 1
        try:
            uow.redaction.add(item.id, version, plan.to_dict(), reason, actor.principal.id, clock.now())
        except IntegrityError:
            raise Conflict("another change to this plan was saved at the same moment; reload it") from None
        record(
            uow,
            actor,
            "redaction:edit",
            "evidence",
            item.id,
            clock=clock,
            reason=reason,
            details={
                "version": version,
                "from_version": current.version,
                "old": _summary(before),
                "new": _summary(plan),
            },
        )
        uow.commit()
    return version


def request_render(
    actor: Actor, evidence_id: str, *, version: int | None = None, uow: UnitOfWork, clock: Clock
) -> tuple[int, int | None]:
    """Queue the render of a plan version (the latest by default). Returns (version, job id;
    None when that version is rendered or queued already)."""
    with uow:
        item = load_item(
            actor, evidence_id, Permission.EVIDENCE_EDIT, "redaction:render", uow=uow, clock=clock
        )
        _redactable(item)
        found = uow.redaction.get(item.id, version)
        if found is None:
            raise NotFound(f"{item.id} has no redaction plan{f' version {version}' if version else ''}")
        job_id = uow.jobs.enqueue(f"{RENDER_JOB}:{found.version}", item.id, clock.now())
        record(
            uow,
            actor,
            "redaction:render",
            "evidence",
            item.id,
            clock=clock,
            details={"version": found.version, "job": job_id},
        )
        uow.commit()
    return found.version, job_id


def find_text(
    actor: Actor,
    evidence_id: str,
    terms: list[str],
    *,
    match_case: bool = False,
    whole_words: bool = True,
    uow: UnitOfWork,
    clock: Clock,
    blobs: BlobStore,
    tools: MediaTools,
) -> TextScan:
    """Every occurrence of the ``terms`` in the PDF's text layer, with its box per page (labels
    ``term-1``, ``term-2``... in the order of the terms). The plan is not changed. The custody
    event counts the terms and matches; it does not name the terms (they may be the very
    personal data to hide)."""
    patterns = term_patterns(terms, match_case=match_case, whole_words=whole_words)
    with uow:
        item = load_item(
            actor, evidence_id, Permission.EVIDENCE_EDIT, "redaction:find-text", uow=uow, clock=clock
        )
        _pdf(item)
    assert item.original is not None
    try:
        with blobs.open_plaintext(item.original.blob_key) as f:
            scan = tools.find_pdf_text(f, patterns)
    except PermanentFailure as exc:
        raise Invalid(str(exc)) from None
    scan = dataclasses.replace(
        scan, matches=tuple(dataclasses.replace(m, box=outward(m.box)) for m in scan.matches)
    )
    with uow:
        record(
            uow,
            actor,
            "redaction:find-text",
            "evidence",
            item.id,
            clock=clock,
            details={
                "terms": len(patterns),
                "matches": len(scan.matches),
                "pages_with_matches": len({m.page for m in scan.matches}),
                "match_case": match_case,
                "whole_words": whole_words,
            },
        )
        uow.commit()
    return scan


def page_image(
    actor: Actor,
    evidence_id: str,
    page: int,
    width: int,
    *,
    uow: UnitOfWork,
    clock: Clock,
    blobs: BlobStore,
    tools: MediaTools,
) -> tuple[bytes, dict[str, Any]]:
    """Page ``page`` (from 0, as in the plan) of the original PDF as a PNG about ``width``
    pixels wide, for the editor to draw boxes on; with its size and the page count."""
    with uow:
        item = load_item(actor, evidence_id, Permission.EVIDENCE_PLAY, "redaction:page", uow=uow, clock=clock)
        _pdf(item)
    assert item.original is not None
    try:
        with blobs.open_plaintext(item.original.blob_key) as f:
            drawn = tools.pdf_page_image(f, page, width)
    except PermanentFailure as exc:
        raise Invalid(str(exc)) from None
    if drawn is None:
        raise NotFound(f"{item.id} has no page {page + 1} (index {page})")
    png, meta = drawn
    with uow:
        record(
            uow,
            actor,
            "redaction:page",
            "evidence",
            item.id,
            clock=clock,
            details={"page": page, "width": meta.get("width")},
        )
        uow.commit()
    return png, meta


@dataclass(frozen=True)
class RedactionJob:
    """The detection or a render of an item, as the editor follows it."""

    job: Job
    kind: str  # "detect" | "render"
    version: int | None  # the plan version a render is of
    derivative: str | None  # the redacted copy, once the render is done
    eta_s: float | None


def _of_item(job: Job, item: EvidenceItem, now: datetime) -> RedactionJob | None:
    name, _, arg = job.kind.partition(":")
    if name == DETECT_JOB:
        return RedactionJob(job, "detect", None, None, job.eta_s(now))
    if name != RENDER_JOB or not arg.isdigit():
        return None
    kind = f"redacted-v{arg}"
    made = job.state is JobState.DONE and any(d.kind == kind for d in item.derivatives)
    return RedactionJob(job, "render", int(arg), kind if made else None, job.eta_s(now))


def redaction_jobs(actor: Actor, evidence_id: str, *, uow: UnitOfWork, clock: Clock) -> list[RedactionJob]:
    """The item's detection and render jobs, newest first, with progress and the time left.
    Read often while a job runs (a page polls it), so it is not a custody event: it shows no
    evidence, only the state of work on it."""
    with uow:
        item = load_item(actor, evidence_id, Permission.EVIDENCE_VIEW, "redaction:view", uow=uow, clock=clock)
        jobs = uow.jobs.for_item(item.id)
    now = clock.now()
    found = [r for j in reversed(jobs) if (r := _of_item(j, item, now)) is not None]
    return found


def cancel_job(actor: Actor, evidence_id: str, job_id: int, *, uow: UnitOfWork, clock: Clock) -> RedactionJob:
    """Stop a queued or running detection or render of the item. The worker stops at its next
    progress report (within about a second) and keeps nothing; the plan is untouched, and
    the same version can be rendered again later."""
    with uow:
        item = load_item(
            actor, evidence_id, Permission.EVIDENCE_EDIT, "redaction:cancel", uow=uow, clock=clock
        )
        job = uow.jobs.get(job_id)
        view = _of_item(job, item, clock.now()) if job is not None and job.evidence_id == item.id else None
        if job is None or view is None:
            raise NotFound(f"{item.id} has no redaction job {job_id}")
        if not uow.jobs.cancel(job.id, clock.now(), f"cancelled by {actor.principal.name}"):
            raise Conflict(
                f"job {job_id} is {job.state.value}; only a queued or running job can be cancelled"
            )
        record(
            uow,
            actor,
            "redaction:cancel",
            "evidence",
            item.id,
            clock=clock,
            details={"job": job.id, "kind": view.kind, "version": view.version, "progress": job.progress},
        )
        uow.commit()
        ended = uow.jobs.get(job.id)
    assert ended is not None
    return RedactionJob(ended, view.kind, view.version, None, None)


# -- job steps ------------------------------------------------------------------------------------


def detect_step(ctx: StepContext, job: Job) -> None:
    item = item_of_job(ctx, job)
    with ctx.uow:
        if ctx.uow.redaction.get(item.id) is not None:
            return  # an earlier run of this job got as far as storing the plan
    assert item.original is not None
    if is_pdf(item):
        plan, note = _document_plan(ctx, item)
    else:
        with ctx.blobs.open_plaintext(item.original.blob_key) as f:
            plan = ctx.tools.find_faces(
                f,
                image=item.kind is EvidenceKind.IMAGE,
                report=ctx.report,
                source_sha256=item.original.sha256,
            )
        note = (
            f"automatic detection: {len(plan.tracks)} face track(s), "
            f"{len(plan.fail_secure.frames)} frame(s) covered whole where the detector was unsure"
        )
        read = first_pass_text(ctx, item, PII_PATTERNS) if item.kind is EvidenceKind.IMAGE else None
        if read is not None:  # a photo: the personal data in its text, boxed
            plan = with_text_tracks(plan, read.findings, detections=read.detections)
            note += f"; {read.note}"
    with ctx.uow:
        try:
            ctx.uow.redaction.add(item.id, 1, plan.to_dict(), note, ctx.actor.principal.id, ctx.clock.now())
        except IntegrityError:
            return  # another run stored it first
        record(
            ctx.uow,
            ctx.actor,
            "redaction:plan",
            "evidence",
            item.id,
            clock=ctx.clock,
            details={
                "version": 1,
                **_summary(plan),
                "model": plan.detections.get("model"),
                "model_sha256": plan.detections.get("model_sha256"),
                **({"tool": plan.detections["tool"]} if "pages" in plan.detections else {}),
            },
        )
        ctx.uow.commit()


def _document_plan(ctx: StepContext, item: EvidenceItem) -> tuple[RedactionPlan, str]:
    """Version 1 of a PDF's plan and its note: the personal data found in its text layer."""
    assert item.original is not None
    read = first_pass_text(ctx, item, PII_PATTERNS)  # the scanned pages, read by OCR
    terms = _layer_term_patterns(read.layer_terms if read is not None else ())
    with ctx.blobs.open_plaintext(item.original.blob_key) as f:
        scan = _kept_apart(ctx.tools.find_pdf_text(f, PII_PATTERNS + terms))
    layer = scan
    if read is not None:
        scan = dataclasses.replace(scan, matches=scan.matches + read_matches(read))
    plan = plan_for_document(scan)
    if read is not None:
        plan = plan.with_changes(detections={**plan.detections, "ocr": read.detections})
        if read.detections.get("pages_read") or not layer.text_pages:
            return plan, _ocr_note(layer, read)
    pages = len(scan.pages)
    if not scan.text_pages:
        return plan, (
            f"automatic search: the PDF ({pages} page(s)) has no text layer (a scan?), so nothing "
            "was found automatically; draw boxes over what to hide"
        )
    found = dict(plan.detections.get("found") or {})
    counts = ", ".join(f"{n} {label}" for label, n in sorted(found.items())) or "nothing"
    return plan, (
        f"automatic search of the text layer ({scan.text_pages} of {pages} page(s) have text): "
        f"{len(plan.tracks)} match(es) of personal data ({counts}); pages without text were not searched"
        if scan.text_pages < pages
        else f"automatic search of the text layer ({pages} page(s)): "
        f"{len(plan.tracks)} match(es) of personal data ({counts})"
    )


def _layer_term_patterns(terms: Sequence[tuple[str, str]]) -> tuple[tuple[str, re.Pattern[str]], ...]:
    """Patterns for what the personal-data finder named in a PDF's text layer (names,
    addresses, places), labelled as it labels them; the kinds the fixed patterns look for
    are left to them."""
    own = {label for label, _ in PII_PATTERNS}
    kept = [
        (label, words) for label, words in terms if label not in own and 2 <= len(words) <= MAX_TERM_CHARS
    ]
    kept = kept[:MAX_TERMS]
    if not kept:
        return ()
    found = term_patterns([w for _, w in kept], match_case=True)
    return tuple((label, pattern) for (label, _), (_, pattern) in zip(kept, found, strict=True))


def _kept_apart(scan: TextScan) -> TextScan:
    """The matches, less those of the finder's words that lie over a fixed pattern's match
    (the pattern's stays: "Call (555) 123-4567" is a phone number, not a place)."""
    own = {label for label, _ in PII_PATTERNS}
    fixed = [m for m in scan.matches if m.label in own]

    def over(a: TextMatch, b: TextMatch) -> bool:
        return (
            a.page == b.page
            and a.box[0] < b.box[2]
            and b.box[0] < a.box[2]
            and a.box[1] < b.box[3]
            and b.box[1] < a.box[3]
        )

    matches = tuple(m for m in scan.matches if m.label in own or not any(over(m, f) for f in fixed))
    return dataclasses.replace(scan, matches=matches)


def _ocr_note(layer: TextScan, read: FirstPassText) -> str:
    """A PDF's first pass in words, where OCR read (or failed to read) its scanned pages."""
    pages = len(layer.pages)
    if layer.text_pages:
        said = f"the text layer ({layer.text_pages} of {pages} page(s)) has {len(layer.matches)} match(es)"
    else:
        said = f"the PDF ({pages} page(s)) has no text layer"
    return f"automatic search: {said} of personal data; {read.note}"


def read_matches(read: FirstPassText) -> tuple[TextMatch, ...]:
    """OCR findings as text-layer matches: one per line a finding spans."""
    return tuple(TextMatch(f.page, f.label, f.length, box) for f in read.findings for box in f.boxes)


def render_step(ctx: StepContext, job: Job) -> None:
    item = item_of_job(ctx, job)
    assert item.original is not None
    _, _, wanted = job.kind.partition(":")
    if not wanted.isdigit():
        raise PermanentFailure(f"job kind {job.kind!r} names no plan version")
    version = int(wanted)
    kind = f"redacted-v{version}"
    if any(d.kind == kind and d.source_sha256 == item.original.sha256 for d in item.derivatives):
        return  # rendered by an earlier run of this job
    with ctx.uow:
        found = ctx.uow.redaction.get(item.id, version)
    if found is None:
        raise PermanentFailure(f"version {version} of the plan no longer exists")
    plan = RedactionPlan.from_dict(found.body)
    provenance = _provenance(plan, version, found.note)
    if is_pdf(item):
        _render_pdf(ctx, job, item, kind, plan, provenance)
        return
    if item.kind is EvidenceKind.IMAGE:
        with ctx.blobs.open_plaintext(item.original.blob_key) as f:
            data, params = ctx.tools.redact_image(f, plan)
        store_derivative(
            ctx,
            item,
            kind,
            mime_type="image/png",
            tool=f"opendems-redact {__version__}",
            parameters={**params, **provenance},
            data=data,
        )
        return
    _render_transcript(ctx, item, version, plan, provenance)
    for stale in ctx.work_dir.glob(f"job-{job.id}-*"):
        stale.unlink(missing_ok=True)
    work = ctx.work_dir / f"job-{job.id}-{uuid.uuid4().hex}.mp4"
    try:
        with ctx.blobs.open_plaintext(item.original.blob_key) as f:
            params = ctx.tools.redact_video(f, work, plan, ctx.report)
        params.update(provenance)
        store_derivative(
            ctx,
            item,
            kind,
            mime_type="video/mp4",
            tool=f"opendems-redact {__version__}",
            parameters=params,
            path=work,
        )
    finally:
        work.unlink(missing_ok=True)


def _render_transcript(
    ctx: StepContext, item: EvidenceItem, version: int, plan: RedactionPlan, provenance: dict[str, Any]
) -> None:
    """The transcript and captions of the redacted copy (``redacted-transcript-v<n>``,
    ``redacted-captions-v<n>``), made from the latest transcript revision: every word said
    within a muted stretch reads ``[redacted]``. Made before the copy itself, whose presence
    means the render is done."""
    top = transcripts.latest(item)
    if top is None:
        return
    stretches = [(a.start_s, a.end_s) for a in plan.audio]
    quiet = silenced(transcripts.load(ctx.blobs, top[1]), stretches)
    params = {
        **{k: v for k, v in provenance.items() if v is not None},
        "transcript_revision": top[0],
        "transcript_sha256": top[1].sha256,
        "stretches_silenced": len(stretches),
    }
    for kind, mime, data in (
        (f"redacted-transcript-v{version}", "application/json", json.dumps(quiet.to_dict()).encode()),
        (f"redacted-captions-v{version}", "text/vtt", quiet.webvtt().encode()),
    ):
        if not has_derivative(item, kind):
            store_derivative(
                ctx,
                item,
                kind,
                mime_type=mime,
                tool=f"opendems-redact {__version__}",
                parameters=params,
                data=data,
            )


def _render_pdf(
    ctx: StepContext, job: Job, item: EvidenceItem, kind: str, plan: RedactionPlan, provenance: dict[str, Any]
) -> None:
    """The redacted copy of a PDF: what lies under the included tracks' boxes is taken out of
    the file, page by page; a plan that breaks a PDF's rules renders nothing."""
    assert item.original is not None
    try:
        check_document_plan(plan)
    except Invalid as exc:
        raise PermanentFailure(f"the plan cannot be rendered: {exc}") from None
    for stale in ctx.work_dir.glob(f"job-{job.id}-*"):
        stale.unlink(missing_ok=True)
    work = ctx.work_dir / f"job-{job.id}-{uuid.uuid4().hex}.pdf"
    try:
        with ctx.blobs.open_plaintext(item.original.blob_key) as f:
            params = ctx.tools.redact_pdf(f, work, plan.page_regions(), ctx.report)
        params.update(
            {k: v for k, v in provenance.items() if v is not None},  # no face model for a PDF
            tracks_included=sum(1 for t in plan.tracks if t.include),
            tracks_excluded=sum(1 for t in plan.tracks if not t.include),
        )
        store_derivative(
            ctx,
            item,
            kind,
            mime_type=PDF,
            tool=f"opendems-redact {__version__}",
            parameters=params,
            path=work,
        )
    finally:
        work.unlink(missing_ok=True)


def _provenance(plan: RedactionPlan, version: int, note: str) -> dict[str, Any]:
    detections = dict(plan.detections)
    own = {"model", "model_version", "model_sha256"}
    return {
        "plan_version": version,
        "plan_note": note,
        "model": detections.get("model"),
        "model_version": detections.get("model_version"),
        "model_sha256": detections.get("model_sha256"),
        "detection": {k: v for k, v in detections.items() if k not in own},
    }


STEPS = {DETECT_JOB: detect_step, RENDER_JOB: render_step}
