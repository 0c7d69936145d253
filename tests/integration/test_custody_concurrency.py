"""Appends to the custody chain stay linear when many processes append at once: no fork, no
duplicate sequence number, no lost event. Runs on the embedded SQLite database under
``make test`` and on PostgreSQL under ``make test-scale``."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

from opendems.bootstrap import Container
from opendems.config import Settings
from opendems.domain.custody import GENESIS_HASH
from opendems.services.evidence import get_evidence
from opendems.services.verify import verify
from tests.factories import admin, make_container, png_bytes
from tests.integration.test_ingest_service import ingest

PROCESSES = 8
VIEWS = 25


def _view_many(data_dir: str, evidence_id: str, start: Any) -> None:
    c = Container(Settings.load(Path(data_dir), workers=0, segment_size=64 * 1024))
    actor = admin(c)
    start.wait(60)
    for _ in range(VIEWS):
        get_evidence(actor, evidence_id, uow=c.uow(), clock=c.clock)
    c.engine.dispose()


def test_eight_processes_append_to_one_linear_chain(tmp_path: Path) -> None:
    c = make_container(tmp_path)
    item = ingest(c, png_bytes(seed=1), filename="scene.png").item  # type: ignore[attr-defined]
    with c.uow() as uow:
        before = len(list(uow.custody.iter_all()))

    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    workers = [
        ctx.Process(target=_view_many, args=(str(c.settings.data_dir), item.id, start))
        for _ in range(PROCESSES)
    ]
    for w in workers:
        w.start()
    start.set()
    for w in workers:
        w.join(180)
    assert [w.exitcode for w in workers] == [0] * PROCESSES

    with c.uow() as uow:
        events = list(uow.custody.iter_all())
    views = [e for e in events if e.action == "evidence:view" and e.object_id == item.id]
    assert len(views) == PROCESSES * VIEWS  # none lost
    assert len(events) >= before + PROCESSES * VIEWS
    assert [e.seq for e in events] == list(range(1, len(events) + 1))  # no gap, no duplicate
    prev = GENESIS_HASH
    for e in events:  # no fork: each event names the one before it
        assert e.prev_hash == prev
        prev = e.event_hash
    report = verify(
        admin(c), None, uow=c.uow(), blobs=c.blobs, clock=c.clock, anchor=c.anchor, signer=c.signer
    )
    assert report.ok, report.problems
