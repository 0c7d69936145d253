"""Transcription as a processing step: what is said in every audio and video original,
kept as a transcript derivative (JSON: segments, each word's timing, the language, the
model), WebVTT captions for the player, and search windows (a hit opens the player at the
second it was said)."""

from __future__ import annotations

import json

from opendems.domain.access import Permission
from opendems.domain.errors import NotFound
from opendems.domain.jobs import Job
from opendems.domain.transcripts import SpokenFinding, Transcript, spoken_findings, spoken_text
from opendems.ports import BlobStore, Clock, PiiScanner, UnitOfWork
from opendems.services.context import Actor
from opendems.services.custody import record
from opendems.services.evidence import load_item
from opendems.services.jobs import Step, StepContext
from opendems.services.media import has_derivative, item_of_job, store_derivative


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


def find_spoken_pii(
    actor: Actor, evidence_id: str, *, uow: UnitOfWork, clock: Clock, blobs: BlobStore, scanner: PiiScanner
) -> list[SpokenFinding]:
    """The personal details said in the item's recording (names, phone numbers, addresses,
    plates, case numbers), each with the stretch of sound to mute: suggestions for the
    redaction plan, which a person accepts or rejects; the plan is not changed. The custody
    event counts the findings; it does not name them (they are the very details to hide)."""
    with uow:
        item = load_item(
            actor, evidence_id, Permission.EVIDENCE_EDIT, "redaction:find-pii", uow=uow, clock=clock
        )
    source = item.original.sha256 if item.original else None
    derivative = next(
        (d for d in item.derivatives if d.kind == "transcript" and d.source_sha256 == source), None
    )
    if derivative is None:
        raise NotFound(f"{item.id} has no transcript (yet); see its processing jobs")
    transcript = Transcript.from_dict(json.loads(b"".join(blobs.read_all(derivative.blob_key))))
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
