"""Server-rendered pages (Jinja2): home, sign-in with MFA, single sign-on, account.

No page loads anything from outside this server; the QR code is drawn here as SVG.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated, Any
from urllib.parse import quote

import segno
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from opendems.domain.errors import DomainError, Forbidden, Invalid, NotFound, Unauthenticated
from opendems.domain.passwords import assess
from opendems.services import auth, oidc
from opendems.services.accounts import user_inputs
from opendems.services.auth import STAGE_ENROL, STAGE_MFA, SessionState
from opendems.services.context import Actor
from opendems.web.deps import SESSION_COOKIE, check_csrf, container, where
from opendems.web.ui.common import render, safe_next, sign_in_url, templates

router = APIRouter(include_in_schema=False)
LOGIN_CSRF_COOKIE = "opendems_login_csrf"
OIDC_STATE_COOKIE = "opendems_oidc_state"
MESSAGES = {
    "signed_out": "You are signed out.",
    "signed_out_everywhere": "You are signed out on every device.",
    "ended": "Your session has ended. Sign in again.",
    "locked": "Your session locked after a period without activity. Sign in again to go on.",
    "password_changed": "Your password is changed. Other sessions were signed out.",
}
FormStr = Annotated[str, Form(max_length=1024)]


def _cookie(response: Response, request: Request, name: str, value: str) -> None:
    c = container(request)
    response.set_cookie(name, value, httponly=True, secure=c.settings.cookie_secure, samesite="lax", path="/")


def _page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    return templates.TemplateResponse(request, name, context, status_code=status)


def _signed_in_page(
    request: Request, state: SessionState, name: str, context: dict[str, Any], status: int = 200
) -> HTMLResponse:
    request.state.session = state
    return render(request, name, context, status=status)


def _state(request: Request, *stages: str) -> SessionState:
    c = container(request)
    return auth.current_session(
        request.cookies.get(SESSION_COOKIE, ""),
        where=where(request),
        uow=c.uow(),
        clock=c.clock,
        policy=c.auth_policy,
        stages=stages or (auth.STAGE_ACTIVE,),
    )


def _to_sign_in(message: str = "ended", request: Request | None = None) -> RedirectResponse:
    """Back to the sign-in page; from a page (``request``), with the way back to it."""
    url = f"/sign-in?m={message}"
    if request is not None:
        url = sign_in_url(request.url.path + (f"?{request.url.query}" if request.url.query else ""), message)
    response = RedirectResponse(url, status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _after_sign_in(state_user_must_change: bool, next_path: str = "/") -> str:
    return "/account" if state_user_must_change else safe_next(next_path)


def _with_next(path: str, next_path: str) -> str:
    target = safe_next(next_path)
    return path if target == "/" else f"{path}?next={quote(target, safe='')}"


def _sign_in_page(
    request: Request, *, error: DomainError | None = None, notice: str | None = None, next_path: str = "/"
) -> HTMLResponse:
    """The banner and the form, with a fresh login CSRF token (double-submit cookie)."""
    c = container(request)
    token = secrets.token_urlsafe(32)
    response = _page(
        request,
        "sign_in.html",
        {
            "banner": c.settings.system_use_banner,
            "csrf_token": token,
            "notice": notice,
            "error": error.message if error else None,
            "sso": c.identity_provider is not None,
            "next": safe_next(next_path),
        },
        status=error.status if error else 200,
    )
    _cookie(response, request, LOGIN_CSRF_COOKIE, token)
    return response


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_form(request: Request, m: str = "", next: str = "/") -> HTMLResponse:
    return _sign_in_page(request, notice=MESSAGES.get(m), next_path=next)


@router.post("/sign-in", response_class=HTMLResponse)
def sign_in(
    request: Request,
    username: FormStr = "",
    password: FormStr = "",
    csrf_token: FormStr = "",
    next: FormStr = "/",
) -> Response:
    c = container(request)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    error: DomainError | None = None
    if not expected or not hmac.compare_digest(expected.encode(), csrf_token.encode()):
        error = Forbidden("the sign-in form expired; please try again")
    else:
        try:
            started = auth.sign_in(
                username, password, where=where(request), uow=c.uow(), clock=c.clock, policy=c.auth_policy
            )
        except DomainError as exc:
            error = exc
    if error is not None:
        return _sign_in_page(request, error=error, next_path=next)
    stage = started.session.stage
    target = {
        STAGE_MFA: _with_next("/sign-in/mfa", next),
        STAGE_ENROL: _with_next("/sign-in/mfa/enrol", next),
    }.get(stage, _after_sign_in(started.user.must_change_password, next))
    response = RedirectResponse(target, status_code=303)
    _cookie(response, request, SESSION_COOKIE, started.token)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
    return response


@router.get("/sign-in/mfa", response_class=HTMLResponse)
def mfa_form(request: Request, next: str = "/") -> Response:
    try:
        state = _state(request, STAGE_MFA)
    except DomainError:
        return _to_sign_in()
    return _page(request, "mfa.html", {"csrf_token": state.session.csrf_token, "next": safe_next(next)})


@router.post("/sign-in/mfa", response_class=HTMLResponse)
def mfa(
    request: Request,
    code: Annotated[str, Form(max_length=64)] = "",
    csrf_token: FormStr = "",
    next: FormStr = "/",
) -> Response:
    c = container(request)
    try:
        state = _state(request, STAGE_MFA)
    except DomainError:
        return _to_sign_in()
    try:
        check_csrf(request, state, csrf_token)
        done = auth.verify_second_factor(
            state,
            code,
            where=where(request),
            uow=c.uow(),
            clock=c.clock,
            secrets_box=c.secrets,
            policy=c.auth_policy,
        )
    except DomainError as exc:
        if isinstance(exc, Unauthenticated):
            try:
                _state(request, STAGE_MFA)  # a lock ends the session: start over
            except DomainError:
                return _to_sign_in()
        return _page(
            request,
            "mfa.html",
            {"csrf_token": state.session.csrf_token, "error": exc.message, "next": safe_next(next)},
            status=exc.status,
        )
    response = RedirectResponse(_after_sign_in(done.user.must_change_password, next), status_code=303)
    _cookie(response, request, SESSION_COOKIE, done.token)
    return response


def _qr_svg(uri: str) -> str:
    return str(segno.make(uri, error="m").svg_inline(scale=5, border=2, title="Authenticator set-up code"))


@router.get("/sign-in/mfa/enrol", response_class=HTMLResponse)
def enrol_form(request: Request, next: str = "/") -> Response:
    c = container(request)
    try:
        state = _state(request, STAGE_ENROL)
    except DomainError:
        return _to_sign_in()
    pending = auth.pending_enrolment(
        state, secrets_box=c.secrets, policy=c.auth_policy
    ) or auth.begin_enrolment(state, uow=c.uow(), secrets_box=c.secrets, policy=c.auth_policy)
    return _enrol_page(request, state, pending, next_path=next)


def _enrol_page(
    request: Request,
    state: SessionState,
    pending: auth.Enrolment,
    error: DomainError | None = None,
    next_path: str = "/",
) -> HTMLResponse:
    return _page(
        request,
        "enrol.html",
        {
            "csrf_token": state.session.csrf_token,
            "qr_svg": _qr_svg(pending.uri),
            "secret": pending.secret,
            "error": error.message if error else None,
            "next": safe_next(next_path),
        },
        status=error.status if error else 200,
    )


@router.post("/sign-in/mfa/enrol", response_class=HTMLResponse)
def enrol(
    request: Request,
    code: Annotated[str, Form(max_length=64)] = "",
    csrf_token: FormStr = "",
    next: FormStr = "/",
) -> Response:
    c = container(request)
    try:
        state = _state(request, STAGE_ENROL)
    except DomainError:
        return _to_sign_in()
    try:
        check_csrf(request, state, csrf_token)
        done = auth.confirm_enrolment(
            state,
            code,
            where=where(request),
            uow=c.uow(),
            clock=c.clock,
            secrets_box=c.secrets,
            policy=c.auth_policy,
        )
    except DomainError as exc:
        try:
            state = _state(request, STAGE_ENROL)
        except DomainError:
            return _to_sign_in()
        pending = auth.pending_enrolment(state, secrets_box=c.secrets, policy=c.auth_policy)
        if pending is None:
            return RedirectResponse("/sign-in/mfa/enrol", status_code=303)
        return _enrol_page(request, state, pending, exc, next_path=next)
    response = _page(
        request,
        "recovery.html",
        {"codes": done.recovery_codes, "next": _after_sign_in(done.user.must_change_password, next)},
    )
    _cookie(response, request, SESSION_COOKIE, done.token)
    return response


@router.get("/account", response_class=HTMLResponse)
def account(request: Request, m: str = "") -> Response:
    try:
        state = _state(request)
    except DomainError:
        return _to_sign_in(request=request)
    return _signed_in_page(request, state, "account.html", {"notice": MESSAGES.get(m), "section": "account"})


@router.post("/account/password", response_class=HTMLResponse)
def change_password(
    request: Request, current: FormStr = "", new: FormStr = "", csrf_token: FormStr = ""
) -> Response:
    c = container(request)
    try:
        state = _state(request)
    except DomainError:
        return _to_sign_in()
    try:
        check_csrf(request, state, csrf_token)
        auth.change_password(
            state, current, new, where=where(request), uow=c.uow(), clock=c.clock, policy=c.auth_policy
        )
    except DomainError as exc:
        try:
            state = _state(request)
        except DomainError:
            return _to_sign_in()
        return _signed_in_page(
            request, state, "account.html", {"error": exc.message, "section": "account"}, status=exc.status
        )
    return RedirectResponse("/account?m=password_changed", status_code=303)


class StrengthIn(BaseModel):
    password: str = Field(max_length=1024)


@router.post("/account/password-strength")
def strength(body: StrengthIn, request: Request) -> JSONResponse:
    """The strength meter: why a candidate password would be refused (never stored)."""
    state = _state(request)
    check_csrf(request, state)
    verdict = assess(body.password, user_inputs(state.user))
    return JSONResponse(
        {
            "score": verdict.score,
            "acceptable": verdict.acceptable,
            "problems": list(verdict.problems),
            "suggestions": list(verdict.suggestions),
        }
    )


@router.post("/sign-out")
def sign_out(request: Request, csrf_token: FormStr = "") -> Response:
    c = container(request)
    try:
        state = _state(request, auth.STAGE_ACTIVE, STAGE_MFA, STAGE_ENROL)
    except DomainError:
        return _to_sign_in("signed_out")
    check_csrf(request, state, csrf_token)
    auth.sign_out(state, where=where(request), uow=c.uow(), clock=c.clock)
    return _to_sign_in("signed_out")


@router.post("/sign-out/everywhere")
def sign_out_everywhere(request: Request, csrf_token: FormStr = "") -> Response:
    c = container(request)
    try:
        state = _state(request)
    except DomainError:
        return _to_sign_in()
    check_csrf(request, state, csrf_token)
    auth.sign_out_everywhere(Actor(state.principal, where(request)), uow=c.uow(), clock=c.clock)
    return _to_sign_in("signed_out_everywhere")


@router.get("/sign-in/oidc")
def oidc_start(request: Request) -> Response:
    c = container(request)
    if c.identity_provider is None:
        raise NotFound("single sign-on is not configured on this server")
    url, state = oidc.begin(c.identity_provider, uow=c.uow(), clock=c.clock)
    response = RedirectResponse(url, status_code=303)
    _cookie(response, request, OIDC_STATE_COOKIE, state)
    return response


@router.get("/sign-in/oidc/callback", response_class=HTMLResponse)
def oidc_callback(
    request: Request, code: str = "", state: str = "", error: str = "", error_description: str = ""
) -> Response:
    c = container(request)
    if c.identity_provider is None:
        raise NotFound("single sign-on is not configured on this server")
    try:
        if error:
            raise Unauthenticated(f"the identity provider did not sign you in ({error_description or error})")
        if not code or not state:
            raise Invalid("the identity provider's answer is missing its code or state")
        bound = request.cookies.get(OIDC_STATE_COOKIE, "")
        if not bound or not hmac.compare_digest(bound.encode(), state.encode()):
            raise Unauthenticated("this sign-in was not started in this browser; start again")
        started = oidc.complete(
            c.identity_provider,
            code=code,
            state=state,
            where=where(request),
            uow=c.uow(),
            clock=c.clock,
            group_roles=oidc.parse_group_roles(c.settings.oidc_group_roles),
            groups_claim=c.settings.oidc_groups_claim,
            unit_claim=c.settings.oidc_unit_claim,
        )
    except DomainError as exc:
        return _sign_in_page(request, error=exc)
    response = RedirectResponse("/", status_code=303)
    _cookie(response, request, SESSION_COOKIE, started.token)
    response.delete_cookie(OIDC_STATE_COOKIE, path="/")
    return response
