"""The search query language: its syntax tree, its filters, its results, and the parser.

One language serves the API, the CLI and the search box of the web pages::

    burglary "red pickup" burg* (knife OR gun) -draft NOT test
    kind:video tag:night tag:"car park" captured:2026-01-01..2026-02-01 near:52.37,4.89,2km sort:newest

Words are normalised (NFKC, case-folded) and reduced to word characters, so no character that
means something to a full-text engine or to SQL ever reaches a backend raw. This module is pure:
no I/O, no clock, nothing but values in and values out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from opendems.domain.evidence import EvidenceKind, EvidenceStatus, Restriction

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
    """South <= north, west <= east (boxes across the 180th meridian are refused by the parser)."""

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

    def merged(self, extra: SearchFilters) -> SearchQuery:
        """This query with ``extra`` (say, API parameters) added to its filters."""
        return SearchQuery(text=self.text, filters=merge_filters(self.filters, extra), sort=self.sort)


def merge_filters(a: SearchFilters, b: SearchFilters) -> SearchFilters:
    raise NotImplementedError  # filled in with the parser


def parse_query(q: str) -> SearchQuery:
    """Parse the text of a search box; raise ``Invalid`` with a message a person can act on."""
    raise NotImplementedError


def positive_words(expr: Expr | None) -> list[str]:
    """The words (phrase words included) that are not under a ``Not``, for highlighting."""
    raise NotImplementedError


# -- results --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hit:
    evidence_id: str
    score: float
    snippet: str  # matches marked \x02 ... \x03; HTML-escape first, then turn them into <mark>
    source: str = "metadata"  # "metadata" | "transcript" | "ocr" | ...
    at_seconds: float | None = None  # where the best transcript hit starts; None for metadata


@dataclass(frozen=True)
class FacetCount:
    value: str
    count: int


@dataclass(frozen=True)
class SearchResult:
    hits: list[Hit]
    total: int
    facets: dict[str, list[FacetCount]] = field(default_factory=dict)  # keys: FACET_FIELDS
