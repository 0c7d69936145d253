"""Errors as RFC 9457 problem documents: every HTTP error carries a JSON body with a human message."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from opendems.domain.errors import DomainError, Unauthenticated
from opendems.services.evidence import RangeNotSatisfiable
from opendems.web.deps import SESSION_COOKIE, session_state
from opendems.web.ui.common import SignInRequired, render, sign_in_url, templates

log = logging.getLogger("opendems.web")
PROBLEM = "application/problem+json"


def problem(
    status: int, title: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _tus_headers(request: Request, status: int = 0) -> dict[str, str]:
    if not request.url.path.startswith("/api/v1/uploads"):
        return {}
    headers = {"Tus-Resumable": "1.0.0"}
    if status == 412:
        headers["Tus-Version"] = "1.0.0"  # tus core: a 412 names the versions spoken
    return headers


def is_page_request(request: Request) -> bool:
    """A browser asking for a page (or an htmx fragment of one), not an API client."""
    path = request.url.path
    if path.startswith(("/api/", "/static/")) or path == "/openapi.json":
        return False
    return "text/html" in request.headers.get("accept", "") or request.headers.get("hx-request") == "true"


def page_problem(request: Request, status: int, title: str, message: str) -> HTMLResponse:
    """The same problem for a person: a page, or for htmx a message in the page's alert area."""
    if request.headers.get("hx-request") == "true":
        response = templates.TemplateResponse(
            request, "flash.html", {"title": title, "message": message}, status_code=status
        )
        response.headers["HX-Retarget"] = "#flash"
        response.headers["HX-Reswap"] = "innerHTML"
        return response
    state = getattr(request.state, "session", None)
    if state is None and request.cookies.get(SESSION_COOKIE):
        try:  # an error on a page that never asked who is signed in (say, no such page)
            state = session_state(request)  # only to draw the frame: no CSRF check, no events
            request.state.session = state
        except DomainError:
            state = None
    context = {"title": title, "message": message, "user": state.user if state else None}
    if state is not None:
        return render(request, "error.html", context, status=status)
    return templates.TemplateResponse(request, "error.html", context, status_code=status)


def install(app: FastAPI) -> None:
    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired) -> Response:
        target = sign_in_url(exc.next_path, exc.message)
        if request.headers.get("hx-request") == "true":
            return Response(status_code=204, headers={"HX-Redirect": target})
        response = RedirectResponse(target, status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> Response:
        if is_page_request(request):
            return page_problem(request, exc.status, exc.title, exc.message)
        headers = _tus_headers(request, exc.status)
        if isinstance(exc, Unauthenticated):
            headers["WWW-Authenticate"] = 'Bearer realm="opendems"'
        return problem(exc.status, exc.title, exc.message, headers)

    @app.exception_handler(RangeNotSatisfiable)
    async def _range(request: Request, exc: RangeNotSatisfiable) -> JSONResponse:
        return problem(416, "Range not satisfiable", str(exc), {"Content-Range": f"bytes */{exc.size}"})

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {"field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"), "message": e.get("msg", "")}
            for e in exc.errors()
        ]
        first = errors[0] if errors else {"field": "", "message": "invalid request"}
        detail = f"{first['field']}: {first['message']}" if first["field"] else first["message"]
        if is_page_request(request):
            return page_problem(request, 422, "Invalid input", detail)
        return problem(422, "Invalid input", detail, _tus_headers(request), errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        headers = {**_tus_headers(request), **(exc.headers or {})}
        title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "Error")
        if is_page_request(request) and exc.status_code >= 400:
            message = "There is no such page." if exc.status_code == 404 else str(exc.detail)
            return page_problem(request, exc.status_code, title, message)
        return problem(exc.status_code, title, str(exc.detail), headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        if is_page_request(request):
            return page_problem(
                request,
                500,
                "Internal error",
                "The server failed to complete the request; nothing was changed.",
            )
        return problem(
            500, "Internal error", "the server failed to complete the request; nothing was changed"
        )
