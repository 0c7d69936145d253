"""Pages: administration (users, roles, evidence categories, API tokens) and the audit search.

Every read and change goes through the account, category and audit use cases, so the one
policy function decides who may do what, the services' guards (nobody changes their own role,
sealed-access accounts stay with internal affairs, the last administrator stays) apply
unchanged, and every change lands in the audit trail. Changes are plain HTML forms: the page
comes back with a notice, or with the service's message when it refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from opendems.domain.access import Permission
from opendems.domain.accounts import RoleRecord, TokenRecord, UserRecord
from opendems.domain.categories import Category
from opendems.domain.custody import AuditQuery
from opendems.domain.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from opendems.services import accounts as acct
from opendems.services import audit as audit_svc
from opendems.services import categories as cat_svc
from opendems.services.context import Actor
from opendems.web.deps import container
from opendems.web.ui.common import FormWho, P, Who, render

router = APIRouter(include_in_schema=False)
Text = Annotated[str, Form(max_length=2000)]
Checked = Annotated[list[str] | None, Form()]
AUDIT_PAGE = 50
RowId = Annotated[int, Path(le=2**63 - 1)]  # the largest id the database stores

PERMISSION_HELP: dict[Permission, str] = {
    P.EVIDENCE_CREATE: "Upload and ingest evidence",
    P.EVIDENCE_VIEW: "See evidence records",
    P.EVIDENCE_DOWNLOAD: "Download originals",
    P.EVIDENCE_PLAY: "Watch, hear and see previews in the browser",
    P.EVIDENCE_EDIT: "Edit metadata and tags",
    P.EVIDENCE_RESTRICT: "Restrict or seal, name members",
    P.EVIDENCE_VERIFY: "Verify hashes, retry processing",
    P.CASE_VIEW: "See cases",
    P.CASE_MANAGE: "Open, change and close cases",
    P.SHARE_CREATE: "Share with people outside",
    P.CUSTODY_READ: "Read chains of custody",
    P.AUDIT_READ: "Search and export the audit trail",
    P.USER_MANAGE: "Manage accounts and tokens",
    P.ROLE_MANAGE: "Change roles",
    P.SCOPE_UNIT: "See the own unit's evidence and cases",
    P.SCOPE_AGENCY: "See the whole agency's evidence and cases",
    P.ACCESS_RESTRICTED: "See restricted material",
    P.ACCESS_SEALED: "See sealed material",
    P.CATEGORY_MANAGE: "Manage evidence categories",
}

NOTICES = {
    "user-changed": "The account is changed; the change and its reason are in the audit trail.",
    "unchanged": "Nothing was changed: the values are the same as before.",
    "unlocked": "The account is unlocked.",
    "mfa-reset": "Multi-factor authentication is reset: the user enrols a new authenticator at next sign-in.",
    "role-saved": "The role is saved; the change is in the audit trail.",
    "category-created": "The category is added.",
    "category-changed": "The category is changed.",
    "category-deactivated": "The category is deactivated: no new evidence may be filed under it.",
    "category-activated": "The category is active again.",
    "token-revoked": "The token is revoked: it no longer opens the API.",
}


# -- shared page parts ------------------------------------------------------------------------


@dataclass(frozen=True)
class Tab:
    href: str
    label: str
    key: str


def tabs(who: Actor) -> list[Tab]:
    """The administration sub-navigation: only what the user may use."""
    perms = who.principal.permissions
    out = []
    if P.USER_MANAGE in perms:
        out.append(Tab("/admin/users", "Users", "users"))
    if perms & {P.USER_MANAGE, P.ROLE_MANAGE}:
        out.append(Tab("/admin/roles", "Roles", "roles"))
    if P.CATEGORY_MANAGE in perms:
        out.append(Tab("/admin/categories", "Categories", "categories"))
    out.append(Tab("/admin/tokens", "API tokens", "tokens"))
    return out


def _page(
    request: Request, who: Actor, template: str, tab: str, context: dict[str, Any], *, status: int = 200
) -> HTMLResponse:
    notice = NOTICES.get(request.query_params.get("done", ""))
    ctx = {"section": "admin", "tabs": tabs(who), "tab": tab, "notice": notice, **context}
    return render(request, template, ctx, status=status)


def _back(url: str, done: str) -> RedirectResponse:
    return RedirectResponse(f"{url}?done={done}", status_code=303)


def _date_or_none(value: str, name: str) -> date | None:
    text = value.strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise Invalid(f"{name} must be a date (YYYY-MM-DD)") from None


def _end_of_day(day: date | None) -> datetime | None:
    """An expiry date means: usable through that whole day (UTC)."""
    if day is None:
        return None
    return datetime.combine(day, time(23, 59, 59), UTC)


# -- users ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Status:
    label: str  # active | locked | disabled | expired
    badge: str


def account_status(user: UserRecord, now: datetime) -> Status:
    if user.status != "active":
        if "expired" in (user.disabled_reason or ""):
            return Status("expired", "plain")
        return Status("disabled", "bad")
    if user.expires_at is not None and user.expires_at <= now:
        return Status("expired", "plain")
    if user.locked_at is not None:
        return Status("locked", "warn")
    return Status("active", "ok")


def _role_names(who: Actor, request: Request) -> list[str]:
    c = container(request)
    return [r.name for r in acct.list_roles(who, uow=c.uow(), clock=c.clock) if r.name != "system"]


def _users_page(
    request: Request,
    who: Actor,
    *,
    role: str = "",
    status: str = "",
    q: str = "",
    error: str | None = None,
    form: dict[str, str] | None = None,
    code: int = 200,
) -> HTMLResponse:
    c = container(request)
    users = acct.list_users(who, uow=c.uow(), clock=c.clock)
    now = c.clock.now()
    text = q.strip().casefold()
    rows = []
    for u in users:
        state = account_status(u, now)
        haystack = " ".join(x for x in (u.username, u.display_name, u.unit, u.email) if x).casefold()
        if (role and u.role != role) or (status and state.label != status) or (text and text not in haystack):
            continue
        rows.append((u, state))
    return _page(
        request,
        who,
        "admin_users.html",
        "users",
        {
            "rows": rows,
            "total": len(users),
            "roles": _role_names(who, request),
            "filters": {"role": role, "status": status, "q": q},
            "error": error,
            "form": form or {},
        },
        status=code,
    )


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(
    request: Request,
    who: Who,
    role: Annotated[str, Query(max_length=32)] = "",
    status: Annotated[str, Query(max_length=16)] = "",
    q: Annotated[str, Query(max_length=200)] = "",
) -> HTMLResponse:
    return _users_page(request, who, role=role, status=status, q=q)


def _user(request: Request, who: Actor, username: str) -> UserRecord:
    c = container(request)
    name = username.strip().lower()
    for u in acct.list_users(who, uow=c.uow(), clock=c.clock):
        if u.username == name:
            return u
    raise NotFound(f"no user named {username!r}")


def _user_page(
    request: Request,
    who: Actor,
    username: str,
    *,
    error: str | None = None,
    one_time_password: str | None = None,
    created: bool = False,
    code: int = 200,
) -> HTMLResponse:
    c = container(request)
    user = _user(request, who, username)
    return _page(
        request,
        who,
        "admin_user.html",
        "users",
        {
            "u": user,
            "state": account_status(user, c.clock.now()),
            "roles": _role_names(who, request),
            "is_me": user.id == who.principal.id,
            "error": error,
            "one_time_password": one_time_password,
            "created": created,
            "expires_on": (user.expires_at.date().isoformat() if user.expires_at else ""),
        },
        status=code,
    )


@router.get("/admin/users/{username}", response_class=HTMLResponse)
def user_page(request: Request, username: str, who: Who) -> HTMLResponse:
    return _user_page(request, who, username)


@router.post("/admin/users", response_class=HTMLResponse)
def create_user(
    request: Request,
    who: FormWho,
    username: Text = "",
    role: Text = "",
    display_name: Text = "",
    unit: Text = "",
    email: Text = "",
    expires_on: Text = "",
) -> HTMLResponse:
    c = container(request)
    form = {"username": username, "role": role, "display_name": display_name, "unit": unit, "email": email}
    form["expires_on"] = expires_on
    try:
        made = acct.create_user(
            who,
            username,
            role,
            display_name=display_name,
            unit=unit or None,
            email=email or None,
            expires_at=_end_of_day(_date_or_none(expires_on, "the expiry")),
            uow=c.uow(),
            clock=c.clock,
        )
    except DomainError as exc:
        return _users_page(request, who, error=exc.message, form=form, code=exc.status)
    return _user_page(request, who, made.user.username, one_time_password=made.password, created=True)


@router.post("/admin/users/{username}", response_class=HTMLResponse)
def change_user(
    request: Request,
    username: str,
    who: FormWho,
    role: Text = "",
    unit: Text = "",
    display_name: Text = "",
    email: Text = "",
    expires_on: Text = "",
    status: Text = "",
    reason: Text = "",
) -> Response:
    c = container(request)
    try:
        user = _user(request, who, username)
        wanted: dict[str, Any] = {
            "role": role.strip().lower() or user.role,
            "unit": unit.strip() or None,
            "display_name": display_name.strip(),
            "email": email.strip() or None,
            "status": status or user.status,
            "expires_at": _end_of_day(_date_or_none(expires_on, "the expiry")),
        }
        current = {k: getattr(user, k) for k in wanted}
        old_expiry, new_expiry = current["expires_at"], wanted["expires_at"]
        if old_expiry and new_expiry and old_expiry.date() == new_expiry.date():
            wanted["expires_at"] = old_expiry  # compared by day: the form shows and sends only the date
        changes = {k: v for k, v in wanted.items() if v != current[k]}
        if not changes:
            return _back(f"/admin/users/{user.username}", "unchanged")
        acct.update_user(who, user.username, changes, reason=reason, uow=c.uow(), clock=c.clock)
    except DomainError as exc:
        return _user_page(request, who, username, error=exc.message, code=exc.status)
    return _back(f"/admin/users/{user.username}", "user-changed")


@router.post("/admin/users/{username}/unlock", response_class=HTMLResponse)
def unlock_user(request: Request, username: str, who: FormWho, reason: Text = "") -> Response:
    c = container(request)
    try:
        user = acct.unlock_user(who, username, reason=reason, uow=c.uow(), clock=c.clock)
    except DomainError as exc:
        return _user_page(request, who, username, error=exc.message, code=exc.status)
    return _back(f"/admin/users/{user.username}", "unlocked")


@router.post("/admin/users/{username}/mfa-reset", response_class=HTMLResponse)
def reset_mfa(request: Request, username: str, who: FormWho, reason: Text = "") -> Response:
    c = container(request)
    try:
        user = acct.reset_mfa(who, username, reason=reason, uow=c.uow(), clock=c.clock)
    except DomainError as exc:
        return _user_page(request, who, username, error=exc.message, code=exc.status)
    return _back(f"/admin/users/{user.username}", "mfa-reset")


@router.post("/admin/users/{username}/password-reset", response_class=HTMLResponse)
def reset_password(request: Request, username: str, who: FormWho, reason: Text = "") -> HTMLResponse:
    c = container(request)
    try:
        password = acct.reset_password(who, username, reason=reason, uow=c.uow(), clock=c.clock)
    except DomainError as exc:
        return _user_page(request, who, username, error=exc.message, code=exc.status)
    return _user_page(request, who, username, one_time_password=password)


# -- roles ------------------------------------------------------------------------------------


def _roles_page(
    request: Request,
    who: Actor,
    *,
    error: str | None = None,
    form: dict[str, Any] | None = None,
    code: int = 200,
) -> HTMLResponse:
    c = container(request)
    roles = acct.list_roles(who, uow=c.uow(), clock=c.clock)
    return _page(
        request,
        who,
        "admin_roles.html",
        "roles",
        {
            "roles": roles,
            "permissions": list(Permission),
            "help": PERMISSION_HELP,
            "error": error,
            "form": form or {"permissions": []},
        },
        status=code,
    )


@router.get("/admin/roles", response_class=HTMLResponse)
def roles_page(request: Request, who: Who) -> HTMLResponse:
    return _roles_page(request, who)


@router.post("/admin/roles", response_class=HTMLResponse)
def create_role(
    request: Request, who: FormWho, name: Text = "", description: Text = "", permissions: Checked = None
) -> Response:
    c = container(request)
    chosen = permissions or []
    try:
        if not name.strip():
            raise Invalid("a new role needs a name")
        if any(r.name == name.strip().lower() for r in acct.list_roles(who, uow=c.uow(), clock=c.clock)):
            raise Conflict(f"a role named {name.strip().lower()!r} exists: change it on its own page")
        saved = acct.save_role(who, name, chosen, description=description, uow=c.uow(), clock=c.clock)
    except DomainError as exc:
        form = {"name": name, "description": description, "permissions": chosen}
        return _roles_page(request, who, error=exc.message, form=form, code=exc.status)
    return _back(f"/admin/roles/{saved.name}", "role-saved")


def _role(request: Request, who: Actor, name: str) -> RoleRecord:
    c = container(request)
    for role in acct.list_roles(who, uow=c.uow(), clock=c.clock):
        if role.name == name.strip().lower():
            return role
    raise NotFound(f"no role named {name!r}")


def _role_page(
    request: Request, who: Actor, name: str, *, error: str | None = None, chosen: list[str] | None = None,
    code: int = 200,
) -> HTMLResponse:  # fmt: skip
    role = _role(request, who, name)
    return _page(
        request,
        who,
        "admin_role.html",
        "roles",
        {
            "role": role,
            "permissions": list(Permission),
            "help": PERMISSION_HELP,
            "chosen": chosen if chosen is not None else sorted(p.value for p in role.permissions),
            "error": error,
        },
        status=code,
    )


@router.get("/admin/roles/{name}", response_class=HTMLResponse)
def role_page(request: Request, name: str, who: Who) -> HTMLResponse:
    return _role_page(request, who, name)


@router.post("/admin/roles/{name}", response_class=HTMLResponse)
def save_role(request: Request, name: str, who: FormWho, permissions: Checked = None) -> Response:
    c = container(request)
    chosen = permissions or []
    try:
        _role(request, who, name)  # only an existing role is changed here
        saved = acct.save_role(who, name, chosen, uow=c.uow(), clock=c.clock)
    except DomainError as exc:
        return _role_page(request, who, name, error=exc.message, chosen=chosen, code=exc.status)
    return _back(f"/admin/roles/{saved.name}", "role-saved")


# -- categories -------------------------------------------------------------------------------


def _categories_page(
    request: Request,
    who: Actor,
    *,
    error: str | None = None,
    form: dict[str, str] | None = None,
    code: int = 200,
) -> HTMLResponse:
    c = container(request)
    found = cat_svc.list_categories(who, manage=True, uow=c.uow(), clock=c.clock)
    return _page(
        request,
        who,
        "admin_categories.html",
        "categories",
        {"categories": found, "error": error, "form": form or {}},
        status=code,
    )


@router.get("/admin/categories", response_class=HTMLResponse)
def categories_page(request: Request, who: Who) -> HTMLResponse:
    return _categories_page(request, who)


@router.post("/admin/categories", response_class=HTMLResponse)
def create_category(
    request: Request, who: FormWho, name: Text = "", description: Text = "", retention_days: Text = ""
) -> Response:
    c = container(request)
    try:
        cat_svc.create_category(
            who, name, description=description, retention_days=retention_days, uow=c.uow(), clock=c.clock
        )
    except DomainError as exc:
        form = {"name": name, "description": description, "retention_days": retention_days}
        return _categories_page(request, who, error=exc.message, form=form, code=exc.status)
    return _back("/admin/categories", "category-created")


def _category_page(
    request: Request, who: Actor, category: Category, *, error: str | None = None, code: int = 200
) -> HTMLResponse:
    return _page(
        request, who, "admin_category.html", "categories", {"category": category, "error": error}, status=code
    )


@router.get("/admin/categories/{category_id}", response_class=HTMLResponse)
def category_page(request: Request, category_id: RowId, who: Who) -> HTMLResponse:
    c = container(request)
    return _category_page(request, who, cat_svc.get_category(who, category_id, uow=c.uow(), clock=c.clock))


@router.post("/admin/categories/{category_id}", response_class=HTMLResponse)
def change_category(
    request: Request,
    category_id: RowId,
    who: FormWho,
    name: Text = "",
    description: Text = "",
    retention_days: Text = "",
    active: Text = "",
    reason: Text = "",
) -> Response:
    c = container(request)
    changes = {
        "name": name,
        "description": description,
        "retention_days": retention_days,
        "active": active == "on",
    }
    try:
        before = cat_svc.get_category(who, category_id, uow=c.uow(), clock=c.clock)
        after = cat_svc.update_category(who, category_id, changes, reason=reason, uow=c.uow(), clock=c.clock)
    except DomainError as exc:
        current = cat_svc.get_category(who, category_id, uow=c.uow(), clock=c.clock)
        return _category_page(request, who, current, error=exc.message, code=exc.status)
    return _back("/admin/categories", "category-changed" if after != before else "unchanged")


@router.post("/admin/categories/{category_id}/status", response_class=HTMLResponse)
def category_status(
    request: Request, category_id: RowId, who: FormWho, active: Text = "", reason: Text = ""
) -> Response:
    c = container(request)
    turn_on = active == "1"
    try:
        cat_svc.update_category(
            who, category_id, {"active": turn_on}, reason=reason, uow=c.uow(), clock=c.clock
        )
    except DomainError as exc:
        return _categories_page(request, who, error=exc.message, code=exc.status)
    return _back("/admin/categories", "category-activated" if turn_on else "category-deactivated")


# -- API tokens -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenRow:
    token: TokenRecord
    owner: str
    status: Status


def token_status(t: TokenRecord, now: datetime) -> Status:
    if t.revoked_at is not None:
        return Status("revoked", "bad")
    if t.expires_at is not None and t.expires_at <= now:
        return Status("expired", "plain")
    return Status("active", "ok")


def _token_rows(request: Request, who: Actor, owner: str) -> list[TokenRow]:
    """The actor's own tokens; for an account manager, everyone's (or ``owner``'s) they may
    manage (accounts with sealed access stay with those who hold it)."""
    c = container(request)
    now = c.clock.now()
    me = who.principal.name
    names = [me]
    if P.USER_MANAGE in who.principal.permissions:
        names = [u.username for u in acct.list_users(who, uow=c.uow(), clock=c.clock)]
        if me not in names:
            names.insert(0, me)
    if owner:
        names = [n for n in names if n == owner.strip().lower()]
    rows: list[TokenRow] = []
    for name in names:
        try:
            tokens = acct.list_tokens(who, name, uow=c.uow(), clock=c.clock)
        except Forbidden:
            continue
        rows.extend(TokenRow(t, name, token_status(t, now)) for t in tokens)
    rows.sort(key=lambda r: (r.status.label != "active", r.owner, -r.token.id))
    return rows


def _tokens_page(
    request: Request,
    who: Actor,
    *,
    owner: str = "",
    issued: acct.IssuedToken | None = None,
    issued_to: str = "",
    error: str | None = None,
    form: dict[str, Any] | None = None,
    code: int = 200,
) -> HTMLResponse:
    return _page(
        request,
        who,
        "admin_tokens.html",
        "tokens",
        {
            "rows": _token_rows(request, who, owner),
            "owner": owner,
            "manager": P.USER_MANAGE in who.principal.permissions,
            "issued": issued,
            "issued_to": issued_to,
            "my_permissions": sorted(p.value for p in who.principal.permissions),
            "help": PERMISSION_HELP,
            "error": error,
            "form": form or {"scopes": []},
        },
        status=code,
    )


@router.get("/admin/tokens", response_class=HTMLResponse)
def tokens_page(request: Request, who: Who, user: Annotated[str, Query(max_length=64)] = "") -> HTMLResponse:
    return _tokens_page(request, who, owner=user)


@router.post("/admin/tokens", response_class=HTMLResponse)
def create_token(
    request: Request,
    who: FormWho,
    name: Text = "",
    owner: Text = "",
    expires_days: Text = "",
    limit_scopes: Text = "",
    scopes: Checked = None,
) -> HTMLResponse:
    c = container(request)
    target = owner.strip().lower() or who.principal.name
    form: dict[str, Any] = {"name": name, "owner": owner, "expires_days": expires_days}
    form["limit_scopes"] = limit_scopes
    form["scopes"] = scopes or []
    try:
        days = int(expires_days) if expires_days.strip().isdecimal() else None
        if expires_days.strip() and (days is None or not 1 <= days <= 3650):
            raise Invalid("a token's lifetime must be 1-3650 days, or empty for no expiry")
        issued = acct.create_token(
            who,
            target,
            name,
            expires_at=c.clock.now() + timedelta(days=days) if days else None,
            scopes=(scopes or []) if limit_scopes == "on" else None,
            uow=c.uow(),
            clock=c.clock,
        )
    except DomainError as exc:
        return _tokens_page(request, who, error=exc.message, form=form, code=exc.status)
    return _tokens_page(request, who, issued=issued, issued_to=target)


@router.post("/admin/tokens/{token_id}/revoke", response_class=HTMLResponse)
def revoke_token(request: Request, token_id: RowId, who: FormWho) -> Response:
    c = container(request)
    try:
        acct.revoke_token(who, token_id, uow=c.uow(), clock=c.clock)
    except DomainError as exc:
        return _tokens_page(request, who, error=exc.message, code=exc.status)
    return _back("/admin/tokens", "token-revoked")


# -- the audit trail --------------------------------------------------------------------------


def _moment(value: str, name: str) -> datetime | None:
    text = value.strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(f"{name} must be a date and time, e.g. 2026-03-01T14:05") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    who: Who,
    actor: Annotated[str, Query(max_length=200)] = "",
    action: Annotated[str, Query(max_length=64)] = "",
    object_type: Annotated[str, Query(max_length=32)] = "",
    object_id: Annotated[str, Query(max_length=100)] = "",
    outcome: Annotated[str, Query(max_length=16)] = "",
    since: Annotated[str, Query(max_length=40)] = "",
    until: Annotated[str, Query(max_length=40)] = "",
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
) -> HTMLResponse:
    c = container(request)
    filters = {
        "actor": actor.strip(),
        "action": action.strip(),
        "object_type": object_type.strip(),
        "object_id": object_id.strip(),
        "outcome": outcome.strip(),
        "since": since.strip(),
        "until": until.strip(),
    }
    error = None
    events: list[Any] = []
    total = 0
    export = ""
    try:
        q = AuditQuery(
            actor=filters["actor"] or None,
            action=filters["action"] or None,
            object_type=filters["object_type"] or None,
            object_id=filters["object_id"] or None,
            outcome=filters["outcome"] or None,
            since=_moment(filters["since"], "from"),
            until=_moment(filters["until"], "until"),
        )
        events, total = audit_svc.search(
            who, q, limit=AUDIT_PAGE, offset=(page - 1) * AUDIT_PAGE, uow=c.uow(), clock=c.clock
        )
        export = "/api/v1/audit/export.csv" + (f"?{urlencode(q.as_details())}" if q.as_details() else "")
    except Invalid as exc:
        error = exc.message
    pages = max(1, -(-total // AUDIT_PAGE))
    kept = {k: v for k, v in filters.items() if v}

    def page_url(n: int) -> str:
        return "/audit?" + urlencode({**kept, "page": n})

    return render(
        request,
        "audit.html",
        {
            "section": "audit",
            "filters": filters,
            "events": events,
            "total": total,
            "page": page,
            "pages": pages,
            "first": (page - 1) * AUDIT_PAGE + 1,
            "page_url": page_url,
            "export": export,
            "error": error,
            "outcomes": sorted(audit_svc.OUTCOMES),
        },
        status=422 if error else 200,
    )
