"""The custody chain: an append-only log where each event commits to the one before it.

``event_hash = SHA-256(canonical JSON of every recorded field, including the previous
event's hash and the sequence number)``. Editing, deleting, inserting or reordering any
event breaks the chain at that point; a signed anchor of the newest event (kept outside the
database) catches a removed tail.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

GENESIS_HASH = "0" * 64


def canonical_json(value: Any) -> str:
    """Deterministic JSON: sorted keys, no spaces, UTF-8 kept as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def format_time(moment: datetime) -> str:
    """UTC, microsecond precision, ``Z`` suffix: the one text form a time is hashed in."""
    if moment.tzinfo is None:
        raise ValueError("custody times must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class Where:
    """Where an action came from: the AU-3 'where' and 'source' fields."""

    service: str  # "api", "cli", "worker"
    endpoint: str  # "POST /api/v1/evidence", "ingest"
    client_address: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True)
class NewEvent:
    """What a use case asks to record; the log assigns sequence and hashes."""

    action: str  # subject:action, e.g. "evidence:download"
    actor_id: int | None
    actor_name: str
    object_type: str
    object_id: str
    where: Where
    outcome: str = "success"  # success | denied | failed
    reason: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CustodyEvent:
    seq: int
    prev_hash: str
    event_hash: str
    at: str
    action: str
    actor_id: int | None
    actor_name: str
    object_type: str
    object_id: str
    service: str
    endpoint: str
    client_address: str | None
    user_agent: str | None
    outcome: str
    reason: str | None
    details: str  # canonical JSON text, stored exactly as hashed
    signature: str = ""  # Ed25519 over anchor_payload(seq, event_hash); not itself hashed

    def hashed_fields(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "prev_hash": self.prev_hash,
            "at": self.at,
            "action": self.action,
            "actor_id": self.actor_id,
            "actor_name": self.actor_name,
            "object_type": self.object_type,
            "object_id": self.object_id,
            "service": self.service,
            "endpoint": self.endpoint,
            "client_address": self.client_address,
            "user_agent": self.user_agent,
            "outcome": self.outcome,
            "reason": self.reason,
            "details": self.details,
        }

    def compute_hash(self) -> str:
        return hashlib.sha256(canonical_json(self.hashed_fields()).encode()).hexdigest()

    @property
    def details_dict(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.details) if self.details else {}
        return loaded


def seal(new: NewEvent, *, seq: int, prev_hash: str, at: datetime) -> CustodyEvent:
    """Turn a requested event into the next link of the chain."""
    draft = CustodyEvent(
        seq=seq,
        prev_hash=prev_hash,
        event_hash="",
        at=format_time(at),
        action=new.action,
        actor_id=new.actor_id,
        actor_name=new.actor_name,
        object_type=new.object_type,
        object_id=new.object_id,
        service=new.where.service,
        endpoint=new.where.endpoint,
        client_address=new.where.client_address,
        user_agent=new.where.user_agent,
        outcome=new.outcome,
        reason=new.reason,
        details=canonical_json(new.details),
    )
    return CustodyEvent(**{**draft.__dict__, "event_hash": draft.compute_hash()})


@dataclass(frozen=True)
class ChainProblem:
    seq: int
    message: str


def verify_chain(
    events: Iterable[CustodyEvent],
    *,
    signature_ok: Callable[[CustodyEvent], bool] | None = None,
    start_seq: int = 1,
    start_prev: str = GENESIS_HASH,
) -> tuple[list[ChainProblem], CustodyEvent | None]:
    """Walk events in stored order and name every break. Returns (problems, last event).

    With ``signature_ok``, each event's signature is checked too: a chain rebuilt after an
    edit (every hash recomputed) or extended with forged events fails there.
    """
    problems: list[ChainProblem] = []
    expected_seq = start_seq
    expected_prev = start_prev
    last: CustodyEvent | None = None
    for event in events:
        if event.seq != expected_seq:
            if event.seq > expected_seq:
                missing = (
                    f"{expected_seq}"
                    if event.seq == expected_seq + 1
                    else (f"{expected_seq}-{event.seq - 1}")
                )
                problems.append(ChainProblem(event.seq, f"events {missing} are missing"))
            else:
                problems.append(ChainProblem(event.seq, f"event {event.seq} is out of order or duplicated"))
        if event.prev_hash != expected_prev:
            problems.append(
                ChainProblem(event.seq, f"event {event.seq} does not link to the event before it")
            )
        if event.compute_hash() != event.event_hash:
            problems.append(
                ChainProblem(event.seq, f"event {event.seq} was altered (its hash does not match)")
            )
        elif signature_ok is not None and not signature_ok(event):
            problems.append(
                ChainProblem(
                    event.seq, f"event {event.seq} is not signed by the agency key (forged or rebuilt)"
                )
            )
        expected_seq = event.seq + 1
        expected_prev = event.event_hash
        last = event
    return problems, last


def anchor_payload(seq: int, event_hash: str) -> bytes:
    """The bytes each event's signature covers."""
    return canonical_json({"chain": "opendems-custody", "seq": seq, "event_hash": event_hash}).encode()


def head_anchor_payload(seq: int, event_hash: str) -> bytes:
    """The bytes the chain-head anchor signs: a different statement ("this is the newest
    event") from an event's own signature, so one cannot be passed off as the other."""
    return canonical_json({"chain-head": "opendems-custody", "seq": seq, "event_hash": event_hash}).encode()


@dataclass(frozen=True)
class AuditQuery:
    """What an auditor searches the trail by (every field optional; ``action`` takes ``*``)."""

    actor: str | None = None
    action: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    outcome: str | None = None  # success | denied | failed
    since: datetime | None = None
    until: datetime | None = None

    def as_details(self) -> dict[str, Any]:
        return {
            k: (v.isoformat() if isinstance(v, datetime) else v)
            for k, v in self.__dict__.items()
            if v is not None
        }
