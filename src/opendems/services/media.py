"""Processing steps for media: probing an original and keeping what it says."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError

from opendems.domain.evidence import Derivative, EvidenceItem, EvidenceKind
from opendems.domain.jobs import Job, NoPicture, PermanentFailure
from opendems.ports import BlobStore, Clock, UnitOfWork
from opendems.services.context import Actor
from opendems.services.custody import record
from opendems.services.jobs import Step, StepContext

PROBED_KINDS = {EvidenceKind.VIDEO, EvidenceKind.AUDIO, EvidenceKind.IMAGE}
# Fields of the item a probe fills in when nobody has set them (it never overwrites).
FILLABLE = ("captured_at", "latitude", "longitude", "device_make", "device_model", "device_serial")


def jobs_for(kind: EvidenceKind, mime_type: str = "") -> list[str]:
    """The steps a new original of this kind goes through."""
    if kind in (EvidenceKind.VIDEO, EvidenceKind.AUDIO):
        return ["probe", "proxy", "transcribe"]
    if kind is EvidenceKind.IMAGE:
        return ["probe", "previews", "ocr"]
    if mime_type == "application/pdf":
        return ["pages", "ocr"]
    return []


def probe_step(ctx: StepContext, job: Job) -> None:
    uow = ctx.uow
    with uow:
        item = uow.evidence.get(job.evidence_id or "")
    if item is None or item.original is None:
        raise PermanentFailure("the item or its original no longer exists")
    try:
        with ctx.blobs.open_plaintext(item.original.blob_key) as f:
            info = ctx.prober.probe(item.kind.value, f)
    except PermanentFailure as exc:
        with uow:
            uow.evidence.update_fields(item.id, {"media": {"error": str(exc)}}, ctx.clock.now())
            record(
                uow,
                ctx.actor,
                "evidence:probe",
                "evidence",
                item.id,
                clock=ctx.clock,
                outcome="failed",
                reason=str(exc),
            )
            uow.commit()
        raise
    filled: dict[str, Any] = {}
    for name in FILLABLE:
        if name in info and getattr(item, name) is None:
            value = info[name]
            filled[name] = datetime.fromisoformat(value) if name == "captured_at" else value
    with uow:
        uow.evidence.update_fields(item.id, {"media": info, **filled}, ctx.clock.now())
        record(
            uow,
            ctx.actor,
            "evidence:probe",
            "evidence",
            item.id,
            clock=ctx.clock,
            details={
                "filled": {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in filled.items()},
                "kind": info.get("kind"),
                "duration_s": info.get("duration_s"),
                "sha256": item.original.sha256,
            },
        )
        uow.commit()


STEPS: dict[str, Step] = {"probe": probe_step}


def has_derivative(item: EvidenceItem, kind: str) -> bool:
    """Whether the item has a ``kind`` derivative made from its current original."""
    source = item.original.sha256 if item.original else None
    return any(d.kind == kind and d.source_sha256 == source for d in item.derivatives)


def store_derivative(
    ctx: StepContext,
    item: EvidenceItem,
    kind: str,
    *,
    mime_type: str,
    tool: str,
    parameters: dict[str, Any],
    data: bytes | None = None,
    path: Path | None = None,
    also: Callable[[UnitOfWork], None] | None = None,
) -> Derivative:
    """Encrypt a derivative into the blob store and record it, with its provenance, linked
    to the original (which it never replaces). ``also`` runs in the same transaction (a text
    derivative's search windows)."""
    return keep_derivative(
        ctx.uow, ctx.blobs, ctx.clock, ctx.actor, item, kind, mime_type=mime_type, tool=tool,
        parameters=parameters, data=data, path=path, also=also,
    )  # fmt: skip


def keep_derivative(
    uow: UnitOfWork,
    blobs: BlobStore,
    clock: Clock,
    actor: Actor,
    item: EvidenceItem,
    kind: str,
    *,
    mime_type: str,
    tool: str,
    parameters: dict[str, Any],
    data: bytes | None = None,
    path: Path | None = None,
    also: Callable[[UnitOfWork], None] | None = None,
) -> Derivative:
    """``store_derivative`` for a use case a person runs (not a processing step): the
    derivative's custody event names that person."""
    assert item.original is not None
    writer = blobs.writer()
    try:
        if data is not None:
            writer.write(data)
        elif path is not None:
            with path.open("rb") as f:
                while chunk := f.read(4 * 1024 * 1024):
                    writer.write(chunk)
        staged = writer.finish()
    except BaseException:
        writer.abort()
        raise
    key = blobs.commit(staged)
    name, _, version = tool.partition(" ")
    derivative = Derivative(
        id=0,
        kind=kind,
        sha256=staged.sha256,
        size=staged.size,
        mime_type=mime_type,
        blob_key=key,
        source_sha256=item.original.sha256,
        tool=name,
        tool_version=version[:50],
        parameters=parameters,
        created_at=clock.now(),
    )
    try:
        with uow:
            derivative.id = uow.evidence.add_derivative(item.id, derivative)
            if also is not None:
                also(uow)
            record(
                uow,
                actor,
                "evidence:derive",
                "evidence",
                item.id,
                clock=clock,
                details={
                    "kind": kind,
                    "sha256": staged.sha256,
                    "size": staged.size,
                    "source_sha256": item.original.sha256,
                    "tool": tool,
                    "parameters": parameters,
                },
            )
            uow.commit()
    except BaseException as exc:
        blobs.settle(key)

        def referenced() -> bool:
            with uow:
                return uow.evidence.has_blob(key)

        blobs.delete_unclaimed(key, referenced)
        if isinstance(exc, IntegrityError):  # another run of the step stored it first
            return derivative
        raise
    blobs.settle(key)
    return derivative


def item_of_job(ctx: StepContext, job: Job) -> EvidenceItem:
    with ctx.uow:
        item = ctx.uow.evidence.get(job.evidence_id or "")
    if item is None or item.original is None:
        raise PermanentFailure("the item or its original no longer exists")
    return item


def proxy_step(ctx: StepContext, job: Job) -> None:
    """Video: a browser-playable MP4 proxy, a poster, a timeline sprite sheet and waveform
    peaks, all from one pass over the original. Audio: an AAC proxy and waveform peaks."""
    item = item_of_job(ctx, job)
    assert item.original is not None
    if has_derivative(item, "proxy"):
        return  # done by an earlier run of this job
    for stale in ctx.work_dir.glob(f"job-{job.id}-*"):
        stale.unlink(missing_ok=True)  # what an earlier, killed run of this job left behind
    work = ctx.work_dir / f"job-{job.id}-{uuid.uuid4().hex}.mp4"
    try:
        made, mime = None, "video/mp4"
        if item.kind is EvidenceKind.VIDEO:
            with contextlib.suppress(NoPicture), ctx.blobs.open_plaintext(item.original.blob_key) as f:
                made = ctx.tools.video_proxy(f, work, ctx.report)
        if made is None:  # audio, or a "video" file that holds only sound
            with ctx.blobs.open_plaintext(item.original.blob_key) as f:
                made = ctx.tools.audio_proxy(f, work, ctx.report)
            mime = "audio/mp4"
        tool = ctx.tools.tool_av
        # The small ones first: the proxy's presence means the whole step is done.
        if made.poster is not None and not has_derivative(item, "poster"):
            store_derivative(
                ctx,
                item,
                "poster",
                mime_type="image/jpeg",
                tool=tool,
                parameters={"max_side": 640},
                data=made.poster,
            )
        if made.sprite is not None and not has_derivative(item, "sprite"):
            sheet, layout = made.sprite
            store_derivative(
                ctx, item, "sprite", mime_type="image/jpeg", tool=tool, parameters=layout, data=sheet
            )
        if made.peaks is not None and not has_derivative(item, "waveform"):
            peaks = json.dumps(made.peaks, separators=(",", ":")).encode()
            params = {k: v for k, v in made.peaks.items() if k != "peaks"}
            store_derivative(
                ctx, item, "waveform", mime_type="application/json", tool=tool, parameters=params, data=peaks
            )
        store_derivative(ctx, item, "proxy", mime_type=mime, tool=tool, parameters=made.params, path=work)
    finally:
        work.unlink(missing_ok=True)


def previews_step(ctx: StepContext, job: Job) -> None:
    """Photos: a web-size preview and a thumbnail, upright."""
    item = item_of_job(ctx, job)
    assert item.original is not None
    with ctx.blobs.open_plaintext(item.original.blob_key) as f:
        made = ctx.tools.image_previews(f)
    for kind, (data, params) in made.items():
        if not has_derivative(item, kind):
            store_derivative(
                ctx,
                item,
                kind,
                mime_type="image/jpeg",
                tool=ctx.tools.tool_images,
                parameters=params,
                data=data,
            )


def pages_step(ctx: StepContext, job: Job) -> None:
    """PDFs: a preview of each of the first pages."""
    item = item_of_job(ctx, job)
    assert item.original is not None
    with ctx.blobs.open_plaintext(item.original.blob_key) as f:
        pages = ctx.tools.pdf_pages(f)
    for data, params in pages:
        kind = f"page-{params['page']}"
        if not has_derivative(item, kind):
            store_derivative(
                ctx, item, kind, mime_type="image/jpeg", tool=ctx.tools.tool_pdf, parameters=params, data=data
            )


STEPS["pages"] = pages_step
STEPS["proxy"] = proxy_step
STEPS["previews"] = previews_step
