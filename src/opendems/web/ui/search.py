"""The search page: one box for the query language, ranked results with highlighted
snippets, facet counts that narrow the query, a sort order and pages.

"Exact words only" (``words=1``) adds ``match:words`` to the query: by default the words also
find items by meaning (see ``domain.search``), and a hit found by meaning alone says so.

The form is a plain GET (shareable URLs, a working back button); with JavaScript, htmx swaps
only the results and pushes the URL. A facet link adds its filter to the query text, so the
query box always says what is being searched.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup, escape

from opendems.domain.errors import Invalid
from opendems.domain.search import FACET_FIELDS, SearchMatch, SearchSort, parse_query
from opendems.services import search_view as view
from opendems.web.deps import container
from opendems.web.ui.common import Who, render

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 25
MAX_PAGE = 10_000 // PAGE_SIZE + 1  # the service pages no deeper than 10,000 results
MAX_Q = 1000
SORTS: dict[str, str] = {
    SearchSort.RELEVANCE.value: "Best match",
    SearchSort.NEWEST.value: "Newest added first",
    SearchSort.OLDEST.value: "Oldest added first",
    SearchSort.CAPTURED.value: "Captured, newest first",
}
FACET_LABELS = {
    "kind": "Kind",
    "category": "Category",
    "officer": "Officer",
    "device": "Device",
    "case": "Case",
    "tag": "Tag",
    "restriction": "Restriction",
    "state": "State",
}
SOURCE_LABELS = {"metadata": "Details", "transcript": "Transcript", "ocr": "Text in the file"}
_SORT_TERM = re.compile(r"(?i)(?<![^\s(])sort:")
_PLAIN_VALUE = re.compile(r"[\w.\-]+")


@dataclass(frozen=True)
class PageQuery:
    """What the page was asked for: the query text, the chosen order, the page."""

    q: str
    sort: str  # "" when the query text decides (relevance by default)
    page: int
    asked: bool  # a query was submitted (an empty one lists everything by date)
    words: bool = False  # exact words only (no meaning search)

    def url(self, **changes: Any) -> str:
        values: dict[str, Any] = {
            "q": self.q,
            "sort": self.sort,
            "page": self.page,
            "words": "1" if self.words else "",
            **changes,
        }
        kept = {k: str(v) for k, v in values.items() if k == "q" or (v and str(v) != "1")}
        return "/search?" + urlencode(kept)


def filter_term(field: str, value: str) -> str | None:
    """The query term that asks for ``field`` = ``value``; None when no term can say it."""
    if '"' in value or not value.strip():
        return None
    return f"{field}:{value}" if _PLAIN_VALUE.fullmatch(value) else f'{field}:"{value}"'


def snippet_html(snippet: str) -> Markup:
    """The snippet HTML-escaped, with its matches in ``<mark>``."""
    out = []
    for text, match in view.pieces(snippet):
        out.append(Markup("<mark>{}</mark>").format(text) if match else escape(text))
    return Markup("").join(out)


def timestamp(seconds: float) -> str:
    whole = int(seconds)
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _applied(q: str) -> dict[str, set[str]]:
    """The filter values the query text already asks for, case-folded, per facet."""
    try:
        f = parse_query(q).filters
    except Invalid:
        return {}
    values: dict[str, tuple[Any, ...]] = {
        "kind": f.kinds,
        "category": f.categories,
        "officer": f.officers,
        "device": f.devices,
        "case": f.cases,
        "tag": f.tags,
        "restriction": f.restrictions,
        "state": f.states,
    }
    return {k: {str(getattr(v, "value", v)).casefold() for v in vs} for k, vs in values.items()}


def _page_number(raw: str) -> int:
    if not raw:
        return 1
    if not raw.isascii() or not raw.isdecimal() or not 1 <= int(raw) <= MAX_PAGE:
        raise Invalid(f"page must be a whole number from 1 to {MAX_PAGE}")
    return int(raw)


def _results_only(request: Request) -> bool:
    """An htmx request for the results region (not a history restore, which needs the page)."""
    h = request.headers
    return (
        h.get("hx-request") == "true"
        and h.get("hx-target") == "search-results"
        and not h.get("hx-history-restore-request")
    )


@router.get("/search", response_class=HTMLResponse)
def search_page(request: Request, who: Who) -> HTMLResponse:
    c = container(request)
    params = request.query_params
    q = params.get("q", "")[: MAX_Q + 1]
    sort = params.get("sort", "").strip()
    context: dict[str, Any] = {
        "section": "search",
        "sorts": SORTS,
        "facet_labels": FACET_LABELS,
        "facet_fields": FACET_FIELDS,
        "source_labels": SOURCE_LABELS,
        "snippet_html": snippet_html,
        "timestamp": timestamp,
        "filter_term": filter_term,
        "rows": [],
        "facets": {},
        "total": 0,
        "pages": 1,
        "error": None,
    }
    template = "_search_results.html" if _results_only(request) else "search.html"
    words = params.get("words", "") == "1"
    query = PageQuery(q=q, sort=sort if sort in SORTS else "", page=1, asked="q" in params, words=words)
    try:
        if sort and sort not in SORTS:
            raise Invalid(f"sort must be one of: {', '.join(SORTS)}")
        if _SORT_TERM.search(q):  # an order written in the query wins over the form's
            sort = ""
        query = PageQuery(
            q=q, sort=sort, page=_page_number(params.get("page", "")), asked="q" in params, words=words
        )
        context["query"] = query
        context["applied"] = _applied(q)
        context["current_sort"] = sort or parse_query(q).sort.value
        if not query.asked:
            return render(request, template, context)
        text = view.with_match(
            view.with_sort(q, SearchSort(sort) if sort else None), SearchMatch.WORDS if words else None
        )
        found = view.search_page(
            who,
            text,
            limit=PAGE_SIZE,
            offset=(query.page - 1) * PAGE_SIZE,
            facets=True,
            uow=c.uow(),
            clock=c.clock,
        )
        pages = min(MAX_PAGE, max(1, math.ceil(found.total / PAGE_SIZE)))
        if query.page > pages and found.total:  # past the end (the results shrank): the last page
            query = PageQuery(q=q, sort=sort, page=pages, asked=True, words=words)
            context["query"] = query
            found = view.search_page(
                who,
                text,
                limit=PAGE_SIZE,
                offset=(pages - 1) * PAGE_SIZE,
                facets=True,
                uow=c.uow(),
                clock=c.clock,
            )
        context.update(
            rows=found.rows,
            facets=found.facets,
            total=found.total,
            total_exact=found.total_exact,
            pages=pages,
        )
    except Invalid as exc:
        context.update(query=query, applied={}, error=exc.message)
        return render(request, template, context, status=exc.status)
    return render(request, template, context)
