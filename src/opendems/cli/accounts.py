"""``opendems user|role|token|audit ...``: accounts, roles, API tokens and the audit trail."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from opendems.cli.runtime import clear_errors, console, err, state
from opendems.domain.custody import AuditQuery
from opendems.domain.errors import Invalid
from opendems.services import accounts as svc
from opendems.services import audit as audit_svc

user_app = typer.Typer(help="Manage user accounts.", no_args_is_help=True)
role_app = typer.Typer(help="Roles and their permissions.", no_args_is_help=True)
token_app = typer.Typer(help="Manage API tokens.", no_args_is_help=True)
audit_app = typer.Typer(help="Search and export the audit trail.", no_args_is_help=True)

ReasonOpt = Annotated[str, typer.Option("--reason", help="Why (recorded in the audit trail).")]


def _days(days: int | None) -> datetime | None:
    return datetime.now(UTC) + timedelta(days=days) if days else None


@user_app.command("add")
@clear_errors
def user_add(
    name: Annotated[str, typer.Argument(help="User name.")],
    role: Annotated[str, typer.Option("--role", help="A role name: see 'opendems role list'.")],
    display_name: Annotated[str, typer.Option("--display-name")] = "",
    unit: Annotated[str | None, typer.Option("--unit", help="Unit or squad (supervisor scope).")] = None,
    email: Annotated[str | None, typer.Option("--email")] = None,
    expires_days: Annotated[
        int | None, typer.Option("--expires-days", min=1, help="A temporary account: disabled after N days.")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin.")
    ] = False,
) -> None:
    """Create a user; without --password-stdin a one-time password is printed once."""
    c = state.container()
    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    created = svc.create_user(
        state.actor("user add"),
        name,
        role,
        display_name=display_name,
        password=password,
        unit=unit,
        email=email,
        expires_at=_days(expires_days),
        uow=c.uow(),
        clock=c.clock,
    )
    console.print(f"Created user {created.user.username} ({created.user.role}).")
    if created.password:
        console.print(f"One-time password (shown once): [bold yellow]{created.password}[/bold yellow]")


@user_app.command("list")
@clear_errors
def user_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every account, with its role, unit and state."""
    c = state.container()
    users = svc.list_users(state.actor("user list"), uow=c.uow(), clock=c.clock)
    if as_json:
        rows = [
            {
                "username": u.username,
                "role": u.role,
                "unit": u.unit,
                "status": u.status,
                "locked": u.locked_at is not None,
                "mfa_enrolled": u.mfa_enrolled_at is not None,
                "last_login_at": u.last_login_at.isoformat() if u.last_login_at else None,
            }
            for u in users
        ]
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    table = Table("user", "role", "unit", "status", "MFA", "last sign-in")
    for u in users:
        status = "locked" if u.locked_at else u.status
        table.add_row(
            u.username,
            u.role,
            u.unit or "",
            status,
            "yes" if u.mfa_enrolled_at else "no",
            u.last_login_at.strftime("%Y-%m-%d %H:%M") if u.last_login_at else "never",
        )
    console.print(table)


@user_app.command("set")
@clear_errors
def user_set(
    name: Annotated[str, typer.Argument(help="User name.")],
    reason: ReasonOpt,
    role: Annotated[str | None, typer.Option("--role")] = None,
    unit: Annotated[str | None, typer.Option("--unit")] = None,
    disable: Annotated[bool, typer.Option("--disable")] = False,
    enable: Annotated[bool, typer.Option("--enable")] = False,
) -> None:
    """Change a user's role or unit, or disable/enable the account."""
    if disable and enable:
        raise Invalid("choose --disable or --enable, not both")
    changes: dict[str, object] = {}
    if role is not None:
        changes["role"] = role
    if unit is not None:
        changes["unit"] = unit
    if disable or enable:
        changes["status"] = "disabled" if disable else "active"
    if not changes:
        raise Invalid("nothing to change: give --role, --unit, --disable or --enable")
    c = state.container()
    user = svc.update_user(state.actor("user set"), name, changes, reason=reason, uow=c.uow(), clock=c.clock)
    console.print(f"{user.username}: role {user.role}, unit {user.unit or '-'}, {user.status}.")


@user_app.command("unlock")
@clear_errors
def user_unlock(name: Annotated[str, typer.Argument()], reason: ReasonOpt = "") -> None:
    """Release an account locked after failed sign-ins."""
    c = state.container()
    svc.unlock_user(state.actor("user unlock"), name, reason=reason, uow=c.uow(), clock=c.clock)
    console.print(f"Unlocked {name}.")


@user_app.command("mfa-reset")
@clear_errors
def user_mfa_reset(name: Annotated[str, typer.Argument()], reason: ReasonOpt) -> None:
    """Forget a user's authenticator; they enrol a new one at next sign-in."""
    c = state.container()
    svc.reset_mfa(state.actor("user mfa-reset"), name, reason=reason, uow=c.uow(), clock=c.clock)
    console.print(f"Multi-factor authentication reset for {name}; they enrol again at next sign-in.")


@user_app.command("reset-password")
@clear_errors
def user_reset_password(name: Annotated[str, typer.Argument()], reason: ReasonOpt) -> None:
    """Issue a one-time password for a user who forgot theirs (printed once)."""
    c = state.container()
    password = svc.reset_password(
        state.actor("user reset-password"), name, reason=reason, uow=c.uow(), clock=c.clock
    )
    console.print(f"One-time password for {name} (shown once): [bold yellow]{password}[/bold yellow]")


@user_app.command("sweep")
@clear_errors
def user_sweep() -> None:
    """Disable accounts unused for 90 days (setting) and expired temporary accounts."""
    c = state.container()
    done = svc.sweep_accounts(state.actor("user sweep"), c.auth_policy, uow=c.uow(), clock=c.clock)
    console.print(f"Disabled {len(done['inactive'])} inactive and {len(done['expired'])} expired account(s).")
    for name in done["inactive"] + done["expired"]:
        console.print(f"  {name}")


@role_app.command("list")
@clear_errors
def role_list() -> None:
    """Roles and the permissions each carries."""
    c = state.container()
    table = Table("role", "permissions", "description")
    for r in svc.list_roles(state.actor("role list"), uow=c.uow(), clock=c.clock):
        table.add_row(r.name, ", ".join(sorted(r.permissions)), r.description)
    console.print(table)


@role_app.command("set")
@clear_errors
def role_set(
    name: Annotated[str, typer.Argument(help="Role name (a new name creates a role).")],
    permissions: Annotated[str, typer.Option("--permissions", help="Comma-separated permissions.")],
    description: Annotated[str | None, typer.Option("--description")] = None,
) -> None:
    """Create a role or replace its permissions."""
    c = state.container()
    chosen = [p.strip() for p in permissions.split(",") if p.strip()]
    role = svc.save_role(
        state.actor("role set"), name, chosen, description=description, uow=c.uow(), clock=c.clock
    )
    console.print(f"Role {role.name}: {', '.join(sorted(role.permissions))}")


@token_app.command("create")
@clear_errors
def token_create(
    user: Annotated[str, typer.Option("--user", help="Whose token.")],
    name: Annotated[str, typer.Option("--name", help="A label, e.g. the script or machine using it.")],
    expires_days: Annotated[
        int | None, typer.Option("--expires-days", min=1, help="Expire after N days.")
    ] = None,
    scopes: Annotated[
        str | None, typer.Option("--scopes", help="Comma-separated permissions the token is limited to.")
    ] = None,
) -> None:
    """Create an API token; it is printed once and stored only as a hash."""
    c = state.container()
    chosen = [s.strip() for s in scopes.split(",") if s.strip()] if scopes else None
    issued = svc.create_token(
        state.actor("token create"),
        user,
        name,
        expires_at=_days(expires_days),
        scopes=chosen,
        uow=c.uow(),
        clock=c.clock,
    )
    err.print(f"Token '{issued.record.name}' for {user} (shown once, keep it safe):")
    sys.stdout.write(issued.token + "\n")


@token_app.command("list")
@clear_errors
def token_list(user: Annotated[str, typer.Option("--user")]) -> None:
    """A user's tokens (never the secrets)."""
    c = state.container()
    table = Table("id", "name", "prefix", "scopes", "expires", "state", "last used")
    for t in svc.list_tokens(state.actor("token list"), user, uow=c.uow(), clock=c.clock):
        table.add_row(
            str(t.id),
            t.name,
            t.prefix + "…",
            ", ".join(t.scopes) if t.scopes is not None else "all of the role",
            t.expires_at.strftime("%Y-%m-%d") if t.expires_at else "never",
            "revoked" if t.revoked_at else "active",
            t.last_used_at.strftime("%Y-%m-%d %H:%M") if t.last_used_at else "never",
        )
    console.print(table)


@token_app.command("revoke")
@clear_errors
def token_revoke(token_id: Annotated[int, typer.Argument(help="Token id (see 'token list').")]) -> None:
    """Revoke a token at once."""
    c = state.container()
    t = svc.revoke_token(state.actor("token revoke"), token_id, uow=c.uow(), clock=c.clock)
    console.print(f"Revoked token {t.id} ({t.name}).")


def _when(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise Invalid(
            f"{name} must be an ISO 8601 date or time, e.g. 2026-11-01 or 2026-11-01T08:00Z"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@audit_app.command("search")
@clear_errors
def audit_search(
    actor_name: Annotated[str | None, typer.Option("--actor")] = None,
    action: Annotated[str | None, typer.Option("--action", help="e.g. auth:sign_in or 'auth:*'.")] = None,
    object_type: Annotated[str | None, typer.Option("--object-type")] = None,
    object_id: Annotated[str | None, typer.Option("--object-id")] = None,
    outcome: Annotated[str | None, typer.Option("--outcome", help="success, denied or failed.")] = None,
    since: Annotated[str | None, typer.Option("--since")] = None,
    until: Annotated[str | None, typer.Option("--until")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 100,
    csv_path: Annotated[
        Path | None, typer.Option("--csv", help="Export every match to this CSV file.")
    ] = None,
) -> None:
    """Search the audit trail; with --csv, export every match (the export is itself recorded)."""
    c = state.container()
    q = AuditQuery(
        actor=actor_name,
        action=action,
        object_type=object_type,
        object_id=object_id,
        outcome=outcome,
        since=_when(since, "--since"),
        until=_when(until, "--until"),
    )
    who = state.actor("audit search")
    if csv_path is not None:
        chunks = audit_svc.export_csv(who, q, uow=c.uow(), clock=c.clock)
        with csv_path.open("w", encoding="utf-8", newline="") as out:
            for chunk in chunks:
                out.write(chunk)
        console.print(f"Exported to {csv_path}.")
        return
    events, total = audit_svc.search(who, q, limit=limit, offset=0, uow=c.uow(), clock=c.clock)
    table = Table("seq", "time (UTC)", "action", "outcome", "actor", "object", "where")
    for e in events:
        table.add_row(
            str(e.seq),
            e.at.replace("T", " ")[:22],
            e.action,
            e.outcome,
            e.actor_name,
            f"{e.object_type} {e.object_id}",
            f"{e.endpoint} {e.client_address or ''}".strip(),
        )
    console.print(table)
    console.print(f"{len(events)} of {total} matching event(s).")
