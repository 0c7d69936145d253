"""What was said in a recording: read the latest revision of its transcript (each word with
its timing), list the revisions, and correct words -- each set of corrections, with its
reason, becomes the next revision (the earlier ones are kept) and a custody event."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from opendems.domain.transcripts import MAX_CORRECTION_CHARS, MAX_CORRECTIONS, Correction, language_name
from opendems.services import transcripts as svc
from opendems.services.context import Actor
from opendems.web.deps import actor, container

router = APIRouter(prefix="/api/v1/evidence", tags=["transcripts"])
ActorDep = Annotated[Actor, Depends(actor)]


class RevisionOut(BaseModel):
    revision: int
    sha256: str
    created_at: datetime
    by: str = Field(description="who corrected it; the model for revision 1")
    reason: str
    corrections: int


class TranscriptOut(BaseModel):
    evidence_id: str
    revision: int = Field(description="send it back as base_revision with corrections")
    language: str = Field(description="ISO 639-1 code of the language spoken")
    language_name: str
    language_probability: float
    duration_s: float
    note: str = Field(description="why there is little or nothing to read, or the language, in words")
    model: dict[str, Any]
    captions: str | None = Field(description="the derivative kind of the captions of this revision")
    segments: list[dict[str, Any]] = Field(
        description=(
            "start, end, text, words (start, end, text, p) and, where voices were told apart,"
            ' speaker ("Speaker 1", ...); words are counted from 0 across segments'
        )
    )
    changes: list[dict[str, Any]] = Field(
        description="what this revision corrected: index, start_s, was, now"
    )
    revisions: list[RevisionOut]


class CorrectionIn(BaseModel):
    index: int = Field(
        ge=0, description="the word's place, counted from 0 through all the transcript's words"
    )
    text: str = Field(max_length=MAX_CORRECTION_CHARS, description="what it should read; empty takes it out")


class CorrectionsIn(BaseModel):
    base_revision: int = Field(ge=1, description="the revision these corrections were made on")
    reason: str = Field(max_length=2000, description="why; kept with the revision and in custody")
    corrections: list[CorrectionIn] = Field(max_length=MAX_CORRECTIONS)


def _out(read: svc.TranscriptRead) -> TranscriptOut:
    t = read.transcript
    captions = svc.captions_for(read.item)
    revisions = []
    for number, d in read.revisions:
        p = d.parameters or {}
        revisions.append(
            RevisionOut(
                revision=number,
                sha256=d.sha256,
                created_at=d.created_at,
                by=str(p.get("corrected_by") or p.get("model") or d.tool),
                reason=str(p.get("reason") or ("as transcribed" if number == 1 else "")),
                corrections=int(p.get("corrections") or 0),
            )
        )
    body = t.to_dict()
    return TranscriptOut(
        evidence_id=read.item.id,
        revision=t.revision,
        language=t.language,
        language_name=language_name(t.language) if t.language else "",
        language_probability=round(t.language_probability, 3),
        duration_s=round(t.duration_s, 3),
        note=t.note,
        model=t.model,
        captions=captions.kind if captions else None,
        segments=body["segments"],
        changes=body["changes"],
        revisions=revisions,
    )


@router.get(
    "/{evidence_id}/transcript",
    response_model=TranscriptOut,
    summary="A recording's transcript, latest revision: segments and each word's timing",
)
def get_transcript(evidence_id: str, request: Request, who: ActorDep) -> TranscriptOut:
    c = container(request)
    return _out(svc.read_transcript(who, evidence_id, uow=c.uow(), clock=c.clock, blobs=c.blobs))


@router.post(
    "/{evidence_id}/transcript/corrections",
    response_model=TranscriptOut,
    status_code=201,
    summary="Correct words of the transcript: the next revision (409 when it is not the latest any more)",
)
def correct(evidence_id: str, body: CorrectionsIn, request: Request, who: ActorDep) -> TranscriptOut:
    c = container(request)
    read = svc.correct_transcript(
        who,
        evidence_id,
        base_revision=body.base_revision,
        corrections=[Correction(x.index, x.text) for x in body.corrections],
        reason=body.reason,
        uow=c.uow(),
        clock=c.clock,
        blobs=c.blobs,
    )
    return _out(read)
