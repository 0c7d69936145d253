"""Fixity and chain verification: re-hash originals, recompute the custody chain, check the
per-event signatures and the signed anchor. Names every mismatch; each run is itself a custody event."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from opendems.domain.access import Permission
from opendems.domain.custody import CustodyEvent, anchor_payload, head_anchor_payload, verify_chain
from opendems.domain.errors import NotFound
from opendems.domain.evidence import parse_evidence_id
from opendems.ports import BlobStore, Clock, CustodyAnchor, UnitOfWork
from opendems.services.context import Actor
from opendems.services.custody import authorize, record


class SignatureCheck(Protocol):
    def verify(self, payload: bytes, signature: str) -> bool: ...


@dataclass
class ItemCheck:
    evidence_id: str
    sha256: str
    ok: bool
    problem: str | None = None


@dataclass
class VerifyReport:
    items: list[ItemCheck] = field(default_factory=list)
    chain_problems: list[str] = field(default_factory=list)
    events_checked: int = 0

    @property
    def ok(self) -> bool:
        return not self.chain_problems and all(i.ok for i in self.items)

    @property
    def problems(self) -> list[str]:
        found = [f"{i.evidence_id}: {i.problem}" for i in self.items if not i.ok]
        return found + [f"custody chain: {p}" for p in self.chain_problems]


def check_blob(blobs: BlobStore, key: str, expected: str) -> str | None:
    """None when the stored bytes decrypt and hash to ``expected``; else what is wrong."""
    if not blobs.exists(key):
        return "the stored original is missing"
    digest = hashlib.sha256()
    try:
        for chunk in blobs.read_all(key):
            digest.update(chunk)
    except Exception as exc:
        return f"the stored original is damaged or altered ({exc})"
    if digest.hexdigest() != expected:
        return f"the stored original hashes to {digest.hexdigest()}, not the recorded {expected}"
    if key != f"sha256/{expected}":
        return "the stored original's address does not match its recorded hash"
    return None


def check_chain(uow: UnitOfWork, anchor: CustodyAnchor, signer: SignatureCheck) -> tuple[list[str], int]:
    problems: list[str] = []
    hashes: dict[int, str] = {}
    count = 0
    # Read the anchor before the log: it is written after each commit, so every event it
    # names is in any snapshot taken after it, even while others keep appending.
    anchored = anchor.read()

    def walk() -> Iterator[CustodyEvent]:
        nonlocal count
        for event in uow.custody.iter_all():
            count += 1
            hashes[event.seq] = event.event_hash
            yield event

    def signed(event: CustodyEvent) -> bool:
        return signer.verify(anchor_payload(event.seq, event.event_hash), event.signature)

    chain_problems, last = verify_chain(walk(), signature_ok=signed)
    problems += [p.message for p in chain_problems]
    last_seq = last.seq if last else 0
    head = uow.custody.head()
    if head and (head[0] != last_seq or (last and head[1] != last.event_hash)):
        problems.append(f"the chain head says event {head[0]} is the newest but the log ends at {last_seq}")
    if anchored:
        seq, event_hash, signature = anchored
        if not signer.verify(head_anchor_payload(seq, event_hash), signature):
            problems.append("the custody anchor's signature is not valid")
        elif seq > last_seq:
            problems.append(f"events {last_seq + 1}-{seq} were removed from the end of the log")
        elif hashes.get(seq) != event_hash:
            problems.append(f"event {seq} differs from the signed anchor")
    elif last_seq:
        problems.append("the signed custody anchor is missing")
    return problems, count


def verify(
    actor: Actor,
    evidence_ids: list[str] | None,
    *,
    uow: UnitOfWork,
    blobs: BlobStore,
    anchor: CustodyAnchor,
    signer: SignatureCheck,
    clock: Clock,
) -> VerifyReport:
    """Verify the given items (all when None) and the whole custody chain."""
    report = VerifyReport()
    with uow:
        authorize(
            uow,
            actor,
            Permission.EVIDENCE_VERIFY,
            clock=clock,
            action="evidence:verify",
            object_type="system",
            object_id="fixity",
        )
        if evidence_ids is None:
            targets = uow.evidence.all_originals()
        else:
            targets = []
            for raw in evidence_ids:
                item = uow.evidence.get(parse_evidence_id(raw))
                if item is None or item.original is None:
                    raise NotFound(f"evidence {raw} not found")
                authorize(
                    uow,
                    actor,
                    Permission.EVIDENCE_VERIFY,
                    clock=clock,
                    action="evidence:verify",
                    object_type="evidence",
                    object_id=item.id,
                    item=item,
                )
                targets.append((item.id, item.original.sha256, item.original.blob_key))
    # The walk over the whole log reads a snapshot and holds no lock writers wait for.
    with uow.for_reading() as reader:
        report.chain_problems, report.events_checked = check_chain(reader, anchor, signer)
    for evidence_id, sha256, key in targets:
        problem = check_blob(blobs, key, sha256)
        report.items.append(ItemCheck(evidence_id, sha256, problem is None, problem))
    try:
        _record_run(actor, report, uow=uow, clock=clock)
    except Exception as exc:  # a damaged log must not hide what verification found
        report.chain_problems.append(f"the verification run could not be recorded: {exc}")
    return report


def _record_run(actor: Actor, report: VerifyReport, *, uow: UnitOfWork, clock: Clock) -> None:
    with uow:
        for check in report.items:
            record(
                uow,
                actor,
                "evidence:verify",
                "evidence",
                check.evidence_id,
                clock=clock,
                outcome="success" if check.ok else "failed",
                details={"sha256": check.sha256, "problem": check.problem},
            )
        record(
            uow,
            actor,
            "custody:verify",
            "system",
            "custody-chain",
            clock=clock,
            outcome="success" if report.ok else "failed",
            details={
                "items_checked": len(report.items),
                "items_failed": sum(1 for i in report.items if not i.ok),
                "events_checked": report.events_checked,
                "chain_problems": report.chain_problems,
            },
        )
        uow.commit()
