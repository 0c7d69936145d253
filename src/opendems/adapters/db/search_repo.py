"""The search index on SQLite: FTS5 over every item's metadata and text derivatives.

Layout. ``search_rows`` holds one row per indexed document -- an item's metadata, or a window
of about WINDOW_WORDS words of a text derivative (transcript, OCR text) with the second it
starts at -- and its id is the rowid of the same document in the FTS5 table ``search_fts``
(columns title, keywords, body, marks; bm25 weighs them 10 : 4 : 1, the table's configured
ranking). A window carries its item's title and keywords too (tags, cases, officer, device,
file name), and ``marks`` says where each of its segments starts. Filters and access control
are not in the index: the candidate items are checked against ``evidence_visible`` -- the
clause the evidence list uses -- and the filters, so a change of level, membership or case is
seen at once.

Consistency. The repositories that write an item's searchable fields mark it dirty on their
connection (``mark_dirty``); the unit of work rebuilds those items' metadata documents -- and
the title and keywords their windows carry -- with ``refresh`` just before it commits, in the
same transaction. Text derivatives are written by ``add_text`` in the transaction that stores
them. ``rebuild_all`` recovers from anything else.

Query semantics. The positive part of a query is one FTS5 expression, evaluated per document
(``a b`` finds a document holding both; since a window carries the title and keywords,
``smith knife`` finds the item captured by Smith whose transcript says "knife" -- but words
of the description and of the transcript are not combined). An item's score is that of its
best document and its snippet comes from there, unless that is a window matched only through
the metadata it carries: then the metadata speaks (no second to jump to). Negations at the top
of a query exclude an item when any of its documents matches (``-draft`` drops an item whose
description says "draft" even when the hit is in its transcript).

Bounded work (see ``search``): a broad match is cut to its newest MATCH_WINDOW documents, a
list without text to the newest LIST_WINDOW items; ``SearchResult.total_exact`` is then false.

Meaning search (``search_vectors``, the same code on both backends). Unless a query says
``match:words``, its words not negated are also compared by meaning with every candidate
document's sentence-embedding vector (checked against the same access rule, filters and
negations first), and the two rankings are fused (reciprocal rank fusion); ``match:meaning``
ranks by meaning alone. An item found by meaning only shows the passage closest in meaning,
and a transcript window the second its closest segment starts at. The vectors are written
with their documents (``refresh``, ``add_text``, ``rebuild_all``), when an embedder is given.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Connection,
    Float,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    case,
    column,
    delete,
    exists,
    false,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    table,
    text,
    union,
)

from opendems.adapters.db.access_repo import evidence_sealed, evidence_visible
from opendems.adapters.db.search_vectors import Near, Passage, SearchVectors, fuse, wanted
from opendems.adapters.db.tables import (
    case_evidence,
    cases,
    evidence,
    evidence_tags,
    memberships,
    originals,
    search_rows,
)
from opendems.domain.access import Visibility
from opendems.domain.errors import Invalid
from opendems.domain.search import (
    FACET_FIELDS,
    And,
    Expr,
    FacetCount,
    GeoBox,
    Hit,
    Not,
    Or,
    Phrase,
    SearchFilters,
    SearchMatch,
    SearchQuery,
    SearchResult,
    SearchSort,
    Word,
    positive_words,
)
from opendems.ports import Embedder

FTS_CREATE = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS search_fts USING fts5("
    "title, keywords, body, marks UNINDEXED, "
    "tokenize = 'porter unicode61 remove_diacritics 2', prefix = '2 3 4')"
)
RANK = "bm25(10.0, 4.0, 1.0)"  # the weights of title, keywords and body
# The table's own ranking (kept in its configuration), so ``ORDER BY rank`` weighs the columns
# wherever the planner moves the ordering to.
FTS_RANK = "INSERT INTO search_fts (search_fts, rank) VALUES ('rank', 'bm25(10.0, 4.0, 1.0)')"
SNIPPET_TOKENS = 12
FACET_TOP = 20
# Text derivatives are indexed in windows of about this many words (consecutive segments
# joined; a longer segment is cut). Each window keeps where each of its segments starts
# (``marks``), so a hit still jumps to its own segment's second.
WINDOW_WORDS = 100
METADATA = "metadata"
EARTH_RADIUS_M = 6_371_008.8
DIRTY_KEY = "opendems.search_dirty"
# A text match of more documents than this is cut down to its newest this many (below).
MATCH_WINDOW = 1_000
# A list without text (or a narrow one) is taken from this many newest items.
LIST_WINDOW = 2_000
# A scope or a filter reaching at most this many items is where a search starts from.
NARROW_ITEMS = 5_000
# The candidate documents of a text match (see ``search``). FTS5 answers ORDER BY rowid
# and LIMIT itself; CROSS JOIN makes SQLite look the items' own documents up one by one.
COUNT_MATCHING = (
    "SELECT count(*) FROM (SELECT rowid FROM search_fts WHERE search_fts MATCH :match LIMIT :most)"
)
ALL_MATCHING = "SELECT rowid AS rid, rank AS score FROM search_fts WHERE search_fts MATCH :match"
NEWEST_MATCHING = ALL_MATCHING + " ORDER BY rowid DESC LIMIT :window"
SNIPPETS = (
    "SELECT f.rowid, r.source, r.start_s, f.marks,"
    " snippet(search_fts, -1, char(2), char(3), '…', 12) AS snip,"  # 12: SNIPPET_TOKENS
    " snippet(search_fts, 2, char(2), char(3), '…', 12) AS body_snip,"
    " highlight(search_fts, 2, char(2), char(3)) AS body"
    " FROM search_rows AS r CROSS JOIN search_fts AS f"
    " WHERE r.id IN :rids AND f.rowid = r.id AND search_fts MATCH :match"
)
# The items, of some, with a document matching an expression: per run of an item's documents
# of one source, the matches FTS5 lists within that rowid range (see ``_excluded``).
EXCLUDED_IN_RUNS = (
    "SELECT DISTINCT g.evidence_id FROM"
    " (SELECT evidence_id, min(id) AS lo, max(id) AS hi FROM search_rows WHERE evidence_id IN :ids"
    " GROUP BY evidence_id, source) AS g"
    " CROSS JOIN search_fts AS f CROSS JOIN search_rows AS r"
    " WHERE f.rowid BETWEEN g.lo AND g.hi AND search_fts MATCH :match"
    " AND r.id = f.rowid AND r.evidence_id = g.evidence_id"
)
SNIPPETS_IN_SPAN = SNIPPETS.replace(
    " FROM search_rows AS r CROSS JOIN search_fts AS f WHERE r.id IN :rids AND f.rowid = r.id AND",
    " FROM search_fts AS f CROSS JOIN search_rows AS r WHERE f.rowid BETWEEN :low AND :high"
    " AND +f.rowid IN :rids AND r.id = f.rowid AND",
)
# These items' documents that match, with the matched words marked, listed per run of an
# item's documents of one source (as EXCLUDED_IN_RUNS).
MARKED_OF_ITEMS = (
    "SELECT f.rowid AS rid, highlight(search_fts, 0, char(2), '') AS title,"
    " highlight(search_fts, 1, char(2), '') AS keywords, highlight(search_fts, 2, char(2), '') AS body"
    " FROM (SELECT evidence_id, min(id) AS lo, max(id) AS hi FROM search_rows WHERE evidence_id IN :ids"
    " GROUP BY evidence_id, source) AS g"
    " CROSS JOIN search_fts AS f CROSS JOIN search_rows AS r"
    " WHERE f.rowid BETWEEN g.lo AND g.hi AND search_fts MATCH :match"
    " AND r.id = f.rowid AND r.evidence_id = g.evidence_id"
)
# The items a list picked (see ``_listed``): a temporary table of the connection.
PICK_CREATE = "CREATE TEMP TABLE IF NOT EXISTS search_pick (id VARCHAR(32) PRIMARY KEY) WITHOUT ROWID"
_PICK = table("search_pick", column("id", String), schema="temp")
# Probe results worth finding an item by (container, codecs and the device's own words).
MEDIA_KEYS = ("container", "device_make", "device_model", "device_serial", "software", "lens")


# The text windows of the items that exist, kept while the FTS5 table is made anew.
KEEP_WINDOWS = (
    "CREATE TEMP TABLE search_keep AS SELECT r.id, r.evidence_id, r.source, r.start_s, f.body, f.marks"
    " FROM search_rows AS r JOIN search_fts AS f ON f.rowid = r.id"
    " JOIN evidence AS e ON e.id = r.evidence_id WHERE r.source != :metadata"
)
KEEP_OLD_WINDOWS = KEEP_WINDOWS.replace("f.marks", "'' AS marks")  # a table made before marks

# An indexed document: (evidence id, source, start second, title, keywords, body, marks).
Doc = tuple[str, str, float | None, str, str, str, str]

# The FTS5 table, for SQL expressions (it is made by FTS_CREATE, not by the metadata).
_FTS = table(
    "search_fts",
    column("rowid", Integer),
    column("rank", Float),
    column("title", String),
    column("keywords", String),
    column("body", String),
    column("marks", String),
)


def mark_dirty(conn: Connection, *evidence_ids: str) -> None:
    """Note that these items' searchable fields changed in the connection's transaction."""
    conn.info.setdefault(DIRTY_KEY, set()).update(evidence_ids)


def take_dirty(conn: Connection) -> set[str]:
    """The items marked since the last call, forgetting them."""
    dirty: set[str] = conn.info.pop(DIRTY_KEY, set())
    return dirty


# -- compiling the query tree to FTS5 --------------------------------------------------------


def _quote(words: Iterable[str]) -> str:
    return '"' + " ".join(words).replace('"', '""') + '"'


def _leaf(expr: Word | Phrase) -> str | None:
    if isinstance(expr, Word):
        if not expr.text:
            return None
        return _quote([expr.text]) + ("*" if expr.prefix else "")
    words = [w for w in expr.words if w]
    return _quote(words) if words else None


def _compile(expr: Expr) -> tuple[bool, str] | None:
    """(positive, expression): documents matching it, or -- when not positive -- the
    documents *not* matching it. FTS5's NOT is binary, so a negation lives on as a flag
    until it meets a positive term. None for an expression with no words at all."""
    if isinstance(expr, Word | Phrase):
        leaf = _leaf(expr)
        return None if leaf is None else (True, leaf)
    if isinstance(expr, Not):
        inner = _compile(expr.item)
        return None if inner is None else (not inner[0], inner[1])
    parts = [p for p in (_compile(i) for i in expr.items) if p is not None]
    pos = [f"({s})" for positive, s in parts if positive]
    neg = [f"({s})" for positive, s in parts if not positive]
    if not parts:
        return None
    if isinstance(expr, And):
        if not pos:
            return False, " OR ".join(neg)  # not a and not b = not (a or b)
        body = " AND ".join(pos)
        return True, (f"({body}) NOT ({' OR '.join(neg)})" if neg else body)
    assert isinstance(expr, Or)
    if not neg:
        return True, " OR ".join(pos)
    body = " AND ".join(neg)  # a or not b or not c = not ((b and c) not a)
    return False, (f"({body}) NOT ({' OR '.join(pos)})" if pos else body)


def compile_match(expr: Expr | None) -> tuple[str | None, list[str]]:
    """The FTS5 expression the matching documents satisfy (None: every item), and the
    expressions of which any matching document excludes an item."""
    if expr is None:
        return None, []
    items = expr.items if isinstance(expr, And) else (expr,)
    positive: list[str] = []
    excluded: list[str] = []
    for item in items:
        part = _compile(item)
        if part is None:
            continue
        (positive if part[0] else excluded).append(f"({part[1]})")
    return (" AND ".join(positive) if positive else None), excluded


# -- documents --------------------------------------------------------------------------------


def _texts(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int | float):
        yield str(value)
    elif isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _texts(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _texts(v)


def _media_words(media: Any) -> list[str]:
    if not isinstance(media, dict):
        return []
    words = [str(media[k]) for k in MEDIA_KEYS if isinstance(media.get(k), str)]
    for stream in media.get("streams") or []:
        if isinstance(stream, dict) and isinstance(stream.get("codec"), str):
            words.append(stream["codec"])
    return words


def _load_json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


Window = tuple[float | None, str, str]  # (start second, words, marks)


def _windows(segments: Iterable[tuple[float | None, str]]) -> Iterator[Window]:
    """Consecutive segments joined into windows of about WINDOW_WORDS words. A window starts
    at its first segment's time; ``marks`` lists (word number, second) where each of its
    segments starts (JSON), so a match deep in a window still finds its own segment."""
    words: list[str] = []
    marks: list[tuple[int, float]] = []
    start: float | None = None

    def flush() -> Window:
        window = (start, " ".join(words), json.dumps(marks) if marks else "")
        words.clear()
        marks.clear()
        return window

    for at, chunk in segments:
        parts = chunk.split()
        while parts:
            if not words:
                start = at
            if at is not None:
                marks.append((len(words), at))
            room = max(WINDOW_WORDS - len(words), 1) if len(parts) > 2 * WINDOW_WORDS else len(parts)
            words.extend(parts[:room])
            parts = parts[room:]
            if len(words) >= WINDOW_WORDS:
                yield flush()
    if words:
        yield flush()


def _second_at(highlighted: str, marks: str, start: float | None) -> float | None:
    """The second the segment holding the first marked word of a window starts at."""
    cut = highlighted.find("\x02")
    if cut < 0 or not marks:
        return start
    before = highlighted[:cut]
    word = len(before.split()) - (1 if before and not before[-1].isspace() else 0)
    at = start
    for number, second in json.loads(marks):
        if number > word:
            break
        at = second
    return at


# -- the index ---------------------------------------------------------------------------------


class SqliteSearchIndex:
    """The ``SearchIndex`` port on SQLite FTS5, on the unit of work's connection; with an
    embedder, meaning search too (``search_vectors``)."""

    def __init__(self, conn: Connection, embedder: Embedder | None = None) -> None:
        self._conn = conn
        self._vectors = SearchVectors(conn, embedder)

    # writing

    def _delete(self, condition: ColumnElement[bool]) -> None:
        ids = select(search_rows.c.id).where(condition)
        # (Their vectors first: SQLite gives a deleted document's id to the next one.)
        self._vectors.take(list(self._conn.execute(ids).scalars()))
        self._conn.execute(delete(_FTS).where(_FTS.c.rowid.in_(ids)))
        self._conn.execute(delete(search_rows).where(condition))

    def _insert(self, rows: list[Doc]) -> None:
        """Insert (evidence id, source, start, title, keywords, body, marks) documents."""
        if not rows:
            return
        first = int(self._conn.execute(select(func.coalesce(func.max(search_rows.c.id), 0))).scalar_one()) + 1
        numbered = [(first + n, *row) for n, row in enumerate(rows)]
        self._conn.execute(
            insert(search_rows),
            [{"id": r[0], "evidence_id": r[1], "source": r[2], "start_s": r[3]} for r in numbered],
        )
        self._conn.execute(
            insert(_FTS),
            [{"rowid": r[0], "title": r[4], "keywords": r[5], "body": r[6], "marks": r[7]} for r in numbered],
        )

    def _documents(self, ids: list[str]) -> list[Doc]:
        """The metadata documents of these items (the ones that exist)."""
        if not ids:
            return []
        e = evidence.c
        rows = self._conn.execute(
            select(
                e.id,
                e.kind,
                e.title,
                e.description,
                e.captured_by,
                e.device_make,
                e.device_model,
                e.device_serial,
                e.category,
                e.custom_fields,
                e.media,
            ).where(e.id.in_(ids))
        ).all()
        tags: dict[str, list[str]] = {}
        r: Any
        for r in self._conn.execute(
            select(evidence_tags.c.evidence_id, evidence_tags.c.tag).where(
                evidence_tags.c.evidence_id.in_(ids)
            )
        ):
            tags.setdefault(r.evidence_id, []).append(r.tag)
        links: dict[str, list[str]] = {}
        for r in self._conn.execute(
            select(case_evidence.c.evidence_id, case_evidence.c.case_number).where(
                case_evidence.c.evidence_id.in_(ids)
            )
        ):
            links.setdefault(r.evidence_id, []).append(r.case_number)
        files: dict[str, str] = {
            r.evidence_id: r.filename
            for r in self._conn.execute(
                select(originals.c.evidence_id, originals.c.filename).where(originals.c.evidence_id.in_(ids))
            )
        }
        docs: list[Doc] = []
        for item in rows:
            r = item
            keywords = [
                r.id,
                r.kind,
                *sorted(tags.get(r.id, [])),
                *sorted(links.get(r.id, [])),
                r.category or "",
                r.captured_by or "",
                r.device_make or "",
                r.device_model or "",
                r.device_serial or "",
                files.get(r.id) or "",
            ]
            body = [
                r.description or "",
                *_texts(_load_json(r.custom_fields)),
                *_media_words(_load_json(r.media)),
            ]
            docs.append(
                (
                    r.id,
                    METADATA,
                    None,
                    r.title or "",
                    " ".join(k for k in keywords if k),
                    "\n".join(b for b in body if b),
                    "",
                )
            )
        return docs

    def refresh(self, evidence_ids: Iterable[str]) -> None:
        """Rebuild these items' metadata documents from the database, in its transaction, and
        the copies of their title and keywords that their text windows carry; an item that no
        longer exists loses all its documents."""
        ids = sorted(set(evidence_ids))
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            docs = self._documents(chunk)
            gone = sorted(set(chunk) - {d[0] for d in docs})
            if gone:
                self._delete(search_rows.c.evidence_id.in_(gone))
            self._delete(and_(search_rows.c.evidence_id.in_(chunk), search_rows.c.source == METADATA))
            self._insert(docs)
            windows = self._conn.execute(
                select(search_rows.c.id, search_rows.c.evidence_id).where(
                    search_rows.c.evidence_id.in_(chunk), search_rows.c.source != METADATA
                )
            ).all()
            if windows:
                by_id = {d[0]: d for d in docs}
                self._conn.execute(
                    _FTS.update()
                    .where(_FTS.c.rowid == bindparam("rid"))
                    .values(title=bindparam("t"), keywords=bindparam("k")),
                    [
                        {"rid": w.id, "t": by_id[w.evidence_id][3], "k": by_id[w.evidence_id][4]}
                        for w in windows
                    ],
                )
            self._vectors.fill(chunk)

    def add_text(self, evidence_id: str, source: str, segments: Iterable[tuple[float | None, str]]) -> None:
        """Index a text derivative (replacing an earlier one of the same source). Each window
        carries the item's title and keywords too, so the words of a query may be found some in
        the item's metadata and some in what was said."""
        if source == METADATA:
            raise ValueError("the metadata document is built from the item itself")
        self._delete(and_(search_rows.c.evidence_id == evidence_id, search_rows.c.source == source))
        docs = self._documents([evidence_id])
        title, keywords = (docs[0][3], docs[0][4]) if docs else ("", "")
        self._insert(
            [
                (evidence_id, source, at, title, keywords, body, marks)
                for at, body, marks in _windows(segments)
            ]
        )
        self._vectors.fill([evidence_id])

    def rebuild_all(self) -> int:
        """Rebuild the index from the database: the FTS5 table is made anew (which also
        recovers from a damaged one) from the text derivatives' stored windows and every
        item's metadata document, an item's documents side by side; documents of items that
        no longer exist are dropped; every meaning vector is computed anew (when meaning
        search is on). Returns how many items it holds."""
        self._vectors.clear()
        self._conn.execute(text("DROP TABLE IF EXISTS temp.search_keep"))
        self._conn.execute(text(FTS_CREATE))  # (for a table lost altogether)
        # A table made by an earlier layout has no marks: its windows keep their start only.
        columns = {r[1] for r in self._conn.execute(text("PRAGMA table_xinfo(search_fts)"))}
        self._conn.execute(
            text(KEEP_WINDOWS if "marks" in columns else KEEP_OLD_WINDOWS), {"metadata": METADATA}
        )
        self._conn.execute(text("CREATE INDEX temp.ix_search_keep ON search_keep (evidence_id, id)"))
        self._conn.execute(text("DROP TABLE search_fts"))
        self._conn.execute(text(FTS_CREATE))
        self._conn.execute(text(FTS_RANK))
        self._conn.execute(delete(search_rows))
        keep = table(
            "search_keep",
            column("id"),
            column("evidence_id"),
            column("source"),
            column("start_s"),
            column("body"),
            column("marks"),
            schema="temp",
        )
        count = 0
        last = ""
        while True:
            ids = list(
                self._conn.execute(
                    select(evidence.c.id).where(evidence.c.id > last).order_by(evidence.c.id).limit(2000)
                ).scalars()
            )
            if not ids:
                break
            windows: dict[str, list[Any]] = {}
            for w in self._conn.execute(
                select(keep).where(keep.c.evidence_id.in_(ids)).order_by(keep.c.evidence_id, keep.c.id)
            ):
                windows.setdefault(w.evidence_id, []).append(w)
            rows: list[Doc] = []
            for doc in self._documents(ids):
                rows.append(doc)
                rows.extend(
                    (doc[0], w.source, w.start_s, doc[3], doc[4], w.body, w.marks or "")
                    for w in windows.get(doc[0], [])
                )
            self._insert(rows)
            self._vectors.fill(ids)
            count += len(ids)
            last = ids[-1]
        self._conn.execute(text("DROP TABLE temp.search_keep"))
        self._conn.execute(text("INSERT INTO search_fts(search_fts) VALUES ('optimize')"))
        return count

    def fill_vectors(self, evidence_ids: Iterable[str]) -> None:
        self._vectors.fill(evidence_ids)

    def lacking_vectors(self, after: int, limit: int) -> tuple[list[str], int | None]:
        return self._vectors.lacking(after, limit)

    # reading

    def search(
        self, query: SearchQuery, scope: Visibility, *, limit: int, offset: int, facets: bool
    ) -> SearchResult:
        """The page, the total and the facet counts over the visible matching items.

        A text match is first cut down to candidate documents, then each candidate item is
        checked against the access rule and the filters (every hit, count and facet comes from
        checked items only), then sorted by relevance (bm25) or date:
        - a match of at most MATCH_WINDOW documents: all of them (exact);
        - a broader one, when the scope or a filter reaches only a few items (an officer's
          own, a case, an area): those items' documents that match (exact);
        - otherwise the newest MATCH_WINDOW matching documents: the total is then a lower
          bound (``total_exact`` false) and the facets count those candidates.
        Without text: the items a narrow scope or filter reaches (exact), or else the newest
        LIST_WINDOW items (of the capture range, when one is given), checked the same way.
        By meaning (unless ``match:words``): the newest MEANING_WINDOW documents of the items
        passing the same checks, compared with the query's words; the two rankings fused.
        """
        match, excluded = compile_match(query.text)
        words = positive_words(query.text)
        meaning = _meaning_wanted(query, self._vectors.embedder, words)
        if query.match is SearchMatch.MEANING:
            match = None  # the words need not be there
        sort = query.sort
        if match is None and not meaning and sort is SearchSort.RELEVANCE:
            sort = SearchSort.NEWEST  # nothing to rank: a filtered list, newest first
        # Checked on given candidate items, the filters first (SQLite checks them in this
        # order, and they are the cheaper).
        checks = [*_filters(query.filters, plain=True), evidence_visible(scope)]
        # Supersets of the answer that indexes find quickly: the items a narrow scope can
        # reach, and the selective filters. Used only when small; the exact rules still apply.
        reachable = _reachable(scope)
        if (
            scope.unit_scope
            and scope.unit
            and not self._small(select(evidence.c.id).where(evidence.c.unit == scope.unit))
        ):
            reachable = None  # a large unit: not worth gathering everything it holds
        drivers = [d for d in (reachable, *_filter_drivers(query.filters)) if d is not None]
        # The small ones, and the items each reaches (read once, for a text match to start from).
        reached = [(d, self._ids_if_small(d)) for d in drivers]
        narrow = [d for d, ids in reached if ids is not None]
        narrow_ids = [ids for _, ids in reached if ids is not None]
        carried: list[Any] = [evidence.c.id, evidence.c.created_at, evidence.c.captured_at]
        if facets:
            carried += [
                evidence.c.kind,
                evidence.c.category,
                evidence.c.captured_by,
                evidence.c.device_serial,
                evidence.c.status,
                _level().label("level"),
            ]
        complete = True
        items: list[Any]
        qv = None
        if meaning:
            # The same checks, the negations too, in the statement that reads the vectors.
            where = [
                *checks,
                *(evidence.c.id.not_in(_items_matching(x)) for x in excluded),
                *(evidence.c.id.in_(d) for d in narrow),
            ]
            qv = self._vectors.query_vector(words)
            near, complete = self._vectors.nearest(qv, where)
            found_words = self._word_items(match, excluded, narrow, narrow_ids, carried, checks)
            complete = complete and found_words[1]

            def load(ids: list[str]) -> list[Any]:
                return self._rows(ids, carried, checks)

            items = _combine(found_words[0], near, load, query.match)
            _sort(items, sort)
        elif match is not None:
            # The newest matching documents (MATCH_WINDOW, or those of a narrow scope's items),
            # each item once with its best document: the checks run per item, not per document.
            items, complete = self._word_items(match, excluded, narrow, narrow_ids, carried, checks)
            _sort(items, sort)
        elif narrow:
            # Negations alone exclude the items they match, as they do beside words.
            checks += [evidence.c.id.not_in(_items_matching(x)) for x in excluded]
            return self._listed(
                [*(evidence.c.id.in_(d) for d in narrow), *checks],
                sort,
                limit=limit,
                offset=offset,
                facets=facets,
                complete=True,
            )
        else:
            # The newest (oldest) LIST_WINDOW items -- of the capture range when there is one,
            # through its index -- are the candidates; the filters and the access rule are
            # checked on those, all in SQL. All of them when the window is not full.
            f = query.filters
            dated = f.captured_from is not None or f.captured_to is not None or sort is SearchSort.CAPTURED
            walk = evidence.c.captured_at if dated else evidence.c.created_at
            in_range = []
            if f.captured_from is not None:
                in_range.append(evidence.c.captured_at >= f.captured_from)
            if f.captured_to is not None:
                in_range.append(evidence.c.captured_at <= f.captured_to)
            newest = select(evidence.c.id).where(*in_range)
            newest = newest.order_by(walk.asc() if sort is SearchSort.OLDEST else walk.desc())
            beyond = self._conn.execute(newest.offset(LIST_WINDOW).limit(1)).first()
            checks += [evidence.c.id.not_in(_items_matching(x)) for x in excluded]
            return self._listed(
                [evidence.c.id.in_(newest.limit(LIST_WINDOW).scalar_subquery()), *checks],
                sort,
                limit=limit,
                offset=offset,
                facets=facets,
                complete=beyond is None,
            )
        return SearchResult(
            hits=self._hits(items[offset : offset + limit], match, qv),
            total=len(items),
            facets=self._facets(items) if facets else {},
            total_exact=complete,
        )

    def _rows(self, ids: list[str], carried: list[Any], checks: list[ColumnElement[bool]]) -> list[Any]:
        out: list[Any] = []
        for start in range(0, len(ids), 5000):
            stmt = select(*carried).where(evidence.c.id.in_(ids[start : start + 5000]), *checks)
            out += list(self._conn.execute(stmt))
        return out

    def _word_items(
        self,
        match: str | None,
        excluded: list[str],
        narrow: list[Any],
        narrow_ids: list[set[str]],
        carried: list[Any],
        checks: list[ColumnElement[bool]],
    ) -> tuple[list[_Item], bool]:
        """The visible items matching the words, ranked (bm25), and whether that is all of
        them: the full-text candidates as ``search`` finds them."""
        if match is None:
            return [], True
        # The newest documents, one more than the window: all of them when it is not full.
        # A document holding an excluded word is no candidate (its item is excluded too).
        strict = f"({match}) NOT ({' OR '.join(excluded)})" if excluded else match
        found = self._conn.execute(text(NEWEST_MATCHING), {"match": strict, "window": MATCH_WINDOW + 1}).all()
        complete = True
        if len(found) > MATCH_WINDOW:
            if narrow:
                found = self._matching_of(sorted(set.intersection(*narrow_ids)), strict)
            else:
                found = found[:MATCH_WINDOW]
                complete = False
        score = {int(r.rid): float(r.score) for r in found}
        best: dict[str, int] = {}
        rids = sorted(score)
        for start in range(0, len(rids), 5000):
            owners = select(search_rows.c.id, search_rows.c.evidence_id).where(
                search_rows.c.id.in_(rids[start : start + 5000])
            )
            for rid, eid in self._conn.execute(owners):
                if eid not in best or score[rid] < score[best[eid]]:
                    best[eid] = rid
        gone = self._excluded(sorted(best), excluded)
        rows = self._rows(sorted(set(best) - gone), carried, checks)
        items = [_Item(row, score[best[row.id]], best[row.id]) for row in rows]
        _sort(items, SearchSort.RELEVANCE)
        return items, complete

    def _listed(
        self,
        where: list[ColumnElement[bool]],
        sort: SearchSort,
        *,
        limit: int,
        offset: int,
        facets: bool,
        complete: bool,
    ) -> SearchResult:
        """A list without text, counted, ordered, paged and faceted by the database itself:
        nothing but the page's ids comes back to Python."""
        e = evidence.c
        if sort is SearchSort.OLDEST:
            order = [e.created_at.asc(), e.id.asc()]
        elif sort is SearchSort.CAPTURED:
            order = [
                e.captured_at.is_(None).asc(),
                func.coalesce(e.captured_at, e.created_at).desc(),
                e.id.desc(),
            ]
        else:
            order = [e.created_at.desc(), e.id.desc()]
        # The items are picked once (access rule, filters) into a temporary table of this
        # connection; the count, the page and the facet counts read that.
        self._conn.execute(text(PICK_CREATE))
        self._conn.execute(text("DELETE FROM temp.search_pick"))
        self._conn.execute(insert(_PICK).from_select(["id"], select(e.id).where(*where)))
        picked = [e.id.in_(select(_PICK.c.id))]
        total = int(self._conn.execute(select(func.count()).select_from(_PICK)).scalar_one())
        page = self._conn.execute(
            select(e.id).where(*picked).order_by(*order).limit(limit).offset(offset)
        ).all()
        rows = [_Item(r, 0.0) for r in self._conn.execute(
            select(e.id, e.created_at, e.captured_at).where(e.id.in_([r.id for r in page]))
        )]  # fmt: skip
        by_id = {r.id: r for r in rows}
        return SearchResult(
            hits=self._hits([by_id[r.id] for r in page if r.id in by_id], None),
            total=total,
            facets=self._counted_facets(picked) if facets else {},
            total_exact=complete,
        )

    def _counted_facets(self, where: Sequence[ColumnElement[bool]]) -> dict[str, list[FacetCount]]:
        """The FACET_TOP most frequent values of each facet over the items ``where`` picks,
        counted in one statement."""
        e = evidence.c
        checked = (
            select(
                e.id, e.kind, e.category, e.captured_by, e.device_serial, e.status, _level().label("level")
            )
            .where(*where)
            .cte("checked")
        )
        c = checked.c
        parts = [
            select(literal(name).label("facet"), col.label("value"), func.count().label("n"))
            .where(col.is_not(None))
            .group_by(col)
            for name, col in (
                ("kind", c.kind),
                ("category", c.category),
                ("officer", c.captured_by),
                ("device", c.device_serial),
                ("state", c.status),
                ("restriction", c.level),
            )
        ]
        for name, link, value in (
            ("case", case_evidence, case_evidence.c.case_number),
            ("tag", evidence_tags, evidence_tags.c.tag),
        ):
            parts.append(
                select(literal(name).label("facet"), value.label("value"), func.count().label("n"))
                .where(link.c.evidence_id.in_(select(c.id)))
                .group_by(value)
            )
        grouped = union(*parts).subquery()
        ranked = select(
            grouped.c.facet,
            grouped.c.value,
            grouped.c.n,
            func.row_number()
            .over(partition_by=grouped.c.facet, order_by=[grouped.c.n.desc(), grouped.c.value])
            .label("place"),
        ).subquery()
        out: dict[str, list[FacetCount]] = {name: [] for name in FACET_FIELDS}
        for facet, value, n, _ in self._conn.execute(
            select(ranked).where(ranked.c.place <= FACET_TOP).order_by(ranked.c.facet, ranked.c.place)
        ):
            out[facet].append(FacetCount(value=str(value), count=int(n)))
        return out

    def _matching_of(self, ids: list[str], match: str) -> list[Any]:
        """(rid, score) of these items' documents that match. FTS5 cannot give bm25 here (it
        would count each word's documents again for every lookup), so the score weighs the
        marked words by column as bm25 does (title 10, keywords 4, body 1), without rarity."""
        query = text(MARKED_OF_ITEMS).bindparams(bindparam("ids", ids, expanding=True))
        out = []
        for start in range(0, len(ids), 5000):
            for r in self._conn.execute(query, {"match": match, "ids": ids[start : start + 5000]}):
                weight = 10 * r.title.count("\x02") + 4 * r.keywords.count("\x02") + r.body.count("\x02")
                out.append(_Found(int(r.rid), -float(weight)))
        return out

    def _excluded(self, ids: list[str], expressions: list[str]) -> set[str]:
        """Of these items, the ones with a document matching any of these expressions. An
        item's documents of one source lie side by side, so FTS5 lists the matches within
        each such run of rowids (a seek in each word's list) rather than evaluating the
        expression once per document; the owner is checked, so a run that spans another
        item's documents costs time, never a wrong answer."""
        gone: set[str] = set()
        query = text(EXCLUDED_IN_RUNS).bindparams(bindparam("ids", expanding=True))
        for expression in expressions:
            for start in range(0, len(ids), 5000):
                chunk = ids[start : start + 5000]
                gone.update(self._conn.execute(query, {"match": expression, "ids": chunk}).scalars())
        return gone

    def _small(self, items: Select[Any]) -> bool:
        """Whether a set of items is small enough to start a search from."""
        counted = select(func.count()).select_from(items.limit(NARROW_ITEMS + 1).subquery())
        return int(self._conn.execute(counted).scalar_one()) <= NARROW_ITEMS

    def _ids_if_small(self, items: Select[Any]) -> set[str] | None:
        """The items of a set small enough to start a search from; None for a larger one."""
        ids = set(self._conn.execute(items.limit(NARROW_ITEMS + 1)).scalars())
        return ids if len(ids) <= NARROW_ITEMS else None

    def _facets(self, items: list[Any]) -> dict[str, list[FacetCount]]:
        """The FACET_TOP most frequent values of each facet over these items."""
        counts: dict[str, Counter[str]] = {name: Counter() for name in FACET_FIELDS}
        columns = {
            "kind": "kind",
            "category": "category",
            "officer": "captured_by",
            "device": "device_serial",
            "state": "status",
            "restriction": "level",
        }
        for row in items:
            for name, attr in columns.items():
                value = getattr(row, attr)
                if value is not None:
                    counts[name][str(value)] += 1
        ids = [row.id for row in items]
        for name, link, value in (
            ("case", case_evidence, case_evidence.c.case_number),
            ("tag", evidence_tags, evidence_tags.c.tag),
        ):
            for start in range(0, len(ids), 5000):
                query = (
                    select(value, func.count())
                    .where(link.c.evidence_id.in_(ids[start : start + 5000]))
                    .group_by(value)
                )
                for v, n in self._conn.execute(query):
                    counts[name][str(v)] += int(n)
        return {
            name: [
                FacetCount(value=v, count=n)
                for v, n in sorted(c.items(), key=lambda vn: (-vn[1], vn[0]))[:FACET_TOP]
            ]
            for name, c in counts.items()
        }

    def _hits(self, rows: list[Any], match: str | None, qv: Any = None) -> list[Hit]:
        """The page's hits with their snippets. An item's best document is where its snippet
        comes from -- unless that is a text window whose own words do not match (only the
        title and keywords it carries do): then the metadata document speaks for the item, so
        a match in the metadata never claims a moment of a recording. An item no word of
        which matched shows its passage closest in meaning (``qv``: the query's vector)."""
        picked: dict[str, Any] = {}
        if match is not None:
            best = {r.id: int(r.rid) for r in rows if r.rid is not None}
            found = self._snippets(list(best.values()), match)
            for eid, rid in best.items():
                if rid in found:
                    picked[eid] = found[rid]
            stray = [eid for eid, doc in picked.items() if not _speaks(doc)]
            if stray:
                own = self._conn.execute(
                    select(search_rows.c.evidence_id, search_rows.c.id).where(
                        search_rows.c.evidence_id.in_(stray), search_rows.c.source == METADATA
                    )
                ).all()
                found = self._snippets([int(o.id) for o in own], match)
                for o in own:
                    picked[o.evidence_id] = found.get(int(o.id))
            picked = {eid: doc for eid, doc in picked.items() if doc is not None and _speaks(doc)}
        passages = _passages(self._vectors, rows, picked, qv)
        titles: dict[str, str] = {}
        hits = []
        plain = [r.id for r in rows if r.id not in picked and r.id not in passages]
        if plain:
            titles = dict(
                self._conn.execute(
                    select(evidence.c.id, evidence.c.title).where(evidence.c.id.in_(plain))
                ).all()
            )
        for r in rows:
            doc = picked.get(r.id)
            score = -float(r.score) if r.score else 0.0  # bm25: lower is better
            passage = passages.get(r.id)
            if doc is None and passage is not None:
                hits.append(Hit(r.id, score, passage.snippet, passage.source, passage.at, by_meaning=True))
            elif doc is None:
                hits.append(Hit(r.id, score, titles.get(r.id) or "", METADATA, None))
            elif doc.source == METADATA:
                hits.append(Hit(r.id, score, doc.snip or "", METADATA, None))
            else:
                at = _second_at(doc.body or "", doc.marks or "", doc.start_s)
                hits.append(Hit(r.id, score, doc.body_snip or "", doc.source, at))
        return hits

    def _snippets(self, rids: list[int], match: str) -> dict[int, Any]:
        """Of these documents, the ones matching, with their snippets and marked body."""
        if not rids:
            return {}
        if "*" in match:
            # A prefix is expanded anew for every document looked up: read the span once.
            query = text(SNIPPETS_IN_SPAN).bindparams(
                bindparam("rids", rids, expanding=True), match=match, low=min(rids), high=max(rids)
            )
        else:
            query = text(SNIPPETS).bindparams(bindparam("rids", rids, expanding=True), match=match)
        return {int(r.rowid): r for r in self._conn.execute(query)}


class _Found(NamedTuple):
    rid: int
    score: float


class _Item:
    """A visible matching item: its row (id, dates, facet values, best document) and score."""

    __slots__ = ("captured_at", "created_at", "id", "near", "rid", "row", "score")

    def __init__(self, row: Any, score: float, rid: int | None = None, near: Near | None = None) -> None:
        self.row, self.score, self.rid, self.near = row, score, rid, near
        self.id, self.created_at, self.captured_at = row.id, row.created_at, row.captured_at

    def __getattr__(self, name: str) -> Any:
        return getattr(self.row, name)


def _sort(items: list[_Item], sort: SearchSort) -> None:
    """In the order asked for (ties: newest first), like the SQL orders."""
    if sort is SearchSort.OLDEST:
        items.sort(key=lambda i: (i.created_at, i.id))
        return
    if sort is SearchSort.CAPTURED:
        items.sort(
            key=lambda i: (i.captured_at is not None, i.captured_at or i.created_at, i.id), reverse=True
        )
        return
    items.sort(key=lambda i: (i.created_at, i.id), reverse=True)
    if sort is SearchSort.RELEVANCE:
        items.sort(key=lambda i: i.score)  # stable: equal scores stay newest first


def _meaning_wanted(query: SearchQuery, embedder: Embedder | None, words: list[str]) -> bool:
    """Whether this query is compared by meaning; ``match:meaning`` where meaning search is
    off is a clear error rather than a silent words-only search."""
    if query.match is SearchMatch.MEANING and embedder is None:
        raise Invalid(
            "meaning search is turned off on this server (setting OPENDEMS_MEANING_SEARCH); "
            "search with match:words or leave match: out"
        )
    return wanted(query.match, embedder, words)


def _combine(words: list[_Item], near: list[Near], load: Any, match: SearchMatch) -> list[_Item]:
    """The items found by words (ranked) and by meaning (ranked), each once. By meaning
    alone: scored by similarity. Both: by reciprocal rank fusion of the two ranks. The
    score is kept negated, lower first, as bm25 is."""
    by_meaning = {n.evidence_id: n for n in near}
    if match is SearchMatch.MEANING:
        rows = {row.id: row for row in load([n.evidence_id for n in near])}
        return [_Item(rows[n.evidence_id], -n.similarity, None, n) for n in near if n.evidence_id in rows]
    fused = fuse([i.id for i in words], near)
    items = []
    for i in words:
        n = by_meaning.get(i.id)
        items.append(_Item(i.row, -fused[i.id], i.rid, n))
    known = {i.id for i in words}
    rest = [n.evidence_id for n in near if n.evidence_id not in known]
    for row in load(rest):
        n = by_meaning[row.id]
        items.append(_Item(row, -fused[row.id], None, n))
    return items


def _passages(vectors: SearchVectors, rows: list[Any], picked: dict[str, Any], qv: Any) -> dict[str, Passage]:
    """The passages closest in meaning of the page's items that no word of the query found."""
    if qv is None:
        return {}
    chosen: dict[str, Near] = {
        r.id: r.near for r in rows if r.id not in picked and getattr(r, "near", None) is not None
    }
    found = vectors.passages(list(chosen.values()))
    return {eid: found[n.doc_id] for eid, n in chosen.items() if n.doc_id in found}


def _speaks(doc: Any) -> bool:
    """The document's own words match: it is the metadata, or a window whose text matches."""
    return bool(doc.source == METADATA or "\x02" in (doc.body or ""))


def _level() -> ColumnElement[str]:
    """An item's effective level: its own, or that of the strictest case holding it."""
    in_case = exists().where(
        case_evidence.c.evidence_id == evidence.c.id, case_evidence.c.case_number == cases.c.number
    )
    return case(
        (or_(evidence.c.restriction == "sealed", in_case.where(cases.c.restriction == "sealed")), "sealed"),
        (
            or_(evidence.c.restriction == "restricted", in_case.where(cases.c.restriction == "restricted")),
            "restricted",
        ),
        else_="normal",
    )


def _items_matching(expression: str) -> Select[Any]:
    """The items with a document matching an FTS5 expression."""
    return select(search_rows.c.evidence_id).where(
        search_rows.c.id.in_(select(_FTS.c.rowid).where(_matches(expression)))
    )


class NoSearchIndex:
    """Where no full-text index exists yet (PostgreSQL until its backend lands): writes are
    no-ops and a search says so plainly."""

    def refresh(self, evidence_ids: Iterable[str]) -> None:
        return None

    def add_text(self, evidence_id: str, source: str, segments: Iterable[tuple[float | None, str]]) -> None:
        return None

    def search(
        self, query: SearchQuery, scope: Visibility, *, limit: int, offset: int, facets: bool
    ) -> SearchResult:
        raise Invalid("full-text search is not available on this database yet")

    def rebuild_all(self) -> int:
        return 0

    def fill_vectors(self, evidence_ids: Iterable[str]) -> None:
        return None

    def lacking_vectors(self, after: int, limit: int) -> tuple[list[str], int | None]:
        return [], None


# -- filters ----


def _matches(expression: str) -> ColumnElement[bool]:
    return literal_column("search_fts").op("MATCH")(literal(expression, String))


def _reachable(scope: Visibility) -> Select[Any] | None:
    """A superset of the items ``scope`` sees, found through indexes, for the scopes that see
    only some of the agency's items (their own, their unit's, their cases'); None for the
    scopes that reach every item of some level."""
    if scope.agency or scope.restricted_all or scope.sealed_all:
        return None
    me = scope.user_id
    parts = [
        select(evidence.c.id).where(evidence.c.created_by == me),
        select(evidence.c.id).where(func.lower(evidence.c.captured_by) == scope.username),
        select(memberships.c.object_id).where(
            memberships.c.object_type == "evidence", memberships.c.user_id == me
        ),
        select(case_evidence.c.evidence_id).join(
            memberships,
            and_(
                memberships.c.object_type == "case",
                memberships.c.object_id == case_evidence.c.case_number,
                memberships.c.user_id == me,
            ),
        ),
    ]
    if scope.unit_scope and scope.unit:
        parts.append(select(evidence.c.id).where(evidence.c.unit == scope.unit))
    return select(union(*parts).subquery("reachable").c[0])


def _filter_drivers(f: SearchFilters) -> list[Select[Any] | None]:
    """Supersets of the items the selective filters keep, found through indexes."""
    drivers: list[Select[Any] | None] = []
    if f.cases:
        numbers = select(cases.c.number).where(
            func.upper(cases.c.number).in_(sorted({c.upper() for c in f.cases}))
        )
        drivers.append(select(case_evidence.c.evidence_id).where(case_evidence.c.case_number.in_(numbers)))
    if f.officers:
        drivers.append(select(evidence.c.id).where(_lower_in(evidence.c.captured_by, f.officers)))
    if f.near is not None:  # the bounding box of the circle, through the location index
        drivers.append(select(evidence.c.id).where(*_near(f.near.lat, f.near.lon, f.near.radius_m)[:-1]))
    if f.box is not None:
        drivers.append(select(evidence.c.id).where(*_box(f.box)))
    return drivers


# -- the structured filters --------------------------------------------------------------------


def _sealed_of(e: Any) -> ColumnElement[bool]:
    return or_(
        e.c.restriction == "sealed",
        exists().where(
            case_evidence.c.evidence_id == e.c.id,
            case_evidence.c.case_number == cases.c.number,
            cases.c.restriction == "sealed",
        ),
    )


def _restricted_of(e: Any) -> ColumnElement[bool]:
    return or_(
        e.c.restriction == "restricted",
        exists().where(
            case_evidence.c.evidence_id == e.c.id,
            case_evidence.c.case_number == cases.c.number,
            cases.c.restriction == "restricted",
        ),
    )


def _lower_in(column: Any, values: tuple[str, ...]) -> ColumnElement[bool]:
    return func.lower(column).in_(sorted({v.lower() for v in values}))


class _Columns:
    """``evidence``'s columns, or -- plain -- the same behind a unary + that keeps SQLite from
    choosing their index (without statistics it takes any equality on an index for selective)."""

    def __init__(self, plain: bool) -> None:
        self._plain = plain

    def __getattr__(self, name: str) -> Any:
        column = evidence.c[name]
        if not self._plain:
            return column
        return literal_column(f"+evidence.{name}", type_=column.type)


def _filters(f: SearchFilters, *, plain: bool = False) -> list[ColumnElement[bool]]:
    """The WHERE conditions on ``evidence`` for the structured filters; ``plain``: in a form
    no index serves (for checking a given set of items, which SQLite should look up by id)."""
    e = _Columns(plain)
    conds: list[ColumnElement[bool]] = []
    if f.kinds:
        conds.append(e.kind.in_(sorted({k.value for k in f.kinds})))
    if f.officers:
        conds.append(_lower_in(e.captured_by, f.officers))
    if f.devices:
        conds.append(_lower_in(e.device_serial, f.devices))
    if f.categories:
        conds.append(_lower_in(e.category, f.categories))
    if f.cases:
        conds.append(
            exists().where(
                case_evidence.c.evidence_id == evidence.c.id,
                func.upper(case_evidence.c.case_number).in_(sorted({c.upper() for c in f.cases})),
            )
        )  # case numbers are compared without regard to case, like the words
    for tag in dict.fromkeys(t.lower() for t in f.tags):
        conds.append(
            exists().where(
                evidence_tags.c.evidence_id == evidence.c.id, func.lower(evidence_tags.c.tag) == tag
            )
        )
    if f.restrictions:
        sealed = evidence_sealed()
        restricted = _restricted_of(evidence)
        levels = {r.value for r in f.restrictions}
        options = []
        if "sealed" in levels:
            options.append(sealed)
        if "restricted" in levels:
            options.append(and_(~sealed, restricted))
        if "normal" in levels:
            options.append(and_(~sealed, ~restricted))
        conds.append(or_(*options) if options else false())
    if f.states:
        conds.append(e.status.in_(sorted({s.value for s in f.states})))
    if f.captured_from is not None:
        conds.append(e.captured_at >= f.captured_from)
    if f.captured_to is not None:
        conds.append(e.captured_at <= f.captured_to)
    if f.near is not None:
        conds.extend(_near(f.near.lat, f.near.lon, f.near.radius_m, plain=plain))
    if f.box is not None:
        conds.extend(_box(f.box, plain=plain))
    return conds


def _box(b: GeoBox, *, plain: bool = False) -> list[ColumnElement[bool]]:
    e = _Columns(plain)
    conds: list[ColumnElement[bool]] = [e.latitude.between(b.south, b.north)]
    if b.west <= b.east:
        conds.append(e.longitude.between(b.west, b.east))
    else:  # across the 180th meridian
        conds.append(or_(e.longitude >= b.west, e.longitude <= b.east))
    return conds


def _near(lat: float, lon: float, radius_m: float, *, plain: bool = False) -> list[ColumnElement[bool]]:
    """A bounding box the index can use, then the exact great-circle (haversine) distance."""
    e = _Columns(plain)
    dlat = math.degrees(radius_m / EARTH_RADIUS_M)
    conds: list[ColumnElement[bool]] = [e.latitude.between(lat - dlat, lat + dlat)]
    cos_lat = math.cos(math.radians(min(89.999, abs(lat) + dlat)))
    dlon = dlat / cos_lat if cos_lat > 1e-9 else 360.0
    if dlon < 180:
        west, east = lon - dlon, lon + dlon
        if west < -180:
            conds.append(or_(e.longitude >= west + 360, e.longitude <= east))
        elif east > 180:
            conds.append(or_(e.longitude >= west, e.longitude <= east - 360))
        else:
            conds.append(e.longitude.between(west, east))
    phi1 = math.radians(lat)
    phi2 = func.radians(e.latitude)
    half_dphi = (phi2 - phi1) / 2
    half_dlmb = (func.radians(e.longitude) - math.radians(lon)) / 2
    a = func.pow(func.sin(half_dphi), 2) + math.cos(phi1) * func.cos(phi2) * func.pow(func.sin(half_dlmb), 2)
    conds.append(2 * EARTH_RADIUS_M * func.asin(func.min(1.0, func.sqrt(a))) <= radius_m)
    return conds


__all__ = [
    "FTS_CREATE",
    "FTS_RANK",
    "NoSearchIndex",
    "SqliteSearchIndex",
    "compile_match",
    "mark_dirty",
    "take_dirty",
]
