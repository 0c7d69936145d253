"""Administering accounts, roles and tokens, the inactivity sweep, and the audit trail."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from opendems.bootstrap import Container
from opendems.domain.custody import CustodyEvent
from opendems.domain.errors import Conflict
from opendems.services.accounts import create_token, sweep_accounts, update_user
from opendems.web.app import create_app
from tests.factories import PASSWORD, FakeClock, admin, make_container, png_bytes

TokenFor = Any


def events(c: Container, action: str | None = None) -> list[CustodyEvent]:
    with c.uow() as uow:
        return [e for e in uow.custody.iter_all() if action is None or e.action == action]


def bearer(c: Container, user: str, **kw: Any) -> dict[str, str]:
    issued = create_token(admin(c), user, "test", uow=c.uow(), clock=c.clock, **kw)
    return {"Authorization": f"Bearer {issued.token}"}


def test_administrator_creates_changes_and_disables_users(client: TestClient, container: Container) -> None:
    ops = bearer(container, "admin")
    r = client.post(
        "/api/v1/users",
        headers=ops,
        json={"username": "Sue.B", "role": "supervisor", "unit": "Patrol North", "display_name": "Sue B"},
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["user"]["username"] == "sue.b" and body["user"]["unit"] == "Patrol North"
    assert len(body["one_time_password"]) >= 15 and body["user"]["must_change_password"] is True
    # Bad input: unknown role, weak password, bad unit, duplicate.
    for bad, status, words in (
        ({"username": "x1", "role": "sheriff"}, 422, "unknown role"),
        ({"username": "x2", "role": "officer", "password": "password123"}, 422, "common password"),
        ({"username": "x3", "role": "officer", "unit": "<script>"}, 422, "not a valid unit"),
        ({"username": "sue.b", "role": "officer"}, 409, "already exists"),
        ({"username": "x4", "role": "system"}, 422, "unknown role"),
    ):
        r = client.post("/api/v1/users", headers=ops, json=bad)
        assert r.status_code == status and words in r.json()["detail"], r.text

    r = client.patch("/api/v1/users/sue.b", headers=ops, json={"role": "officer"})
    assert r.status_code == 422  # a reason is required
    r = client.patch(
        "/api/v1/users/sue.b", headers=ops, json={"role": "officer", "reason": "moved to patrol"}
    )
    assert r.status_code == 200 and r.json()["role"] == "officer", r.text
    change = events(container, "user:role_change")[-1]
    assert change.details_dict["changes"] == {"role": {"old": "supervisor", "new": "officer"}}
    assert change.reason == "moved to patrol" and change.details_dict["privileged"] is True

    r = client.patch("/api/v1/users/sue.b", headers=ops, json={"status": "disabled", "reason": "left"})
    assert r.json()["status"] == "disabled"
    # Nobody changes their own role or status...
    r = client.patch("/api/v1/users/admin", headers=ops, json={"status": "disabled", "reason": "oops"})
    assert r.status_code == 403 and "their own role" in r.json()["detail"]
    # ...and the last administrator cannot be demoted or disabled, even from the console.
    with pytest.raises(Conflict, match="last active administrator"):
        update_user(
            admin(container),
            "admin",
            {"role": "auditor"},
            reason="x",
            uow=container.uow(),
            clock=container.clock,
        )
    # The built-in command-line account is not managed over HTTP.
    assert (
        client.patch("/api/v1/users/cli", headers=ops, json={"status": "disabled", "reason": "x"}).status_code
        == 404
    )


def test_only_user_managers_manage_users(
    client: TestClient, token_for: TokenFor, container: Container
) -> None:
    ivy = token_for("ivy", "investigator")
    assert client.get("/api/v1/users", headers=ivy).status_code == 403
    assert (
        client.post(
            "/api/v1/users", headers=ivy, json={"username": "z9", "role": "administrator"}
        ).status_code
        == 403
    )
    assert client.put("/api/v1/roles/officer", headers=ivy, json={"permissions": []}).status_code == 403
    denied = [
        (e.action, e.outcome) for e in events(container) if e.actor_name == "ivy" and e.action != "token:use"
    ]
    assert denied == [("user:list", "denied"), ("user:create", "denied"), ("role:change", "denied")]


def test_roles_are_editable_and_take_effect(
    client: TestClient, token_for: TokenFor, container: Container
) -> None:
    ops = bearer(container, "admin")
    roles = {r["name"]: r for r in client.get("/api/v1/roles", headers=ops).json()}
    assert set(roles) >= {
        "administrator",
        "evidence_custodian",
        "supervisor",
        "officer",
        "investigator",
        "internal_affairs",
        "prosecutor",
        "auditor",
    }
    olga = token_for("olga", "officer")
    item = client.post(
        "/api/v1/evidence", params={"filename": "a.png"}, content=png_bytes(seed=1), headers=olga
    )
    assert item.status_code == 201
    item_id = item.json()["item"]["id"]
    assert client.get(f"/api/v1/evidence/{item_id}/original", headers=olga).status_code == 200
    # The agency decides officers may not download: the change applies at once.
    without = [p for p in roles["officer"]["permissions"] if p != "evidence:download"]
    r = client.put("/api/v1/roles/officer", headers=ops, json={"permissions": without})
    assert r.status_code == 200 and "evidence:download" not in r.json()["permissions"]
    assert client.get(f"/api/v1/evidence/{item_id}/original", headers=olga).status_code == 403
    change = events(container, "role:change")[-1]
    assert change.details_dict["removed"] == ["evidence:download"] and change.details_dict["added"] == []
    # A new role, and guard rails.
    r = client.put(
        "/api/v1/roles/records_clerk", headers=ops, json={"permissions": ["evidence:view", "scope:agency"]}
    )
    assert r.status_code == 200 and r.json()["builtin"] is False
    assert client.put("/api/v1/roles/x", headers=ops, json={"permissions": []}).status_code == 422
    r = client.put("/api/v1/roles/clerk", headers=ops, json={"permissions": ["evidence:fly"]})
    assert r.status_code == 422 and "evidence:fly" in r.json()["detail"]
    r = client.put("/api/v1/roles/administrator", headers=ops, json={"permissions": ["audit:read"]})
    assert r.status_code == 409
    assert client.put("/api/v1/roles/system", headers=ops, json={"permissions": []}).status_code == 409


def test_administrator_reading_evidence_is_a_privileged_action(
    client: TestClient, token_for: TokenFor, container: Container
) -> None:
    ops = bearer(container, "admin")
    olga = token_for("olga", "officer")
    item_id = client.post(
        "/api/v1/evidence", params={"filename": "a.png"}, content=png_bytes(seed=2), headers=olga
    ).json()["item"]["id"]
    # Administrators hold no evidence content permission by default.
    assert client.get(f"/api/v1/evidence/{item_id}/original", headers=ops).status_code == 403
    # Granted one, every read is recorded and marked privileged.
    perms = next(r for r in client.get("/api/v1/roles", headers=ops).json() if r["name"] == "administrator")
    r = client.put(
        "/api/v1/roles/administrator",
        headers=ops,
        json={"permissions": [*perms["permissions"], "evidence:view", "evidence:download"]},
    )
    assert r.status_code == 200
    ops = bearer(container, "admin")
    assert client.get(f"/api/v1/evidence/{item_id}/original", headers=ops).content == png_bytes(seed=2)
    assert client.get("/api/v1/evidence", headers=ops).json()["total"] == 1
    reads = [e for e in events(container) if e.actor_name == "admin" and e.action.startswith("evidence:")]
    assert {e.action for e in reads} >= {"evidence:download", "evidence:search"}
    assert all(e.details_dict.get("privileged") is True for e in reads)


def test_tokens_are_scoped_expiring_revocable_and_named_in_every_event(
    client: TestClient, token_for: TokenFor, container: Container
) -> None:
    ivy = token_for("ivy", "investigator")
    r = client.post(
        "/api/v1/tokens", headers=ivy, json={"name": "uploader script", "scopes": ["evidence:create"]}
    )
    assert r.status_code == 201, r.text
    script = {"Authorization": f"Bearer {r.json()['token']}"}
    token_id = r.json()["record"]["id"]
    assert r.json()["record"]["scopes"] == ["evidence:create"]
    up = client.post(
        "/api/v1/evidence", params={"filename": "s.png"}, content=png_bytes(seed=3), headers=script
    )
    assert up.status_code == 201, up.text
    # Scoped: it may upload, but not read back what it uploaded.
    assert client.get(f"/api/v1/evidence/{up.json()['item']['id']}", headers=script).status_code == 403
    ingest = events(container, "evidence:ingest")[-1]
    assert ingest.details_dict["token_id"] == token_id and ingest.details_dict["token"] == "uploader script"
    # Every request made with a token is in the trail, the refused read included.
    uses = [e for e in events(container, "token:use") if e.object_id == str(token_id)]
    assert [e.endpoint for e in uses] == ["POST /api/v1/evidence", "GET /api/v1/evidence/{evidence_id}"]
    assert all(e.actor_name == "ivy" and e.client_address == "testclient" for e in uses)
    # Scopes beyond the role are refused; so is a past expiry.
    r = client.post("/api/v1/tokens", headers=ivy, json={"name": "x", "scopes": ["user:manage"]})
    assert r.status_code == 422 and "exceed" in r.json()["detail"]
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    assert (
        client.post("/api/v1/tokens", headers=ivy, json={"name": "x", "expires_at": past}).status_code == 422
    )
    listed = client.get("/api/v1/tokens", headers=ivy).json()
    assert "token" not in listed[0] and {t["name"] for t in listed} == {"test", "uploader script"}
    # Another user's tokens are not ivy's to see or revoke.
    olga = token_for("olga", "officer")
    assert client.get("/api/v1/tokens", headers=olga, params={"username": "ivy"}).status_code == 403
    assert client.delete(f"/api/v1/tokens/{token_id}", headers=olga).status_code == 403
    r = client.delete(f"/api/v1/tokens/{token_id}", headers=ivy)
    assert r.status_code == 200 and r.json()["revoked_at"]
    assert client.get("/api/v1/me", headers=script).status_code == 401
    assert client.delete(f"/api/v1/tokens/{token_id}", headers=ivy).status_code == 409
    # Failed uses are recorded too, without the secret.
    assert client.get("/api/v1/me", headers={"Authorization": "Bearer odt_guessing123"}).status_code == 401
    failed = [(e.object_id, e.reason, e.actor_name) for e in events(container, "auth:token")]
    assert failed == [(str(token_id), "revoked token", "ivy"), ("odt_guessi", "unknown token", "(unknown)")]


def test_expired_token_is_refused(tmp_path: Path) -> None:
    clock = FakeClock()
    c = make_container(tmp_path, clock=clock)
    headers = bearer(c, "admin", expires_at=clock.now() + timedelta(hours=1))
    with TestClient(create_app(c)) as web:
        assert web.get("/api/v1/me", headers=headers).status_code == 200
        clock.advance(hours=1, seconds=1)
        assert web.get("/api/v1/me", headers=headers).status_code == 401


def test_unused_and_temporary_accounts_are_disabled(tmp_path: Path) -> None:
    from opendems.services.accounts import create_user

    clock = FakeClock()
    c = make_container(tmp_path, clock=clock)
    system = admin(c)
    for name in ("idle", "busy"):
        create_user(system, name, "officer", password=PASSWORD, uow=c.uow(), clock=clock)
    create_user(
        system,
        "visitor",
        "prosecutor",
        password=PASSWORD,
        expires_at=clock.now() + timedelta(days=10),
        uow=c.uow(),
        clock=clock,
    )
    busy = bearer(c, "busy")
    with TestClient(create_app(c)) as web:
        clock.advance(days=60)
        assert web.get("/api/v1/me", headers=busy).status_code == 200  # token use counts as use
        assert sweep_accounts(system, c.auth_policy, uow=c.uow(), clock=clock) == {
            "inactive": [],
            "expired": ["visitor"],
        }
        clock.advance(days=31)
        done = sweep_accounts(system, c.auth_policy, uow=c.uow(), clock=clock)
        # The first administrator never signed in either.
        assert done == {"inactive": ["admin", "idle"], "expired": []}
        clock.advance(days=60)
        assert sweep_accounts(system, c.auth_policy, uow=c.uow(), clock=clock)["inactive"] == ["busy"]
        assert web.get("/api/v1/me", headers=busy).status_code == 401
    with c.uow() as uow:
        states = {
            u.username: (u.status, u.disabled_reason) for u in uow.accounts.list_users() if not u.is_builtin
        }
    assert states["idle"] == ("disabled", "unused for 90 days")
    assert states["visitor"] == ("disabled", "temporary account expired")
    assert [e.object_id for e in events(c, "user:disable_inactive")] == ["admin", "idle", "busy"]
    assert [e.object_id for e in events(c, "user:expire")] == ["visitor"]


def test_auditor_searches_and_exports_the_trail(
    client: TestClient, token_for: TokenFor, container: Container
) -> None:
    audrey = token_for("audrey", "auditor")
    olga = token_for("olga", "officer")
    client.post("/api/v1/evidence", params={"filename": "a.png"}, content=png_bytes(seed=4), headers=olga)
    assert client.get("/api/v1/users", headers=olga).status_code == 403  # a denial to find

    r = client.get("/api/v1/audit", headers=audrey, params={"actor": "olga", "outcome": "denied"})
    assert r.status_code == 200, r.text
    assert [(e["action"], e["outcome"]) for e in r.json()["items"]] == [("user:list", "denied")]
    assert client.get("/api/v1/audit", headers=olga).status_code == 403
    hit = r.json()["items"][0]
    assert hit["client_address"] == "testclient" and hit["endpoint"] == "GET /api/v1/users"
    r = client.get(
        "/api/v1/audit", headers=audrey, params={"action": "evidence:*", "object_type": "evidence"}
    )
    assert {e["action"] for e in r.json()["items"]} == {"evidence:ingest"}
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert client.get("/api/v1/audit", headers=audrey, params={"since": future}).json()["total"] == 0
    bad = client.get(
        "/api/v1/audit", headers=audrey, params={"since": future, "until": "2020-01-01T00:00:00Z"}
    )
    assert bad.status_code == 422

    r = client.get("/api/v1/audit/export.csv", headers=audrey, params={"actor": "olga"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert {row["action"] for row in rows} == {"evidence:ingest", "user:list", "audit:read", "token:use"}
    assert all(len(row["event_hash"]) == 64 for row in rows)
    # Reading and exporting the trail are themselves in it.
    reads = [e for e in events(container) if e.actor_name == "audrey" and e.action.startswith("audit:")]
    assert [e.action for e in reads] == ["audit:read", "audit:read", "audit:read", "audit:export"]
    assert reads[0].details_dict["query"] == {"actor": "olga", "outcome": "denied"}
    assert [e.outcome for e in events(container) if e.actor_name == "olga" and e.action == "audit:read"] == [
        "denied"
    ]


def test_csv_export_neutralises_formulas(container: Container) -> None:
    from tests.factories import user_actor

    user_actor(container, "audrey", "auditor")
    audrey_headers = bearer(container, "audrey")
    client = TestClient(create_app(container), base_url="https://testserver")
    page = client.get("/sign-in")
    r = client.post(
        "/sign-in",
        data={
            "username": "=HYPERLINK(1)",
            "password": "x" * 9,
            "csrf_token": page.text.split('name="csrf_token" value="')[1].split('"')[0],
        },
    )
    assert r.status_code == 401
    r = client.get("/api/v1/audit/export.csv", headers=audrey_headers, params={"action": "auth:sign_in"})
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert rows and all(not row["object_id"].startswith("=") for row in rows)
    assert any(row["object_id"] == "'=hyperlink(1)" for row in rows)


@pytest.mark.parametrize("path", ["/api/v1/users", "/api/v1/roles", "/api/v1/audit", "/api/v1/tokens"])
def test_admin_routes_need_authentication(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 401 and r.headers["content-type"].startswith("application/problem+json")


def test_account_managers_cannot_reach_sealed_material(client: TestClient, container: Container) -> None:
    """Administrators manage accounts, but cannot make themselves (or a puppet) able to see
    sealed material: that stays with internal affairs and the server's command line."""
    from tests.factories import user_actor

    ops = bearer(container, "admin")
    r = client.post("/api/v1/users", headers=ops, json={"username": "puppet", "role": "internal_affairs"})
    assert r.status_code == 403 and "sealed access" in r.json()["detail"]
    r = client.put(
        "/api/v1/roles/super", headers=ops, json={"permissions": ["access:sealed", "evidence:view"]}
    )
    assert r.status_code == 403
    r = client.put("/api/v1/roles/internal_affairs", headers=ops, json={"permissions": ["evidence:view"]})
    assert r.status_code == 403  # nor take it away from internal affairs
    assert (
        client.patch("/api/v1/users/admin", headers=ops, json={"role": "auditor", "reason": "x"}).status_code
        == 403
    )
    user_actor(container, "irene", "internal_affairs")  # created on the server's console
    for path in ("/api/v1/users/irene/password-reset", "/api/v1/users/irene/mfa-reset"):
        assert client.post(path, headers=ops, json={"reason": "take over"}).status_code == 403
    assert (
        client.post("/api/v1/tokens", headers=ops, json={"name": "x", "username": "irene"}).status_code == 403
    )
    r = client.patch("/api/v1/users/olga-none", headers=ops, json={"role": "internal_affairs", "reason": "x"})
    assert r.status_code == 404
    user_actor(container, "olga", "officer")
    r = client.patch("/api/v1/users/olga", headers=ops, json={"role": "internal_affairs", "reason": "x"})
    assert r.status_code == 403
    # The built-in console account is nobody's to borrow.
    assert (
        client.post("/api/v1/tokens", headers=ops, json={"name": "x", "username": "cli"}).status_code == 404
    )


def test_user_names_are_not_revealed_to_those_who_may_not_manage_them(
    client: TestClient, token_for: TokenFor
) -> None:
    olga = token_for("olga", "officer")
    exists = client.get("/api/v1/tokens", headers=olga, params={"username": "admin"})
    missing = client.get("/api/v1/tokens", headers=olga, params={"username": "no-such-user"})
    assert exists.status_code == missing.status_code == 403
    for name in ("admin", "no-such-user"):
        assert (
            client.post(f"/api/v1/users/{name}/unlock", headers=olga, json={"reason": ""}).status_code == 403
        )


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/users", {"username": "tz1", "role": "officer", "expires_at": "2099-01-01T00:00:00"}),
        ("/api/v1/tokens", {"name": "tz", "expires_at": "2099-01-01T00:00:00"}),
    ],
)
def test_times_without_a_zone_are_refused_not_crashed(
    client: TestClient, container: Container, path: str, body: dict[str, Any]
) -> None:
    r = client.post(path, headers=bearer(container, "admin"), json=body)
    assert r.status_code == 422 and "timezone" in r.json()["detail"].lower()


def test_audit_times_without_a_zone_are_refused(client: TestClient, token_for: TokenFor) -> None:
    r = client.get(
        "/api/v1/audit", headers=token_for("audrey", "auditor"), params={"since": "2026-01-01T00:00:00"}
    )
    assert r.status_code == 422


def test_a_temporary_accounts_tokens_stop_at_its_expiry(tmp_path: Path) -> None:
    from opendems.services.accounts import create_user

    clock = FakeClock()
    c = make_container(tmp_path, clock=clock)
    create_user(
        admin(c),
        "visitor",
        "prosecutor",
        password=PASSWORD,
        expires_at=clock.now() + timedelta(days=1),
        uow=c.uow(),
        clock=clock,
    )
    headers = bearer(c, "visitor")
    with TestClient(create_app(c)) as web:
        assert web.get("/api/v1/me", headers=headers).status_code == 200
        clock.advance(days=1, seconds=1)  # before any sweep has run
        assert web.get("/api/v1/me", headers=headers).status_code == 401
    assert events(c, "auth:token")[-1].reason == "temporary account expired"


def test_the_trail_does_not_show_sealed_material_to_readers_who_may_not_see_it(
    client: TestClient, token_for: TokenFor, container: Container
) -> None:
    from opendems.services import members as member_svc

    ia = token_for("irene", "internal_affairs")
    r = client.post("/api/v1/cases", headers=ia, json={"number": "IA-7", "title": "Complaint against Sgt. X"})
    assert r.status_code == 201
    r = client.put(
        "/api/v1/cases/IA-7/restriction", headers=ia, json={"restriction": "sealed", "reason": "IA"}
    )
    assert r.status_code == 200
    client.post("/api/v1/cases", headers=ia, json={"number": "N-7", "title": "Ordinary"})
    audrey = token_for("audrey", "auditor")
    seen = {
        e["object_id"]
        for e in client.get("/api/v1/audit", headers=audrey, params={"object_type": "case"}).json()["items"]
    }
    assert "N-7" in seen and "IA-7" not in seen
    csv_text = client.get("/api/v1/audit/export.csv", headers=audrey).text
    assert "IA-7" not in csv_text and "Complaint against" not in csv_text
    # An auditor named on the sealed case reads its trail.
    ia_view = client.get("/api/v1/audit", headers=bearer(container, "irene"), params={"object_type": "case"})
    assert ia_view.status_code == 403  # internal affairs holds no audit:read by default...
    member_svc.change_member(
        admin(container), "case", "IA-7", "audrey", add=True, uow=container.uow(), clock=container.clock
    )
    seen = {
        e["object_id"]
        for e in client.get("/api/v1/audit", headers=audrey, params={"object_type": "case"}).json()["items"]
    }
    assert "IA-7" in seen  # ...but a named auditor reads the sealed case's trail
