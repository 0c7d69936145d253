"""Processing steps for media: probing an original and keeping what it says."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from opendems.domain.evidence import EvidenceKind
from opendems.domain.jobs import Job, PermanentFailure
from opendems.services.custody import record
from opendems.services.jobs import StepContext

PROBED_KINDS = {EvidenceKind.VIDEO, EvidenceKind.AUDIO, EvidenceKind.IMAGE}
# Fields of the item a probe fills in when nobody has set them (it never overwrites).
FILLABLE = ("captured_at", "latitude", "longitude", "device_make", "device_model", "device_serial")


def jobs_for(kind: EvidenceKind) -> list[str]:
    """The steps a new original of this kind goes through."""
    return ["probe"] if kind in PROBED_KINDS else []


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


STEPS = {"probe": probe_step}
