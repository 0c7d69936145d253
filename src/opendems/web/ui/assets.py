"""Static assets: our own stylesheet and scripts, and the front-end packages from npm.

The npm packages (``package.json`` and its lockfile at the repository root) are installed by
``make run`` into ``node_modules``; the server hands out only the few built files named in
:data:`VENDOR`, never the directory as a whole, and nothing is ever fetched from a CDN.
The stylesheet is one file for the browser, assembled from ``static/css/*.css`` in name
order so each area of the application keeps its rules in its own source file.
"""

from __future__ import annotations

import hashlib
import os
from functools import cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles

from opendems.domain.errors import NotFound

STATIC = Path(__file__).parent / "static"
VENDOR = {
    "htmx.min.js": "htmx.org/dist/htmx.min.js",
    "tus.min.js": "tus-js-client/dist/tus.min.js",
}
router = APIRouter(include_in_schema=False)


def node_modules() -> Path:
    """Where ``npm ci`` put the front-end packages (``OPENDEMS_NODE_MODULES`` overrides)."""
    configured = os.environ.get("OPENDEMS_NODE_MODULES")
    if configured:
        return Path(configured)
    for parent in Path(__file__).resolve().parents:
        if (parent / "package.json").is_file() and (parent / "node_modules").is_dir():
            return parent / "node_modules"
    return Path.cwd() / "node_modules"


def missing_vendor_files() -> list[str]:
    """The front-end files the pages need that are not installed (run ``npm ci``)."""
    root = node_modules()
    return [rel for rel in VENDOR.values() if not (root / rel).is_file()]


@cache
def stylesheet() -> tuple[bytes, str]:
    parts = sorted((STATIC / "css").glob("*.css"))
    body = b"\n".join(f"/* {p.name} */\n".encode() + p.read_bytes() for p in parts)
    return body, hashlib.sha256(body).hexdigest()[:16]


def asset_version() -> str:
    """Changes whenever the stylesheet changes, so browsers fetch the new one."""
    return stylesheet()[1]


@router.get("/static/app.css")
def app_css() -> Response:
    body, tag = stylesheet()
    return Response(body, media_type="text/css", headers={"Cache-Control": "no-cache", "ETag": f'"{tag}"'})


@router.get("/static/vendor/{name}")
def vendor(name: str) -> FileResponse:
    rel = VENDOR.get(name)
    path = node_modules() / rel if rel else None
    if path is None or not path.is_file():
        raise NotFound(f"no front-end file {name!r} (front-end packages are installed by 'make run')")
    return FileResponse(path, media_type="text/javascript", headers={"Cache-Control": "no-cache"})


def own_static() -> StaticFiles:
    return StaticFiles(directory=str(STATIC))
