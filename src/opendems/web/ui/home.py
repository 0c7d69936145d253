"""The home page: the public landing page, or the signed-in user's desk (recent uploads,
their processing queue with live progress, their cases)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from opendems import __version__
from opendems.services import desk
from opendems.services.context import Actor
from opendems.web.deps import SESSION_COOKIE, container
from opendems.web.ui.common import SignInRequired, Who, page_actor, render, templates
from opendems.web.ui.library import RESTRICTION_BADGE, STATE_BADGE

router = APIRouter(include_in_schema=False)

JOB_STEPS = {
    "probe": "Reading the file's metadata",
    "proxy": "Making the playback copy",
    "previews": "Making previews",
    "pages": "Making page previews",
}
JOB_BADGE = {"queued": "plain", "running": "info", "done": "ok", "failed": "bad", "cancelled": "plain"}


def _queue_context(request: Request, who: Actor) -> dict[str, Any]:
    c = container(request)
    return {
        "queue": desk.my_queue(who, uow=c.uow(), clock=c.clock),
        "job_steps": JOB_STEPS,
        "job_badge": JOB_BADGE,
    }


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    if request.cookies.get(SESSION_COOKIE):
        try:
            who = page_actor(request)
        except SignInRequired:
            pass
        else:
            c = container(request)
            context = {
                "section": "home",
                "recent": desk.my_recent_evidence(who, uow=c.uow()),
                "my_cases": desk.my_cases(who, uow=c.uow()),
                "state_badge": STATE_BADGE,
                "restriction_badge": RESTRICTION_BADGE,
                **_queue_context(request, who),
            }
            return render(request, "home.html", context)
    return templates.TemplateResponse(request, "public_home.html", {"version": __version__})


@router.get("/home/queue", response_class=HTMLResponse)
def queue(request: Request, who: Who) -> HTMLResponse:
    """The processing-queue panel alone: the home page polls it while anything is pending
    (the answer carries no poll trigger once nothing is, so the polling stops)."""
    return render(request, "_evidence_queue.html", _queue_context(request, who))
