"""Search: one query language over every item's metadata and text, with filters and facets."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from opendems.domain.search import SearchMatch, SearchSort
from opendems.services import search_view as view
from opendems.services.context import Actor
from opendems.web.deps import actor, container

router = APIRouter(prefix="/api/v1/search", tags=["search"])
ActorDep = Annotated[Actor, Depends(actor)]

DESCRIPTION = """\
Ranked full-text search over titles, descriptions, tags, custom fields, notes, probe
metadata and text derivatives (transcripts, OCR text), among the items the caller may see --
results, the total and the facet counts alike.

**Query language** (`q`): words (stemmed), `"a phrase"`, `prefix*`, `AND`, `OR`, `NOT` / `-word`
(upper-case operators), parentheses, and field filters `kind:` `officer:` `device:` `case:`
`category:` `tag:` `restriction:` `state:` `captured:FROM..TO` `near:LAT,LON,RADIUS` (`500m`,
`2km`) `bbox:SOUTH,WEST,NORTH,EAST` `sort:relevance|newest|oldest|captured`
`match:both|words|meaning`. Example:
`burglary "red pickup" -draft kind:video captured:2026-01-01..2026-02-01`.

**Meaning** (`match`, or `match:` in `q`): by default the words are matched both as words
and by meaning -- the words not negated, read as a sentence, are compared with what each
item's description, transcripts and OCR text say (an offline sentence-embedding model), so
a paraphrase finds an item none of whose words it shares; the two rankings are combined
(reciprocal rank fusion: `score` is then the fused score). `words`: the words must be there
(full-text only, `score` from the full-text ranking). `meaning`: by meaning only (`score` is
the cosine similarity). Filters, access and negated words apply to both. A hit found by
meaning alone has `by_meaning` true, no highlights, and its snippet is the passage closest in
meaning (for a transcript, `at_seconds` is where that passage starts).

The separate filter parameters are read exactly like the same filters inside `q` and added
to them (repeat a parameter to accept any of its values; every `tag` must match). A query
that cannot be read is a 422 problem whose `detail` says what to change.

**Snippets** are plain text (never HTML). `highlights` lists the `[start, end)` ranges of the
matching words in it, counted in Unicode code points. `source` says where the snippet comes
from (`metadata`, `transcript`, `ocr`); for a transcript hit `at_seconds` is where the
passage starts (open the item's player at that second); for an OCR hit `page` is the
document's page (a photo's text is page 1).
"""


class ItemSummaryOut(BaseModel):
    title: str
    kind: str
    captured_at: datetime | None
    state: str
    restriction: str


class SearchHitOut(BaseModel):
    evidence_id: str
    score: float = Field(description="higher is a better match (0 when nothing was ranked)")
    snippet: str = Field(description="plain text around the best match")
    highlights: list[tuple[int, int]] = Field(
        description="[start, end) ranges of the matches in the snippet, in code points"
    )
    source: str = Field(description="metadata, transcript, ocr, ...")
    at_seconds: float | None = Field(
        description="where a transcript hit starts; null for metadata and OCR text"
    )
    page: int | None = Field(
        default=None, description="the page (from 1) of an OCR hit in a document; null otherwise"
    )
    by_meaning: bool = Field(
        default=False, description="found by meaning alone: the snippet is the passage closest in meaning"
    )
    item: ItemSummaryOut


class FacetCountOut(BaseModel):
    value: str
    count: int


class SearchOut(BaseModel):
    hits: list[SearchHitOut]
    total: int
    total_exact: bool = Field(
        description="false when the match was too broad to count in full: total is then a lower "
        "bound ('at least'), and the facets count the items examined"
    )
    limit: int
    offset: int
    facets: dict[str, list[FacetCountOut]] = Field(
        description="kind, category, officer, device, case, tag, restriction, state: the most "
        "frequent values among all matching items (only with facets=true)"
    )


def _hit(row: view.SearchRow) -> SearchHitOut:
    text, ranges = view.highlight_ranges(row.hit.snippet)
    item = row.item
    return SearchHitOut(
        evidence_id=row.hit.evidence_id,
        score=row.hit.score,
        snippet=text,
        highlights=ranges,
        source=row.hit.source,
        # The index keeps an OCR window's page where a transcript's keeps its second.
        at_seconds=None if row.hit.source == "ocr" else row.hit.at_seconds,
        page=int(row.hit.at_seconds) if row.hit.source == "ocr" and row.hit.at_seconds is not None else None,
        by_meaning=row.hit.by_meaning,
        item=ItemSummaryOut(
            title=item.title,
            kind=item.kind.value,
            captured_at=item.captured_at,
            state=item.state.value,
            restriction=item.restriction.value,
        ),
    )


Many = Annotated[list[str] | None, Query()]


@router.get("", response_model=SearchOut, summary="Search evidence", description=DESCRIPTION)
def search(
    request: Request,
    who: ActorDep,
    q: Annotated[str, Query(description="the query (see above); empty lists by date")] = "",
    limit: Annotated[int, Query(ge=1, le=200)] = 25,
    offset: Annotated[int, Query(ge=0, le=10_000)] = 0,
    facets: Annotated[bool, Query(description="also count the matches per filter value")] = False,
    sort: Annotated[SearchSort | None, Query(description="overrides relevance; or sort: in q")] = None,
    match: Annotated[
        SearchMatch | None,
        Query(description="both (default): words and meaning; words: the words only; meaning: meaning only"),
    ] = None,
    kind: Many = None,
    officer: Many = None,
    device: Many = None,
    case: Many = None,
    category: Many = None,
    tag: Many = None,
    restriction: Many = None,
    state: Many = None,
    captured_from: Annotated[str | None, Query(description="date or ISO date and time")] = None,
    captured_to: Annotated[str | None, Query(description="date (the whole day) or ISO date and time")] = None,
    near: Annotated[str | None, Query(description="LAT,LON,RADIUS, e.g. 52.37,4.89,2km")] = None,
    bbox: Annotated[str | None, Query(description="SOUTH,WEST,NORTH,EAST")] = None,
) -> SearchOut:
    c = container(request)
    given = {
        "kind": kind,
        "officer": officer,
        "device": device,
        "case": case,
        "category": category,
        "tag": tag,
        "restriction": restriction,
        "state": state,
        "captured_from": [captured_from] if captured_from else None,
        "captured_to": [captured_to] if captured_to else None,
        "near": [near] if near else None,
        "bbox": [bbox] if bbox else None,
    }
    extra = view.filters_from_fields([(name, v) for name, values in given.items() for v in values or []])
    page = view.search_page(
        who,
        view.with_match(view.with_sort(q, sort), match),
        extra,
        limit=limit,
        offset=offset,
        facets=facets,
        uow=c.uow(),
        clock=c.clock,
    )
    return SearchOut(
        hits=[_hit(r) for r in page.rows],
        total=page.total,
        total_exact=page.total_exact,
        limit=limit,
        offset=offset,
        facets={
            name: [FacetCountOut(value=f.value, count=f.count) for f in counts]
            for name, counts in page.facets.items()
        },
    )
