"""Meaning search: a sentence-embedding vector for every search document, on SQLite and on
PostgreSQL alike (plain SQLAlchemy Core over the table ``search_vectors``).

What is embedded. A document is embedded in *parts*: a window of a text derivative
(transcript, OCR text) segment by segment -- consecutive short ones joined until a part has
MIN_PART_WORDS words, one longer than PART_WORDS cut -- each part with the second its first
segment starts at; an item's metadata document as its title, description and the text values of its
custom fields (not the keywords: ids, codecs and serial numbers carry no meaning), cut the same
way. A whole 100-word window would average what several people said into one vector; a part
is about one thing, and a meaning hit on it knows its own second without more work. (Each part
is far below the model's 256 tokens.)

Keeping up. Vectors are kept in the transaction that writes their documents: the indexes call
``take`` for documents they delete (SQLite reuses the ids of deleted documents, so a vector
never outlives its document) and ``fill`` for the items they (re)indexed. ``fill`` drops the
vectors of documents that are gone and embeds the documents that have none -- unless the
same text was embedded for the same item earlier in the transaction (``digest``: SHA-256 of
the model id and the text), as when a metadata edit that changed no title or description
rebuilds the metadata document. ``clear`` drops every vector (``rebuild_all`` recomputes
them all). A unit of work without the embedder (meaning search turned off, or ``opendems
ingest``, which embeds a batch after its last file) still drops vectors with their documents
and makes none; ``fill`` makes the missing ones later, for given items, and ``lacking`` finds
the documents that have none (the server's catch-up as it starts, or ``opendems search
--reindex``).

Searching (``nearest``). The query's words are embedded and compared with the vectors (dot
products of unit vectors: cosine similarity) of the candidate documents -- brute force with
numpy. The candidates are read in one statement that joins each vector to its item and
applies the same conditions as the full-text search (the access rule, the filters, the
negated words), so no vector of an item the principal may not see, or that the filters
exclude, ever leaves the database. The work is bounded as the full-text side's: the newest
MEANING_WINDOW eligible documents (all of them when fewer; the total is then exact). An item
is a meaning match when its best document reaches MIN_SIMILARITY; its similarity is that of
its best document.

Combining (``fuse``). Reciprocal rank fusion: an item's score is the sum over the two ranked
lists (full-text by bm25/ts_rank, meaning by similarity) of 1 / (RRF_K + its rank), so an item
both lists rank high comes first, and a paraphrase no word of which matches still ranks by
its meaning.

What a meaning hit shows (``passages``): its best part's words, and for a window the second
that part starts at (the player opens there).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    bindparam,
    column,
    delete,
    inspect,
    select,
    table,
    text,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from opendems.adapters.db.tables import evidence, search_rows, search_vectors
from opendems.adapters.text.embeddings import pack, unpack
from opendems.domain.search import SearchMatch
from opendems.ports import Embedder

if TYPE_CHECKING:
    import numpy as np

METADATA = "metadata"
# An item is a meaning match when its best document's cosine similarity with the query reaches
# this (all-MiniLM-L6-v2: a paraphrase scores about 0.5 and more, unrelated sentences below 0.2).
MIN_SIMILARITY = 0.3
# The newest eligible documents compared with a query (about 7.5 MB of vectors).
MEANING_WINDOW = 20_000
RRF_K = 60  # reciprocal rank fusion's constant (Cormack et al., 2009)
PART_WORDS = 48  # the most words of a part
MIN_PART_WORDS = 8  # a shorter segment is joined with the next
SNIPPET_WORDS = 24
ELLIPSIS = "…"

_V = search_vectors.c

SQLITE_DOCS = (
    "SELECT r.id, r.evidence_id, r.source, r.start_s, f.body, f.marks"
    " FROM search_rows AS r JOIN search_fts AS f ON f.rowid = r.id"
)
PG_DOCS = "SELECT id, evidence_id, source, start_s, body, marks FROM search_docs"
_LACKING = (
    "SELECT d.id, d.evidence_id, EXISTS (SELECT 1 FROM search_vectors AS v WHERE v.doc_id = d.id)"
    " AS held FROM {} AS d WHERE d.id > :after ORDER BY d.id LIMIT :limit"
)
SQLITE_LACKING = _LACKING.format("search_rows")
PG_LACKING = _LACKING.format("search_docs")
_PG_DOCS = table("search_docs", column("id", BigInteger))  # (made by migration 0007)


class Near(NamedTuple):
    """An item found by meaning: its best document, that document's best part, the
    similarity, and where the part starts."""

    evidence_id: str
    doc_id: int
    similarity: float
    part: int = 0
    at: float | None = None


@dataclass(frozen=True)
class Passage:
    """What a meaning hit shows: where its text comes from, the text, and the second."""

    source: str
    snippet: str
    at: float | None


def digest(model_id: str, value: str) -> str:
    return hashlib.sha256(f"{model_id}\n{value}".encode()).hexdigest()


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            yield value
            return
        if not isinstance(parsed, str):
            yield from _strings(parsed)
            return
        yield parsed
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v)


def item_text(title: str | None, description: str | None, custom_fields: Any) -> str:
    """What an item's metadata document means: its title, description and the text values
    of its custom fields."""
    parts = [title or "", description or "", *_strings(custom_fields or {})]
    return "\n".join(p.strip() for p in parts if p and p.strip())


def query_text(words: Sequence[str]) -> str:
    return " ".join(words)


def wanted(match: SearchMatch, embedder: Embedder | None, words: Sequence[str]) -> bool:
    """Whether a query is compared by meaning (there are words, and meaning search is on)."""
    return match is not SearchMatch.WORDS and embedder is not None and bool(words)


def fuse(words: Sequence[str], meaning: Sequence[Near]) -> dict[str, float]:
    """Reciprocal rank fusion of two ranked lists of items (best first)."""
    score: dict[str, float] = {}
    for ranked in (words, [n.evidence_id for n in meaning]):
        for rank, evidence_id in enumerate(ranked, start=1):
            score[evidence_id] = score.get(evidence_id, 0.0) + 1.0 / (RRF_K + rank)
    return score


def _segments(body: str, marks: str, start: float | None) -> list[tuple[float | None, str]]:
    """A window's segments (second, words), from its marks; the whole window when it has none."""
    words = body.split()
    try:
        starts = [(int(n), float(s)) for n, s in json.loads(marks)] if marks else []
    except (ValueError, TypeError):
        starts = []
    if not starts:
        return [(start, body)]
    out: list[tuple[float | None, str]] = []
    for i, (n, second) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else len(words)
        if end > n:
            out.append((second, " ".join(words[n:end])))
    return out or [(start, body)]


def parts(segments: list[tuple[float | None, str]]) -> list[tuple[float | None, str]]:
    """Segments as the parts that are embedded: (second, words) of about PART_WORDS words,
    short segments joined with the ones after them, a long one cut."""
    out: list[tuple[float | None, str]] = []
    words: list[str] = []
    at: float | None = None
    for second, chunk in segments:
        rest = chunk.split()
        while rest:
            if not words:
                at = second
            room = PART_WORDS - len(words)
            words += rest[:room]
            rest = rest[room:]
            if len(words) >= PART_WORDS:
                out.append((at, " ".join(words)))
                words = []
        if len(words) >= MIN_PART_WORDS:
            out.append((at, " ".join(words)))
            words = []
    if words:
        if out and len(out[-1][1].split()) + len(words) <= PART_WORDS + MIN_PART_WORDS:
            last_at, last = out.pop()
            out.append((last_at, last + " " + " ".join(words)))
        else:
            out.append((at, " ".join(words)))
    return out


def document_parts(
    source: str, body: str, marks: str, start: float | None, meta: str
) -> list[tuple[float | None, str]]:
    """The parts of one document (``meta``: the item's meaning text, for its metadata)."""
    if source == METADATA:
        return parts([(None, meta)])
    return parts(_segments(body, marks, start))


def _cut(value: str, most: int = SNIPPET_WORDS) -> str:
    words = value.split()
    return " ".join(words[:most]) + (ELLIPSIS if len(words) > most else "")


class SearchVectors:
    """The vectors of the documents of one connection's search index."""

    def __init__(self, conn: Connection, embedder: Embedder | None) -> None:
        self._conn = conn
        self.embedder = embedder
        self._postgres = conn.dialect.name == "postgresql"
        # Vectors of documents deleted in this transaction: (item, digest) -> packed vector.
        self._stash: dict[tuple[str, str], bytes] = {}
        self._ready: bool | None = None

    # -- writing --------------------------------------------------------------------------

    def ready(self) -> bool:
        """Whether the table exists (not yet while older migrations rebuild the index). Asked
        once per unit of work that writes the index (a migration may create it meanwhile)."""
        if self._ready is None or not self._ready:
            self._ready = inspect(self._conn).has_table("search_vectors")
        return self._ready

    def take(self, doc_ids: Sequence[int]) -> None:
        """Drop the vectors of these documents, kept for reuse in this transaction."""
        if not doc_ids or not self.ready():
            return
        for start in range(0, len(doc_ids), 5000):
            chunk = list(doc_ids[start : start + 5000])
            for r in self._conn.execute(
                select(_V.evidence_id, _V.digest, _V.vector).where(_V.doc_id.in_(chunk))
            ):
                self._stash[(r.evidence_id, r.digest)] = bytes(r.vector)
            self._conn.execute(delete(search_vectors).where(_V.doc_id.in_(chunk)))

    def clear(self) -> None:
        if self.ready():
            self._conn.execute(delete(search_vectors))

    def _docs(self, *, items: Sequence[str] = (), docs: Sequence[int] = ()) -> list[Any]:
        if self._postgres:
            if items:
                return list(
                    self._conn.execute(text(PG_DOCS + " WHERE evidence_id = ANY(:ids)"), {"ids": list(items)})
                )
            return list(self._conn.execute(text(PG_DOCS + " WHERE id = ANY(:ids)"), {"ids": list(docs)}))
        if items:
            query = text(SQLITE_DOCS + " WHERE r.evidence_id IN :ids").bindparams(
                bindparam("ids", expanding=True)
            )
            return list(self._conn.execute(query, {"ids": list(items)}))
        query = text(SQLITE_DOCS + " WHERE r.id IN :ids").bindparams(bindparam("ids", expanding=True))
        return list(self._conn.execute(query, {"ids": list(docs)}))

    def _item_texts(self, ids: Sequence[str]) -> dict[str, str]:
        if not ids:
            return {}
        e = evidence.c
        rows = self._conn.execute(
            select(e.id, e.title, e.description, e.custom_fields).where(e.id.in_(list(ids)))
        )
        return {r.id: item_text(r.title, r.description, r.custom_fields) for r in rows}

    def fill(self, evidence_ids: Iterable[str]) -> None:
        """Bring these items' vectors in line with their documents: drop those of documents
        that are gone, embed the documents that have none (reusing this transaction's)."""
        if not self.ready():
            return
        ids = sorted(set(evidence_ids))
        for start in range(0, len(ids), 500):
            self._fill(ids[start : start + 500])
        self._stash.clear()

    def lacking(self, after: int, limit: int) -> tuple[list[str], int | None]:
        """The items with a document that has no vector, among the next ``limit`` documents
        after document ``after`` (by id); and the last document looked at (None: no more).
        A document with nothing to embed (an empty window) stays without one, and is simply
        looked at again by a later scan."""
        if not self.ready():
            return [], None
        rows = self._conn.execute(
            text(PG_LACKING if self._postgres else SQLITE_LACKING), {"after": after, "limit": limit}
        ).all()
        if not rows:
            return [], None
        return sorted({r.evidence_id for r in rows if not r.held}), int(rows[-1].id)

    def _fill(self, ids: list[str]) -> None:
        held = {
            int(r.doc_id): r.evidence_id
            for r in self._conn.execute(
                select(_V.doc_id, _V.evidence_id).where(_V.evidence_id.in_(ids)).distinct()
            )
        }
        docs = self._docs(items=ids)
        live = {int(d.id) for d in docs}
        stale = sorted(set(held) - live)
        if stale:
            self.take(stale)
        embedder = self.embedder
        if embedder is None:
            return
        todo = [d for d in docs if int(d.id) not in held]
        if not todo:
            return
        meta = self._item_texts(sorted({d.evidence_id for d in todo if d.source == METADATA}))
        rows: list[dict[str, Any]] = []
        pending: list[tuple[dict[str, Any], str]] = []
        for d in todo:
            pieces = document_parts(
                d.source, d.body or "", d.marks or "", d.start_s, meta.get(d.evidence_id, "")
            )
            for n, (second, value) in enumerate(pieces):
                key = digest(embedder.model_id, value)
                row = {
                    "doc_id": int(d.id),
                    "part": n,
                    "evidence_id": d.evidence_id,
                    "start_s": second,
                    "model": embedder.model_id,
                    "digest": key,
                }
                kept = self._stash.get((d.evidence_id, key))
                if kept is not None:
                    rows.append({**row, "vector": kept})
                else:
                    pending.append((row, value))
        if pending:
            vectors = embedder.embed([value for _, value in pending])
            rows += [{**row, "vector": pack(v)} for (row, _), v in zip(pending, vectors, strict=True)]
        if rows:
            # Another process may have embedded the same document meanwhile (a server's
            # catch-up beside the last step of ``opendems ingest``): its vector is the same one.
            # PostgreSQL lets both transactions find it missing, and the second insert would
            # fail on the key; SQLite's writers take turns, so the check above has seen it.
            insert = pg_insert if self._postgres else sqlite_insert
            self._conn.execute(insert(search_vectors).on_conflict_do_nothing(), rows)

    # -- reading --------------------------------------------------------------------------

    def query_vector(self, words: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
        import numpy as np

        assert self.embedder is not None
        return np.asarray(self.embedder.embed([query_text(words)])[0], dtype=np.float32)

    def nearest(
        self, query: np.ndarray[Any, np.dtype[np.float32]], where: Sequence[ColumnElement[bool]]
    ) -> tuple[list[Near], bool]:
        """The items whose best part is similar enough to the query, best first, among the
        parts of the newest MEANING_WINDOW documents of the items ``where`` (conditions on
        ``evidence``) lets through; and whether that was every such part."""
        assert self.embedder is not None
        docs = _PG_DOCS if self._postgres else search_rows
        stmt = (
            select(_V.doc_id, _V.part, _V.evidence_id, _V.start_s, _V.vector)
            .select_from(
                # (a vector whose document is gone -- an index lost or emptied by hand -- is
                # no match: the index, not the vectors, says what is searchable)
                search_vectors.join(docs, docs.c.id == _V.doc_id).join(
                    evidence, evidence.c.id == _V.evidence_id
                )
            )
            .where(_V.model == self.embedder.model_id, *where)
            .order_by(_V.doc_id.desc(), _V.part)
            .limit(MEANING_WINDOW + 1)
        )
        rows = self._conn.execute(stmt).all()
        complete = len(rows) <= MEANING_WINDOW
        rows = rows[:MEANING_WINDOW]
        if not rows:
            return [], complete
        similarity = unpack([bytes(r.vector) for r in rows]) @ query
        best: dict[str, Near] = {}
        for r, s in zip(rows, similarity.tolist(), strict=True):
            if s >= MIN_SIMILARITY and (r.evidence_id not in best or s > best[r.evidence_id].similarity):
                best[r.evidence_id] = Near(r.evidence_id, int(r.doc_id), float(s), int(r.part), r.start_s)
        return sorted(best.values(), key=lambda n: (-n.similarity, -n.doc_id)), complete

    def passages(self, near: Sequence[Near]) -> dict[int, Passage]:
        """What each of these best parts shows as a meaning hit (by document): its words, and
        for a window the second it starts at."""
        if not near:
            return {}
        rows = {int(r.id): r for r in self._docs(docs=[n.doc_id for n in near])}
        meta = self._item_texts(sorted({r.evidence_id for r in rows.values() if r.source == METADATA}))
        out: dict[int, Passage] = {}
        for n in near:
            r = rows.get(n.doc_id)
            if r is None:
                continue
            pieces = document_parts(
                r.source, r.body or "", r.marks or "", r.start_s, meta.get(r.evidence_id, "")
            )
            if not pieces:
                continue
            second, words = pieces[min(n.part, len(pieces) - 1)]
            before = ELLIPSIS if n.part > 0 else ""
            snippet = _cut(words)
            after = ELLIPSIS if n.part + 1 < len(pieces) and not snippet.endswith(ELLIPSIS) else ""
            out[n.doc_id] = Passage(
                r.source, before + snippet + after, None if r.source == METADATA else second
            )
        return out


__all__ = [
    "MEANING_WINDOW",
    "MIN_SIMILARITY",
    "Near",
    "Passage",
    "SearchVectors",
    "fuse",
    "item_text",
    "wanted",
]
