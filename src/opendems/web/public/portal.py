"""The share portal: what a recipient sees and fetches through a share.

A link recipient opens ``/s/<token>``, types the access code the sender gave them by another
channel, and gets a visit cookie (12 hours, for that link only). A signed-in recipient of a
share made out to their account opens ``/shares/<id>/open``. Both see the same page, with
playback (with captions where the recording has a transcript: a redacted copy's own), per-file
and whole-share downloads (ZIP, resumable by Range) and the hashes.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from opendems.domain.errors import DomainError, Unauthenticated
from opendems.services import share_access as svc
from opendems.services.zipstream import stream_zip
from opendems.web.api.evidence import _content_disposition
from opendems.web.api.shares import zip_response
from opendems.web.deps import container, where
from opendems.web.streaming import send
from opendems.web.ui.common import page_actor, render, templates

router = APIRouter(include_in_schema=False)
VISIT_COOKIE = "opendems_visit"


def _visit(request: Request, token: str | None, share_id: str | None) -> svc.Visit:
    c = container(request)
    if token is not None:
        return svc.link_visit(
            token, request.cookies.get(VISIT_COOKIE, ""), where(request), uow=c.uow(), clock=c.clock
        )
    assert share_id is not None
    return svc.user_visit(page_actor(request), share_id, uow=c.uow(), clock=c.clock)


def _page(request: Request, visit: svc.Visit, base: str) -> HTMLResponse:
    c = container(request)
    entries = svc.contents(visit, uow=c.uow(), clock=c.clock)
    share = visit.share
    context = {
        "share": share,
        "entries": entries,
        "base": base,
        "now": c.clock.now(),
        "can_download": share.download_refusal(c.clock.now()) is None,
        "agency": c.settings.agency_name,
    }
    if token_page(base):
        return templates.TemplateResponse(request, "share_portal.html", context)
    return render(request, "share_portal.html", {**context, "section": "shares"})


def token_page(base: str) -> bool:
    return base.startswith("/s/")


def _code_form(request: Request, token: str, message: str | None = None, status: int = 200) -> HTMLResponse:
    return templates.TemplateResponse(
        request, "share_code.html", {"token": token, "message": message}, status_code=status
    )


@router.get("/s/{token}", response_class=HTMLResponse)
def link_page(token: str, request: Request) -> HTMLResponse:
    try:
        visit = _visit(request, token, None)
    except Unauthenticated:
        return _code_form(request, token)
    except DomainError as exc:
        return templates.TemplateResponse(
            request, "share_code.html", {"token": None, "message": exc.message}, status_code=exc.status
        )
    return _page(request, visit, f"/s/{token}")


@router.post("/s/{token}", response_class=HTMLResponse)
def enter_code(token: str, request: Request, code: Annotated[str, Form(max_length=64)] = "") -> Response:
    c = container(request)
    try:
        _, visit = svc.open_link(
            token, code, where(request), policy=c.auth_policy, uow=c.uow(), clock=c.clock
        )
    except Unauthenticated as exc:
        return _code_form(request, token, exc.message, exc.status)
    except DomainError as exc:
        return templates.TemplateResponse(
            request, "share_code.html", {"token": None, "message": exc.message}, status_code=exc.status
        )
    response = RedirectResponse(f"/s/{token}", status_code=303)
    response.set_cookie(
        VISIT_COOKIE,
        visit,
        max_age=12 * 3600,
        path=f"/s/{token}",
        httponly=True,
        samesite="strict",
        secure=c.settings.cookie_secure,
    )
    return response


@router.get("/shares/{share_id}/open", response_class=HTMLResponse)
def user_page(share_id: str, request: Request) -> HTMLResponse:
    return _page(request, _visit(request, None, share_id), f"/shares/{share_id}/open")


def _file(request: Request, visit: svc.Visit, evidence_id: str, download: bool) -> StreamingResponse:
    c = container(request)
    grant = svc.grant_file(
        visit, evidence_id, request.headers.get("range"), download=download, uow=c.uow(), clock=c.clock
    )
    f = grant.file
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Length": str(grant.length),
        "ETag": f'"{f.sha256}"',
        "X-Content-SHA256": f.sha256,
        "Cache-Control": "private, no-store",
    }
    if download:
        headers["Content-Disposition"] = _content_disposition(f.filename)
    if grant.partial:
        headers["Content-Range"] = f"bytes {grant.start}-{grant.end}/{f.size}"

    def done(sent: int, seconds: float, complete: bool) -> None:
        svc.record_share_transfer(
            visit, ("evidence", grant.item.id), filename=f.filename, bytes_sent=sent, seconds=seconds,
            complete=complete, uow=c.uow(), clock=c.clock,
        )  # fmt: skip

    body = send(
        c.blobs.read_range(f.blob_key, grant.start, grant.end),
        done=done if download else None,
        still_open=lambda: svc.still_open(visit, uow=c.uow(), clock=c.clock),
    )
    return StreamingResponse(
        body, status_code=206 if grant.partial else 200, media_type=f.mime_type, headers=headers
    )


def _captions(request: Request, visit: svc.Visit, evidence_id: str) -> Response:
    c = container(request)
    _, captions = svc.grant_captions(visit, evidence_id, uow=c.uow(), clock=c.clock)
    return Response(
        b"".join(c.blobs.read_all(captions.blob_key)),
        media_type="text/vtt; charset=utf-8",
        headers={"X-Content-SHA256": captions.sha256, "Cache-Control": "private, no-store"},
    )


def _zip(request: Request, visit: svc.Visit, export_id: str | None = None) -> StreamingResponse:
    c = container(request)
    if export_id is None:
        grant = svc.grant_zip(visit, request.headers.get("range"), uow=c.uow(), clock=c.clock)
    else:
        grant = svc.grant_export(visit, export_id, request.headers.get("range"), uow=c.uow(), clock=c.clock)
    subject = ("share", visit.share.id) if export_id is None else ("export", grant.name.removesuffix(".zip"))
    crcs = dict(grant.crcs)
    known = set(crcs)
    chunks = stream_zip(
        grant.layout, grant.start, grant.end, svc.zip_reader(grant.sources, c.blobs, crcs), crcs
    )

    def done(sent: int, seconds: float, complete: bool) -> None:
        svc.remember_crcs(crcs, known, uow=c.uow())
        svc.record_share_transfer(
            visit,
            subject,
            filename=grant.name,
            bytes_sent=sent,
            seconds=seconds,
            complete=complete,
            uow=c.uow(),
            clock=c.clock,
        )

    return zip_response(
        chunks, grant.start, grant.end, len(grant.layout), grant.partial, grant.name, done,
        still_open=lambda: svc.still_open(visit, uow=c.uow(), clock=c.clock),
    )  # fmt: skip


def _receipt(request: Request, visit: svc.Visit) -> Response:
    c = container(request)
    receipt = svc.visit_receipt(visit, agency=c.settings.agency_name, uow=c.uow(), clock=c.clock)
    pdf = c.reports.share_receipt_pdf(receipt)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": _content_disposition(f"{visit.share.id}-receipt.pdf")},
    )


@router.get("/s/{token}/files/{evidence_id}")
def link_play(token: str, evidence_id: str, request: Request) -> StreamingResponse:
    return _file(request, _visit(request, token, None), evidence_id, False)


@router.get("/s/{token}/files/{evidence_id}/download")
def link_download(token: str, evidence_id: str, request: Request) -> StreamingResponse:
    return _file(request, _visit(request, token, None), evidence_id, True)


@router.get("/s/{token}/files/{evidence_id}/captions")
def link_captions(token: str, evidence_id: str, request: Request) -> Response:
    return _captions(request, _visit(request, token, None), evidence_id)


@router.get("/s/{token}/all.zip")
def link_zip(token: str, request: Request) -> StreamingResponse:
    return _zip(request, _visit(request, token, None))


@router.get("/s/{token}/exports/{export_id}.zip")
def link_export(token: str, export_id: str, request: Request) -> StreamingResponse:
    return _zip(request, _visit(request, token, None), export_id)


@router.get("/s/{token}/receipt.pdf")
def link_receipt(token: str, request: Request) -> Response:
    return _receipt(request, _visit(request, token, None))


@router.get("/shares/{share_id}/open/files/{evidence_id}")
def user_play(share_id: str, evidence_id: str, request: Request) -> StreamingResponse:
    return _file(request, _visit(request, None, share_id), evidence_id, False)


@router.get("/shares/{share_id}/open/files/{evidence_id}/download")
def user_download(share_id: str, evidence_id: str, request: Request) -> StreamingResponse:
    return _file(request, _visit(request, None, share_id), evidence_id, True)


@router.get("/shares/{share_id}/open/files/{evidence_id}/captions")
def user_captions(share_id: str, evidence_id: str, request: Request) -> Response:
    return _captions(request, _visit(request, None, share_id), evidence_id)


@router.get("/shares/{share_id}/open/all.zip")
def user_zip(share_id: str, request: Request) -> StreamingResponse:
    return _zip(request, _visit(request, None, share_id))


@router.get("/shares/{share_id}/open/exports/{export_id}.zip")
def user_export(share_id: str, export_id: str, request: Request) -> StreamingResponse:
    return _zip(request, _visit(request, None, share_id), export_id)


@router.get("/shares/{share_id}/open/receipt.pdf")
def user_receipt(share_id: str, request: Request) -> Response:
    return _receipt(request, _visit(request, None, share_id))
