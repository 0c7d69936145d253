"""The search index on PostgreSQL: full-text search over every item's metadata and text
derivatives, behind the same ``SearchIndex`` port and with the same behaviour as the SQLite
index (``search_repo``, whose docstring states the semantics this module keeps).

Layout. ``search_docs`` (migration 0007) holds one row per indexed document -- an item's
metadata, or a window of about WINDOW_WORDS words of a text derivative with the second it
starts at and ``marks`` for where each of its segments starts -- with the same title,
keywords and body as SQLite's FTS5 table (a window carries its item's title and keywords),
and ``document``: a tsvector of the three, title weighted A, keywords B, body C, under a GIN
index. ``ts_rank`` weighs them 1.0 : 0.4 : 0.1 -- SQLite's bm25 weights 10 : 4 : 1 -- and
divides by 1 + log(length), so a short metadata document outranks the long windows carrying
the same title (bm25's length normalisation does that on SQLite). ``search_rows`` is not
used on PostgreSQL. Filters and access control are not in the index: candidate items are
checked against ``evidence_visible`` and the filters, exactly as on SQLite.

Words. Before PostgreSQL sees any text, it is cut into words exactly as the query parser cuts
a query (``words_of``: NFKC, case-folded, runs of word characters) and stripped of accents
(as FTS5's ``remove_diacritics``): so EV-2026-000123 is the words "ev 2026 000123" on both
sides (PostgreSQL's own parser would index "-2026" as a signed number), and "cafe" finds
"Café". The words are stemmed in the application's own configuration ``opendems``: English
Snowball stemming that keeps every word, stop words included -- like SQLite's porter
tokenizer -- so "the" alone, an officer named Will or May, and a phrase such as "hands up"
are found as written. A prefix matches the stems that begin with the stem of what was typed
(``burg*``: ``'burg':*``), a phrase is ``<->``. The parts of a document are kept a few
positions apart, so no phrase runs from a title into the keywords.

Queries are compiled from the parsed tree, never from the user's text: each word or phrase
goes to ``phraseto_tsquery`` (or ``to_tsquery`` for a prefix, over a string of word
characters only) as a bound parameter, PostgreSQL returns each one as tsquery text, and those
are joined with ``&``, ``|`` and ``!`` following the tree (the same top-level split as SQLite:
negations at the top exclude an item when any of its documents matches). The result is
passed back as a bound parameter. A word that leaves no lexeme (one that is only
punctuation to PostgreSQL, such as "_") drops out of the query as an empty word
does on SQLite; a query of nothing else matches as a query without text.

Snippets. ``ts_headline`` marks the query's words (\\x02 ... \\x03) in each part of the page's
documents -- given the text as the index reads it, character for character (what is no word
character a space, accents dropped; its parser would otherwise drop what looks like an HTML
tag and read "witness.pdf" as one file name), the marks then put in the original text. The
snippet is cut from that in Python as FTS5 cuts one (about SNIPPET_TOKENS words around the
most varied matches, "…" where the text goes on). A transcript hit's second is
found as on SQLite, from where the first match lies in its window; for a query with a phrase,
where ts_headline's cover mode finds the phrase whole (its "highlight all" mode marks every
word of a phrase wherever it stands).

Bounded work, as on SQLite (so the same tests hold on both): a text match takes the newest
MATCH_WINDOW + 1 matching documents (the GIN index, or the primary key walked backwards,
whichever the planner deems cheaper); when that fills, the items a narrow scope or filter
reaches are searched exactly, or else the newest MATCH_WINDOW documents are the candidates and
``total_exact`` is false. A list without text takes the newest LIST_WINDOW items. The windows
are read from ``search_repo`` at each search, so one setting governs both backends. Counting
every visible match exactly would need the access rule evaluated for every matching item --
on PostgreSQL that is feasible for tens of thousands of matches, not for millions, and the
same bound keeps the two backends answering alike.

Meaning search is SQLite's (``search_vectors``, the same code): vectors in ``search_vectors``
keyed by ``search_docs.id``, the candidates read with the same checks, the rankings fused.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    String,
    any_,
    bindparam,
    cast,
    column,
    exists,
    func,
    literal,
    select,
    table,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, TSQUERY

from opendems.adapters.db import search_repo
from opendems.adapters.db.access_repo import evidence_visible
from opendems.adapters.db.search_repo import (
    EARTH_RADIUS_M,
    FACET_TOP,
    METADATA,
    SNIPPET_TOKENS,
    Doc,
    SqliteSearchIndex,
    _combine,
    _filter_drivers,
    _filters,
    _Item,
    _level,
    _meaning_wanted,
    _near,
    _passages,
    _reachable,
    _second_at,
    _sort,
    _windows,
)
from opendems.adapters.db.search_vectors import SearchVectors
from opendems.adapters.db.tables import evidence
from opendems.domain.access import Visibility
from opendems.domain.search import (
    FACET_FIELDS,
    And,
    Expr,
    FacetCount,
    GeoCircle,
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
    words_of,
)
from opendems.ports import Embedder

CONFIG = "opendems"  # made by migration 0007: English stemming, no stop words
# ts_rank's weights of D, C (body), B (keywords), A (title), and its normalisation
# (1: divided by 1 + the logarithm of the document's length).
WEIGHTS = "{0.1,0.1,0.4,1.0}"
NORMALISATION = 1
# Between the parts of a document: a lexeme no word can make, at a distance no phrase spans
# (removed once the parts are joined).
GAP = "-"
GAP_VECTOR = "-:8"
# ts_headline marks every word of the query everywhere ("highlight all"); the snippet is cut
# from that here. For a phrase, its cover mode -- no more words than the phrase has -- finds
# where the whole phrase stands (``Compiled.cover_options``).
HIGHLIGHT_OPTIONS = "HighlightAll=true, StartSel=\x02, StopSel=\x03"
ELLIPSIS = "…"


def _vector(title: str, keywords: str, body: str) -> str:
    """SQL for a document's tsvector from the folded words bound as ``title``, ``keywords``
    and ``body`` (each part a gap apart)."""
    parts = [
        f"setweight(to_tsvector('{CONFIG}', :{name}), '{weight}')"
        for name, weight in ((title, "A"), (keywords, "B"), (body, "C"))
    ]
    return f"ts_delete({' || CAST(:gap AS tsvector) || '.join(parts)}, '{GAP}')"


VECTOR = _vector("ft", "fk", "fb")  # (SQL of constants only, here and below)
INSERT = text(
    "INSERT INTO search_docs (evidence_id, source, start_s, title, keywords, body, marks, document)"  # noqa: S608
    f" VALUES (:evidence_id, :source, :start_s, :title, :keywords, :body, :marks, {VECTOR})"
)
# The documents of some items, with the body of their metadata documents only (to compare).
HELD = text(
    "SELECT id, evidence_id, source, title, keywords, CASE WHEN source = :metadata THEN body END AS body"
    " FROM search_docs WHERE evidence_id = ANY(:ids) ORDER BY id"
)
REWORD = text(
    f"UPDATE search_docs SET title = :title, keywords = :keywords, document = {VECTOR} WHERE id = :id"  # noqa: S608
)
RANK = f"ts_rank(CAST('{WEIGHTS}' AS real[]), document, CAST(:q AS tsquery), {NORMALISATION})"
NEWEST_MATCHING = text(
    f"SELECT id, evidence_id, {RANK} AS score FROM search_docs"  # noqa: S608
    " WHERE document @@ CAST(:q AS tsquery) ORDER BY id DESC LIMIT :window"
)
MATCHING_OF_ITEMS = text(
    f"SELECT id, evidence_id, {RANK} AS score FROM search_docs"  # noqa: S608
    " WHERE evidence_id = ANY(:ids) AND document @@ CAST(:q AS tsquery)"
)
EXCLUDED_OF_ITEMS = text(
    "SELECT DISTINCT evidence_id FROM search_docs"
    " WHERE evidence_id = ANY(:ids) AND document @@ CAST(:q AS tsquery)"
)
# The page's documents: whether each matches, and whether its own body does (not only the
# title and keywords a window carries).
PAGE_DOCS = text(
    "SELECT id, evidence_id, source, start_s, marks, title, keywords, body,"
    " document @@ CAST(:match AS tsquery) AS matches,"
    " ts_filter(document, '{c}') @@ CAST(:hl AS tsquery) AS speaks"
    " FROM search_docs WHERE id = ANY(:rids)"
)
# Texts with every match marked and -- for a phrase -- the cover where one stands whole.
MARK = text(
    "SELECT ts_headline(CAST(:config AS regconfig), u.t, CAST(:hl AS tsquery), :all) AS marked,"
    " CASE WHEN :phrases THEN ts_headline(CAST(:config AS regconfig), u.t, CAST(:hl AS tsquery), :cover)"
    " ELSE '' END AS cover"
    " FROM unnest(CAST(:texts AS text[])) WITH ORDINALITY AS u(t, n) ORDER BY u.n"
)

# The facets counted from the items' rows (facet -> column), and from their links.
FACET_COLUMNS = {
    "kind": "kind",
    "category": "category",
    "officer": "captured_by",
    "device": "device_serial",
    "state": "status",
    "restriction": "level",
}
FACET_CASES = text(
    "SELECT case_number, count(*) FROM case_evidence WHERE evidence_id = ANY(:ids) GROUP BY case_number"
)
FACET_TAGS = text("SELECT tag, count(*) FROM evidence_tags WHERE evidence_id = ANY(:ids) GROUP BY tag")

# The documents table, for SQL expressions (made by migration 0007, not by the metadata).
_DOCS = table(
    "search_docs",
    column("id"),
    column("evidence_id"),
    column("source"),
    column("document"),
)


def _ids(values: Iterable[str]) -> Any:
    """A list of ids as one array parameter (for ``= ANY``)."""
    return bindparam(None, list(values), type_=ARRAY(String))


# -- words -------------------------------------------------------------------------------------


def _fold(value: str) -> str:
    """The words of ``value`` as the query parser makes them, without accents (the combining
    diacritical marks, as FTS5's remove_diacritics), joined by spaces."""
    out = []
    for word in words_of(value):
        bare = "".join(ch for ch in unicodedata.normalize("NFD", word) if not "\u0300" <= ch <= "\u036f")
        out.append(unicodedata.normalize("NFC", bare))
    return " ".join(out)


def _doc_params(doc: Doc) -> dict[str, Any]:
    evidence_id, source, start_s, title, keywords, body, marks = doc
    return {
        "evidence_id": evidence_id,
        "source": source,
        "start_s": start_s,
        "title": title,
        "keywords": keywords,
        "body": body,
        "marks": marks,
        "ft": _fold(title),
        "fk": _fold(keywords),
        "fb": _fold(body),
        "gap": GAP_VECTOR,
    }


# -- compiling the query tree to a tsquery ----------------------------------------------------


Key = tuple[bool, str]  # (prefix, folded words)


def _key(leaf: Word | Phrase) -> Key | None:
    if isinstance(leaf, Word):
        words = _fold(leaf.text)
        prefix = leaf.prefix
    else:
        words = _fold(" ".join(leaf.words))
        prefix = False
    if not words or "'" in words or "\\" in words:  # (folded words never hold either)
        return None
    return prefix, words


def _leaves(expr: Expr) -> Iterator[tuple[Word | Phrase, int]]:
    """Every word and phrase of the tree, with the number of negations above it."""
    stack: list[tuple[Expr, int]] = [(expr, 0)]
    while stack:
        node, nots = stack.pop()
        if isinstance(node, Word | Phrase):
            yield node, nots
        elif isinstance(node, Not):
            stack.append((node.item, nots + 1))
        else:
            stack.extend((item, nots) for item in reversed(node.items))


@dataclass(frozen=True)
class Compiled:
    """A query's text part as tsquery text: what the matching documents satisfy (None: every
    item), the expressions of which any matching document excludes an item, and what a
    snippet marks -- every word and phrase not negated, any of them."""

    match: str | None
    excluded: tuple[str, ...]
    highlight: str | None
    phrase: int  # the most words of a marked phrase (0: none)

    @property
    def cover_options(self) -> str:
        """ts_headline's options for the shortest cover: one marked phrase, where it stands."""
        return f"MaxWords={max(self.phrase, 2)}, MinWords=1, ShortWord=0, StartSel=\x02, StopSel=\x03"

    @property
    def strict(self) -> str | None:
        """What a candidate document satisfies: the match, holding no excluded term."""
        if self.match is None or not self.excluded:
            return self.match
        return f"({self.match}) & !({' | '.join(self.excluded)})"


def _tsqueries(conn: Connection, keys: list[Key]) -> dict[Key, str]:
    """Each term as tsquery text, made by PostgreSQL from bound words (stemmed; a prefix is
    the stem of what was typed); a term that leaves no lexeme is left out."""
    if not keys:
        return {}
    parts: list[str] = []
    params: dict[str, Any] = {}
    for n, (prefix, words) in enumerate(keys):
        if prefix:  # (words of word characters only: nothing in them is tsquery syntax)
            params[f"t{n}"] = f"'{words}':*"
            parts.append(f"CAST(to_tsquery('{CONFIG}', :t{n}) AS text)")
        else:
            params[f"t{n}"] = words
            parts.append(f"CAST(phraseto_tsquery('{CONFIG}', :t{n}) AS text)")
    row = conn.execute(text("SELECT " + ", ".join(parts)), params).one()
    return {key: row[n] for n, key in enumerate(keys) if row[n]}


def _compile(expr: Expr, terms: dict[Key, str]) -> tuple[bool, str] | None:
    """(positive, expression) as SQLite's ``_compile`` makes them, in tsquery syntax: the
    same split into positive and negated parts (PostgreSQL's ``!`` is unary, so the negated
    ones could nest, but the top-level split must be SQLite's)."""
    if isinstance(expr, Word | Phrase):
        key = _key(expr)
        term = None if key is None else terms.get(key)
        return None if term is None else (True, term)
    if isinstance(expr, Not):
        inner = _compile(expr.item, terms)
        return None if inner is None else (not inner[0], inner[1])
    parts = [p for p in (_compile(i, terms) for i in expr.items) if p is not None]
    pos = [f"({s})" for positive, s in parts if positive]
    neg = [f"({s})" for positive, s in parts if not positive]
    if not parts:
        return None
    if isinstance(expr, And):
        if not pos:
            return False, " | ".join(neg)  # not a and not b = not (a or b)
        body = " & ".join(pos)
        return True, (f"({body}) & !({' | '.join(neg)})" if neg else body)
    assert isinstance(expr, Or)
    if not neg:
        return True, " | ".join(pos)
    body = " & ".join(neg)  # a or not b or not c = not ((b and c) and not a)
    return False, (f"({body}) & !({' | '.join(pos)})" if pos else body)


def compile_query(conn: Connection, expr: Expr | None) -> Compiled:
    """The tsquery texts of a query tree (one round trip to PostgreSQL for all its terms)."""
    if expr is None:
        return Compiled(None, (), None, 0)
    leaves = list(_leaves(expr))
    keys = list(dict.fromkeys(k for k in (_key(leaf) for leaf, _ in leaves) if k is not None))
    terms = _tsqueries(conn, keys)
    items = expr.items if isinstance(expr, And) else (expr,)
    positive: list[str] = []
    excluded: list[str] = []
    for item in items:
        part = _compile(item, terms)
        if part is not None:
            (positive if part[0] else excluded).append(f"({part[1]})")
    marked: dict[str, int] = {}  # tsquery text -> how many words
    for leaf, nots in leaves:
        key = _key(leaf)
        if nots % 2 == 0 and key is not None and key in terms:
            marked[terms[key]] = len(key[1].split())
    return Compiled(
        match=" & ".join(positive) if positive else None,
        excluded=tuple(excluded),
        highlight=" | ".join(f"({m})" for m in marked) if marked else None,
        phrase=max((n for m, n in marked.items() if n > 1 and "<" in m), default=0),
    )


# -- filters ------------------------------------------------------------------------------------


def _within(circle: GeoCircle) -> list[ColumnElement[bool]]:
    """SQLite's ``_near`` (a bounding box the location index serves, then the great-circle
    distance), with PostgreSQL's ``least`` for SQLite's two-argument ``min``."""
    conds = _near(circle.lat, circle.lon, circle.radius_m)[:-1]
    phi1 = math.radians(circle.lat)
    phi2 = func.radians(evidence.c.latitude)
    half_dphi = (phi2 - phi1) / 2
    half_dlmb = (func.radians(evidence.c.longitude) - math.radians(circle.lon)) / 2
    a = func.power(func.sin(half_dphi), 2) + math.cos(phi1) * func.cos(phi2) * func.power(
        func.sin(half_dlmb), 2
    )
    conds.append(2 * EARTH_RADIUS_M * func.asin(func.least(1.0, func.sqrt(a))) <= circle.radius_m)
    return conds


def _conditions(f: SearchFilters) -> list[ColumnElement[bool]]:
    """The structured filters as WHERE conditions on ``evidence`` (SQLite's, but the circle)."""
    conds = _filters(replace(f, near=None))
    if f.near is not None:
        conds.extend(_within(f.near))
    return conds


def _none_matching(expressions: tuple[str, ...]) -> list[ColumnElement[bool]]:
    """The item has no document matching any of these expressions."""
    if not expressions:
        return []
    query = cast(literal(" | ".join(expressions), String), TSQUERY)
    return [~exists().where(_DOCS.c.evidence_id == evidence.c.id, _DOCS.c.document.op("@@")(query))]


# -- snippets -------------------------------------------------------------------------------------


class _Doc(NamedTuple):
    """A document of the page with its snippet, as the hits need it."""

    evidence_id: str
    source: str
    speaks: bool  # the metadata, or a window whose own words match
    snippet: str
    at: float | None


def _bare_letters() -> dict[int, str]:
    """Latin, Greek and Cyrillic letters with diacritics -> the letter without them (one
    character for one: the text keeps its length)."""
    table: dict[int, str] = {}
    for low, high in ((0x00C0, 0x0250), (0x0370, 0x0530), (0x1E00, 0x2000)):
        for code in range(low, high):
            parts = unicodedata.normalize("NFD", chr(code))
            if len(parts) > 1 and all("\u0300" <= ch <= "\u036f" for ch in parts[1:]):
                table[code] = parts[0]
    return table


_BARE = _bare_letters()
_NOT_WORD = re.compile(r"[^\w\s]")


def _plainly(value: str) -> str:
    """The text as the index reads it, character for character: every character that is no
    word character a space (so ts_headline's parser sees the words the index holds -- no
    tags, addresses or hyphenated compounds), accents dropped."""
    return _NOT_WORD.sub(" ", value).translate(_BARE)


def _restore(original: str, shown: str, marked: str) -> str | None:
    """The marks ts_headline put in ``shown`` (a ``_plainly`` text) put in the original text
    instead; None if its output is not ``shown`` with marks."""
    out: list[str] = []
    at = 0
    for ch in marked:
        if ch in "\x02\x03":
            out.append(ch)
        elif at < len(shown) and shown[at] == ch:
            out.append(original[at])
            at += 1
        else:
            return None
    return "".join(out) if at == len(shown) else None


def _cover_in(original: str, shown: str, cover: str) -> str | None:
    """The original text with the cover ts_headline chose marked in its place."""
    plain = _plain(cover)
    at = shown.find(plain) if plain else -1
    if at < 0:
        return None
    end = at + len(plain)
    inside = _restore(original[at:end], shown[at:end], cover)
    return None if inside is None else original[:at] + inside + original[end:]


def _marked(value: str) -> int:
    return value.count("\x02")


def _variety(marked: str) -> int:
    """How many different words are marked."""
    return len({m.casefold() for m in re.findall("\x02([^\x03]*)\x03", marked)})


def _fragment(marked: str) -> str:
    """About SNIPPET_TOKENS words of a marked text around its matches (as FTS5's snippet):
    the window holding the most different marked words, the earliest such, with its matches
    centred; "…" where it cuts the text."""
    spans = [m.span() for m in re.finditer(r"\S+", marked)]
    n = SNIPPET_TOKENS
    if not spans:
        return ""
    hits = [i for i, (a, b) in enumerate(spans) if "\x02" in marked[a:b]]
    low = 0
    if hits:

        def variety(first: int) -> int:
            return len({_plain(marked[slice(*spans[i])]).casefold() for i in hits if first <= i < first + n})

        first = max(hits, key=lambda i: (variety(i), -i))
        last = max(i for i in hits if i < first + n)
        low = max(0, first - (n - (last - first + 1)) // 2)
    high = min(len(spans), low + n)
    low = max(0, high - n)
    before = ELLIPSIS if low > 0 else ""
    after = ELLIPSIS if high < len(spans) else ""
    return before + marked[spans[low][0] : spans[high - 1][1]] + after


def _plain(value: str) -> str:
    return value.replace("\x02", "").replace("\x03", "")


# -- the index ---------------------------------------------------------------------------------


class PostgresSearchIndex:
    """The ``SearchIndex`` port on PostgreSQL full-text search, on the unit of work's
    connection."""

    def __init__(self, conn: Connection, embedder: Embedder | None = None) -> None:
        self._conn = conn
        self._vectors = SearchVectors(conn, embedder)

    # writing

    def _documents(self, ids: list[str]) -> list[Doc]:
        """The metadata documents of these items (the ones that exist): built as on SQLite,
        by the same code (plain SQLAlchemy Core, portable)."""
        return SqliteSearchIndex(self._conn)._documents(ids)

    def _insert(self, rows: list[Doc]) -> None:
        if rows:
            self._conn.execute(INSERT, [_doc_params(row) for row in rows])

    def refresh(self, evidence_ids: Iterable[str]) -> None:
        """Rebuild these items' metadata documents from the database, in its transaction, and
        the copies of their title and keywords that their text windows carry; an item that no
        longer exists loses all its documents. A document whose words did not change is left
        as it is (no index write)."""
        ids = sorted(set(evidence_ids))
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            docs = self._documents(chunk)
            by_id = {d[0]: d for d in docs}
            gone = sorted(set(chunk) - set(by_id))
            if gone:
                self._conn.execute(
                    text("DELETE FROM search_docs WHERE evidence_id = ANY(:ids)"), {"ids": gone}
                )
            held = self._conn.execute(HELD, {"ids": sorted(by_id), "metadata": METADATA}).all()
            kept: dict[str, int] = {}  # item -> its metadata document, when that is still right
            for r in held:
                if r.source == METADATA and (r.title, r.keywords, r.body) == by_id[r.evidence_id][3:6]:
                    kept.setdefault(r.evidence_id, r.id)
            stale = [r.id for r in held if r.source == METADATA and kept.get(r.evidence_id) != r.id]
            if stale:  # (a second metadata document, left by two refreshes at once, too)
                self._conn.execute(text("DELETE FROM search_docs WHERE id = ANY(:ids)"), {"ids": stale})
            self._insert([d for d in docs if d[0] not in kept])
            rewrite = {
                r.id: by_id[r.evidence_id]
                for r in held
                if r.source != METADATA and (r.title, r.keywords) != by_id[r.evidence_id][3:5]
            }
            if rewrite:
                bodies = self._conn.execute(
                    text("SELECT id, body FROM search_docs WHERE id = ANY(:ids)"), {"ids": sorted(rewrite)}
                )
                self._conn.execute(
                    REWORD,
                    [
                        {
                            "id": rid,
                            "title": rewrite[rid][3],
                            "keywords": rewrite[rid][4],
                            "ft": _fold(rewrite[rid][3]),
                            "fk": _fold(rewrite[rid][4]),
                            "fb": _fold(body),
                            "gap": GAP_VECTOR,
                        }
                        for rid, body in bodies
                    ],
                )
            self._vectors.fill(chunk)

    def add_text(self, evidence_id: str, source: str, segments: Iterable[tuple[float | None, str]]) -> None:
        """Index a text derivative (replacing an earlier one of the same source). Each window
        carries the item's title and keywords too."""
        if source == METADATA:
            raise ValueError("the metadata document is built from the item itself")
        self._conn.execute(
            text("DELETE FROM search_docs WHERE evidence_id = :evidence_id AND source = :source"),
            {"evidence_id": evidence_id, "source": source},
        )
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
        """Rebuild the index from the database: every item's metadata document anew, every
        text window indexed anew from its stored words (with its item's current title and
        keywords), an item's documents side by side; documents of items that no longer exist
        are dropped; every meaning vector is computed anew (when meaning search is on).
        Returns how many items it holds."""
        self._vectors.clear()
        self._conn.execute(
            text(
                "DELETE FROM search_docs AS d WHERE d.source = :metadata"
                " OR NOT EXISTS (SELECT 1 FROM evidence AS e WHERE e.id = d.evidence_id)"
            ),
            {"metadata": METADATA},
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
                text(
                    "DELETE FROM search_docs WHERE evidence_id = ANY(:ids)"
                    " RETURNING id, evidence_id, source, start_s, body, marks"
                ),
                {"ids": ids},
            ):
                windows.setdefault(w.evidence_id, []).append(w)
            rows: list[Doc] = []
            for doc in self._documents(ids):
                rows.append(doc)
                rows.extend(
                    (doc[0], w.source, w.start_s, doc[3], doc[4], w.body, w.marks)
                    for w in sorted(windows.get(doc[0], []), key=lambda w: int(w.id))
                )
            self._insert(rows)
            self._vectors.fill(ids)
            count += len(ids)
            last = ids[-1]
        return count

    def fill_vectors(self, evidence_ids: Iterable[str]) -> None:
        self._vectors.fill(evidence_ids)

    def lacking_vectors(self, after: int, limit: int) -> tuple[list[str], int | None]:
        return self._vectors.lacking(after, limit)

    # reading

    def search(
        self, query: SearchQuery, scope: Visibility, *, limit: int, offset: int, facets: bool
    ) -> SearchResult:
        """The page, the total and the facet counts over the visible matching items, found
        as on SQLite (see ``SqliteSearchIndex.search``): candidate documents first -- all the
        matching ones, those of a narrow scope's items, or the newest MATCH_WINDOW -- then each
        candidate item checked against the access rule and the filters, then sorted by
        relevance (ts_rank of its best document) or date."""
        # The access rule's correlated subqueries make PostgreSQL's estimates large enough to
        # compile the statements just in time -- tens of milliseconds spent on every search
        # that the queries themselves do not need (for this transaction only).
        self._conn.execute(text("SET LOCAL jit = off"))
        compiled = compile_query(self._conn, query.text)
        match, strict = compiled.match, compiled.strict
        words = positive_words(query.text)
        meaning = _meaning_wanted(query, self._vectors.embedder, words)
        if query.match is SearchMatch.MEANING:
            match = strict = None  # the words need not be there
        sort = query.sort
        if match is None and not meaning and sort is SearchSort.RELEVANCE:
            sort = SearchSort.NEWEST  # nothing to rank: a filtered list, newest first
        checks = [*_conditions(query.filters), evidence_visible(scope)]
        reachable = _reachable(scope)
        if (
            scope.unit_scope
            and scope.unit
            and not self._small(select(evidence.c.id).where(evidence.c.unit == scope.unit))
        ):
            reachable = None  # a large unit: not worth gathering everything it holds
        drivers = [d for d in (reachable, *_filter_drivers(query.filters)) if d is not None]
        narrow = [d for d in drivers if self._small(d)]
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
        items: list[_Item]
        qv = None
        if meaning:
            # The same checks, the negations too, in the statement that reads the vectors.
            where = [*checks, *_none_matching(compiled.excluded), *(evidence.c.id.in_(d) for d in narrow)]
            qv = self._vectors.query_vector(words)
            near, complete = self._vectors.nearest(qv, where)
            found_words: tuple[list[_Item], bool] = ([], True)
            if strict is not None:
                found_words = self._word_items(strict, compiled, narrow, carried, checks)
            complete = complete and found_words[1]

            def load(ids: list[str]) -> list[Any]:
                if not ids:
                    return []
                stmt = select(*carried).where(evidence.c.id == any_(_ids(ids)), *checks)
                return list(self._conn.execute(stmt))

            items = _combine(found_words[0], near, load, query.match)
        elif strict is not None:
            items, complete = self._word_items(strict, compiled, narrow, carried, checks)
        else:
            # Negations at the top drop an item when any of its documents matches.
            checks += _none_matching(compiled.excluded)
            if narrow:
                candidates: Any = [evidence.c.id.in_(d) for d in narrow]
            else:
                newest, complete = self._newest(query.filters, sort)
                candidates = [evidence.c.id == any_(_ids(newest))]
            stmt = select(*carried).where(*candidates, *checks)
            items = [_Item(row, 0.0) for row in self._conn.execute(stmt)]
        _sort(items, sort)
        return SearchResult(
            hits=self._hits(items[offset : offset + limit], compiled, qv),
            total=len(items),
            facets=self._facets(items) if facets else {},
            total_exact=complete,
        )

    def _word_items(
        self,
        strict: str,
        compiled: Compiled,
        narrow: list[Select[Any]],
        carried: list[Any],
        checks: list[ColumnElement[bool]],
    ) -> tuple[list[_Item], bool]:
        """The visible items matching the words, each with its best document, and whether
        that is all of them (the newest MATCH_WINDOW + 1 matching documents, or those of a
        narrow scope's items)."""
        complete = True
        window = search_repo.MATCH_WINDOW
        found = self._conn.execute(NEWEST_MATCHING, {"q": strict, "window": window + 1}).all()
        if len(found) > window:
            if narrow:
                found = self._conn.execute(
                    MATCHING_OF_ITEMS, {"q": strict, "ids": self._items_in(narrow)}
                ).all()
            else:
                found = found[:window]
                complete = False
        # Each item once, with its best document (ts_rank: higher is better; an item's
        # score is kept negated, lower first, as bm25 is on SQLite).
        best: dict[str, tuple[float, int]] = {}
        for r in sorted(found, key=lambda r: int(r.id)):
            score = -float(r.score)
            if r.evidence_id not in best or score < best[r.evidence_id][0]:
                best[r.evidence_id] = (score, int(r.id))
        gone = self._excluded(sorted(best), compiled.excluded)
        ids = sorted(set(best) - gone)
        items: list[_Item] = []
        if ids:
            stmt = select(*carried).where(evidence.c.id == any_(_ids(ids)), *checks)
            items = [_Item(row, *best[row.id]) for row in self._conn.execute(stmt)]
        _sort(items, SearchSort.RELEVANCE)
        return items, complete

    def _newest(self, f: SearchFilters, sort: SearchSort) -> tuple[list[str], bool]:
        """The newest (oldest) LIST_WINDOW items -- of the capture range when there is one,
        through its index: the candidates of a list without text; and whether that is all of
        them (the window was not full)."""
        dated = f.captured_from is not None or f.captured_to is not None or sort is SearchSort.CAPTURED
        walk = evidence.c.captured_at if dated else evidence.c.created_at
        in_range = []
        if f.captured_from is not None:
            in_range.append(evidence.c.captured_at >= f.captured_from)
        if f.captured_to is not None:
            in_range.append(evidence.c.captured_at <= f.captured_to)
        window = search_repo.LIST_WINDOW
        stmt = (
            select(evidence.c.id)
            .where(*in_range)
            .order_by(walk.asc() if sort is SearchSort.OLDEST else walk.desc())
            .limit(window + 1)
        )
        ids = list(self._conn.execute(stmt).scalars())
        return ids[:window], len(ids) <= window

    def _excluded(self, ids: list[str], expressions: tuple[str, ...]) -> set[str]:
        """Of these items, the ones with a document matching any of these expressions."""
        if not ids or not expressions:
            return set()
        rows = self._conn.execute(EXCLUDED_OF_ITEMS, {"ids": ids, "q": " | ".join(expressions)})
        return {r.evidence_id for r in rows}

    def _small(self, items: Select[Any]) -> bool:
        """Whether a set of items is small enough to start a search from."""
        most = search_repo.NARROW_ITEMS
        counted = select(func.count()).select_from(items.limit(most + 1).subquery())
        return int(self._conn.execute(counted).scalar_one()) <= most

    def _items_in(self, sets: list[Select[Any]]) -> list[str]:
        """The items in every one of these sets."""
        return list(
            self._conn.execute(select(evidence.c.id).where(*(evidence.c.id.in_(d) for d in sets))).scalars()
        )

    def _facets(self, items: list[_Item]) -> dict[str, list[FacetCount]]:
        """The FACET_TOP most frequent values of each facet over these items: SQLite's
        counting, with the items' cases and tags read through one array parameter each."""
        counts: dict[str, Counter[str]] = {name: Counter() for name in FACET_FIELDS}
        for row in items:
            for name, attr in FACET_COLUMNS.items():
                value = getattr(row, attr)
                if value is not None:
                    counts[name][str(value)] += 1
        ids = [row.id for row in items]
        if ids:
            for name, query in (("case", FACET_CASES), ("tag", FACET_TAGS)):
                for value, n in self._conn.execute(query, {"ids": ids}):
                    counts[name][str(value)] += int(n)
        return {
            name: [
                FacetCount(value=v, count=n)
                for v, n in sorted(c.items(), key=lambda vn: (-vn[1], vn[0]))[:FACET_TOP]
            ]
            for name, c in counts.items()
        }

    def _hits(self, rows: list[_Item], compiled: Compiled, qv: Any = None) -> list[Hit]:
        """The page's hits with their snippets. An item's best document is where its snippet
        comes from -- unless that is a text window whose own words do not match (only the
        title and keywords it carries do): then the metadata document speaks for the item."""
        picked: dict[str, _Doc | None] = {}
        if compiled.match is not None and compiled.highlight is not None:
            best = {r.id: int(r.rid) for r in rows if r.rid is not None}
            found = self._snippets(list(best.values()), compiled)
            for eid, rid in best.items():
                if rid in found:
                    picked[eid] = found[rid]
            stray = [eid for eid, doc in picked.items() if doc is not None and not doc.speaks]
            if stray:
                own = self._conn.execute(
                    text(
                        "SELECT id, evidence_id FROM search_docs WHERE evidence_id = ANY(:ids) AND source = :m"
                    ),
                    {"ids": stray, "m": METADATA},
                ).all()
                found = self._snippets([int(o.id) for o in own], compiled)
                for o in own:
                    picked[o.evidence_id] = found.get(int(o.id))
        spoken = {eid: doc for eid, doc in picked.items() if _speaking(doc)}
        passages = _passages(self._vectors, list(rows), spoken, qv)
        titles: dict[str, str] = {}
        plain = [r.id for r in rows if not _speaking(picked.get(r.id)) and r.id not in passages]
        if plain:
            titles = dict(
                self._conn.execute(
                    select(evidence.c.id, evidence.c.title).where(evidence.c.id == any_(_ids(plain)))
                ).all()
            )
        hits = []
        for r in rows:
            doc = picked.get(r.id)
            score = -float(r.score) if r.score else 0.0
            passage = passages.get(r.id)
            if (doc is None or not doc.speaks) and passage is not None:
                hits.append(Hit(r.id, score, passage.snippet, passage.source, passage.at, by_meaning=True))
            elif doc is None or not doc.speaks:
                hits.append(Hit(r.id, score, titles.get(r.id) or "", METADATA, None))
            else:
                hits.append(Hit(r.id, score, doc.snippet, doc.source, doc.at))
        return hits

    def _snippets(self, rids: list[int], compiled: Compiled) -> dict[int, _Doc]:
        """Of these documents, the ones matching, with their snippets and the second a
        window's match is at."""
        if not rids or compiled.match is None or compiled.highlight is None:
            return {}
        args = {"rids": rids, "match": compiled.match, "hl": compiled.highlight}
        docs = [r for r in self._conn.execute(PAGE_DOCS, args) if r.matches]
        texts: list[str] = []
        for r in docs:
            texts += [r.title, r.keywords, r.body] if r.source == METADATA else [r.body]
        marked, covers = self._mark(texts, compiled)
        out = {}
        n = 0
        for r in docs:
            if r.source == METADATA:
                parts = marked[n : n + 3]
                n += 3
                shown = max(parts, key=_variety)  # the first of the most marked
                if not _marked(shown) and not parts[0]:
                    shown = parts[2]
                out[int(r.id)] = _Doc(r.evidence_id, METADATA, True, _fragment(shown), None)
                continue
            body, cover = marked[n], covers[n]
            n += 1
            second = _second_at(cover or body, r.marks or "", r.start_s)
            out[int(r.id)] = _Doc(r.evidence_id, r.source, bool(r.speaks), _fragment(body), second)
        return out

    def _mark(self, texts: list[str], compiled: Compiled) -> tuple[list[str], list[str]]:
        """Each text with the query's words marked, and -- for a query with a phrase -- the
        text with only the place ts_headline finds it whole marked ("" if none)."""
        shown = [_plainly(t) for t in texts]
        marked = list(texts)
        covers = [""] * len(texts)
        todo = [i for i, t in enumerate(shown) if t.strip()]
        if not todo:
            return marked, covers
        args = {
            "config": CONFIG,
            "hl": compiled.highlight,
            "texts": [shown[i] for i in todo],
            "phrases": compiled.phrase > 0,
            "all": HIGHLIGHT_OPTIONS,
            "cover": compiled.cover_options,
        }
        for i, r in zip(todo, self._conn.execute(MARK, args), strict=True):
            restored = _restore(texts[i], shown[i], r.marked or "")
            if restored is not None:
                marked[i] = restored
            if r.cover and _marked(r.cover):
                covers[i] = _cover_in(texts[i], shown[i], r.cover) or ""
        return marked, covers


def _speaking(doc: _Doc | None) -> bool:
    return doc is not None and doc.speaks


__all__ = ["Compiled", "PostgresSearchIndex", "compile_query"]
