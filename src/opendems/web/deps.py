"""Request-scoped dependencies: the container and the acting principal.

A request authenticates with ``Authorization: Bearer <API token>`` or with the browser's
session cookie. A cookie-authenticated request that changes anything must also carry the
session's CSRF token (header ``X-CSRF-Token`` or form field ``csrf_token``): a page on
another site can make the browser send the cookie, but it cannot read the token.
"""

from __future__ import annotations

import hmac

from fastapi import Request

from opendems.bootstrap import Container
from opendems.domain.custody import Where
from opendems.domain.errors import Forbidden, Unauthenticated
from opendems.services.accounts import authenticate_token
from opendems.services.auth import SessionState, current_session, refuse_forged_request
from opendems.services.context import Actor

SESSION_COOKIE = "opendems_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
BACKGROUND_HEADER = "x-opendems-background"  # a page refreshing itself: not user activity


def container(request: Request) -> Container:
    c: Container = request.app.state.container
    return c


def where(request: Request) -> Where:
    route = request.scope.get("route")
    path = getattr(route, "path", request.url.path)
    return Where(
        service="api",
        endpoint=f"{request.method} {path}",
        client_address=request.client.host if request.client else None,
        user_agent=(request.headers.get("user-agent") or "")[:400] or None,
    )


def check_csrf(request: Request, state: SessionState, form_token: str | None = None) -> None:
    """Refuse (and record) a cookie-authenticated change without the session's CSRF token."""
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get(CSRF_HEADER) or form_token or ""
    if not sent or not hmac.compare_digest(sent.encode(), state.session.csrf_token.encode()):
        c = container(request)
        refuse_forged_request(state, where(request), uow=c.uow(), clock=c.clock)


def session_state(request: Request) -> SessionState:
    """The fully signed-in session behind the cookie; 401 without one."""
    c = container(request)
    return current_session(
        request.cookies.get(SESSION_COOKIE, ""),
        where=where(request),
        uow=c.uow(),
        clock=c.clock,
        policy=c.auth_policy,
        touch=request.headers.get(BACKGROUND_HEADER) != "1",
    )


def actor(request: Request) -> Actor:
    """The authenticated principal behind a bearer token or a session cookie; 401 without."""
    header = request.headers.get("authorization", "")
    c = container(request)
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("this API needs an 'Authorization: Bearer <token>' header")
        use = authenticate_token(token.strip(), where=where(request), uow=c.uow(), clock=c.clock)
        # Every event this request records names the token it came with.
        return Actor(use.principal, where(request), extra={"token_id": use.token.id, "token": use.token.name})
    if SESSION_COOKIE in request.cookies:
        state = session_state(request)
        check_csrf(request, state)
        if state.user.must_change_password:
            raise Forbidden("change your one-time password first (Account page)")
        return Actor(state.principal, where(request), extra={"session": state.session.id[:12]})
    raise Unauthenticated("sign in, or send an 'Authorization: Bearer <token>' header")
