"""The home page: the public landing page, or the signed-in user's desk."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from opendems import __version__
from opendems.web.deps import SESSION_COOKIE
from opendems.web.ui.common import SignInRequired, page_actor, render, templates

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    if request.cookies.get(SESSION_COOKIE):
        try:
            page_actor(request)
        except SignInRequired:
            pass
        else:
            return render(request, "home.html", {"section": "home"})
    return templates.TemplateResponse(request, "public_home.html", {"version": __version__})
