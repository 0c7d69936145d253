"""The account, role, token, audit and case-access commands, run as a user would run them."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from tests.e2e.server import cli
from tests.factories import png_bytes


def test_accounts_roles_tokens_and_audit_from_the_command_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    out = cli(data, "user", "add", "sue", "--role", "supervisor", "--unit", "North", "--expires-days", "30")
    assert "Created user sue (supervisor)." in out.stdout and "One-time password" in out.stdout
    cli(
        data,
        "user",
        "add",
        "olga",
        "--role",
        "officer",
        "--password-stdin",
        input_text="river stone lantern\n",
    )
    weak = cli(
        data,
        "user",
        "add",
        "otto",
        "--role",
        "officer",
        "--password-stdin",
        input_text="password1\n",
        check=False,
    )
    assert (
        weak.returncode == 1
        and "common password" in weak.stderr
        and len(weak.stderr.strip().splitlines()) == 1
    )

    listed = json.loads(cli(data, "user", "list", "--json").stdout)
    assert {u["username"]: u["role"] for u in listed} == {
        "admin": "administrator",
        "sue": "supervisor",
        "olga": "officer",
    }
    changed = cli(data, "user", "set", "olga", "--unit", "North", "--reason", "joined north")
    assert "olga: role officer, unit North, active." in changed.stdout
    no_reason = cli(data, "user", "set", "olga", "--unit", "South", check=False)
    assert no_reason.returncode != 0
    assert cli(data, "user", "unlock", "olga", check=False).stderr.strip().endswith("olga is not locked")

    roles = cli(data, "role", "list").stdout
    assert "internal_affairs" in roles and "evidence_custodian" in roles
    made = cli(data, "role", "set", "records_clerk", "--permissions", "evidence:view,scope:agency")
    assert "Role records_clerk: evidence:view, scope:agency" in made.stdout
    bad = cli(data, "role", "set", "clerk", "--permissions", "evidence:fly", check=False)
    assert bad.returncode == 1 and "unknown permission 'evidence:fly'" in bad.stderr

    token = cli(
        data, "token", "create", "--user", "olga", "--name", "bodycam dock", "--scopes", "evidence:create"
    )
    assert token.stdout.strip().startswith("odt_")
    table = cli(data, "token", "list", "--user", "olga").stdout
    assert "bodycam dock" in table and "evidence:create" in table and token.stdout.strip() not in table
    assert "Revoked token 1 (bodycam dock)." in cli(data, "token", "revoke", "1").stdout

    (tmp_path / "a.png").write_bytes(png_bytes(seed=3))
    cli(data, "--as", "olga", "ingest", str(tmp_path / "a.png"))
    cli(data, "case", "create", "C-9", "--title", "Burglary")
    assert "Members of C-9: cli, olga" in cli(data, "case", "member", "C-9", "olga").stdout
    assert (
        "Case C-9 is now sealed."
        in cli(data, "case", "restrict", "C-9", "sealed", "--reason", "IA 26-3").stdout
    )
    hidden = cli(data, "--as", "sue", "case", "show", "C-9", check=False)
    assert hidden.returncode == 1 and "case C-9 not found" in hidden.stderr

    search = cli(data, "audit", "search", "--actor", "sue", "--outcome", "denied").stdout
    assert "case:view" in search and "1 of 1 matching event(s)." in search
    export = tmp_path / "trail.csv"
    cli(data, "audit", "search", "--action", "user:*", "--csv", str(export))
    rows = list(csv.DictReader(export.open(encoding="utf-8")))
    assert {r["action"] for r in rows} == {"user:create", "user:change"}
    again = cli(data, "audit", "search", "--action", "audit:*").stdout
    assert "audit:read" in again and "audit:export" in again
    assert (
        cli(data, "audit", "search", "--since", "yesterday", check=False)
        .stderr.strip()
        .endswith("--since must be an ISO 8601 date or time, e.g. 2026-11-01 or 2026-11-01T08:00Z")
    )
    assert "Disabled 0 inactive and 0 expired account(s)." in cli(data, "user", "sweep").stdout
