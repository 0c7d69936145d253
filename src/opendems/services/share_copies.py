"""Watermarked copies: a shared video or photo with the recipient, the share id and the time
burned into its pixels, made once per share by a job (the original is never touched)."""

from __future__ import annotations

import contextlib
import uuid

from sqlalchemy.exc import IntegrityError

from opendems.domain.evidence import EvidenceKind
from opendems.domain.jobs import Job, PermanentFailure
from opendems.domain.sharing import ShareCopy, served_file
from opendems.services.custody import record
from opendems.services.jobs import StepContext
from opendems.services.media import item_of_job
from opendems.services.sharing import WATERMARK_JOB


def watermark_step(ctx: StepContext, job: Job) -> None:
    share_id = job.kind.partition(":")[2]
    item = item_of_job(ctx, job)
    with ctx.uow as uow:
        share = uow.shares.get(share_id)
        if share is None:
            raise PermanentFailure(f"share {share_id} no longer exists")
        if uow.shares.copy(share.id, item.id) is not None or share.refusal(ctx.clock.now()):
            return  # made already, or nobody can open it any more
    source = served_file(item, share.terms.content)
    if source is None:
        raise PermanentFailure(f"{item.id} has no {share.terms.content.value} copy")
    lines = share.watermark_lines()
    work = ctx.work_dir / f"watermark-{uuid.uuid4().hex}.mp4"
    writer = ctx.blobs.writer()
    try:
        with ctx.blobs.open_plaintext(source.blob_key) as f:
            if item.kind is EvidenceKind.VIDEO:
                params = ctx.tools.watermark_video(f, work, lines, ctx.report)
                mime, tool = "video/mp4", ctx.tools.tool_av
                with work.open("rb") as out:
                    while chunk := out.read(4 * 1024 * 1024):
                        writer.write(chunk)
            else:
                data, mime, params = ctx.tools.watermark_image(f, lines)
                tool = ctx.tools.tool_images
                writer.write(data)
        staged = writer.finish()
    except BaseException:
        writer.abort()
        raise
    finally:
        with contextlib.suppress(FileNotFoundError):
            work.unlink()
    key = ctx.blobs.commit(staged)
    copy = ShareCopy(
        share_id=share.id,
        evidence_id=item.id,
        sha256=staged.sha256,
        size=staged.size,
        mime_type=mime,
        blob_key=key,
        source_sha256=source.sha256,
        tool=tool[:100],
        parameters={**params, "lines": lines},
        created_at=ctx.clock.now(),
    )
    try:
        with ctx.uow as uow:
            uow.shares.add_copy(copy)
            record(
                uow,
                ctx.actor,
                "evidence:derive",
                "evidence",
                item.id,
                clock=ctx.clock,
                details={
                    "kind": "watermarked",
                    "share": share.id,
                    "sha256": staged.sha256,
                    "size": staged.size,
                    "source_sha256": source.sha256,
                    "tool": tool,
                    "lines": lines,
                },
            )
            uow.commit()
    except IntegrityError:
        pass  # another run stored it first; the blob is settled below and shared
    ctx.blobs.settle(key)


STEPS = {WATERMARK_JOB: watermark_step}
