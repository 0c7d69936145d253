"""The search query language: its syntax tree, its filters, its results, and the parser.

One language serves the API, the CLI and the search box of the web pages::

    burglary "red pickup" burg* (knife OR gun) -draft NOT test
    kind:video tag:night tag:"car park" captured:2026-01-01..2026-02-01 near:52.37,4.89,2km sort:newest

Words are matched two ways at once by default: as words (the full-text index: stems, phrases,
prefixes, AND/OR/NOT) and by meaning (the words not negated, as a sentence, compared with
what each item's description and transcripts say; a paraphrase with none of the words still
finds it). The two rankings are combined. ``match:words`` asks for words only (the words must
be there), ``match:meaning`` for meaning only; ``match:both`` is the default.

Words are normalised (NFKC, case-folded) and reduced to word characters, so no character that
means something to a full-text engine or to SQL ever reaches a backend raw. This module is pure:
no I/O, no clock, nothing but values in and values out.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum, StrEnum
from typing import TypeVar

from opendems.domain.errors import Invalid
from opendems.domain.evidence import EvidenceKind, EvidenceStatus, Restriction

_T = TypeVar("_T")
_G = TypeVar("_G", "GeoCircle", "GeoBox")
_E = TypeVar("_E", bound=Enum)

MAX_QUERY_CHARS = 1000
MAX_TERMS = 64
MAX_RADIUS_M = 500_000.0
MAX_FILTER_VALUE_CHARS = 200

# Facet keys of a SearchResult, in display order.
FACET_FIELDS: tuple[str, ...] = (
    "kind",
    "category",
    "officer",
    "device",
    "case",
    "tag",
    "restriction",
    "state",
)


class SearchMatch(StrEnum):
    """How the words of a query find items: as words, by meaning, or both (the default)."""

    BOTH = "both"
    WORDS = "words"
    MEANING = "meaning"


class SearchSort(StrEnum):
    RELEVANCE = "relevance"
    NEWEST = "newest"
    OLDEST = "oldest"
    CAPTURED = "captured"


# -- the text part: a small boolean tree ----------------------------------------------------


@dataclass(frozen=True)
class Word:
    """One normalised word (only Unicode letters, digits and ``_``); ``prefix`` matches ``text*``."""

    text: str
    prefix: bool = False


@dataclass(frozen=True)
class Phrase:
    """Two or more normalised words that must appear next to each other, in this order."""

    words: tuple[str, ...]


@dataclass(frozen=True)
class Not:
    item: Expr


@dataclass(frozen=True)
class And:
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Expr, ...]


Expr = Word | Phrase | Not | And | Or


# -- the filters ----------------------------------------------------------------------------


@dataclass(frozen=True)
class GeoCircle:
    lat: float
    lon: float
    radius_m: float


@dataclass(frozen=True)
class GeoBox:
    """South <= north; west > east is a box across the 180th meridian (west 170, east -170)."""

    south: float
    west: float
    north: float
    east: float


@dataclass(frozen=True)
class SearchFilters:
    """Structured filters. Values of one field OR together; different fields AND together.

    ``captured_from`` and ``captured_to`` are time-zone aware and both inclusive
    (``captured_from <= captured_at <= captured_to``); a date given as ``2026-02-01`` on the
    right of a range ends at 23:59:59.999999 UTC of that day.
    """

    kinds: tuple[EvidenceKind, ...] = ()
    officers: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()
    cases: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()  # every tag must match (AND), unlike the other fields
    restrictions: tuple[Restriction, ...] = ()
    states: tuple[EvidenceStatus, ...] = ()
    captured_from: datetime | None = None
    captured_to: datetime | None = None
    near: GeoCircle | None = None
    box: GeoBox | None = None


@dataclass(frozen=True)
class SearchQuery:
    text: Expr | None
    filters: SearchFilters
    sort: SearchSort = SearchSort.RELEVANCE
    match: SearchMatch = SearchMatch.BOTH

    def merged(self, extra: SearchFilters) -> SearchQuery:
        """This query with ``extra`` (say, API parameters) added to its filters."""
        return SearchQuery(
            text=self.text, filters=merge_filters(self.filters, extra), sort=self.sort, match=self.match
        )


def merge_filters(a: SearchFilters, b: SearchFilters) -> SearchFilters:
    """Both sets of filters at once: lists joined, capture ranges intersected.

    Raises ``Invalid`` when the two cannot both hold in a way one filter can say: capture
    ranges that do not overlap, or two different circles (or boxes).
    """
    start = _later(a.captured_from, b.captured_from)
    stop = _earlier(a.captured_to, b.captured_to)
    _check_range(start, stop)
    return SearchFilters(
        kinds=_union(a.kinds, b.kinds),
        officers=_union(a.officers, b.officers),
        devices=_union(a.devices, b.devices),
        cases=_union(a.cases, b.cases),
        categories=_union(a.categories, b.categories),
        tags=_union(a.tags, b.tags),
        restrictions=_union(a.restrictions, b.restrictions),
        states=_union(a.states, b.states),
        captured_from=start,
        captured_to=stop,
        near=_one("near", a.near, b.near),
        box=_one("bbox", a.box, b.box),
    )


def _union(a: tuple[_T, ...], b: tuple[_T, ...]) -> tuple[_T, ...]:
    out = list(a)
    for value in b:
        if value not in out:
            out.append(value)
    return tuple(out)


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None or b is None:
        return a if b is None else b
    return max(a, b)


def _earlier(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None or b is None:
        return a if b is None else b
    return min(a, b)


def _one(name: str, a: _G | None, b: _G | None) -> _G | None:
    if a is not None and b is not None and a != b:
        raise Invalid(f"{name}: can be given only once (two different areas were asked for)")
    return a if a is not None else b


def _check_range(start: datetime | None, stop: datetime | None) -> None:
    if start is not None and stop is not None and start > stop:
        raise Invalid(
            f"the capture date range is empty: it starts at {start.isoformat()} "
            f"and ends at {stop.isoformat()}"
        )


# -- normalising words ----------------------------------------------------------------------

_WORD_RE = re.compile(r"\w+")
_FIELD_RE = re.compile(r"([A-Za-z][A-Za-z0-9_]*):(.*)", re.DOTALL)
_QUOTES = str.maketrans(
    {"\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u00ab": '"', "\u00bb": '"'}
)
_OPERATORS = {"AND", "OR", "NOT"}
_MAX_DEPTH = 32


def normalise_text(text: str) -> str:
    """NFKC and case-folded, repeated until stable (case folding can undo NFKC and back)."""
    for _ in range(4):
        folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
        if folded == text:
            break
        text = folded
    return text


def words_of(text: str) -> list[str]:
    """The normalised words in ``text``: runs of Unicode letters, digits and ``_``; the rest splits."""
    return _WORD_RE.findall(normalise_text(text))


def _separator(ch: str) -> bool:
    return ch.isspace() or unicodedata.category(ch)[0] in "CZ"


# -- the lexer ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Filter:
    name: str
    value: str


@dataclass(frozen=True)
class _Op:
    op: str  # "AND" | "OR" | "NOT" | "(" | ")"


_Token = Word | Phrase | _Filter | _Op


def _term(words: list[str], *, prefix: bool = False) -> Word | Phrase:
    if len(words) == 1:
        return Word(words[0], prefix=prefix and len(words[0]) >= 2)
    return Phrase(tuple(words))


def _read_quoted(s: str, i: int) -> tuple[str, int]:
    """The text after the quote at ``s[i]`` up to the closing quote (or the end); the index after it."""
    close = s.find('"', i + 1)
    if close < 0:
        return s[i + 1 :], len(s)
    return s[i + 1 : close], close + 1


def _tokens(s: str) -> list[_Token]:
    out: list[_Token] = []
    terms = 0

    def count(n: int) -> None:
        nonlocal terms
        terms += n
        if terms > MAX_TERMS:
            raise Invalid(f"the query has too many terms: at most {MAX_TERMS} words and filters")

    n = len(s)
    i = 0
    while i < n:
        ch = s[i]
        if _separator(ch):
            i += 1
        elif ch == '"':
            content, i = _read_quoted(s, i)
            words = words_of(content)
            if words:
                count(len(words))
                out.append(_term(words))
        elif ch in "()":
            out.append(_Op(ch))
            i += 1
        elif ch == "-" and i + 1 < n and (s[i + 1] in '"(' or _WORD_RE.match(s[i + 1]) is not None):
            out.append(_Op("NOT"))
            i += 1
        else:
            j = i
            while j < n and not _separator(s[j]) and s[j] not in '"()':
                j += 1
            token = s[i:j]
            i = j
            if token in _OPERATORS:
                out.append(_Op(token))
                continue
            field_match = _FIELD_RE.fullmatch(token)
            if field_match is not None:
                name, value = field_match.group(1).lower(), field_match.group(2)
                quoted = not value and i < n and s[i] == '"'
                if quoted:
                    value, i = _read_quoted(s, i)
                if name in FIELDS:
                    count(1)
                    out.append(_Filter(name, value))
                    continue
                if value or quoted:
                    raise Invalid(
                        f"unknown search field {name + ':'!r}; the fields are "
                        f"{', '.join(f + ':' for f in FIELDS)} "
                        "(put the words in quotes to search for them as text)"
                    )
            words = words_of(token)
            if words:
                count(len(words))
                out.append(_term(words, prefix=token.endswith("*")))
    return out


# -- the parser -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _PNot:
    item: _Node


@dataclass(frozen=True)
class _PAnd:
    items: tuple[_Node, ...]


@dataclass(frozen=True)
class _POr:
    items: tuple[_Node, ...]


_Node = Word | Phrase | _Filter | _PNot | _PAnd | _POr


class _Parser:
    """Recursive descent, NOT > AND > OR; forgiving about stray operators and parentheses."""

    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.depth = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def at(self, op: str) -> bool:
        token = self.peek()
        return isinstance(token, _Op) and token.op == op

    def starts_unary(self) -> bool:
        token = self.peek()
        return token is not None and (not isinstance(token, _Op) or token.op in ("NOT", "("))

    def query(self) -> _Node | None:
        parts: list[_Node] = []
        while self.pos < len(self.tokens):
            node = self.or_expr()
            if node is not None:
                parts.append(node)
            if self.at(")"):  # a stray closing parenthesis: skip it
                self.pos += 1
        return _PAnd(tuple(parts)) if len(parts) > 1 else (parts[0] if parts else None)

    def or_expr(self) -> _Node | None:
        items = [self.and_expr()]
        while self.at("OR"):
            self.pos += 1
            items.append(self.and_expr())
        kept = [item for item in items if item is not None]
        return _POr(tuple(kept)) if len(kept) > 1 else (kept[0] if kept else None)

    def and_expr(self) -> _Node | None:
        items: list[_Node] = []
        while True:
            while self.at("AND"):  # AND is what adjacency means anyway; a lone one is ignored
                self.pos += 1
            if not self.starts_unary():
                break
            item = self.unary()
            if item is not None:
                items.append(item)
        return _PAnd(tuple(items)) if len(items) > 1 else (items[0] if items else None)

    def unary(self) -> _Node | None:
        negations = 0
        while self.at("NOT"):
            negations += 1
            self.pos += 1
        if not self.starts_unary():  # NOT with nothing to apply to: ignored
            return None
        item = self.primary()
        if item is None or negations % 2 == 0:
            return item
        return _PNot(item)

    def primary(self) -> _Node | None:
        token = self.peek()
        self.pos += 1
        if isinstance(token, _Op):  # "(" (starts_unary let nothing else through)
            self.depth += 1
            if self.depth > _MAX_DEPTH:
                raise Invalid(f"the query nests parentheses more than {_MAX_DEPTH} deep")
            inner = self.or_expr()
            if self.at(")"):
                self.pos += 1
            self.depth -= 1
            return inner
        assert token is not None
        return token


def _lower(node: _Node, filters: list[_Filter], *, negated: bool, ored: bool) -> Expr | None:
    """The text tree without its filters (collected into ``filters``), simplified."""
    if isinstance(node, _Filter):
        shown = f"{node.name}:{node.value}"[:60]
        if negated:
            raise Invalid(
                f"the filter {shown!r} cannot be negated: filters only narrow the results "
                "(ask for the values you want instead)"
            )
        if ored:
            raise Invalid(
                f"the filter {shown!r} cannot be combined with OR: repeat a field to accept any of "
                "its values (kind:video kind:audio); different fields must all match"
            )
        filters.append(node)
        return None
    if isinstance(node, Word | Phrase):
        return node
    if isinstance(node, _PNot):
        inner = _lower(node.item, filters, negated=True, ored=ored)
        return None if inner is None else _not(inner)
    if isinstance(node, _PAnd):
        parts = [_lower(item, filters, negated=negated, ored=ored) for item in node.items]
        return _and([p for p in parts if p is not None])
    parts = [_lower(item, filters, negated=negated, ored=ored or len(node.items) > 1) for item in node.items]
    return _or([p for p in parts if p is not None])


def _not(item: Expr) -> Expr:
    return item.item if isinstance(item, Not) else Not(item)


def _and(items: list[Expr]) -> Expr | None:
    flat: list[Expr] = []
    for item in items:
        flat.extend(item.items if isinstance(item, And) else (item,))
    return And(tuple(flat)) if len(flat) > 1 else (flat[0] if flat else None)


def _or(items: list[Expr]) -> Expr | None:
    flat: list[Expr] = []
    for item in items:
        flat.extend(item.items if isinstance(item, Or) else (item,))
    return Or(tuple(flat)) if len(flat) > 1 else (flat[0] if flat else None)


def simplify(expr: Expr | None) -> Expr | None:
    """The canonical form ``parse_query`` returns: nested AND/OR flattened, single items unwrapped,
    double negation removed, phrases of one word turned into words."""
    if expr is None or isinstance(expr, Word):
        return expr
    if isinstance(expr, Phrase):
        if len(expr.words) == 1:
            return Word(expr.words[0])
        return expr if expr.words else None
    if isinstance(expr, Not):
        inner = simplify(expr.item)
        return None if inner is None else _not(inner)
    parts = [p for p in (simplify(item) for item in expr.items) if p is not None]
    return _and(parts) if isinstance(expr, And) else _or(parts)


def to_text(expr: Expr | None) -> str:
    """Query text that parses back to ``expr`` (for a tree in the form ``simplify`` returns)."""
    if expr is None:
        return ""
    if isinstance(expr, Word):
        return expr.text + ("*" if expr.prefix else "")
    if isinstance(expr, Phrase):
        return '"' + " ".join(expr.words) + '"'
    if isinstance(expr, Not):
        return "NOT " + _grouped(expr.item)
    joiner = " " if isinstance(expr, And) else " OR "
    return joiner.join(_grouped(item) for item in expr.items)


def _grouped(expr: Expr) -> str:
    return f"({to_text(expr)})" if isinstance(expr, And | Or) else to_text(expr)


def positive_words(expr: Expr | None) -> list[str]:
    """The words (phrase words included) that are not under a ``Not``, for highlighting."""
    out: list[str] = []

    def walk(node: Expr) -> None:
        if isinstance(node, Word):
            words: tuple[str, ...] = (node.text,)
        elif isinstance(node, Phrase):
            words = node.words
        elif isinstance(node, Not):
            return
        else:
            for item in node.items:
                walk(item)
            return
        out.extend(w for w in words if w not in out)

    if expr is not None:
        walk(expr)
    return out


# -- filters --------------------------------------------------------------------------------

FIELDS: dict[str, str] = {  # name -> an example, for messages
    "kind": "kind:video",
    "officer": 'officer:"J. Smith"',
    "device": "device:BWC-0042",
    "case": "case:2026-00123",
    "category": "category:burglary",
    "tag": "tag:night",
    "restriction": "restriction:restricted",
    "state": "state:ready",
    "captured": "captured:2026-01-01..2026-01-31",
    "near": "near:52.37,4.89,2km",
    "bbox": "bbox:52.30,4.80,52.40,5.00",
    "sort": "sort:newest",
    "match": "match:words",
}

_NUMBER_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_RADIUS_RE = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*(m|km)?", re.IGNORECASE)
_PERIOD_RE = re.compile(r"([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2}))?)?")
_DATETIME_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ].*", re.DOTALL)


def _shown(name: str, value: str) -> str:
    return repr(f"{name}:{value}" if len(value) <= 40 else f"{name}:{value[:40]}...")


def _clean_value(name: str, raw: str) -> str:
    value = " ".join("".join(" " if _separator(ch) else ch for ch in raw).split())
    if not value:
        raise Invalid(f"{name}: needs a value, for example {FIELDS[name]}")
    if len(value) > MAX_FILTER_VALUE_CHARS:
        raise Invalid(f"the value of {name}: is longer than {MAX_FILTER_VALUE_CHARS} characters")
    return value


def _choice(name: str, raw: str, choices: type[_E]) -> _E:
    value = _clean_value(name, raw)
    key = value.casefold().replace("-", "_").replace(" ", "_")
    for choice in choices:
        if choice.value == key:
            return choice
    raise Invalid(f"{_shown(name, value)} is not one of: {', '.join(c.value for c in choices)}")


def _number(name: str, raw: str, what: str, low: float, high: float) -> float:
    text = raw.strip()
    if _NUMBER_RE.fullmatch(text) is None:
        raise Invalid(f"{name}: the {what} {text[:40]!r} is not a number (example: {FIELDS[name]})")
    value = float(text)
    if not low <= value <= high:
        raise Invalid(f"{name}: the {what} {text[:40]} is outside {low:g}..{high:g}")
    return value


def _parts(name: str, raw: str, count: int, shape: str) -> list[str]:
    parts = _clean_value(name, raw).split(",")
    if len(parts) != count:
        raise Invalid(f"{name}: expects {shape}, for example {FIELDS[name]}")
    return parts


def _near(raw: str) -> GeoCircle:
    lat_text, lon_text, radius_text = _parts("near", raw, 3, "LATITUDE,LONGITUDE,RADIUS")
    lat = _number("near", lat_text, "latitude", -90.0, 90.0)
    lon = _number("near", lon_text, "longitude", -180.0, 180.0)
    match = _RADIUS_RE.fullmatch(radius_text.strip())
    if match is None:
        raise Invalid(f"near: the radius {radius_text.strip()[:40]!r} should look like 500m or 2km")
    radius = float(match.group(1)) * (1000.0 if (match.group(2) or "m").lower() == "km" else 1.0)
    if radius <= 0:
        raise Invalid("near: the radius must be more than 0")
    if radius > MAX_RADIUS_M:
        raise Invalid(f"near: the radius may be at most {MAX_RADIUS_M / 1000:g}km")
    return GeoCircle(lat=lat, lon=lon, radius_m=radius)


def _box(raw: str) -> GeoBox:
    parts = _parts("bbox", raw, 4, "SOUTH,WEST,NORTH,EAST")
    south = _number("bbox", parts[0], "south latitude", -90.0, 90.0)
    west = _number("bbox", parts[1], "west longitude", -180.0, 180.0)
    north = _number("bbox", parts[2], "north latitude", -90.0, 90.0)
    east = _number("bbox", parts[3], "east longitude", -180.0, 180.0)
    if south > north:
        raise Invalid(
            "bbox: the south edge lies north of the north edge (the order is SOUTH,WEST,NORTH,EAST)"
        )
    return GeoBox(south=south, west=west, north=north, east=east)


def _moment(text: str, *, end: bool) -> datetime:
    """A date (2026, 2026-03, 2026-03-01: its first or, with ``end``, its last instant, UTC)
    or an ISO date and time (UTC when it names no zone)."""
    hint = "dates look like 2026-01-31, times like 2026-01-31T14:05:00Z"
    period = _PERIOD_RE.fullmatch(text)
    try:
        if period is not None:
            year = int(period.group(1))
            month = int(period.group(2) or 1)
            day = int(period.group(3) or 1)
            first = datetime(year, month, day, tzinfo=UTC)
            if not end:
                return first
            try:
                if period.group(3):
                    after = first + timedelta(days=1)
                elif period.group(2):
                    after = first.replace(year=year + month // 12, month=month % 12 + 1)
                else:
                    after = first.replace(year=year + 1)
            except (ValueError, OverflowError):
                return datetime.max.replace(tzinfo=UTC)
            return after - timedelta(microseconds=1)
        if _DATETIME_RE.fullmatch(text) is None:
            raise Invalid(f"captured: {text[:40]!r} is not a date ({hint})")
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise Invalid(f"captured: {text[:40]!r} is not a valid date or time ({hint})") from None


def _captured(raw: str) -> tuple[datetime | None, datetime | None]:
    value = _clean_value("captured", raw)
    if ".." in value:
        left, _, right = (part.strip() for part in value.partition(".."))
        if not left and not right:
            raise Invalid(
                f"captured: needs a date on at least one side of '..', for example {FIELDS['captured']}"
            )
        start = _moment(left, end=False) if left else None
        stop = _moment(right, end=True) if right else None
    else:
        start, stop = _moment(value, end=False), _moment(value, end=True)
    if start is not None and stop is not None and start > stop:
        raise Invalid(f"captured: the range {value[:60]!r} starts after it ends")
    return start, stop


def _apply(filters: list[_Filter]) -> tuple[SearchFilters, SearchSort, SearchMatch]:
    lists: dict[str, list[object]] = {}
    start: datetime | None = None
    stop: datetime | None = None
    near: GeoCircle | None = None
    box: GeoBox | None = None
    sort: SearchSort | None = None
    match: SearchMatch | None = None

    def add(key: str, value: object) -> None:
        values = lists.setdefault(key, [])
        if value not in values:
            values.append(value)

    for item in filters:
        name, raw = item.name, item.value
        if name == "kind":
            add(name, _choice(name, raw, EvidenceKind))
        elif name == "restriction":
            add(name, _choice(name, raw, Restriction))
        elif name == "state":
            add(name, _choice(name, raw, EvidenceStatus))
        elif name in ("officer", "device", "case", "category", "tag"):
            add(name, _clean_value(name, raw))
        elif name == "captured":
            a, b = _captured(raw)
            start, stop = _later(start, a), _earlier(stop, b)
            _check_range(start, stop)
        elif name == "near":
            near = _one("near", near, _near(raw))
        elif name == "bbox":
            box = _one("bbox", box, _box(raw))
        elif name == "match":
            way = _choice(name, raw, SearchMatch)
            if match is not None and match != way:
                raise Invalid(f"match: given twice ({match.value} and {way.value}); choose one")
            match = way
        else:
            chosen = _choice(name, raw, SearchSort)
            if sort is not None and sort != chosen:
                raise Invalid(f"sort: given twice ({sort.value} and {chosen.value}); choose one")
            sort = chosen

    def values(key: str, kind: type[_T]) -> tuple[_T, ...]:
        return tuple(v for v in lists.get(key, []) if isinstance(v, kind))

    return (
        SearchFilters(
            kinds=values("kind", EvidenceKind),
            officers=values("officer", str),
            devices=values("device", str),
            cases=values("case", str),
            categories=values("category", str),
            tags=values("tag", str),
            restrictions=values("restriction", Restriction),
            states=values("state", EvidenceStatus),
            captured_from=start,
            captured_to=stop,
            near=near,
            box=box,
        ),
        sort or SearchSort.RELEVANCE,
        match or SearchMatch.BOTH,
    )


# -- the entry point ------------------------------------------------------------------------


def parse_query(q: str) -> SearchQuery:
    """Parse the text of a search box; raise ``Invalid`` with a message a person can act on.

    Never raises anything else, whatever the text: unbalanced quotes close at the end, lone
    operators and stray parentheses are ignored, and every word is reduced to word characters.
    """
    if len(q) > MAX_QUERY_CHARS:
        raise Invalid(f"the query is too long: at most {MAX_QUERY_CHARS} characters")
    text = unicodedata.normalize("NFKC", q).translate(_QUOTES)
    tokens = _tokens(text)
    tree = _Parser(tokens).query()
    filters: list[_Filter] = []
    expr = None if tree is None else _lower(tree, filters, negated=False, ored=False)
    search_filters, sort, match = _apply(filters)
    return SearchQuery(text=expr, filters=search_filters, sort=sort, match=match)


# -- results --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hit:
    evidence_id: str
    score: float
    snippet: str  # matches marked \x02 ... \x03; HTML-escape first, then turn them into <mark>
    source: str = "metadata"  # "metadata" | "transcript" | "ocr" | ...
    at_seconds: float | None = None  # where the best transcript hit starts; None for metadata
    by_meaning: bool = False  # the snippet is the passage closest in meaning (no word matched)


@dataclass(frozen=True)
class FacetCount:
    value: str
    count: int


@dataclass(frozen=True)
class SearchResult:
    hits: list[Hit]
    total: int
    facets: dict[str, list[FacetCount]] = field(default_factory=dict)  # keys: FACET_FIELDS
    # False when the matching set was too large to count: ``total`` is then a lower bound
    # (the search stopped counting there) and the facets count the best ``total`` matches only.
    total_exact: bool = True
