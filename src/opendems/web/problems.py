"""Errors as RFC 9457 problem documents: every HTTP error carries a JSON body with a human message."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from opendems.domain.errors import DomainError, Unauthenticated
from opendems.services.evidence import RangeNotSatisfiable

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


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        headers = _tus_headers(request, exc.status)
        if isinstance(exc, Unauthenticated):
            headers["WWW-Authenticate"] = 'Bearer realm="opendems"'
        return problem(exc.status, exc.title, exc.message, headers)

    @app.exception_handler(RangeNotSatisfiable)
    async def _range(request: Request, exc: RangeNotSatisfiable) -> JSONResponse:
        return problem(416, "Range not satisfiable", str(exc), {"Content-Range": f"bytes */{exc.size}"})

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"), "message": e.get("msg", "")}
            for e in exc.errors()
        ]
        first = errors[0] if errors else {"field": "", "message": "invalid request"}
        detail = f"{first['field']}: {first['message']}" if first["field"] else first["message"]
        return problem(422, "Invalid input", detail, _tus_headers(request), errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = {**_tus_headers(request), **(exc.headers or {})}
        title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "Error")
        return problem(exc.status_code, title, str(exc.detail), headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(
            500, "Internal error", "the server failed to complete the request; nothing was changed"
        )
