"""Transcription as a processing step: what is said in every audio and video original,
kept as a transcript derivative (JSON: segments, each word's timing, the language, the
model), WebVTT captions for the player, and search windows (a hit opens the player at the
second it was said)."""

from __future__ import annotations

import json

from opendems.domain.jobs import Job
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


STEPS: dict[str, Step] = {"transcribe": transcribe_step}
