"""Request-scoped dependencies: the container and the acting principal."""

from __future__ import annotations

from fastapi import Request

from opendems.bootstrap import Container
from opendems.domain.custody import Where
from opendems.domain.errors import Unauthenticated
from opendems.services.accounts import authenticate_token
from opendems.services.context import Actor


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


def actor(request: Request) -> Actor:
    """The authenticated principal behind ``Authorization: Bearer``; 401 without one."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("this API needs an 'Authorization: Bearer <token>' header")
    c = container(request)
    principal = authenticate_token(token.strip(), uow=c.uow(), clock=c.clock)
    return Actor(principal, where(request))
