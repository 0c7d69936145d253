"""The evidence library: every item the user may see, filtered, sorted and paged, as a table
or a grid of thumbnails, with bulk tagging, adding to a case and changing the category.

The filter form is a plain GET (shareable URLs, a working back button); with JavaScript,
htmx swaps only the results and pushes the URL. Bulk actions run each item through its own
use case, so each one is checked by the policy and recorded in custody on its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from opendems.domain.errors import DomainError, Invalid
from opendems.domain.evidence import (
    Derivative,
    EvidenceFilter,
    EvidenceItem,
    EvidenceKind,
    EvidenceSort,
    EvidenceStatus,
)
from opendems.services import cases as case_svc
from opendems.services import evidence as svc
from opendems.web.deps import container
from opendems.web.ui.common import FormWho, P, Who, render

router = APIRouter(include_in_schema=False)

PAGE_SIZES = (25, 50, 100)
MAX_TEXT = 200
TEXT_FIELDS = ("q", "officer", "device", "case", "category", "tag")
SORTS: dict[EvidenceSort, str] = {
    EvidenceSort.NEWEST: "Newest added first",
    EvidenceSort.OLDEST: "Oldest added first",
    EvidenceSort.CAPTURED_NEWEST: "Captured, newest first",
    EvidenceSort.CAPTURED_OLDEST: "Captured, oldest first",
    EvidenceSort.TITLE: "Title A-Z",
    EvidenceSort.TITLE_DESC: "Title Z-A",
    EvidenceSort.ID: "Evidence id, ascending",
    EvidenceSort.ID_DESC: "Evidence id, descending",
}
STATE_BADGE = {
    EvidenceStatus.READY: "ok",
    EvidenceStatus.PROCESSING: "info",
    EvidenceStatus.FAILED: "bad",
    EvidenceStatus.ON_HOLD: "warn",
    EvidenceStatus.DISPOSED: "plain",
}
RESTRICTION_BADGE = {"restricted": "warn", "sealed": "sealed"}


@dataclass(frozen=True)
class LibraryQuery:
    """What the library was asked for: the filter, the page, and the raw form values."""

    filter: EvidenceFilter
    page: int
    size: int
    view: str
    values: dict[str, str]

    def url(self, **changes: Any) -> str:
        values = {**self.values, **{k: str(v) for k, v in changes.items()}}
        defaults = {
            "sort": EvidenceSort.NEWEST.value,
            "size": str(PAGE_SIZES[0]),
            "view": "table",
            "page": "1",
        }
        kept = {k: v for k, v in values.items() if v and defaults.get(k) != v}
        return "/evidence" + (f"?{urlencode(kept)}" if kept else "")


def _choice(values: dict[str, str], name: str, kind: Any, label: str) -> Any:
    raw = values.get(name, "")
    if not raw:
        return None
    try:
        return kind(raw)
    except ValueError:
        allowed = ", ".join(v.value for v in kind)
        raise Invalid(f"{label} {raw!r} is not one of: {allowed}") from None


def _day(values: dict[str, str], name: str, label: str) -> date | None:
    raw = values.get(name, "")
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise Invalid(f"{label} {raw!r} is not a date (YYYY-MM-DD)") from None


def _number(values: dict[str, str], name: str, default: int) -> int:
    raw = values.get(name, "")
    if not raw:
        return default
    if not raw.isdecimal() or not 1 <= int(raw) <= 1_000_000:
        raise Invalid(f"{name} {raw!r} is not a positive whole number")
    return int(raw)


def parse_query(params: dict[str, str], me: int) -> LibraryQuery:
    """The library's query parameters (empty ones mean 'any'); ``Invalid`` for anything a
    form could not have sent."""
    values = {k: v.strip() for k, v in params.items() if isinstance(v, str)}
    for name in TEXT_FIELDS:
        if len(values.get(name, "")) > MAX_TEXT:
            raise Invalid(f"{name} is longer than {MAX_TEXT} characters")
    first = _day(values, "captured_from", "captured from")
    last = _day(values, "captured_to", "captured to")
    if first and last and first > last:
        raise Invalid("the 'captured from' date is after the 'captured to' date")
    size = _number(values, "size", PAGE_SIZES[0])
    if size not in PAGE_SIZES:
        raise Invalid(f"page size must be one of {', '.join(map(str, PAGE_SIZES))}")
    view = values.get("view") or "table"
    if view not in ("table", "grid"):
        raise Invalid("view must be table or grid")
    f = EvidenceFilter(
        kind=_choice(values, "kind", EvidenceKind, "kind"),
        status=_choice(values, "state", EvidenceStatus, "state"),
        sort=_choice(values, "sort", EvidenceSort, "sort") or EvidenceSort.NEWEST,
        q=values.get("q") or None,
        officer=values.get("officer") or None,
        device=values.get("device") or None,
        case_number=values.get("case") or None,
        category=values.get("category") or None,
        tag=values.get("tag") or None,
        captured_from=datetime.combine(first, time.min, UTC) if first else None,
        captured_to=datetime.combine(last, time.min, UTC) + timedelta(days=1, microseconds=-1)
        if last
        else None,
        uploaded_by=me if values.get("mine") == "1" else None,
    )
    known = {*TEXT_FIELDS, "kind", "state", "sort", "captured_from", "captured_to", "size", "view", "mine"}
    return LibraryQuery(
        f, _number(values, "page", 1), size, view, {k: v for k, v in values.items() if k in known}
    )


def thumbnail_of(item: EvidenceItem) -> Derivative | None:
    """The picture a grid shows for the item: a video's poster, a photo's thumbnail or
    preview, a PDF's first page; None when processing made none (yet)."""
    source = item.original.sha256 if item.original else None
    made = {d.kind: d for d in item.derivatives if d.source_sha256 == source}
    for kind in ("thumbnail", "poster", "preview", "page-1"):
        if kind in made:
            return made[kind]
    return None


def _results_only(request: Request) -> bool:
    """An htmx request for the results region (not a history restore, which needs the page)."""
    h = request.headers
    return (
        h.get("hx-request") == "true"
        and h.get("hx-target") == "results"
        and not h.get("hx-history-restore-request")
    )


@router.get("/evidence", response_class=HTMLResponse)
def library(request: Request, who: Who) -> HTMLResponse:
    c = container(request)
    context: dict[str, Any] = {
        "section": "evidence",
        "sorts": SORTS,
        "kinds": list(EvidenceKind),
        "states": list(EvidenceStatus),
        "page_sizes": PAGE_SIZES,
        "state_badge": STATE_BADGE,
        "restriction_badge": RESTRICTION_BADGE,
        "thumbnail_of": thumbnail_of,
        "may_play": P.EVIDENCE_PLAY in who.principal.permissions,
        "may_edit": P.EVIDENCE_EDIT in who.principal.permissions,
        "may_add_to_case": P.CASE_MANAGE in who.principal.permissions,
    }
    try:
        query = parse_query(dict(request.query_params), who.principal.id)
        items, total = svc.list_evidence(
            who,
            query.filter,
            limit=query.size,
            offset=(query.page - 1) * query.size,
            uow=c.uow(),
            clock=c.clock,
        )
        pages = max(1, math.ceil(total / query.size))
        if query.page > pages:  # past the end (the list shrank): show the last page
            query = LibraryQuery(query.filter, pages, query.size, query.view, query.values)
            items, total = svc.list_evidence(
                who,
                query.filter,
                limit=query.size,
                offset=(pages - 1) * query.size,
                uow=c.uow(),
                clock=c.clock,
            )
    except Invalid as exc:
        values = {k: v for k, v in request.query_params.items() if len(v) <= MAX_TEXT}
        query = LibraryQuery(EvidenceFilter(), 1, PAGE_SIZES[0], "table", values)
        context.update(query=query, items=[], total=0, pages=1, error=exc.message)
        template = "_evidence_results.html" if _results_only(request) else "library.html"
        return render(request, template, context, status=exc.status)
    context.update(query=query, items=items, total=total, pages=pages)
    return render(request, "_evidence_results.html" if _results_only(request) else "library.html", context)


# -- bulk actions -------------------------------------------------------------------------

BULK_ACTIONS = {"tag": "Add tags", "case": "Add to case", "category": "Change category"}
MAX_SELECTED = max(PAGE_SIZES)


@dataclass(frozen=True)
class Outcome:
    evidence_id: str
    done: bool
    message: str


def _selected(form: Any) -> list[str]:
    ids: list[str] = []
    for value in form.getlist("ids"):
        if isinstance(value, str) and value.strip() and value.strip() not in ids:
            ids.append(value.strip())
    if not ids:
        raise Invalid("select at least one item (tick its box in the list) before a bulk action")
    if len(ids) > MAX_SELECTED:
        raise Invalid(f"a bulk action takes at most {MAX_SELECTED} items at a time")
    return ids


def _text(form: Any, name: str) -> str:
    value = form.get(name)
    return value.strip()[:10_000] if isinstance(value, str) else ""


def _safe_back(value: str) -> str:
    return value if value.startswith("/evidence") and not value.startswith("//") else "/evidence"


@router.post("/evidence/bulk", response_class=HTMLResponse)
async def bulk(request: Request, who: FormWho) -> HTMLResponse:
    form = await request.form()
    action = _text(form, "action")
    if action not in BULK_ACTIONS:
        raise Invalid("choose a bulk action: add tags, add to case or change category")
    ids = _selected(form)
    tags = [t for t in _text(form, "tags").split(",") if t.strip()]
    case_number = _text(form, "case_number")
    category = _text(form, "category")
    reason = _text(form, "reason")
    if action == "tag" and not tags:
        raise Invalid("type one or more tags, separated by commas")
    if action == "case" and not case_number:
        raise Invalid("type the number of the case to add the items to")
    if action == "category" and not category:
        raise Invalid("type the new category")
    if action == "category" and not reason:
        raise Invalid("changing the category needs a reason (it is kept in the chain of custody)")
    c = container(request)

    def apply(evidence_id: str) -> str:
        if action == "tag":
            svc.change_tags(
                who, evidence_id, add=tags, reason=reason or None, uow=c.uow(), clock=c.clock, limits=c.limits
            )
            return "tagged"
        if action == "case":
            case = case_svc.add_evidence(
                who, case_number, evidence_id, reason=reason or None, uow=c.uow(), clock=c.clock
            )
            return f"added to case {case.number}"
        svc.edit_evidence(
            who,
            evidence_id,
            {"category": category},
            reason=reason,
            uow=c.uow(),
            clock=c.clock,
            limits=c.limits,
        )
        return f"category set to {category}"

    def run_all() -> list[Outcome]:
        outcomes = []
        for evidence_id in ids:
            try:
                outcomes.append(Outcome(evidence_id, True, apply(evidence_id)))
            except DomainError as exc:  # one bad item never stops the others
                outcomes.append(Outcome(evidence_id, False, exc.message))
        return outcomes

    outcomes = await run_in_threadpool(run_all)
    done = sum(1 for o in outcomes if o.done)
    return render(
        request,
        "library_bulk.html",
        {
            "section": "evidence",
            "action": BULK_ACTIONS[action],
            "outcomes": outcomes,
            "done": done,
            "refused": len(outcomes) - done,
            "back": _safe_back(_text(form, "back")),
        },
    )
