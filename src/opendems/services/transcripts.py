"""Transcription as a processing step: what is said in every audio and video original,
kept as a transcript derivative (JSON: segments, each word's timing, the language, the
model), WebVTT captions for the player, and search windows (a hit opens the player at the
second it was said).

People correct it (``correct_transcript``): each set of corrections, with its reason, is the
next revision -- a new transcript and captions derivative, the earlier ones kept -- recorded in
custody as ``transcript:correct`` with which words changed; the search index, the captions and
the spoken personal details follow the latest revision."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from opendems.domain.access import Permission
from opendems.domain.errors import Conflict, Invalid, NotFound
from opendems.domain.evidence import Derivative, EvidenceItem
from opendems.domain.jobs import Job
from opendems.domain.transcripts import (
    Correction,
    SpokenFinding,
    Transcript,
    corrected,
    revision_kind,
    revision_of,
    spoken_findings,
    spoken_text,
)
from opendems.ports import BlobStore, Clock, PiiScanner, UnitOfWork
from opendems.services.context import Actor
from opendems.services.custody import record
from opendems.services.evidence import load_item, record_viewing, viewed
from opendems.services.jobs import Step, StepContext
from opendems.services.media import has_derivative, item_of_job, keep_derivative, store_derivative

MAX_REASON = 2000


def transcribe_step(ctx: StepContext, job: Job) -> None:
    item = item_of_job(ctx, job)
    assert item.original is not None
    if ctx.transcription is None:
        return  # switched off on this installation (OPENDEMS_TRANSCRIPTION=off)
    if has_derivative(item, "transcript"):
        return  # done by an earlier run of this job
    with ctx.blobs.open_plaintext(item.original.blob_key) as f:
        transcript = ctx.tools.transcribe(f, ctx.transcription, ctx.report)
    tool = transcript.model.get("runtime", "faster-whisper").split(",")[0]
    params = {
        "language": transcript.language,
        "duration_s": round(transcript.duration_s, 3),
        "segments": len(transcript.segments),
        "words": len(transcript.words),
        "note": transcript.note,
        **{k: v for k, v in transcript.model.items() if k != "runtime"},
    }
    if transcript.segments and not has_derivative(item, "captions"):
        store_derivative(
            ctx,
            item,
            "captions",
            mime_type="text/vtt",
            tool=tool,
            parameters=params,
            data=transcript.webvtt().encode(),
        )
    # The transcript last: its presence means the step is done. Its search windows are
    # written in the same transaction.
    store_derivative(
        ctx,
        item,
        "transcript",
        mime_type="application/json",
        tool=tool,
        parameters=params,
        data=json.dumps(transcript.to_dict(), ensure_ascii=False, separators=(",", ":")).encode(),
        also=lambda uow: uow.search.add_text(item.id, "transcript", transcript.search_segments()),
    )


def revisions(item: EvidenceItem, base: str = "transcript") -> list[tuple[int, Derivative]]:
    """The item's transcript (or captions) revisions made from its current original, oldest first."""
    source = item.original.sha256 if item.original else None
    found = []
    for d in item.derivatives:
        parsed = revision_of(d.kind)
        if parsed and parsed[0] == base and d.source_sha256 == source:
            found.append((parsed[1], d))
    return sorted(found, key=lambda rd: rd[0])


def latest(item: EvidenceItem, base: str = "transcript") -> tuple[int, Derivative] | None:
    found = revisions(item, base)
    return found[-1] if found else None


def captions_for(item: EvidenceItem) -> Derivative | None:
    """The captions of the latest transcript revision that has them."""
    top = latest(item)
    made = [(r, d) for r, d in revisions(item, "captions") if top is None or r <= top[0]]
    return made[-1][1] if made else None


def load(blobs: BlobStore, d: Derivative) -> Transcript:
    return Transcript.from_dict(json.loads(b"".join(blobs.read_all(d.blob_key))))


def _with_transcript(
    actor: Actor,
    evidence_id: str,
    permission: Permission,
    action: str,
    *,
    uow: UnitOfWork,
    clock: Clock,
    viewing: bool = False,
) -> tuple[EvidenceItem, tuple[int, Derivative]]:
    """The item (``permission`` asked for) and its latest transcript revision; NotFound when
    it has none (yet). ``viewing``: reading it is recorded as a viewing of that revision."""
    with uow:
        item = load_item(actor, evidence_id, permission, action, uow=uow, clock=clock)
        top = latest(item)
        if top is None:
            raise NotFound(f"{item.id} has no transcript (yet); see its processing jobs")
        if viewing:
            record_viewing(actor, item, viewed(top[1]), uow=uow, clock=clock)
    return item, top


@dataclass(frozen=True)
class TranscriptRead:
    item: EvidenceItem
    derivative: Derivative
    transcript: Transcript
    revisions: list[tuple[int, Derivative]]


def read_transcript(
    actor: Actor, evidence_id: str, *, uow: UnitOfWork, clock: Clock, blobs: BlobStore
) -> TranscriptRead:
    """The latest revision of the item's transcript (what is said is content: playing it
    needs ``evidence:play`` and is an ``evidence:view`` custody event, once per viewing)."""
    item, top = _with_transcript(
        actor, evidence_id, Permission.EVIDENCE_PLAY, "evidence:view", uow=uow, clock=clock, viewing=True
    )
    return TranscriptRead(item, top[1], load(blobs, top[1]), revisions(item))


def correct_transcript(
    actor: Actor,
    evidence_id: str,
    *,
    base_revision: int,
    corrections: Sequence[Correction],
    reason: str,
    uow: UnitOfWork,
    clock: Clock,
    blobs: BlobStore,
) -> TranscriptRead:
    """Store the corrections made on revision ``base_revision`` as the next revision (with new
    captions and search windows). Needs ``evidence:edit``; a reason is required; a revision
    made meanwhile by someone else is a conflict (reload, then correct again)."""
    reason = " ".join((reason or "").split())
    if not reason:
        raise Invalid("say why the transcript is corrected (the reason is kept in custody)")
    if len(reason) > MAX_REASON:
        raise Invalid(f"the reason is at most {MAX_REASON} characters")
    item, top = _with_transcript(
        actor, evidence_id, Permission.EVIDENCE_EDIT, "transcript:correct", uow=uow, clock=clock
    )
    if base_revision != top[0]:
        raise Conflict(
            f"the transcript is at revision {top[0]}, not {base_revision}: someone corrected it meanwhile;"
            " reload it and make the corrections again"
        )
    before = load(blobs, top[1])
    after = corrected(before, corrections)
    kind = revision_kind("transcript", after.revision)
    params = {
        "revision": after.revision,
        "based_on_sha256": top[1].sha256,
        "corrections": len(after.changes),
        "corrected_by": actor.principal.name,
        "reason": reason,
        "language": after.language,
        "model": after.model.get("model", ""),
    }

    def also(u: UnitOfWork) -> None:
        u.search.add_text(item.id, "transcript", after.search_segments())
        record(
            u,
            actor,
            "transcript:correct",
            "evidence",
            item.id,
            clock=clock,
            reason=reason,
            details={
                "revision": after.revision,
                "based_on_sha256": top[1].sha256,
                # where, not what: the words themselves may be the very details to redact
                "words": [c["index"] for c in after.changes],
                "corrections": len(after.changes),
            },
        )

    body = json.dumps(after.to_dict(), ensure_ascii=False, separators=(",", ":")).encode()
    stored = keep_derivative(
        uow, blobs, clock, actor, item, kind, mime_type="application/json", tool="opendems transcript editor",
        parameters=params, data=body, also=also,
    )  # fmt: skip
    if stored.id == 0:  # the same revision was stored first by someone else
        raise Conflict("someone corrected the transcript at the same moment: reload it and correct again")
    if after.segments:
        keep_derivative(
            uow, blobs, clock, actor, item, revision_kind("captions", after.revision), mime_type="text/vtt",
            tool="opendems transcript editor", parameters=params, data=after.webvtt().encode(),
        )  # fmt: skip
    with uow:
        fresh = uow.evidence.get(item.id)
    assert fresh is not None
    top_now = latest(fresh)
    assert top_now is not None
    return TranscriptRead(fresh, top_now[1], after, revisions(fresh))


def find_spoken_pii(
    actor: Actor, evidence_id: str, *, uow: UnitOfWork, clock: Clock, blobs: BlobStore, scanner: PiiScanner
) -> list[SpokenFinding]:
    """The personal details said in the item's recording (names, phone numbers, addresses,
    plates, case numbers), each with the stretch of sound to mute: suggestions for the
    redaction plan, which a person accepts or rejects; the plan is not changed. The custody
    event counts the findings; it does not name them (they are the very details to hide)."""
    item, top = _with_transcript(
        actor, evidence_id, Permission.EVIDENCE_EDIT, "redaction:find-pii", uow=uow, clock=clock
    )
    derivative = top[1]
    transcript = load(blobs, derivative)
    text, _ = spoken_text(transcript)
    found = spoken_findings(transcript, scanner.find(text))
    with uow:
        record(
            uow,
            actor,
            "redaction:find-pii",
            "evidence",
            item.id,
            clock=clock,
            details={
                "source": "transcript",
                "transcript_sha256": derivative.sha256,
                "findings": len(found),
                "kinds": sorted({f.entity for f in found}),
                **scanner.provenance,
            },
        )
        uow.commit()
    return found


STEPS: dict[str, Step] = {"transcribe": transcribe_step}
