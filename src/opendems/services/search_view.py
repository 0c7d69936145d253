"""A page of search results as people see it: each hit with the item it names.

The index answers with evidence ids, scores and snippets; a result list also shows each
item's title, kind, capture time and state. Those are read here, for the items the actor
may see -- asked of the one policy function item by item -- and reading them for a list is
not a view of each item, so nothing is recorded per hit (the search itself is recorded by
``services.search`` where the policy asks for it).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime

from opendems.domain.access import Permission, decide
from opendems.domain.errors import Invalid
from opendems.domain.evidence import EvidenceKind, EvidenceStatus, Restriction
from opendems.domain.search import FacetCount, Hit, SearchFilters, SearchMatch, SearchSort, parse_query
from opendems.ports import Clock, UnitOfWork
from opendems.services import search as search_svc
from opendems.services.context import Actor

MARK_START = "\x02"
MARK_END = "\x03"
# What the query parser reads as a double quote.
QUOTES = str.maketrans(dict.fromkeys("\u201c\u201d\u201e\u201f\u00ab\u00bb", '"'))


@dataclass(frozen=True)
class ItemSummary:
    id: str
    title: str
    kind: EvidenceKind
    captured_at: datetime | None
    state: EvidenceStatus
    restriction: Restriction


@dataclass(frozen=True)
class SearchRow:
    hit: Hit
    item: ItemSummary


@dataclass(frozen=True)
class SearchPage:
    rows: list[SearchRow]
    total: int
    facets: dict[str, list[FacetCount]]
    total_exact: bool = True  # false: a broad match was cut; total is a lower bound


def summaries(actor: Actor, evidence_ids: list[str], *, uow: UnitOfWork) -> dict[str, ItemSummary]:
    """The summaries of those of these items the actor may see (the others are left out)."""
    out: dict[str, ItemSummary] = {}
    if not evidence_ids or not decide(actor.principal, Permission.EVIDENCE_VIEW):
        return out
    with uow.for_reading() as reader:
        for evidence_id in dict.fromkeys(evidence_ids):
            item = reader.evidence.get(evidence_id)
            if item is None:
                continue
            if not decide(actor.principal, Permission.EVIDENCE_VIEW, reader.access.evidence_attrs(item)):
                continue
            out[item.id] = ItemSummary(
                id=item.id,
                title=item.title,
                kind=item.kind,
                captured_at=item.captured_at,
                state=item.status,
                restriction=item.restriction,
            )
    return out


def search_page(
    actor: Actor,
    text: str,
    extra: SearchFilters | None = None,
    *,
    limit: int,
    offset: int,
    facets: bool,
    uow: UnitOfWork,
    clock: Clock,
) -> SearchPage:
    """``services.search.search`` with each hit's item summary. A hit whose item went out of
    reach between the two reads (deleted, sealed) is left out rather than shown bare."""
    result = search_svc.search(
        actor, text, extra, limit=limit, offset=offset, facets=facets, uow=uow, clock=clock
    )
    found = summaries(actor, [h.evidence_id for h in result.hits], uow=uow)
    rows = [SearchRow(hit=h, item=found[h.evidence_id]) for h in result.hits if h.evidence_id in found]
    return SearchPage(rows=rows, total=result.total, facets=result.facets, total_exact=result.total_exact)


def highlight_ranges(snippet: str) -> tuple[str, list[tuple[int, int]]]:
    """The snippet's plain text and the ``[start, end)`` ranges (in characters) of its marked
    matches. Unbalanced or nested markers are dropped, never shown."""
    plain: list[str] = []
    ranges: list[tuple[int, int]] = []
    length = 0
    start: int | None = None
    for ch in snippet:
        if ch == MARK_START:
            if start is None:
                start = length
        elif ch == MARK_END:
            if start is not None and length > start:
                ranges.append((start, length))
            start = None
        else:
            plain.append(ch)
            length += 1
    if start is not None and length > start:
        ranges.append((start, length))
    return "".join(plain), ranges


def pieces(snippet: str) -> list[tuple[str, bool]]:
    """The snippet as (text, is-a-match) pieces in order, for whatever renders it."""
    text, ranges = highlight_ranges(snippet)
    out: list[tuple[str, bool]] = []
    at = 0
    for start, end in ranges:
        if start > at:
            out.append((text[at:start], False))
        out.append((text[start:end], True))
        at = end
    if at < len(text):
        out.append((text[at:], False))
    return out


# -- the query's parts given separately (API parameters, form fields) ------------------------

FILTER_PARAMS = (
    "kind",
    "officer",
    "device",
    "case",
    "category",
    "tag",
    "restriction",
    "state",
    "near",
    "bbox",
)


def filters_from_fields(fields: list[tuple[str, str]]) -> SearchFilters:
    """Filters given one value per field (``("tag", "night")``, ``("captured_from",
    "2026-01-01")``) read exactly as the same filters inside a query, with the same checks
    and messages. Values of one field OR together, tags AND together."""
    terms: list[str] = []
    for name, raw in fields:
        value = raw.strip()
        if not value:
            continue
        if '"' in unicodedata.normalize("NFKC", value).translate(QUOTES):
            raise Invalid(f"{name}: a value cannot hold a double quote")
        if name == "captured_from":
            terms.append(f'captured:"{value}.."')
        elif name == "captured_to":
            terms.append(f'captured:"..{value}"')
        elif name in FILTER_PARAMS:
            terms.append(f'{name}:"{value}"')
        else:
            raise Invalid(f"unknown filter {name!r}")
    if not terms:
        return SearchFilters()
    parsed = parse_query(" ".join(terms))
    return parsed.filters


def with_sort(text: str, sort: SearchSort | None) -> str:
    """The query text with a sort order added (an unbalanced quote or parenthesis in the
    text cannot swallow it); a different ``sort:`` inside the text is a clear error."""
    if sort is None:
        return text
    quotes = unicodedata.normalize("NFKC", text).translate(QUOTES).count('"')
    closed = text + ('"' if quotes % 2 else "")
    return f"({closed}) sort:{sort.value}" if text.strip() else f"sort:{sort.value}"


def with_match(text: str, match: SearchMatch | None) -> str:
    """The query text with how its words find items (``match:words`` and so on) added, as
    ``with_sort`` adds an order; a different ``match:`` inside the text is a clear error."""
    if match is None:
        return text
    quotes = unicodedata.normalize("NFKC", text).translate(QUOTES).count('"')
    closed = text + ('"' if quotes % 2 else "")
    return f"({closed}) match:{match.value}" if text.strip() else f"match:{match.value}"
