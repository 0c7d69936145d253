"""Sharing and court exports in the browser: share items or a case, follow a share's
activity, revoke it or give a new access code; request and download court exports."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from opendems.domain.errors import Conflict, Forbidden, Invalid, NotFound
from opendems.domain.exports import ExportContent
from opendems.domain.sharing import RecipientKind, ShareAccess, ShareContent, ShareTerms
from opendems.services import exports as export_svc
from opendems.services import sharing as svc
from opendems.web.deps import container
from opendems.web.ui.common import FormWho, Who, render

router = APIRouter(include_in_schema=False)
STATE_BADGE = {"active": "ok", "expired": "plain", "revoked": "bad", "exhausted": "warn", "locked": "bad"}
Short = Annotated[str, Form(max_length=320)]


@router.get("/shares", response_class=HTMLResponse)
def shares_page(request: Request, who: Who) -> HTMLResponse:
    c = container(request)
    made, received = svc.list_shares(who, uow=c.uow(), clock=c.clock)
    return render(
        request,
        "shares.html",
        {"section": "shares", "made": made, "received": received, "now": c.clock.now(), "badge": STATE_BADGE},
    )


def _new_form(
    request: Request, form: dict[str, Any], error: str | None = None, status: int = 200
) -> HTMLResponse:
    c = container(request)
    default_expiry = (c.clock.now() + timedelta(days=30)).date().isoformat()
    return render(
        request,
        "share_new.html",
        {"section": "shares", "form": {"expires": default_expiry, **form}, "error": error},
        status=status,
    )


@router.get("/shares/new", response_class=HTMLResponse)
def new_share(
    request: Request,
    who: Who,
    case: Annotated[str, Query(max_length=64)] = "",
    evidence: Annotated[str, Query(max_length=40)] = "",
    export: Annotated[str, Query(max_length=40)] = "",
) -> HTMLResponse:
    return _new_form(request, {"case": case, "evidence": evidence, "export": export})


@router.post("/shares/new", response_class=HTMLResponse)
def create_share(
    request: Request,
    who: FormWho,
    recipient_kind: Annotated[str, Form(max_length=8)] = "link",
    username: Short = "",
    name: Short = "",
    email: Short = "",
    case: Short = "",
    evidence: Short = "",
    export: Short = "",
    access: Annotated[str, Form(max_length=16)] = "view",
    content: Annotated[str, Form(max_length=16)] = "original",
    expires: Annotated[str, Form(max_length=20)] = "",
    max_downloads: Annotated[str, Form(max_length=8)] = "",
    watermark: Annotated[str, Form(max_length=4)] = "",
    reshare: Annotated[str, Form(max_length=4)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    c = container(request)
    form = {
        "recipient_kind": recipient_kind, "username": username, "name": name, "email": email, "case": case,
        "evidence": evidence, "export": export, "access": access, "content": content, "expires": expires,
        "max_downloads": max_downloads, "watermark": watermark, "reshare": reshare, "note": note,
    }  # fmt: skip
    try:
        try:
            day = datetime.strptime(expires, "%Y-%m-%d").date() if expires else None
            limit = int(max_downloads) if max_downloads.strip() else None
            kind, chosen_access, chosen_content = (
                RecipientKind(recipient_kind), ShareAccess(access), ShareContent(content)
            )  # fmt: skip
        except ValueError:
            raise Invalid("check the expiry date, the download limit and the choices") from None
        req = svc.ShareRequest(
            recipient_kind=kind,
            terms=ShareTerms(
                chosen_access,
                chosen_content,
                datetime.combine(day, time(23, 59, 59), UTC) if day else None,
                limit,
                bool(watermark),
                bool(reshare),
            ),
            evidence_ids=[e for e in evidence.replace(",", " ").split() if e],
            case_number=case.strip() or None,
            export_ids=[e for e in export.replace(",", " ").split() if e],
            recipient_username=username,
            recipient_name=name,
            recipient_email=email,
            note=note,
        )
        made = svc.create_share(who, req, uow=c.uow(), clock=c.clock)
    except (Invalid, NotFound, Forbidden, Conflict) as exc:
        return _new_form(request, form, exc.message, exc.status)
    link = str(request.base_url).rstrip("/") + f"/s/{made.link_token}" if made.link_token else None
    return render(
        request,
        "share_created.html",
        {"section": "shares", "share": made.share, "link": link, "code": made.access_code},
        status=201,
    )


@router.get("/shares/{share_id}", response_class=HTMLResponse)
def share_page(share_id: str, request: Request, who: Who, notice: str = "") -> HTMLResponse:
    c = container(request)
    detail = svc.share_detail(who, share_id, uow=c.uow(), clock=c.clock)
    return render(
        request,
        "share_detail.html",
        {
            "section": "shares",
            "d": detail,
            "share": detail.share,
            "now": c.clock.now(),
            "badge": STATE_BADGE,
            "notice": {"revoked": "The share was revoked."}.get(notice),
        },
    )


@router.post("/shares/{share_id}/revoke", response_class=HTMLResponse)
def revoke(
    share_id: str, request: Request, who: FormWho, reason: Annotated[str, Form(max_length=2000)] = ""
) -> Response:
    c = container(request)
    share = svc.revoke_share(who, share_id, reason, uow=c.uow(), clock=c.clock)
    return RedirectResponse(f"/shares/{share.id}?notice=revoked", status_code=303)


@router.post("/shares/{share_id}/code", response_class=HTMLResponse)
def new_code(share_id: str, request: Request, who: FormWho) -> HTMLResponse:
    c = container(request)
    code = svc.new_code(who, share_id, uow=c.uow(), clock=c.clock)
    detail = svc.share_detail(who, share_id, uow=c.uow(), clock=c.clock)
    return render(
        request,
        "share_detail.html",
        {"section": "shares", "d": detail, "share": detail.share, "now": c.clock.now(), "badge": STATE_BADGE,
         "new_code": code},
    )  # fmt: skip


# -- court exports -----------------------------------------------------------------------------


@router.get("/exports", response_class=HTMLResponse)
def exports_page(request: Request, who: Who) -> HTMLResponse:
    c = container(request)
    exports = export_svc.list_exports(who, uow=c.uow())
    with c.uow() as uow:
        found = uow.jobs.of_kinds([f"export:{e.id}" for e in exports])
        jobs = {j.kind.partition(":")[2]: j for j in reversed(found)}  # the newest job of each
    return render(request, "exports.html", {"section": "shares", "exports": exports, "jobs": jobs})


@router.post("/exports", response_class=HTMLResponse)
def create_export(
    request: Request,
    who: FormWho,
    title: Annotated[str, Form(max_length=200)] = "",
    case: Short = "",
    evidence: Short = "",
    content: Annotated[str, Form(max_length=16)] = "original",
) -> Response:
    c = container(request)
    try:
        export = export_svc.create_export(
            who,
            title=title,
            evidence_ids=[e for e in evidence.replace(",", " ").split() if e],
            case_number=case.strip() or None,
            content=ExportContent.REDACTED if content == "redacted" else ExportContent.ORIGINAL,
            uow=c.uow(),
            clock=c.clock,
        )
    except (Invalid, NotFound, Forbidden) as exc:
        return render(request, "flash.html", {"title": "The export was not started", "message": exc.message},
                      status=exc.status)  # fmt: skip
    return RedirectResponse(f"/exports#{export.id}", status_code=303)
