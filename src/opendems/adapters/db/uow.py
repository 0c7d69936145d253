"""Unit of work over one database transaction, with the repositories bound to it."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType

from sqlalchemy import Connection
from sqlalchemy.engine import Engine

from opendems.adapters.crypto.keys import Signer
from opendems.adapters.db.access_repo import AccessRepository
from opendems.adapters.db.accounts_repo import AccountRepository
from opendems.adapters.db.cases_repo import CaseRepository
from opendems.adapters.db.categories_repo import CategoryRepository
from opendems.adapters.db.custody_repo import CustodyRepository
from opendems.adapters.db.evidence_repo import EvidenceRepository
from opendems.adapters.db.exports_repo import ExportRepository
from opendems.adapters.db.jobs_repo import JobRepository, take_enqueued
from opendems.adapters.db.redaction_repo import RedactionRepository
from opendems.adapters.db.search_repo import NoSearchIndex, SqliteSearchIndex, take_dirty
from opendems.adapters.db.sessions_repo import SessionRepository
from opendems.adapters.db.shares_repo import ShareRepository
from opendems.adapters.db.uploads_repo import UploadRepository
from opendems.ports import CustodyAnchor, Embedder, SearchIndex


class SqlUnitOfWork:
    """``with uow:`` opens a transaction; ``commit()`` makes it durable and then updates
    the custody anchor; leaving the block without committing rolls everything back."""

    def __init__(
        self,
        engine: Engine,
        *,
        signer: Signer,
        anchor: CustodyAnchor,
        read_only: bool = False,
        publish: Callable[[list[int]], None] | None = None,
        embedder: Embedder | None = None,
    ) -> None:
        self._engine = engine
        self._embedder = embedder  # meaning search's (None: off)
        self._signer = signer
        self._anchor = anchor
        self._head: tuple[int, str] | None = None
        self.read_only = read_only
        # Called with the ids of the jobs this unit queued, once they are committed (a broker
        # delivers them to workers); without it, workers find them by polling the table.
        self._publish = publish

    def for_reading(self) -> SqlUnitOfWork:
        """A unit of work that only reads: it sees a consistent snapshot and blocks no writer."""
        return SqlUnitOfWork(
            self._engine,
            signer=self._signer,
            anchor=self._anchor,
            read_only=True,
            publish=self._publish,
            embedder=self._embedder,
        )

    def __enter__(self) -> SqlUnitOfWork:
        # The connection begins a transaction on first use (and again after each commit).
        self._conn = self._engine.connect()
        self._conn.info["read_only"] = self.read_only  # read by the engine's BEGIN hook
        self.accounts = AccountRepository(self._conn)
        self.access = AccessRepository(self._conn)
        self.sessions = SessionRepository(self._conn)
        self.jobs = JobRepository(self._conn)
        self.evidence = EvidenceRepository(self._conn)
        self.cases = CaseRepository(self._conn)
        self.uploads = UploadRepository(self._conn)
        self.categories = CategoryRepository(self._conn)
        self.redaction = RedactionRepository(self._conn)
        self.shares = ShareRepository(self._conn)
        self.exports = ExportRepository(self._conn)
        self.custody = CustodyRepository(self._conn, signer=self._signer, on_commit=self._note_head)
        take_dirty(self._conn)  # marks left on a pooled connection by work that never committed
        take_enqueued(self._conn)
        self.search = search_index(self._conn, self._embedder)
        return self

    def _note_head(self, seq: int, event_hash: str) -> None:
        self._head = (seq, event_hash)

    def commit(self) -> None:
        # The index follows every committed change of an item's searchable fields: the
        # repositories mark the items they touch, and their documents are rebuilt here, in
        # the same transaction.
        dirty = take_dirty(self._conn)
        if dirty:
            self.search.refresh(dirty)
        self._conn.commit()
        if self._head:
            self._anchor.write(*self._head)
            self._head = None
        queued = take_enqueued(self._conn)
        if queued and self._publish is not None:
            self._publish(queued)

    def rollback(self) -> None:
        self._conn.rollback()
        take_dirty(self._conn)
        take_enqueued(self._conn)
        self._head = None

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None, /
    ) -> None:
        self._head = None  # an event that did not commit must never reach the anchor
        take_dirty(self._conn)
        take_enqueued(self._conn)
        try:
            if self._conn.in_transaction():
                self._conn.rollback()
        finally:
            self._conn.close()


def search_index(conn: Connection, embedder: Embedder | None = None) -> SearchIndex:
    """The full-text index of the connection's database: FTS5 on SQLite, full-text search
    (tsvector and GIN) on PostgreSQL; with an embedder, meaning search on either."""
    if conn.dialect.name == "sqlite":
        return SqliteSearchIndex(conn, embedder)
    if conn.dialect.name == "postgresql":
        from opendems.adapters.db.search_pg import PostgresSearchIndex

        return PostgresSearchIndex(conn, embedder)
    return NoSearchIndex()
