"""The custody hash chain: every edit, deletion, insertion or reordering is found and named."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from opendems.adapters.crypto.keys import Signer
from opendems.domain.custody import (
    GENESIS_HASH,
    ChainProblem,
    CustodyEvent,
    NewEvent,
    Where,
    anchor_payload,
    canonical_json,
    format_time,
    seal,
    verify_chain,
)

T0 = datetime(2026, 3, 1, 14, 5, 6, 123456, tzinfo=UTC)
ACTIONS = ["evidence:ingest", "evidence:view", "evidence:download", "case:link", "evidence:edit"]


def new_event(i: int) -> NewEvent:
    return NewEvent(
        action=ACTIONS[i % len(ACTIONS)],
        actor_id=100 + i,
        actor_name=f"officer-{i}",
        object_type="evidence",
        object_id=f"EV-2026-{i:06d}",
        where=Where(
            service="api", endpoint=f"GET /api/v1/evidence/{i}", client_address="10.0.0.1", user_agent="ua"
        ),
        outcome="success" if i % 3 else "denied",
        reason=None if i % 3 else "outside scope",
        details={"size": i * 10, "filename": f"clip-{i}.mp4", "nested": {"b": i, "a": [1, 2, i]}},
    )


def build_chain(n: int, *, signer: Signer | None = None) -> list[CustodyEvent]:
    events: list[CustodyEvent] = []
    prev = GENESIS_HASH
    for seq in range(1, n + 1):
        event = seal(
            new_event(seq), seq=seq, prev_hash=prev, at=T0 + timedelta(seconds=seq, microseconds=seq)
        )
        if signer is not None:
            event = sign(event, signer)
        events.append(event)
        prev = event.event_hash
    return events


def sign(event: CustodyEvent, signer: Signer) -> CustodyEvent:
    return dataclasses.replace(event, signature=signer.sign(anchor_payload(event.seq, event.event_hash)))


def rehash(event: CustodyEvent) -> CustodyEvent:
    """What a forger with database access does after an edit: recompute the event's hash."""
    return dataclasses.replace(event, event_hash=event.compute_hash())


def seqs(problems: list[ChainProblem]) -> list[int]:
    return [p.seq for p in problems]


def verify(events: list[CustodyEvent], signer: Signer | None = None) -> list[ChainProblem]:
    if signer is None:
        problems, _ = verify_chain(events)
        return problems
    checker = signer

    def signed(e: CustodyEvent) -> bool:
        return checker.verify(anchor_payload(e.seq, e.event_hash), e.signature)

    problems, _ = verify_chain(events, signature_ok=signed)
    return problems


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer(Ed25519PrivateKey.generate())


# -- a good chain ------------------------------------------------------------------------


def test_good_chain_has_no_problems_and_returns_last_event() -> None:
    events = build_chain(7)
    problems, last = verify_chain(events)
    assert problems == []
    assert last == events[-1]
    assert events[0].prev_hash == GENESIS_HASH
    assert [e.seq for e in events] == list(range(1, 8))
    for before, after in itertools.pairwise(events):
        assert after.prev_hash == before.event_hash
    assert len({e.event_hash for e in events}) == 7


def test_empty_chain() -> None:
    assert verify_chain([]) == ([], None)


def test_event_hash_is_sha256_of_canonical_hashed_fields() -> None:
    event = build_chain(1)[0]
    expected = hashlib.sha256(canonical_json(event.hashed_fields()).encode()).hexdigest()
    assert event.event_hash == expected
    assert len(event.event_hash) == 64


def test_seal_records_what_was_asked() -> None:
    new = new_event(4)
    event = seal(new, seq=9, prev_hash="a" * 64, at=T0)
    assert (event.seq, event.prev_hash, event.at) == (9, "a" * 64, "2026-03-01T14:05:06.123456Z")
    assert (event.action, event.actor_id, event.actor_name) == (new.action, new.actor_id, new.actor_name)
    assert (event.object_type, event.object_id) == (new.object_type, new.object_id)
    assert (event.service, event.endpoint) == (new.where.service, new.where.endpoint)
    assert (event.client_address, event.user_agent) == (new.where.client_address, new.where.user_agent)
    assert (event.outcome, event.reason) == (new.outcome, new.reason)
    assert event.details_dict == new.details
    assert event.details == canonical_json(new.details)


def test_signed_good_chain_passes_signature_check(signer: Signer) -> None:
    assert verify(build_chain(5, signer=signer), signer) == []


def test_verify_from_a_checkpoint() -> None:
    events = build_chain(6)
    problems, last = verify_chain(events[3:], start_seq=4, start_prev=events[2].event_hash)
    assert problems == []
    assert last == events[-1]
    problems, _ = verify_chain(events[3:], start_seq=4, start_prev=events[1].event_hash)
    assert seqs(problems) == [4]
    problems, _ = verify_chain(events[3:], start_seq=3, start_prev=events[2].event_hash)
    assert seqs(problems) == [4]


# -- editing a field -----------------------------------------------------------------------

EDITS: dict[str, object] = {
    "at": "2026-03-01T14:05:07.000000Z",
    "action": "evidence:delete",
    "actor_id": 999,
    "actor_name": "mallory",
    "object_type": "case",
    "object_id": "EV-2026-999999",
    "service": "cli",
    "endpoint": "ingest",
    "client_address": "192.168.66.6",
    "user_agent": "curl/8.0",
    "outcome": "failed",
    "reason": "tampered",
    "details": canonical_json({"size": 1, "filename": "other.mp4"}),
}


def test_every_hashed_field_except_links_is_covered_by_the_edit_cases() -> None:
    hashed = set(build_chain(1)[0].hashed_fields())
    assert hashed - {"seq", "prev_hash"} == set(EDITS)


@pytest.mark.parametrize("field", sorted(EDITS))
@pytest.mark.parametrize("position", [1, 3, 5])
def test_editing_one_field_is_named_at_that_event(field: str, position: int) -> None:
    events = build_chain(5)
    original = events[position - 1]
    assert getattr(original, field) != EDITS[field]
    events[position - 1] = dataclasses.replace(original, **{field: EDITS[field]})
    problems = verify(events)
    assert seqs(problems) == [position]
    assert "altered" in problems[0].message


def test_small_edits_are_detected() -> None:
    """None vs empty text, an int that looks like its string, a changed microsecond."""
    base = build_chain(3)
    for field, value in [
        ("reason", ""),
        ("client_address", None),
        ("actor_id", "102"),
        ("at", format_time(T0 + timedelta(seconds=2, microseconds=3))),
        ("details", base[1].details.replace('"size":20', '"size":21')),
    ]:
        events = list(base)
        assert getattr(events[1], field) != value
        events[1] = dataclasses.replace(events[1], **{field: value})
        assert seqs(verify(events)) == [2], field


def test_equivalent_details_text_in_another_form_is_still_an_edit() -> None:
    """details is stored exactly as hashed: re-serialising it differently is a change."""
    events = build_chain(3)
    reformatted = json.dumps(events[1].details_dict, indent=2)
    assert json.loads(reformatted) == events[1].details_dict
    events[1] = dataclasses.replace(events[1], details=reformatted)
    assert seqs(verify(events)) == [2]


def test_editing_the_stored_hash_breaks_the_event_and_the_next_link() -> None:
    events = build_chain(5)
    events[2] = dataclasses.replace(events[2], event_hash="f" * 64)
    problems = verify(events)
    assert seqs(problems) == [3, 4]
    assert "altered" in problems[0].message
    assert "does not link" in problems[1].message


def test_editing_prev_hash_is_named() -> None:
    events = build_chain(5)
    events[2] = dataclasses.replace(events[2], prev_hash=events[0].event_hash)
    problems = verify(events)
    assert set(seqs(problems)) == {3}
    assert any("does not link" in p.message for p in problems)


@pytest.mark.parametrize("position", [1, 2, 4])
def test_edit_with_recomputed_hash_breaks_the_next_link(position: int) -> None:
    events = build_chain(5)
    events[position - 1] = rehash(dataclasses.replace(events[position - 1], actor_name="mallory"))
    problems = verify(events)
    assert seqs(problems) == [position + 1]
    assert "does not link" in problems[0].message


def test_edit_with_rebuilt_chain_is_caught_by_signatures(signer: Signer) -> None:
    """A forger recomputes every hash after the edit; only the signatures can tell."""
    events = build_chain(5, signer=signer)
    rebuilt = events[:2]
    prev = events[1].event_hash
    for event in events[2:]:
        changed = {"prev_hash": prev}
        if event.seq == 3:
            changed["actor_name"] = "mallory"
        fixed = rehash(dataclasses.replace(event, **changed))
        rebuilt.append(fixed)
        prev = fixed.event_hash
    assert verify(rebuilt) == []  # the bare hash chain is consistent again...
    problems = verify(rebuilt, signer)
    assert seqs(problems) == [3, 4, 5]  # ...but no rebuilt event carries a valid signature
    assert all("not signed" in p.message for p in problems)


def test_a_signature_copied_from_another_event_is_rejected(signer: Signer) -> None:
    events = build_chain(4, signer=signer)
    events[2] = dataclasses.replace(events[2], signature=events[1].signature)
    problems = verify(events, signer)
    assert seqs(problems) == [3]
    assert "not signed" in problems[0].message


def test_signature_is_not_part_of_the_hash(signer: Signer) -> None:
    event = build_chain(1)[0]
    assert sign(event, signer).compute_hash() == event.event_hash


# -- deleting, inserting, reordering, duplicating ---------------------------------------------


def test_deleting_an_event_in_the_middle_is_named_at_the_next_event() -> None:
    events = build_chain(6)
    del events[2]  # seq 3
    problems = verify(events)
    assert set(seqs(problems)) == {4}
    messages = " | ".join(p.message for p in problems)
    assert "events 3 are missing" in messages
    assert "does not link" in messages


def test_deleting_several_events_names_the_gap() -> None:
    events = build_chain(8)
    del events[2:5]  # seqs 3, 4, 5
    problems = verify(events)
    assert set(seqs(problems)) == {6}
    assert any("3-5" in p.message for p in problems)


def test_deleting_the_first_event_is_named() -> None:
    events = build_chain(4)[1:]
    problems = verify(events)
    assert set(seqs(problems)) == {2}
    assert any("missing" in p.message for p in problems)


def test_deleting_the_tail_is_invisible_to_the_chain_but_not_to_the_anchor(signer: Signer) -> None:
    events = build_chain(6)
    anchor_sig = signer.sign(anchor_payload(events[-1].seq, events[-1].event_hash))
    problems, last = verify_chain(events[:4])
    assert problems == []
    assert last is not None
    assert (last.seq, last.event_hash) != (6, events[-1].event_hash)
    assert not signer.verify(anchor_payload(last.seq, last.event_hash), anchor_sig)


@pytest.mark.parametrize("position", [1, 3, 5])
def test_inserting_a_forged_event_is_named(position: int, signer: Signer) -> None:
    """The forged event has a correct hash of its own and links to its predecessor."""
    events = build_chain(5, signer=signer)
    prev = events[position - 2].event_hash if position > 1 else GENESIS_HASH
    forged = seal(
        NewEvent(
            action="evidence:download",
            actor_id=666,
            actor_name="mallory",
            object_type="evidence",
            object_id="EV-2026-000001",
            where=Where("api", "GET /x"),
        ),
        seq=position,
        prev_hash=prev,
        at=T0,
    )
    assert forged.compute_hash() == forged.event_hash
    events.insert(position - 1, forged)

    problems = verify(events)
    # The genuine event displaced by the forgery no longer links and repeats a number.
    assert set(seqs(problems)) == {position}
    assert any("out of order or duplicated" in p.message for p in problems)
    assert any("does not link" in p.message for p in problems)

    signed_problems = verify(events, signer)
    forged_findings = [p for p in signed_problems if "not signed" in p.message]
    assert forged_findings == [ChainProblem(position, forged_findings[0].message)]


def test_appending_a_forged_event_is_caught_by_signature_and_anchor(signer: Signer) -> None:
    events = build_chain(4, signer=signer)
    anchor = (events[-1].seq, events[-1].event_hash)
    forged = seal(new_event(99), seq=5, prev_hash=events[-1].event_hash, at=T0)
    events.append(forged)
    problems, last = verify_chain(events)
    assert problems == []  # the hash chain alone accepts a well-formed extension
    assert last is not None and (last.seq, last.event_hash) != anchor
    assert seqs(verify(events, signer)) == [5]


@pytest.mark.parametrize("i", [0, 1, 2, 4])
def test_swapping_two_adjacent_events_is_named(i: int) -> None:
    events = build_chain(6)
    a, b = events[i].seq, events[i + 1].seq
    events[i], events[i + 1] = events[i + 1], events[i]
    problems = verify(events)
    found = set(seqs(problems))
    assert {a, b} <= found
    # Nothing before the swap is blamed; at most the event right after it (its link is broken).
    assert found <= {a, b, b + 1}
    assert problems[0].seq == b  # the first event out of place, in stored order
    assert not any("altered" in p.message for p in problems)


def test_swapping_two_distant_events_is_named() -> None:
    events = build_chain(7)
    events[1], events[5] = events[5], events[1]  # seqs 2 and 6
    found = set(seqs(verify(events)))
    assert {2, 6} <= found
    assert 1 not in found


@pytest.mark.parametrize("i", [0, 2, 4])
def test_duplicating_an_event_in_place_is_named(i: int) -> None:
    events = build_chain(5)
    events.insert(i + 1, events[i])
    problems = verify(events)
    assert set(seqs(problems)) == {i + 1}
    assert any("out of order or duplicated" in p.message for p in problems)


def test_duplicating_an_event_at_the_end_is_named() -> None:
    events = build_chain(5)
    events.append(events[1])
    problems = verify(events)
    assert set(seqs(problems)) == {2}
    assert any("duplicated" in p.message for p in problems)


# -- canonical form, time, anchor ------------------------------------------------------------


def test_canonical_json_is_independent_of_key_order() -> None:
    a = {"b": 1, "a": {"y": [3, {"k": 1, "j": 2}], "x": None}, "c": "é"}
    b = {"c": "é", "a": {"x": None, "y": [3, {"j": 2, "k": 1}]}, "b": 1}
    assert canonical_json(a) == canonical_json(b)
    assert canonical_json(a) == '{"a":{"x":null,"y":[3,{"j":2,"k":1}]},"b":1,"c":"é"}'
    assert canonical_json([2, 1]) != canonical_json([1, 2])  # list order is meaningful


def test_seal_hash_does_not_depend_on_details_key_order() -> None:
    where = Where("api", "x")
    one = NewEvent(
        "a:b", 1, "u", "evidence", "EV-2026-000001", where, details={"a": 1, "b": {"c": 2, "d": 3}}
    )
    two = dataclasses.replace(one, details={"b": {"d": 3, "c": 2}, "a": 1})
    three = dataclasses.replace(one, details={"a": 1, "b": {"c": 2, "d": 4}})
    h1 = seal(one, seq=1, prev_hash=GENESIS_HASH, at=T0).event_hash
    assert h1 == seal(two, seq=1, prev_hash=GENESIS_HASH, at=T0).event_hash
    assert h1 != seal(three, seq=1, prev_hash=GENESIS_HASH, at=T0).event_hash
    assert h1 != seal(one, seq=2, prev_hash=GENESIS_HASH, at=T0).event_hash
    assert h1 != seal(one, seq=1, prev_hash="1" * 64, at=T0).event_hash


def test_format_time_is_utc_with_microseconds_and_z() -> None:
    assert format_time(datetime(2026, 3, 1, 14, 5, 6, tzinfo=UTC)) == "2026-03-01T14:05:06.000000Z"
    assert format_time(datetime(2026, 3, 1, 14, 5, 6, 7, tzinfo=UTC)) == "2026-03-01T14:05:06.000007Z"
    plus2 = timezone(timedelta(hours=2))
    assert format_time(datetime(2026, 3, 1, 0, 30, 0, 500000, tzinfo=plus2)) == "2026-02-28T22:30:00.500000Z"
    minus5 = timezone(timedelta(hours=-5, minutes=-30))
    assert format_time(datetime(2026, 12, 31, 20, 0, tzinfo=minus5)) == "2027-01-01T01:30:00.000000Z"


def test_same_instant_in_any_zone_hashes_the_same() -> None:
    other = T0.astimezone(timezone(timedelta(hours=9)))
    assert format_time(other) == format_time(T0)
    new = new_event(1)
    assert seal(new, seq=1, prev_hash=GENESIS_HASH, at=other) == seal(
        new, seq=1, prev_hash=GENESIS_HASH, at=T0
    )


def test_format_time_rejects_naive_datetimes() -> None:
    with pytest.raises(ValueError):
        format_time(datetime(2026, 3, 1, 14, 5, 6))
    with pytest.raises(ValueError):
        seal(new_event(1), seq=1, prev_hash=GENESIS_HASH, at=datetime(2026, 3, 1))


def test_anchor_payload(signer: Signer) -> None:
    h = "ab" * 32
    payload = anchor_payload(5, h)
    assert json.loads(payload) == {"chain": "opendems-custody", "seq": 5, "event_hash": h}
    assert payload == canonical_json({"seq": 5, "event_hash": h, "chain": "opendems-custody"}).encode()
    assert payload != anchor_payload(6, h)
    assert payload != anchor_payload(5, "cd" * 32)
    signature = signer.sign(payload)
    assert signer.verify(payload, signature)
    assert not signer.verify(anchor_payload(6, h), signature)
    assert not Signer(Ed25519PrivateKey.generate()).verify(payload, signature)
