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

from opendems import __version__
from opendems.bootstrap import Container
from opendems.services.accounts import sweep_accounts
from opendems.services.jobs import WorkerThread
from opendems.web import problems
from opendems.web.api import accounts, audit, cases, evidence, members, system, uploads
from opendems.web.ui import pages

log = logging.getLogger("opendems.web")


def _swagger_assets() -> Path:
    """Swagger UI 5 (OpenAPI 3.1) as shipped inside an installed package: no CDN, ever."""
    spec = importlib.util.find_spec("fastapi_offline")
    if spec is None or spec.origin is None:
        raise RuntimeError("the fastapi-offline package (Swagger UI assets) is not installed")
    return Path(spec.origin).parent / "static"


SWEEP_EVERY_S = 3600


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
    workers = [WorkerThread(c.processor, f"worker-{n}") for n in range(c.settings.workers)]
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
    for module in (system, evidence, uploads, cases, members, accounts, audit):
        app.include_router(module.router)
    app.include_router(evidence.jobs_router)
    app.include_router(pages.router)
    app.mount("/static/swagger", StaticFiles(directory=str(_swagger_assets())), name="swagger")

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
