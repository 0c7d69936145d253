"""Searching everything an agency holds, and rebuilding the search index."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from opendems.domain.access import Permission, decide, visibility
from opendems.domain.errors import Forbidden, Invalid
from opendems.domain.search import SearchFilters, SearchResult, parse_query
from opendems.ports import Clock, UnitOfWork
from opendems.services.context import Actor
from opendems.services.custody import record
from opendems.services.evidence import record_search

MAX_PAGE = 200
MAX_OFFSET = 10_000  # deeper pages are a sign to narrow the query, and cost the index dearly


def search(
    actor: Actor,
    text: str,
    extra: SearchFilters | None = None,
    *,
    limit: int,
    offset: int,
    facets: bool,
    uow: UnitOfWork,
    clock: Clock,
) -> SearchResult:
    """One page of the ranked hits among the items the actor may see, with the total and the
    facet counts -- all computed over those items only."""
    if not 1 <= limit <= MAX_PAGE:
        raise Invalid(f"limit must be between 1 and {MAX_PAGE}")
    if not 0 <= offset <= MAX_OFFSET:
        raise Invalid(f"offset must be between 0 and {MAX_OFFSET}")
    query = parse_query(text or "")
    if extra is not None:
        query = query.merged(extra)
    f = query.filters
    if f.captured_from and f.captured_to and f.captured_from > f.captured_to:
        raise Invalid("the capture range starts after it ends")
    if not decide(actor.principal, Permission.EVIDENCE_VIEW):
        return SearchResult(hits=[], total=0, facets={})
    record_search(actor, {"query": text[:1000], **_filters_text(extra)}, uow=uow, clock=clock)
    with uow.for_reading() as reader:
        return reader.search.search(
            query, visibility(actor.principal), limit=limit, offset=offset, facets=facets
        )


def _filters_text(extra: SearchFilters | None) -> dict[str, Any]:
    if extra is None:
        return {}
    given: dict[str, Any] = {}
    for name, value in vars(extra).items():
        if value in (None, ()):
            continue
        if isinstance(value, tuple):
            given[name] = [str(v) for v in value]
        elif hasattr(value, "isoformat"):
            given[name] = value.isoformat()
        else:
            given[name] = str(value)
    return {"filters": given} if given else {}


def reindex(actor: Actor, *, uow: UnitOfWork, clock: Clock) -> int:
    """Rebuild the whole search index from the database (``opendems search --reindex``).
    Returns how many items it holds. Recorded in the custody log as a system action."""
    if not decide(actor.principal, Permission.EVIDENCE_VERIFY):
        raise Forbidden("rebuilding the search index needs the evidence:verify permission")
    with uow:
        count = uow.search.rebuild_all()
        record(uow, actor, "search:reindex", "system", "search", clock=clock, details={"items": count})
        uow.commit()
    return count


def index_meaning(actor: Actor, evidence_ids: Iterable[str], *, uow: UnitOfWork) -> None:
    """Embed, for meaning search, the documents of items just stored without their vectors.

    ``opendems ingest`` stores a batch of files first and embeds them after its last file:
    loading the model beside the first file took a seventh to a quarter of what two cores
    give to hashing, encrypting and writing it. Their words are searchable at once, from
    each file's own commit. ``uow`` must carry the embedder (with meaning search off, nothing
    is embedded)."""
    if not decide(actor.principal, Permission.EVIDENCE_CREATE):
        raise Forbidden("indexing items needs the evidence:create permission")
    ids = sorted(set(evidence_ids))
    with uow:
        uow.search.fill_vectors(ids)
        uow.commit()


def catch_up_meaning(actor: Actor, *, uow: UnitOfWork, batch: int = 2000) -> int:
    """Embed every document that has no vector: the items of an ingest stopped before its
    last step, or stored while meaning search was off. One scan, a transaction per
    ``batch`` documents; returns how many items it completed. Run by the server as it starts."""
    if not decide(actor.principal, Permission.EVIDENCE_VERIFY):
        raise Forbidden("completing the search index needs the evidence:verify permission")
    after, done = 0, set[str]()
    while True:
        with uow:
            ids, last = uow.search.lacking_vectors(after, batch)
            if ids:
                uow.search.fill_vectors(ids)
                uow.commit()
        done.update(ids)
        if last is None:
            return len(done)
        after = last
