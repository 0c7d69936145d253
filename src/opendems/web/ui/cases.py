"""Pages: the case list, a case with its evidence and members, and the synchronised player.

Every page and form calls the same use cases as the API (services/cases.py and
services/members.py), so the one policy function decides what is shown and what may change:
a case outside the user's scope answers the policy's 404 page, a refused change its 403.
A form that fails validation (a missing reason, a duplicate number) comes back with the
service's message next to it, and nothing is changed.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from opendems.domain.access import decide
from opendems.domain.cases import CaseStatus
from opendems.domain.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from opendems.domain.evidence import EvidenceItem, EvidenceKind
from opendems.services import cases as svc
from opendems.services import members as member_svc
from opendems.services.context import Actor
from opendems.web.deps import container
from opendems.web.ui.common import FormWho, P, Who, render

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 25
MAX_IDS = 50
Text = Annotated[str, Form(max_length=200)]
LongText = Annotated[str, Form(max_length=10_000)]
Reason = Annotated[str, Form(max_length=2000)]
NOTICES = {
    "created": "The case is open.",
    "edited": "The case details are saved.",
    "closed": "The case is closed.",
    "reopened": "The case is open again.",
    "removed": "The evidence is taken out of the case.",
    "member_added": "The member is added.",
    "member_removed": "The member is taken off the case.",
    "restricted": "The case's restriction is changed.",
}


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else ""


def _back(number: str, message: str) -> RedirectResponse:
    return RedirectResponse(f"/cases/{quote(number, safe='')}?m={message}", status_code=303)


# -- the list -------------------------------------------------------------------------------


@router.get("/cases", response_class=HTMLResponse)
def case_list(
    request: Request,
    who: Who,
    status: str = "",
    page: Annotated[int, Query(le=1_000_000)] = 1,
    number: str = "",
) -> Response:
    if number.strip():
        return RedirectResponse(f"/cases/{quote(number.strip(), safe='')}", status_code=303)
    return _list_page(request, who, status=status, page=page)


def _list_page(
    request: Request,
    who: Actor,
    *,
    status: str = "",
    page: int = 1,
    form: dict[str, str] | None = None,
    error: str | None = None,
    code: int = 200,
) -> HTMLResponse:
    c = container(request)
    chosen = CaseStatus(status) if status in {s.value for s in CaseStatus} else None
    page = max(page, 1)
    cases, total = svc.list_cases(
        who, status=chosen, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE, uow=c.uow()
    )
    pages = max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1)

    def link(n: int) -> str:
        return "/cases?" + urlencode({k: v for k, v in (("status", status), ("page", n)) if v})

    return render(
        request,
        "cases.html",
        {
            "section": "cases",
            "cases": cases,
            "total": total,
            "status": chosen.value if chosen else "",
            "page": page,
            "pages": pages,
            "prev_link": link(page - 1) if page > 1 else None,
            "next_link": link(page + 1) if page < pages else None,
            "form": form or {},
            "error": error,
            "when": when,
        },
        status=code,
    )


@router.post("/cases", response_class=HTMLResponse)
def create(
    request: Request,
    who: FormWho,
    number: Annotated[str, Form(max_length=64)] = "",
    title: Text = "",
    incident_number: Annotated[str, Form(max_length=64)] = "",
    case_type: Text = "",
    description: LongText = "",
) -> Response:
    c = container(request)
    fields = {
        "title": title,
        "incident_number": incident_number,
        "case_type": case_type,
        "description": description,
    }
    try:
        case = svc.create_case(who, number, fields, uow=c.uow(), clock=c.clock)
    except (Invalid, Conflict) as exc:
        return _list_page(request, who, form={"number": number, **fields}, error=exc.message, code=exc.status)
    return _back(case.number, "created")


# -- one case ---------------------------------------------------------------------------------


def _detail(
    request: Request,
    who: Actor,
    number: str,
    *,
    notice: str | None = None,
    error: str | None = None,
    error_form: str | None = None,
    form: dict[str, str] | None = None,
    outcomes: list[dict[str, str]] | None = None,
    code: int = 200,
) -> HTMLResponse:
    c = container(request)
    case = svc.get_case(who, number, uow=c.uow(), clock=c.clock)
    items = svc.case_evidence(who, case.number, uow=c.uow(), clock=c.clock)
    members = member_svc.list_members(who, "case", case.number, uow=c.uow(), clock=c.clock)
    return render(
        request,
        "case.html",
        {
            "section": "cases",
            "case": case,
            "items": items,
            "members": members,
            "notice": notice,
            "error": error,
            "error_form": error_form,
            "form": form or {},
            "outcomes": outcomes,
            "when": when,
            "thumbnail": _thumbnail if P.EVIDENCE_PLAY in who.principal.permissions else _no_thumbnail,
            "may_manage": P.CASE_MANAGE in who.principal.permissions,
            "may_restrict": {P.CASE_MANAGE, P.EVIDENCE_RESTRICT} <= who.principal.permissions,
        },
        status=code,
    )


def _no_thumbnail(item: EvidenceItem) -> None:
    """For a role that may read records but not see content: no picture, so the browser
    never asks for content it may not have (a refusal would be recorded as a denied view)."""
    return None


def _thumbnail(item: EvidenceItem) -> str | None:
    """The small picture of an item the table shows: a video's poster, an image's thumbnail
    (made from the current original)."""
    source = item.original.sha256 if item.original else None
    kinds = {d.kind for d in item.derivatives if d.source_sha256 == source}
    for kind in ("poster", "thumbnail"):
        if kind in kinds:
            return f"/api/v1/evidence/{item.id}/derivatives/{kind}"
    return None


@router.get("/cases/{number}", response_class=HTMLResponse)
def case_page(request: Request, number: str, who: Who, m: str = "") -> HTMLResponse:
    return _detail(request, who, number, notice=NOTICES.get(m))


def _run(
    request: Request,
    who: Actor,
    number: str,
    form_name: str,
    form: dict[str, str],
    change: Any,
    done: str,
) -> Response:
    """Run one change on a case the user may see: back to the case with a notice, or the
    case again with the service's message at the form (the policy's 403/404 pass through)."""
    c = container(request)
    case = svc.get_case(who, number, uow=c.uow(), clock=c.clock)  # hidden: the policy's 404
    try:
        change(case.number)
    except Forbidden:
        raise
    except (Invalid, Conflict, NotFound) as exc:
        return _detail(
            request, who, case.number, error=exc.message, error_form=form_name, form=form, code=exc.status
        )
    return _back(case.number, done)


@router.post("/cases/{number}/edit", response_class=HTMLResponse)
def edit(
    request: Request,
    number: str,
    who: FormWho,
    title: Text = "",
    incident_number: Annotated[str, Form(max_length=64)] = "",
    case_type: Text = "",
    description: LongText = "",
    reason: Reason = "",
) -> Response:
    c = container(request)
    changes = {
        "title": title,
        "incident_number": incident_number,
        "case_type": case_type,
        "description": description,
    }
    return _run(
        request,
        who,
        number,
        "edit",
        {**changes, "reason": reason},
        lambda n: svc.edit_case(who, n, changes, reason=reason, uow=c.uow(), clock=c.clock),
        "edited",
    )


@router.post("/cases/{number}/status", response_class=HTMLResponse)
def change_status(
    request: Request,
    number: str,
    who: FormWho,
    action: Annotated[str, Form(max_length=10)] = "",
    reason: Reason = "",
) -> Response:
    c = container(request)

    def change(n: str) -> None:
        if action not in {"close", "reopen"}:
            raise Invalid("choose to close or to reopen the case")
        svc.set_case_status(who, n, close=action == "close", reason=reason, uow=c.uow(), clock=c.clock)

    return _run(
        request,
        who,
        number,
        "status",
        {"status_reason": reason},
        change,
        "closed" if action == "close" else "reopened",
    )


def split_ids(text: str) -> list[str]:
    """Evidence ids typed or pasted: separated by commas, semicolons or white space."""
    seen: list[str] = []
    for part in re.split(r"[\s,;]+", text.strip()):
        if part and part.upper() not in (s.upper() for s in seen):
            seen.append(part)
    return seen


@router.post("/cases/{number}/evidence", response_class=HTMLResponse)
def add_evidence(
    request: Request,
    number: str,
    who: FormWho,
    ids: Annotated[str, Form(max_length=4000)] = "",
    reason: Reason = "",
) -> Response:
    """Add one or several items; each one's outcome is shown (an item the user may not see
    is reported as not found, exactly like one that does not exist)."""
    c = container(request)
    case = svc.get_case(who, number, uow=c.uow(), clock=c.clock)
    wanted = split_ids(ids)
    if not wanted or len(wanted) > MAX_IDS:
        message = "enter at least one evidence id" if not wanted else f"enter at most {MAX_IDS} ids at once"
        return _detail(
            request, who, case.number, error=message, error_form="add", form={"ids": ids}, code=422
        )
    outcomes = []
    for evidence_id in wanted:
        try:
            svc.add_evidence(who, case.number, evidence_id, reason=reason or None, uow=c.uow(), clock=c.clock)
        except Forbidden:
            raise
        except DomainError as exc:
            outcomes.append({"id": evidence_id, "ok": "", "message": exc.message})
        else:
            outcomes.append({"id": evidence_id.upper(), "ok": "yes", "message": "added"})
    return _detail(request, who, case.number, outcomes=outcomes)


@router.post("/cases/{number}/evidence/remove", response_class=HTMLResponse)
def remove_evidence(
    request: Request,
    number: str,
    who: FormWho,
    evidence_id: Annotated[str, Form(max_length=64)] = "",
    reason: Reason = "",
) -> Response:
    c = container(request)
    return _run(
        request,
        who,
        number,
        "remove",
        {"evidence_id": evidence_id, "remove_reason": reason},
        lambda n: svc.remove_evidence(who, n, evidence_id, reason=reason, uow=c.uow(), clock=c.clock),
        "removed",
    )


def _member_change(
    request: Request, number: str, who: Actor, username: str, reason: str, *, add: bool
) -> Response:
    c = container(request)
    return _run(
        request,
        who,
        number,
        "members",
        {"username": username, "member_reason": reason},
        lambda n: member_svc.change_member(
            who, "case", n, username, add=add, reason=reason, uow=c.uow(), clock=c.clock
        ),
        "member_added" if add else "member_removed",
    )


@router.post("/cases/{number}/members", response_class=HTMLResponse)
def add_member(
    request: Request,
    number: str,
    who: FormWho,
    username: Annotated[str, Form(max_length=64)] = "",
    reason: Reason = "",
) -> Response:
    return _member_change(request, number, who, username, reason, add=True)


@router.post("/cases/{number}/members/remove", response_class=HTMLResponse)
def remove_member(
    request: Request,
    number: str,
    who: FormWho,
    username: Annotated[str, Form(max_length=64)] = "",
    reason: Reason = "",
) -> Response:
    return _member_change(request, number, who, username, reason, add=False)


@router.post("/cases/{number}/restriction", response_class=HTMLResponse)
def restrict(
    request: Request,
    number: str,
    who: FormWho,
    level: Annotated[str, Form(max_length=20)] = "",
    reason: Reason = "",
) -> Response:
    c = container(request)
    return _run(
        request,
        who,
        number,
        "restriction",
        {"level": level, "restriction_reason": reason},
        lambda n: member_svc.set_case_restriction(who, n, level, reason=reason, uow=c.uow(), clock=c.clock),
        "restricted",
    )


# -- the synchronised player ------------------------------------------------------------------


def _has(item: EvidenceItem, kind: str) -> bool:
    return any(d.kind == kind for d in item.derivatives)


def player_context(timeline: list[svc.TimelineEntry]) -> dict[str, Any]:
    """What the player needs: the videos it can place on the incident's timeline, and the
    case's other items with the reason each one is not in the grid."""
    timed = [e.starts_at for e in timeline if e.starts_at is not None]
    origin = min(timed) if timed else None
    placed: list[dict[str, Any]] = []
    others: list[dict[str, Any]] = []
    for e in timeline:
        item = e.item
        media = item.media or {}
        entry = {
            "id": item.id,
            "title": item.title,
            "kind": item.kind.value,
            "offset": e.offset_s,
            "duration": e.duration_s,
            "fps": media.get("frame_rate") or 30,
            "starts_at": e.starts_at,
            "poster": f"/api/v1/evidence/{item.id}/derivatives/poster" if _has(item, "poster") else "",
        }
        if item.kind is EvidenceKind.AUDIO or media.get("kind") == "audio":
            others.append({**entry, "reason": "audio only: play it from its own page"})
        elif item.kind is EvidenceKind.VIDEO and not _has(item, "proxy"):
            others.append({**entry, "reason": "not processed yet (no playable copy)"})
        elif item.kind is EvidenceKind.VIDEO and e.offset_s is None:
            others.append({**entry, "reason": "no capture time: it cannot be placed", "placeable": True})
        elif item.kind is EvidenceKind.VIDEO:
            placed.append(entry)
        else:
            others.append({**entry, "reason": f"{item.kind.value}: not a recording"})
    return {"origin": origin, "placed": placed, "others": others}


@router.get("/cases/{number}/play", response_class=HTMLResponse)
def play(request: Request, number: str, who: Who) -> HTMLResponse:
    c = container(request)
    case = svc.get_case(who, number, uow=c.uow(), clock=c.clock)
    allowed = decide(who.principal, P.EVIDENCE_PLAY)
    if not allowed.allowed:  # its videos would each be refused, and recorded as a denied view
        raise Forbidden(f"you may not {P.EVIDENCE_PLAY.value.replace(':', ' ')} ({allowed.reason})")
    timeline = svc.case_timeline(who, case.number, uow=c.uow(), clock=c.clock)
    return render(request, "case_play.html", {"section": "cases", "case": case, **player_context(timeline)})
