"""The administration pages (users, roles, categories, API tokens) and the audit search, on
the real application: what each role may open, the one-time secrets shown once, the services'
guards as messages, every change in the audit trail."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from opendems.bootstrap import Container
from opendems.domain.access import Role
from opendems.domain.custody import CustodyEvent
from opendems.domain.errors import Forbidden
from opendems.services import accounts as acct
from opendems.web.app import create_app
from tests.factories import PASSWORD, admin, make_container, png_bytes, user_actor

ADMIN_PAGES = [
    "/admin/users",
    "/admin/users/olga",
    "/admin/roles",
    "/admin/roles/officer",
    "/admin/categories",
]


@pytest.fixture
def c(tmp_path: Path) -> Container:
    return make_container(tmp_path, require_mfa=False, sign_in_rate_per_address=1000)


@pytest.fixture
def app(c: Container) -> Iterator[object]:
    application = create_app(c)
    yield application


def signed_in(app: object, c: Container, name: str, role: Role | str) -> TestClient:
    """A browser (TestClient over https, so the Secure cookie is kept) signed in as ``name``."""
    user_actor(c, name, role)
    web = TestClient(app, base_url="https://testserver", follow_redirects=False)  # type: ignore[arg-type]
    web.headers["accept"] = "text/html"
    page = web.get("/sign-in")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    r = web.post("/sign-in", data={"username": name, "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == "/", r.text
    return web


def csrf(web: TestClient, page: str = "/admin/tokens") -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', web.get(page).text)
    assert found
    return found.group(1)


def perms(c: Container, role: str) -> list[str]:
    with c.uow() as uow:
        return sorted(acct.role_permissions(uow, role))


def events(c: Container, action: str) -> list[CustodyEvent]:
    with c.uow() as uow:
        return [e for e in uow.custody.iter_all() if e.action == action]


def text_of(page: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>(.*?)</', page, re.S)
    assert found, f"#{element_id} not in page"
    return html.unescape(found.group(1)).strip()


@pytest.fixture
def ada(app: object, c: Container) -> TestClient:
    user_actor(c, "olga", Role.OFFICER, unit="north")
    return signed_in(app, c, "ada", Role.ADMINISTRATOR)


def test_officer_gets_the_policy_403_on_admin_pages_and_audit(app: object, c: Container) -> None:
    officer = signed_in(app, c, "olga", Role.OFFICER)
    for path in [*ADMIN_PAGES, "/audit"]:
        r = officer.get(path)
        assert r.status_code == 403, (path, r.status_code)
        assert "<h1" in r.text and "you may not" in r.text, path
    # Tokens are self-service: an officer sees their own, and no one else's.
    acct.create_token(admin(c), "olga", "my laptop", uow=c.uow(), clock=c.clock)
    user_actor(c, "otto", Role.OFFICER)
    acct.create_token(admin(c), "otto", "otto's", uow=c.uow(), clock=c.clock)
    page = officer.get("/admin/tokens")
    assert page.status_code == 200
    assert "my laptop" in page.text and "otto" not in page.text
    assert 'id="admin-tab-users"' not in page.text and 'id="admin-tab-tokens"' in page.text


def test_every_admin_page_opens_for_an_administrator(ada: TestClient) -> None:
    for path in [*ADMIN_PAGES, "/admin/tokens", "/audit"]:
        r = ada.get(path)
        assert r.status_code == 200, (path, r.status_code, r.text[:400])
        assert 'id="main"' in r.text
    users = ada.get("/admin/users").text
    assert 'aria-label="Administration"' in users and 'aria-current="page"' in users
    assert 'id="user-olga"' in users and 'id="user-ada"' in users


def test_user_list_filters(ada: TestClient, c: Container) -> None:
    user_actor(c, "sue", Role.SUPERVISOR, unit="south")
    assert 'id="user-sue"' not in ada.get("/admin/users", params={"role": "officer"}).text
    page = ada.get("/admin/users", params={"q": "SOUTH"}).text
    assert 'id="user-sue"' in page and 'id="user-olga"' not in page
    with c.uow() as uow:
        sue = uow.accounts.user_by_name("sue")
        assert sue is not None
        uow.accounts.update_user(sue.id, locked_at=c.clock.now())
        uow.commit()
    locked = ada.get("/admin/users", params={"status": "locked"}).text
    assert 'id="user-sue"' in locked and 'id="user-olga"' not in locked
    assert '<span class="badge warn">locked</span>' in locked
    # Unlocking from the user's page.
    r = ada.post("/admin/users/sue/unlock", data={"csrf_token": csrf(ada), "reason": "called in"})
    assert r.status_code == 303 and r.headers["location"] == "/admin/users/sue?done=unlocked"
    assert events(c, "user:unlock")[-1].reason == "called in"


def test_create_user_shows_the_one_time_password_once(ada: TestClient, c: Container) -> None:
    r = ada.post(
        "/admin/users",
        data={"csrf_token": csrf(ada), "username": "nina", "role": "investigator", "unit": "north"},
    )
    assert r.status_code == 200, r.text
    password = text_of(r.text, "one-time-password")
    assert len(password) >= 15
    assert acct.password_matches(_user(c, "nina").password_hash, password)
    assert password not in ada.get("/admin/users/nina").text  # never shown again
    # The service's refusals come back as messages on the form.
    again = ada.post("/admin/users", data={"csrf_token": csrf(ada), "username": "nina", "role": "officer"})
    assert again.status_code == 409 and "already exists" in text_of(again.text, "error")
    bad = ada.post("/admin/users", data={"csrf_token": csrf(ada), "username": "N I", "role": "officer"})
    assert bad.status_code == 422 and "not a valid user name" in text_of(bad.text, "error")
    assert 'value="N I"' in bad.text  # what was typed stays in the form
    # Without the form's CSRF token nothing happens.
    forged = ada.post("/admin/users", data={"username": "mallory", "role": "officer"})
    assert forged.status_code == 403 and _user(c, "mallory", missing=True) is None


def _user(c: Container, name: str, missing: bool = False):  # type: ignore[no-untyped-def]
    with c.uow() as uow:
        found = uow.accounts.user_by_name(name)
    assert missing or found is not None
    return found


def test_change_role_is_audited_and_nobody_changes_their_own(ada: TestClient, c: Container) -> None:
    token = csrf(ada)
    r = ada.post(
        "/admin/users/olga",
        data={
            "csrf_token": token,
            "role": "investigator",
            "unit": "north",
            "status": "active",
            "reason": "promoted",
        },
    )
    assert r.status_code == 303 and r.headers["location"] == "/admin/users/olga?done=user-changed"
    assert _user(c, "olga").role == "investigator"
    change = events(c, "user:role_change")[-1]
    assert change.object_id == "olga" and change.reason == "promoted" and change.actor_name == "ada"
    assert change.details_dict["changes"] == {"role": {"old": "officer", "new": "investigator"}}
    assert "The account is changed" in ada.get(r.headers["location"]).text
    # Same values: nothing to do.
    same = ada.post(
        "/admin/users/olga",
        data={
            "csrf_token": token,
            "role": "investigator",
            "unit": "north",
            "status": "active",
            "reason": "x",
        },
    )
    assert same.headers["location"] == "/admin/users/olga?done=unchanged"
    # An administrator's own role: refused with the service's message.
    mine = ada.post(
        "/admin/users/ada",
        data={"csrf_token": token, "role": "officer", "status": "active", "reason": "oops"},
    )
    assert mine.status_code == 403
    assert "nobody may change their own role or status" in text_of(mine.text, "error")
    assert _user(c, "ada").role == "administrator"
    # ...but their own display name, yes.
    ok = ada.post(
        "/admin/users/ada",
        data={
            "csrf_token": token,
            "role": "administrator",
            "status": "active",
            "display_name": "Ada L",
            "reason": "r",
        },
    )
    assert ok.status_code == 303 and _user(c, "ada").display_name == "Ada L"
    # No reason: the service's message.
    no_reason = ada.post(
        "/admin/users/olga", data={"csrf_token": token, "role": "officer", "status": "active"}
    )
    assert no_reason.status_code == 422 and "needs a reason" in text_of(no_reason.text, "error")
    # Disable, with an expiry date.
    off = ada.post(
        "/admin/users/olga",
        data={
            "csrf_token": token,
            "role": "investigator",
            "unit": "north",
            "status": "disabled",
            "expires_on": "2099-01-31",
            "reason": "leave",
        },
    )
    assert off.status_code == 303
    olga = _user(c, "olga")
    assert olga.status == "disabled" and olga.expires_at.date().isoformat() == "2099-01-31"
    assert '<span class="badge bad">disabled</span>' in ada.get("/admin/users/olga").text


def test_sealed_access_accounts_stay_with_internal_affairs(ada: TestClient, c: Container) -> None:
    user_actor(c, "ian", Role.INTERNAL_AFFAIRS)
    r = ada.post("/admin/users/ian/password-reset", data={"csrf_token": csrf(ada), "reason": "forgot"})
    assert r.status_code == 403 and "sealed access" in text_of(r.text, "error")


def test_password_and_mfa_reset(ada: TestClient, c: Container) -> None:
    token = csrf(ada)
    r = ada.post("/admin/users/olga/password-reset", data={"csrf_token": token, "reason": "forgot it"})
    assert r.status_code == 200
    password = text_of(r.text, "one-time-password")
    olga = _user(c, "olga")
    assert acct.password_matches(olga.password_hash, password) and olga.must_change_password
    m = ada.post("/admin/users/olga/mfa-reset", data={"csrf_token": token, "reason": "lost phone"})
    assert m.status_code == 303 and events(c, "mfa:reset")[-1].reason == "lost phone"


def test_role_matrix_and_edit(ada: TestClient, c: Container) -> None:
    page = ada.get("/admin/roles").text
    assert '<th scope="col">Permission</th>' in page and '<th scope="row">' in page
    assert 'data-role="officer" data-permission="evidence:view"><span aria-hidden="true">✓</span>' in page
    assert (
        'data-role="officer" data-permission="user:manage"><span class="visually-hidden">not granted' in page
    )
    edit = ada.get("/admin/roles/officer").text
    assert '<label for="perm-evidence-view">' in edit and 'id="perm-evidence-view"' in edit
    token = csrf(ada)
    keep = ["evidence:view", "evidence:create", "case:view"]
    r = ada.post("/admin/roles/officer", data={"csrf_token": token, "permissions": keep})
    assert r.status_code == 303 and r.headers["location"] == "/admin/roles/officer?done=role-saved"
    assert perms(c, "officer") == sorted(keep)
    saved = events(c, "role:change")[-1]
    assert saved.object_id == "officer" and "evidence:download" in saved.details_dict["removed"]
    # The administrator role keeps what repairs roles: the service's message.
    bad = ada.post("/admin/roles/administrator", data={"csrf_token": token, "permissions": ["audit:read"]})
    assert bad.status_code == 409 and "must keep user:manage and role:manage" in text_of(bad.text, "error")
    # A new role.
    made = ada.post(
        "/admin/roles",
        data={
            "csrf_token": token,
            "name": "records_clerk",
            "description": "Clerk",
            "permissions": ["case:view"],
        },
    )
    assert made.status_code == 303 and perms(c, "records_clerk") == ["case:view"]
    twice = ada.post("/admin/roles", data={"csrf_token": token, "name": "records_clerk"})
    assert twice.status_code == 409 and "exists" in text_of(twice.text, "error")


def test_categories_pages_and_their_rule_at_ingest_and_edit(app: object, c: Container) -> None:
    cora = signed_in(app, c, "cora", Role.CUSTODIAN)
    token = csrf(cora, "/admin/categories")
    officer = user_actor(c, "olga", Role.OFFICER)
    # No categories: free text is accepted.
    from opendems.services.ingest import IngestRequest, ingest_stream

    def ingest(seed: int, category: str) -> str:
        req = IngestRequest(filename=f"p{seed}.png", category=category)
        return ingest_stream(
            officer, req, [png_bytes(seed=seed)], uow=c.uow(), blobs=c.blobs, clock=c.clock, limits=c.limits
        ).item.id

    assert ingest(1, "my own words")
    r = cora.post(
        "/admin/categories",
        data={"csrf_token": token, "name": "Traffic stop", "description": "Stops", "retention_days": "365"},
    )
    assert r.status_code == 303 and r.headers["location"] == "/admin/categories?done=category-created"
    page = cora.get(r.headers["location"]).text
    assert "Traffic stop" in page and "The category is added." in page
    cat_id = re.search(r'id="category-(\d+)"', page).group(1)  # type: ignore[union-attr]
    assert events(c, "category:create")[-1].object_id == "Traffic stop"
    dup = cora.post("/admin/categories", data={"csrf_token": token, "name": "traffic stop"})
    assert dup.status_code == 409 and "already exists" in text_of(dup.text, "error")
    bad = cora.post("/admin/categories", data={"csrf_token": token, "name": "X", "retention_days": "-3"})
    assert bad.status_code == 422 and "retention period" in text_of(bad.text, "error")
    # Now the list is the rule, at ingest and at edit.
    from opendems.domain.errors import Invalid
    from opendems.services import evidence as ev_svc

    with pytest.raises(Invalid, match="categories: Traffic stop"):
        ingest(2, "Burglary")
    item = ingest(3, "traffic stop")
    with pytest.raises(Invalid, match="unknown or inactive category 'Nope'"):
        ev_svc.edit_evidence(
            officer, item, {"category": "Nope"}, reason="r", uow=c.uow(), clock=c.clock, limits=c.limits
        )
    # Edit and deactivate through the pages.
    edit = cora.get(f"/admin/categories/{cat_id}")
    assert edit.status_code == 200 and 'id="category-edit-form"' in edit.text
    changed = cora.post(
        f"/admin/categories/{cat_id}",
        data={"csrf_token": token, "name": "Traffic stop", "description": "All stops", "retention_days": "730",
              "active": "on", "reason": "policy"},
    )  # fmt: skip
    assert changed.status_code == 303 and changed.headers["location"].endswith("done=category-changed")
    assert events(c, "category:change")[-1].details_dict["changes"]["retention_days"] == {
        "old": 365,
        "new": 730,
    }
    off = cora.post(f"/admin/categories/{cat_id}/status", data={"csrf_token": token, "active": "0"})
    assert off.headers["location"].endswith("done=category-deactivated")
    assert events(c, "category:deactivate")
    assert '<span class="badge plain">inactive</span>' in cora.get("/admin/categories").text
    assert ingest(4, "free text again")  # no active category left: free text once more


def test_token_shown_once_authenticates_and_is_revoked(ada: TestClient, c: Container) -> None:
    token = csrf(ada)
    r = ada.post("/admin/tokens", data={"csrf_token": token, "name": "nightly export", "expires_days": "30"})
    assert r.status_code == 200, r.text
    secret = text_of(r.text, "new-token-value")
    assert secret.startswith("odt_") and 'data-copy="#new-token-value"' in r.text
    api = TestClient(ada.app)  # type: ignore[arg-type]
    me = api.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.status_code == 200 and me.json()["name"] == "ada"
    listing = ada.get("/admin/tokens").text
    assert secret not in listing and "nightly export" in listing
    token_id = re.search(r'id="token-(\d+)" data-owner="ada"', listing).group(1)  # type: ignore[union-attr]
    # For another user, limited to some permissions.
    theirs = ada.post(
        "/admin/tokens",
        data={
            "csrf_token": token,
            "name": "olga's",
            "owner": "olga",
            "limit_scopes": "on",
            "scopes": ["case:view"],
        },
    )
    assert theirs.status_code == 200 and "for olga" in theirs.text
    too_much = ada.post(
        "/admin/tokens",
        data={
            "csrf_token": token,
            "name": "x",
            "owner": "olga",
            "limit_scopes": "on",
            "scopes": ["user:manage"],
        },
    )
    assert too_much.status_code == 422 and "exceed the role officer" in text_of(too_much.text, "error")
    only_olga = ada.get("/admin/tokens", params={"user": "olga"}).text
    assert "olga&#39;s" in only_olga and "nightly export" not in only_olga
    # Revoke: the token stops working at once.
    rv = ada.post(f"/admin/tokens/{token_id}/revoke", data={"csrf_token": token})
    assert rv.status_code == 303 and rv.headers["location"] == "/admin/tokens?done=token-revoked"
    assert api.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    assert events(c, "token:revoke")[-1].details_dict["name"] == "nightly export"
    again = ada.post(f"/admin/tokens/{token_id}/revoke", data={"csrf_token": token})
    assert again.status_code == 409 and "already revoked" in text_of(again.text, "error")


def test_audit_search_filters_pages_and_csv_link(app: object, c: Container) -> None:
    olga = user_actor(c, "olga", Role.OFFICER)
    for n in range(55):
        acct.update_user(admin(c), "olga", {"unit": f"u{n}"}, reason=f"move {n}", uow=c.uow(), clock=c.clock)
    with pytest.raises(Forbidden):
        acct.list_users(olga, uow=c.uow(), clock=c.clock)  # a denied attempt, recorded
    auditor = signed_in(app, c, "audrey", Role.AUDITOR)
    page = auditor.get("/audit", params={"action": "user:change", "object_id": "olga"})
    assert page.status_code == 200
    rows = re.findall(r'<tr id="event-(\d+)">', page.text)
    assert len(rows) == 50 and "move 0" in page.text and "move 50" not in page.text
    assert "Events 1\u201350 of 55, oldest first." in page.text
    link = html.unescape(re.search(r'id="audit-export" href="([^"]+)"', page.text).group(1))  # type: ignore[union-attr]
    assert link == "/api/v1/audit/export.csv?action=user%3Achange&object_id=olga"
    assert auditor.get(link).text.count("user:change") == 55
    nxt = html.unescape(re.search(r'href="([^"]+)" rel="next"', page.text).group(1))  # type: ignore[union-attr]
    second = auditor.get(nxt).text
    assert "Events 51\u201355 of 55" in second and "move 54" in second and "move 49" not in second
    # Outcome, actor and time range.
    denied = auditor.get("/audit", params={"outcome": "denied"}).text
    assert re.findall(r"<code>([a-z_:]+)</code></td>", denied) == ["user:list"]
    assert '<span class="badge bad">denied</span>' in denied
    by_olga = auditor.get("/audit", params={"actor": "olga", "action": "user:*"}).text
    assert len(re.findall(r'<tr id="event-', by_olga)) == 1
    none = auditor.get("/audit", params={"action": "user:change", "since": "2999-01-01T00:00"}).text
    assert "No events match." in none
    wrong = auditor.get("/audit", params={"since": "2026-02-01T00:00", "until": "2026-01-01T00:00"})
    assert wrong.status_code == 422 and "since is after until" in text_of(wrong.text, "error")
    # The detail of an event: its details and its hash.
    assert '<dd class="hash">' in page.text and '"unit": {' in page.text
    # Every search is itself in the trail.
    assert len(events(c, "audit:read")) == 5 and len(events(c, "audit:export")) == 1


def test_odd_numbers_and_dates_are_refused_not_crashed(ada: TestClient, c: Container) -> None:
    token = csrf(ada)
    huge = "99999999999999999999"  # beyond what the database stores as an id
    assert ada.get(f"/admin/categories/{huge}").status_code in (404, 422)
    r = ada.post(f"/admin/categories/{huge}", data={"csrf_token": token, "name": "x"})
    assert r.status_code in (404, 422)
    r = ada.post(f"/admin/categories/{huge}/status", data={"csrf_token": token, "active": "1"})
    assert r.status_code in (404, 422)
    assert ada.post(f"/admin/tokens/{huge}/revoke", data={"csrf_token": token}).status_code in (404, 422)
    # A superscript two is a digit to Python's isdigit, but not a number of days.
    r = ada.post("/admin/tokens", data={"csrf_token": token, "name": "t", "expires_days": "\u00b2"})
    assert r.status_code == 422 and "1-3650 days" in r.text
    # The last day there is: usable through that whole day, not a server error.
    r = ada.post(
        "/admin/users",
        data={"csrf_token": token, "username": "last", "role": "officer", "expires_on": "9999-12-31"},
    )
    assert r.status_code == 200, r.text
    r = ada.post(
        "/admin/users/olga", data={"csrf_token": token, "expires_on": "9999-12-31", "reason": "long"}
    )
    assert r.status_code == 303, r.text
    with c.uow() as uow:
        olga = uow.accounts.user_by_name("olga")
    assert olga is not None and olga.expires_at is not None
    assert (olga.expires_at.date().isoformat(), olga.expires_at.time().isoformat()) == (
        "9999-12-31",
        "23:59:59",
    )
