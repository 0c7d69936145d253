"""What every signed-in page shares: the templates, the session behind the page, the menu.

A page asks :func:`page_actor` for the acting principal (its session, checked like any API
request) and renders through :func:`render`, which hands the layout the user, the CSRF token
the page's forms and htmx requests carry, and the menu the user's permissions allow. Pages
call the same use cases as the API, so the one policy function decides what a page shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from opendems import __version__
from opendems.domain.access import Permission, Principal
from opendems.domain.errors import Forbidden, Unauthenticated
from opendems.domain.sizes import short_size, size_text
from opendems.services.auth import SessionState
from opendems.services.categories import list_categories
from opendems.services.context import Actor
from opendems.web.deps import SAFE_METHODS, check_csrf, container, session_state, where
from opendems.web.ui.assets import asset_version

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
templates.env.globals["asset_version"] = asset_version()
templates.env.filters["size_text"] = size_text  # 12,345,678 bytes (11.8 MiB)
templates.env.filters["short_size"] = short_size  # 11.8 MiB
P = Permission


class SignInRequired(Exception):
    """The page needs a signed-in session; the browser is sent to the sign-in page."""

    def __init__(self, next_path: str, message: str = "ended") -> None:
        super().__init__(message)
        self.next_path = next_path
        self.message = message


@dataclass(frozen=True)
class MenuItem:
    href: str
    label: str
    key: str


def menu(principal: Principal) -> list[MenuItem]:
    """The main menu: only what the user's role can use."""
    perms = principal.permissions
    items = [MenuItem("/", "Home", "home")]
    if P.EVIDENCE_VIEW in perms:
        items.append(MenuItem("/evidence", "Evidence", "evidence"))
    if P.EVIDENCE_CREATE in perms:
        items.append(MenuItem("/upload", "Upload", "upload"))
    if P.CASE_VIEW in perms:
        items.append(MenuItem("/cases", "Cases", "cases"))
    if perms & {P.SHARE_CREATE, P.EVIDENCE_VIEW}:
        items.append(MenuItem("/shares", "Shares", "shares"))
    if perms & {P.USER_MANAGE, P.ROLE_MANAGE}:
        items.append(MenuItem("/admin/users", "Administration", "admin"))
    elif P.CATEGORY_MANAGE in perms:
        items.append(MenuItem("/admin/categories", "Administration", "admin"))
    if P.AUDIT_READ in perms:
        items.append(MenuItem("/audit", "Audit", "audit"))
    return items


def page_session(request: Request, form_token: str | None = None) -> SessionState:
    """The signed-in session behind a page request, or a redirect to the sign-in page."""
    try:
        state = session_state(request)
    except Unauthenticated as exc:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.method not in SAFE_METHODS:  # a form posted after the session ended
            target = _referring_page(request)
        message = "locked" if "without activity" in exc.message else "ended"
        raise SignInRequired(target, message) from None
    check_csrf(request, state, form_token)
    if state.user.must_change_password:
        raise Forbidden("change your one-time password first (Account page)")
    return state


def _referring_page(request: Request) -> str:
    """The page a posted form came from (same server only), to go back to after signing in."""
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc and referer.netloc != request.url.netloc:
        return "/"
    return safe_next(referer.path + (f"?{referer.query}" if referer.query else ""))


def page_actor(request: Request, form_token: str | None = None) -> Actor:
    """The acting principal of a page request (session cookie only: pages are for people).
    A change must carry the CSRF token: the ``X-CSRF-Token`` header (htmx, scripts) or,
    through :func:`form_actor`, a posted form's ``csrf_token`` field."""
    state = page_session(request, form_token)
    request.state.session = state
    return Actor(state.principal, where(request), extra={"session": state.session.id[:12]})


Who = Annotated[Actor, Depends(page_actor)]  # a page's acting principal (route parameter)


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


async def form_actor(request: Request) -> Actor:
    """:func:`page_actor` for a route that takes a posted HTML form (its ``csrf_token``)."""
    token: str | None = None
    if request.method not in SAFE_METHODS and request.headers.get("content-type", "").startswith(FORM_TYPES):
        value = (await request.form()).get("csrf_token")
        token = value if isinstance(value, str) else None
    return await run_in_threadpool(page_actor, request, token)


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, *, status: int = 200
) -> HTMLResponse:
    """Render a signed-in page (or a fragment of one) with the layout's context."""
    state: SessionState | None = getattr(request.state, "session", None)
    c = container(request)
    ctx: dict[str, Any] = {
        "version": __version__,
        "user": state.user if state else None,
        "principal": state.principal if state else None,
        "csrf_token": state.session.csrf_token if state else "",
        "menu": menu(state.principal) if state else [],
        "idle_seconds": c.auth_policy.session_idle.total_seconds(),
        "P": P,
        "can": (lambda p: p in state.principal.permissions) if state else (lambda p: False),
        "category_names": lambda: _category_names(request, state),
    }
    ctx.update(context or {})
    return templates.TemplateResponse(request, template, ctx, status_code=status)


def _category_names(request: Request, state: SessionState | None) -> list[str]:
    """The agency's active categories, offered wherever evidence is filed (the server still
    checks every value); none when the user may not read the list."""
    if state is None or not state.principal.permissions & {P.EVIDENCE_VIEW, P.CATEGORY_MANAGE}:
        return []
    c = container(request)
    actor = Actor(state.principal, where(request))
    return [k.name for k in list_categories(actor, include_inactive=False, uow=c.uow(), clock=c.clock)]


def sign_in_url(next_path: str, message: str = "ended") -> str:
    return f"/sign-in?m={message}&next={quote(next_path, safe='')}"


def safe_next(value: str | None) -> str:
    """Only a path on this server is a place to go back to after signing in (a browser drops
    tabs and newlines inside a URL, so ``/<tab>/host`` would be another site's ``//host``)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    if any(ch < " " or ch == "\x7f" for ch in value):
        return "/"
    return value


FormWho = Annotated[Actor, Depends(form_actor)]  # the same, for a route taking a posted form
