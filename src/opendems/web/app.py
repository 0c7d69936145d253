"""The FastAPI application."""

from __future__ import annotations

import asyncio
import importlib.util
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from opendems import __version__
from opendems.bootstrap import Container
from opendems.services.accounts import sweep_accounts
from opendems.services.jobs import WorkerThread
from opendems.web import problems
from opendems.web.api import (
    accounts,
    audit,
    cases,
    categories,
    evidence,
    members,
    redaction,
    search,
    shares,
    system,
    transcripts,
    uploads,
)
from opendems.web.public import portal
from opendems.web.ui import admin, assets, home, items, library, pages
from opendems.web.ui import cases as case_pages
from opendems.web.ui import search as search_pages
from opendems.web.ui import shares as share_pages

log = logging.getLogger("opendems.web")


def _swagger_assets() -> Path:
    """Swagger UI 5 (OpenAPI 3.1) as shipped inside an installed package: no CDN, ever."""
    spec = importlib.util.find_spec("fastapi_offline")
    if spec is None or spec.origin is None:
        raise RuntimeError("the fastapi-offline package (Swagger UI assets) is not installed")
    return Path(spec.origin).parent / "static"


class SecurityHeaders:
    """Headers every response carries, and pages a Content-Security-Policy. A plain ASGI
    middleware: it touches only the response's start, never the request body, so a large
    upload streams through it at no cost (a request/response middleware would wrap every
    received chunk in a task group of its own)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        page_policy = scope["path"] != "/docs"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "same-origin")
                if page_policy and headers.get("content-type", "").startswith("text/html"):
                    headers.setdefault("Content-Security-Policy", PAGE_POLICY)
                    headers.setdefault("X-Frame-Options", "DENY")
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)


SWEEP_EVERY_S = 3600
# Pages run only this server's own scripts and styles; nothing from another origin, ever.
PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; connect-src 'self'; object-src 'none'; frame-src 'self'; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Hourly housekeeping while the server runs: disable unused and expired accounts."""
    c: Container = app.state.container

    async def sweep() -> None:
        while True:
            await asyncio.sleep(SWEEP_EVERY_S)
            try:
                actor = c.system_actor("scheduled account sweep")
                await asyncio.to_thread(sweep_accounts, actor, c.auth_policy, uow=c.uow(), clock=c.clock)
            except Exception:
                log.exception("the scheduled account sweep failed; it runs again in an hour")

    task = asyncio.create_task(sweep())
    # The job steps and their libraries (PyAV, Pillow) load here, on this thread, before any
    # request or worker thread runs: a module that two threads import at the same moment can
    # come out half-initialised in one of them. (A node with no workers needs them too: the
    # redaction editor reads PDF pages while a person waits.)
    processor = c.processor
    # In scale-out mode the broker hands jobs to `opendems worker` processes; none run here.
    count = c.settings.workers if c.settings.job_queue == "database" else 0
    workers = [WorkerThread(processor, f"worker-{n}") for n in range(count)]
    for w in workers:
        w.start()
    try:
        yield
    finally:
        task.cancel()
        for w in workers:
            w.stop()
        for w in workers:
            w.join(timeout=30)


def create_app(c: Container) -> FastAPI:
    app = FastAPI(
        lifespan=_lifespan,
        title="OpenDEMS",
        version=__version__,
        description="Digital evidence management with a provable chain of custody.",
        openapi_url="/openapi.json",
        docs_url=None,  # served below from the installed Swagger UI, never from a CDN
        redoc_url=None,
    )
    app.state.container = c
    problems.install(app)
    for module in (
        system,
        evidence,
        uploads,
        cases,
        members,
        accounts,
        audit,
        categories,
        search,
        redaction,
        transcripts,
        shares,
    ):
        app.include_router(module.router)
    app.include_router(evidence.jobs_router)
    for ui in (home, pages, library, items, case_pages, admin, search_pages, share_pages, portal, assets):
        app.include_router(ui.router)
    app.mount("/static/swagger", StaticFiles(directory=str(_swagger_assets())), name="swagger")
    app.mount("/static/app", assets.own_static(), name="app-static")
    missing = assets.missing_vendor_files()
    if missing:
        log.warning(
            "front-end packages are not installed (%s): run 'make run' or 'npm ci'", ", ".join(missing)
        )

    app.add_middleware(SecurityHeaders)

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="OpenDEMS API",
            swagger_js_url="/static/swagger/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger/swagger-ui.css",
            swagger_favicon_url="/static/swagger/favicon.png",
        )

    return app
