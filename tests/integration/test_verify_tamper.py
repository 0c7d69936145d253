"""`verify` must detect tampering with stored bytes and with the custody log, made directly in
the evidence store or in the database (bypassing the application), and name what was
touched -- on the local disk and SQLite, and on S3 and PostgreSQL (``make test-scale``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from opendems.bootstrap import Container
from opendems.services.ingest import IngestRequest, ingest_stream
from opendems.services.verify import VerifyReport, verify
from tests.backends import RawDatabase, delete_stored, read_stored, write_stored
from tests.factories import admin, make_container, pdf_bytes, png_bytes, wav_bytes


@pytest.fixture
def held(tmp_path: Path) -> tuple[Container, list[str]]:
    c = make_container(tmp_path)
    ids = []
    for name, data in (("a.png", png_bytes(seed=1)), ("b.wav", wav_bytes()), ("c.pdf", pdf_bytes())):
        result = ingest_stream(
            admin(c),
            IngestRequest(filename=name),
            [data],
            uow=c.uow(),
            blobs=c.blobs,
            clock=c.clock,
            limits=c.limits,
        )
        ids.append(result.item.id)
    return c, ids


def run(c: Container, ids: list[str] | None = None) -> VerifyReport:
    return verify(admin(c), ids, uow=c.uow(), blobs=c.blobs, anchor=c.anchor, signer=c.signer, clock=c.clock)


def db(c: Container) -> RawDatabase:
    """A raw connection, as someone with the database's owner rights would have, with the
    append-only triggers dropped first (they would refuse the edits below)."""
    return RawDatabase(c).drop_guards()


def blob_key(c: Container, evidence_id: str) -> str:
    with c.uow() as uow:
        item = uow.evidence.get(evidence_id)
    assert item and item.original
    return item.original.blob_key


def test_untouched_vault_verifies(held: tuple[Container, list[str]]) -> None:
    c, ids = held
    report = run(c)
    assert report.ok, report.problems
    assert [i.evidence_id for i in report.items] == ids
    assert report.events_checked > 3


def test_verification_run_is_a_custody_event(held: tuple[Container, list[str]]) -> None:
    c, ids = held
    run(c, [ids[0]])
    with c.uow() as uow:
        actions = [e.action for e in uow.custody.iter_all()]
        per_item = [e.action for e in uow.custody.for_object("evidence", ids[0])]
    assert actions[-1] == "custody:verify"
    assert per_item[-1] == "evidence:verify"


@pytest.mark.parametrize("where", ["header", "first segment", "last byte"])
def test_one_flipped_byte_in_a_stored_blob_is_detected(held: tuple[Container, list[str]], where: str) -> None:
    c, ids = held
    key = blob_key(c, ids[1])
    raw = bytearray(read_stored(c, key))
    pos = {"header": 40, "first segment": 200, "last byte": len(raw) - 1}[where]
    raw[pos] ^= 0x01
    write_stored(c, key, bytes(raw))
    report = run(c)
    assert not report.ok
    failed = [i.evidence_id for i in report.items if not i.ok]
    assert failed == [ids[1]]
    assert not report.chain_problems


def test_missing_blob_is_detected(held: tuple[Container, list[str]]) -> None:
    c, ids = held
    delete_stored(c, blob_key(c, ids[2]))
    report = run(c)
    assert [i.evidence_id for i in report.items if not i.ok] == [ids[2]]
    assert "missing" in (report.items[2].problem or "")


def test_append_only_triggers_refuse_changes_through_sql(held: tuple[Container, list[str]]) -> None:
    c, _ = held
    conn = RawDatabase(c)
    with pytest.raises(Exception, match="append-only"):
        conn.execute("UPDATE custody_events SET actor_name = 'someone' WHERE seq = 2")
    with pytest.raises(Exception, match="append-only"):
        conn.execute("DELETE FROM custody_events WHERE seq = 2")


def test_edited_custody_row_is_detected(held: tuple[Container, list[str]]) -> None:
    c, _ = held
    db(c).execute("UPDATE custody_events SET actor_name = 'someone else' WHERE seq = 3")
    problems = run(c).chain_problems
    assert any("event 3 was altered" in p for p in problems), problems


def test_edited_row_with_recomputed_hashes_is_detected(held: tuple[Container, list[str]]) -> None:
    """An attacker who rewrites a row and recomputes every later hash still cannot sign."""
    c, _ = held
    with c.uow() as uow:
        events = list(uow.custody.iter_all())
    from dataclasses import replace

    conn = db(c)
    prev = events[1].event_hash
    for event in events[2:]:
        changed = replace(event, prev_hash=prev, actor_name="forger" if event.seq == 3 else event.actor_name)
        new_hash = changed.compute_hash()
        conn.execute(
            "UPDATE custody_events SET prev_hash = ?, actor_name = ?, event_hash = ? WHERE seq = ?",
            (prev, changed.actor_name, new_hash, event.seq),
        )
        prev = new_hash
    conn.execute("UPDATE custody_head SET event_hash = ? WHERE id = 1", (prev,))
    problems = run(c).chain_problems
    assert any("event 3 is not signed" in p for p in problems), problems


def test_deleted_middle_row_is_detected(held: tuple[Container, list[str]]) -> None:
    c, _ = held
    db(c).execute("DELETE FROM custody_events WHERE seq = 2")
    problems = run(c).chain_problems
    assert any("2" in p and "missing" in p for p in problems), problems


def test_deleted_last_rows_are_detected_by_the_anchor(held: tuple[Container, list[str]]) -> None:
    c, _ = held
    conn = db(c)
    last = conn.execute("SELECT max(seq) FROM custody_events").fetchone()[0]
    conn.execute("DELETE FROM custody_events WHERE seq >= ?", (last - 1,))
    seq, event_hash = conn.execute(
        "SELECT seq, event_hash FROM custody_events ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    conn.execute("UPDATE custody_head SET seq = ?, event_hash = ? WHERE id = 1", (seq, event_hash))
    problems = run(c).chain_problems
    assert any(f"events {last - 1}-{last} were removed" in p for p in problems), problems


def test_inserted_row_is_detected(held: tuple[Container, list[str]]) -> None:
    c, _ = held
    conn = db(c)
    row = conn.execute("SELECT * FROM custody_events WHERE seq = 2").fetchone()
    columns = [d[0] for d in conn.execute("SELECT * FROM custody_events LIMIT 0").description]
    forged = dict(zip(columns, row, strict=True))
    conn.execute("UPDATE custody_events SET seq = seq + 1000")  # make room, keep order
    conn.execute("UPDATE custody_events SET seq = seq - 999 WHERE seq > 1002")
    conn.execute("UPDATE custody_events SET seq = seq - 1000 WHERE seq >= 1000")
    forged.update(seq=3, event_hash="f" * 64, actor_name="inserted")
    conn.execute(
        f"INSERT INTO custody_events ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
        [forged[k] for k in columns],
    )
    problems = run(c).chain_problems
    assert problems, "an inserted event must break the chain"
    assert any("event 3" in p for p in problems), problems


def test_forged_event_appended_at_the_end_is_detected(held: tuple[Container, list[str]]) -> None:
    c, _ = held
    with c.uow() as uow:
        events = list(uow.custody.iter_all())
    from dataclasses import replace

    last = events[-1]
    forged = replace(
        last, seq=last.seq + 1, prev_hash=last.event_hash, action="evidence:view", actor_name="ghost"
    )
    forged = replace(forged, event_hash=forged.compute_hash())
    fields = {**forged.hashed_fields(), "event_hash": forged.event_hash, "signature": last.signature}
    conn = db(c)
    conn.execute(
        f"INSERT INTO custody_events ({', '.join(fields)}) VALUES ({', '.join('?' * len(fields))})",
        list(fields.values()),
    )
    conn.execute(
        "UPDATE custody_head SET seq = ?, event_hash = ? WHERE id = 1", (forged.seq, forged.event_hash)
    )
    problems = run(c).chain_problems
    assert any(f"event {forged.seq} is not signed" in p for p in problems), problems


def test_reordered_rows_are_detected(held: tuple[Container, list[str]]) -> None:
    c, _ = held
    conn = db(c)
    conn.execute("UPDATE custody_events SET seq = -1 WHERE seq = 2")
    conn.execute("UPDATE custody_events SET seq = 2 WHERE seq = 3")
    conn.execute("UPDATE custody_events SET seq = 3 WHERE seq = -1")
    problems = run(c).chain_problems
    assert any("does not link" in p or "altered" in p for p in problems), problems


def test_anchor_forged_from_an_event_signature_is_rejected(held: tuple[Container, list[str]]) -> None:
    """Deleting the newest events and re-anchoring the chain with the last remaining event's
    own signature must not pass: the anchor signs a different statement."""
    import json

    c, _ = held
    conn = db(c)
    last = conn.execute("SELECT max(seq) FROM custody_events").fetchone()[0]
    conn.execute("DELETE FROM custody_events WHERE seq = ?", (last,))
    seq, event_hash, signature = conn.execute(
        "SELECT seq, event_hash, signature FROM custody_events ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    conn.execute("UPDATE custody_head SET seq = ?, event_hash = ? WHERE id = 1", (seq, event_hash))
    c.anchor.path.write_text(json.dumps({"seq": seq, "event_hash": event_hash, "signature": signature}))
    problems = run(c).chain_problems
    assert any("anchor's signature is not valid" in p for p in problems), problems


def test_an_event_that_was_rolled_back_never_reaches_the_anchor(held: tuple[Container, list[str]]) -> None:
    from opendems.services.custody import record

    c, ids = held
    uow = c.uow()
    with pytest.raises(RuntimeError), uow:
        record(uow, admin(c), "evidence:view", "evidence", ids[0], clock=c.clock)
        raise RuntimeError("the use case failed before committing")
    with uow:
        record(uow, admin(c), "evidence:view", "evidence", ids[1], clock=c.clock)
        uow.commit()
    assert run(c).ok
