"""Signing in through the browser pages, end to end on the real app, database and clock
control: banner, passwords, TOTP enrolment and replay, recovery codes, lockout, rate limits,
idle lock, re-authentication, CSRF, sign-out everywhere and password changes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from opendems.bootstrap import Container
from opendems.domain.custody import CustodyEvent
from opendems.domain.totp import code_at, step_of
from opendems.services.accounts import create_token
from opendems.web.app import create_app
from tests.factories import PASSWORD, FakeClock, admin, make_container, user_actor

GENERIC = "Sign-in failed: the user name, password or code is wrong, or the account cannot sign in."


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def app_container(tmp_path: Path, clock: FakeClock) -> Container:
    return make_container(tmp_path, clock=clock, sign_in_rate_per_address=1000)


def browser(c: Container) -> TestClient:
    # https: the session cookie is Secure, and a real browser only sends it over TLS (or localhost).
    return TestClient(create_app(c), base_url="https://testserver", follow_redirects=False)


@pytest.fixture
def web(app_container: Container) -> Iterator[TestClient]:
    with browser(app_container) as client:
        yield client


def events(c: Container, action: str | None = None) -> list[CustodyEvent]:
    with c.uow() as uow:
        return [e for e in uow.custody.iter_all() if action is None or e.action == action]


def form_token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def error_of(html: str) -> str:
    found = re.search(r'<div class="error" role="alert" id="error">([^<]*)</div>', html)
    assert found, html
    return found.group(1)


def post_password(web: TestClient, username: str, password: str) -> object:
    page = web.get("/sign-in")
    assert page.status_code == 200
    return web.post(
        "/sign-in", data={"username": username, "password": password, "csrf_token": form_token(page.text)}
    )


def enrol(web: TestClient, clock: FakeClock) -> tuple[str, list[str]]:
    """Finish a first sign-in: scan (read) the secret, confirm a code. Returns (secret, codes)."""
    page = web.get("/sign-in/mfa/enrol")
    assert page.status_code == 200, page.text
    assert "<svg" in page.text  # the QR code is drawn on the server, not fetched
    secret = re.search(r'<code id="secret">([A-Z2-7]+)</code>', page.text).group(1)  # type: ignore[union-attr]
    r = web.post(
        "/sign-in/mfa/enrol",
        data={"code": code_at(secret, step_of(clock.now())), "csrf_token": form_token(page.text)},
    )
    assert r.status_code == 200, r.text
    codes = re.findall(r"<li>([a-z2-9]{5}-[a-z2-9]{5})</li>", r.text)
    assert len(codes) == 10
    return secret, codes


def totp(web: TestClient, code: str) -> object:
    page = web.get("/sign-in/mfa")
    assert page.status_code == 200, page.text
    return web.post("/sign-in/mfa", data={"code": code, "csrf_token": form_token(page.text)})


def csrf_of(web: TestClient) -> str:
    return form_token(web.get("/account").text)


@pytest.fixture
def olga(app_container: Container) -> str:
    user_actor(app_container, "olga", "officer")
    return "olga"


def test_banner_is_shown_before_sign_in(web: TestClient, app_container: Container) -> None:
    page = web.get("/sign-in")
    assert page.status_code == 200
    assert app_container.settings.system_use_banner in page.text
    assert 'id="banner"' in page.text.split("<form")[0]  # above the form
    assert "set-cookie" in page.headers and "HttpOnly" in page.headers["set-cookie"]


def test_first_sign_in_enrols_mfa_then_second_needs_a_code(
    web: TestClient, app_container: Container, clock: FakeClock, olga: str
) -> None:
    r = post_password(web, olga, PASSWORD)
    assert r.status_code == 303 and r.headers["location"] == "/sign-in/mfa/enrol"  # type: ignore[attr-defined]
    cookie = r.headers["set-cookie"]  # type: ignore[attr-defined]
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=lax" in cookie
    # Half signed in: the API does not open yet.
    assert web.get("/api/v1/me").status_code == 401
    assert web.get("/sign-in/mfa/enrol").status_code == 200
    # A wrong code during enrolment is refused and the page stays.
    page = web.get("/sign-in/mfa/enrol")
    r = web.post("/sign-in/mfa/enrol", data={"code": "000000", "csrf_token": form_token(page.text)})
    assert r.status_code == 401 and "not right" in r.text
    secret, codes = enrol(web, clock)
    me = web.get("/api/v1/me")
    assert me.status_code == 200 and me.json()["name"] == "olga" and me.json()["via"] == "session"

    # Sign out and back in: now a code is owed.
    r = web.post("/sign-out", data={"csrf_token": csrf_of(web)})
    assert r.status_code == 303 and web.get("/api/v1/me").status_code == 401
    clock.advance(seconds=30)
    r = post_password(web, olga, PASSWORD)
    assert r.headers["location"] == "/sign-in/mfa"  # type: ignore[attr-defined]
    good = code_at(secret, step_of(clock.now()))
    r = totp(web, good)
    assert r.status_code == 303 and web.get("/api/v1/me").status_code == 200  # type: ignore[attr-defined]

    # The same code again (a replay, still inside its 30 s window) is refused.
    web.post("/sign-out", data={"csrf_token": csrf_of(web)})
    post_password(web, olga, PASSWORD)
    r = totp(web, good)
    assert r.status_code == 401 and GENERIC in r.text  # type: ignore[attr-defined]
    assert web.get("/api/v1/me").status_code == 401
    replay = events(app_container, "auth:mfa")[-1]
    assert replay.outcome == "failed" and replay.reason == "code already used"
    # A recovery code works once.
    assert totp(web, codes[0]).status_code == 303  # type: ignore[attr-defined]
    web.post("/sign-out", data={"csrf_token": csrf_of(web)})
    post_password(web, olga, PASSWORD)
    assert totp(web, codes[0]).status_code == 401  # type: ignore[attr-defined]
    assert totp(web, codes[1]).status_code == 303  # type: ignore[attr-defined]

    actions = [(e.action, e.outcome) for e in events(app_container) if e.actor_name == "olga"]
    assert ("mfa:enrol", "success") in actions
    assert actions.count(("auth:sign_in", "success")) == 4
    assert ("auth:sign_out", "success") in actions
    signed_in = events(app_container, "auth:sign_in")[-1]
    assert (
        signed_in.details_dict["mfa"] == "recovery_code"
        and signed_in.details_dict["recovery_codes_left"] == 8
    )
    assert signed_in.client_address == "testclient" and signed_in.endpoint == "POST /sign-in/mfa"


def test_five_failures_lock_the_account_until_an_administrator_unlocks(
    web: TestClient, app_container: Container, clock: FakeClock, olga: str
) -> None:
    for _ in range(5):
        r = post_password(web, olga, "wrong password 1")
        assert r.status_code == 401 and GENERIC in r.text  # type: ignore[attr-defined]
        clock.advance(minutes=2)
    # Locked: the right password now fails with the very same message.
    r = post_password(web, olga, PASSWORD)
    assert r.status_code == 401 and GENERIC in r.text  # type: ignore[attr-defined]
    # ...as does a user name that does not exist: nothing tells them apart.
    r2 = post_password(web, "nobody-here", PASSWORD)
    assert r2.status_code == 401 and error_of(r2.text) == error_of(r.text) == GENERIC  # type: ignore[attr-defined]
    assert [e.action for e in events(app_container, "auth:lock")] == ["auth:lock"]
    # Time alone does not release it.
    clock.advance(hours=5)
    assert post_password(web, olga, PASSWORD).status_code == 401  # type: ignore[attr-defined]

    issued = create_token(
        admin(app_container), "admin", "ops", uow=app_container.uow(), clock=app_container.clock
    )
    headers = {"Authorization": f"Bearer {issued.token}"}
    users = {u["username"]: u for u in web.get("/api/v1/users", headers=headers).json()}
    assert users["olga"]["locked"] is True
    r = web.post("/api/v1/users/olga/unlock", headers=headers, json={"reason": "called the help desk"})
    assert r.status_code == 200 and r.json()["locked"] is False, r.text
    assert post_password(web, olga, PASSWORD).status_code == 303  # type: ignore[attr-defined]
    unlock = events(app_container, "user:unlock")[-1]
    assert unlock.actor_name == "admin" and unlock.reason == "called the help desk"


def test_failures_spread_beyond_fifteen_minutes_do_not_lock(
    web: TestClient, app_container: Container, clock: FakeClock, olga: str
) -> None:
    for _ in range(8):
        assert post_password(web, olga, "wrong password 1").status_code == 401  # type: ignore[attr-defined]
        clock.advance(minutes=4)  # 4 failures at most fall in any 15-minute window
    assert events(app_container, "auth:lock") == []
    assert post_password(web, olga, PASSWORD).status_code == 303  # type: ignore[attr-defined]


def test_sign_in_attempts_are_rate_limited_per_address(tmp_path: Path, clock: FakeClock) -> None:
    c = make_container(tmp_path, clock=clock, sign_in_rate_per_address=3)
    user_actor(c, "olga", "officer")
    with browser(c) as web:
        for name in ("a1", "a2", "a3"):
            assert post_password(web, name, "x" * 12).status_code == 401  # type: ignore[attr-defined]
        r = post_password(web, "olga", PASSWORD)
        assert r.status_code == 429 and "too many sign-in attempts" in r.text  # type: ignore[attr-defined]
        clock.advance(minutes=6)
        assert post_password(web, "olga", PASSWORD).status_code == 303  # type: ignore[attr-defined]
    limited = [e for e in events(c, "auth:sign_in") if e.outcome == "denied"]
    assert limited and limited[0].reason == "too many sign-in attempts from this address"


def signed_in(web: TestClient, name: str, clock: FakeClock) -> str:
    assert post_password(web, name, PASSWORD).status_code == 303  # type: ignore[attr-defined]
    secret, _ = enrol(web, clock)
    return secret


def test_idle_session_locks_after_thirty_minutes(
    web: TestClient, app_container: Container, clock: FakeClock, olga: str
) -> None:
    signed_in(web, olga, clock)
    clock.advance(minutes=29)
    assert web.get("/api/v1/me").status_code == 200  # activity restarts the idle clock
    clock.advance(minutes=29)
    assert web.get("/api/v1/me").status_code == 200
    clock.advance(minutes=31)
    r = web.get("/api/v1/me")
    assert r.status_code == 401 and "30 minutes" in r.json()["detail"]
    assert web.get("/api/v1/me").status_code == 401  # the session is over, not just paused
    assert web.get("/account").headers["location"].startswith("/sign-in")
    assert events(app_container, "auth:idle_lock")[-1].actor_name == "olga"


def test_sessions_need_fresh_authentication_after_twelve_hours(
    web: TestClient, app_container: Container, clock: FakeClock, olga: str
) -> None:
    signed_in(web, olga, clock)
    for _ in range(35):  # busy all day: never idle
        clock.advance(minutes=20)
        assert web.get("/api/v1/me").status_code == 200
    clock.advance(minutes=20)  # 12 h 0 min after signing in
    r = web.get("/api/v1/me")
    assert r.status_code == 401 and "12 hours" in r.json()["detail"]
    assert events(app_container, "auth:reauthenticate")[-1].actor_name == "olga"


def test_state_changing_requests_with_the_cookie_need_the_csrf_token(
    web: TestClient, app_container: Container, clock: FakeClock
) -> None:
    user_actor(app_container, "ivy", "investigator")
    signed_in(web, "ivy", clock)
    body = {"number": "CS-1", "title": "csrf"}
    r = web.post("/api/v1/cases", json=body)
    assert r.status_code == 403 and "CSRF" in r.json()["detail"]
    r = web.post("/api/v1/cases", json=body, headers={"X-CSRF-Token": "forged"})
    assert r.status_code == 403
    assert web.get("/api/v1/cases/CS-1").status_code == 404  # nothing was created
    r = web.post("/api/v1/cases", json=body, headers={"X-CSRF-Token": csrf_of(web)})
    assert r.status_code == 201, r.text
    # Reads need no token; forms do.
    assert web.get("/api/v1/cases/CS-1").status_code == 200
    assert web.post("/sign-out/everywhere", data={"csrf_token": "forged"}).status_code == 403
    # The sign-in form has its own token too.
    r = web.post("/sign-in", data={"username": "ivy", "password": PASSWORD, "csrf_token": "x"})
    assert r.status_code == 403
    refused = events(app_container, "auth:csrf")
    assert [(e.actor_name, e.outcome, e.endpoint) for e in refused] == [
        ("ivy", "denied", "POST /api/v1/cases"),
        ("ivy", "denied", "POST /api/v1/cases"),
        ("ivy", "denied", "POST /sign-out/everywhere"),
    ]


def test_sign_out_everywhere_ends_every_session(
    app_container: Container, clock: FakeClock, olga: str
) -> None:
    with browser(app_container) as laptop, browser(app_container) as desk:
        secret = signed_in(laptop, olga, clock)
        clock.advance(seconds=30)
        assert post_password(desk, olga, PASSWORD).status_code == 303  # type: ignore[attr-defined]
        assert totp(desk, code_at(secret, step_of(clock.now()))).status_code == 303  # type: ignore[attr-defined]
        assert desk.get("/api/v1/me").status_code == 200
        r = laptop.post("/sign-out/everywhere", data={"csrf_token": csrf_of(laptop)})
        assert r.status_code == 303 and "signed_out_everywhere" in r.headers["location"]
        assert desk.get("/api/v1/me").status_code == 401
        assert laptop.get("/api/v1/me").status_code == 401
    assert events(app_container, "auth:sign_out_everywhere")[-1].details_dict["sessions"] == 2


def test_one_time_password_must_be_changed_and_weak_passwords_are_refused(
    web: TestClient, app_container: Container, clock: FakeClock
) -> None:
    from opendems.services.accounts import create_user

    made = create_user(
        admin(app_container),
        "nina",
        "officer",
        display_name="Nina Patel",
        uow=app_container.uow(),
        clock=clock,
    )
    assert made.password
    assert post_password(web, "nina", made.password).status_code == 303  # type: ignore[attr-defined]
    page = web.get("/sign-in/mfa/enrol")
    secret = re.search(r'<code id="secret">([A-Z2-7]+)</code>', page.text).group(1)  # type: ignore[union-attr]
    r = web.post(
        "/sign-in/mfa/enrol",
        data={"code": code_at(secret, step_of(clock.now())), "csrf_token": form_token(page.text)},
    )
    assert 'href="/account"' in r.text  # continue leads to the password change
    r = web.get("/api/v1/me")
    assert r.status_code == 403 and "one-time password" in r.json()["detail"]

    token = csrf_of(web)
    strength = web.post(
        "/account/password-strength", json={"password": "password1"}, headers={"X-CSRF-Token": token}
    )
    assert strength.status_code == 200 and strength.json()["acceptable"] is False
    assert "common password" in strength.json()["problems"][0]
    assert web.post("/account/password-strength", json={"password": "x"}).status_code == 403  # no CSRF token
    for weak, why in (
        ("short1!", "at least 8 characters"),
        ("sunshine", "common password"),
        ("patel-2026-x", "your own name"),
        ("qwertyuiop", "common password"),
    ):
        r = web.post("/account/password", data={"current": made.password, "new": weak, "csrf_token": token})
        assert r.status_code == 422 and why in r.text, (weak, r.text)
    r = web.post(
        "/account/password",
        data={"current": "not it at all", "new": "river stone lantern", "csrf_token": token},
    )
    assert r.status_code == 401
    r = web.post(
        "/account/password",
        data={"current": made.password, "new": "river stone lantern", "csrf_token": token},
    )
    assert r.status_code == 303, r.text
    assert web.get("/api/v1/me").status_code == 200
    changed = events(app_container, "auth:password_change")
    assert [e.outcome for e in changed] == ["failed", "success"]


def test_administrator_resets_mfa_and_the_user_enrols_again(
    web: TestClient, app_container: Container, clock: FakeClock, olga: str
) -> None:
    signed_in(web, olga, clock)
    issued = create_token(admin(app_container), "admin", "ops", uow=app_container.uow(), clock=clock)
    headers = {"Authorization": f"Bearer {issued.token}"}
    assert web.post("/api/v1/users/olga/mfa-reset", headers=headers, json={"reason": ""}).status_code == 422
    r = web.post("/api/v1/users/olga/mfa-reset", headers=headers, json={"reason": "lost phone, ticket 4411"})
    assert r.status_code == 200 and r.json()["mfa_enrolled"] is False, r.text
    assert web.get("/api/v1/me").status_code == 401  # her sessions ended with the reset
    r = post_password(web, olga, PASSWORD)
    assert r.headers["location"] == "/sign-in/mfa/enrol"  # type: ignore[attr-defined]
    reset = events(app_container, "mfa:reset")[-1]
    assert (
        reset.actor_name == "admin" and reset.object_id == "olga" and reset.details_dict["privileged"] is True
    )


def test_forgotten_password_gets_a_one_time_password(
    web: TestClient, app_container: Container, clock: FakeClock, olga: str
) -> None:
    issued = create_token(admin(app_container), "admin", "ops", uow=app_container.uow(), clock=clock)
    headers = {"Authorization": f"Bearer {issued.token}"}
    r = web.post(
        "/api/v1/users/olga/password-reset", headers=headers, json={"reason": "forgot it, ticket 77"}
    )
    assert r.status_code == 200, r.text
    temporary = r.json()["one_time_password"]
    assert post_password(web, olga, PASSWORD).status_code == 401  # type: ignore[attr-defined]
    assert post_password(web, olga, temporary).status_code == 303  # type: ignore[attr-defined]
    enrol(web, clock)
    assert web.get("/api/v1/me").status_code == 403  # must choose a new password first
    reset = events(app_container, "user:password_reset")[-1]
    assert reset.object_id == "olga" and reset.reason == "forgot it, ticket 77"


def test_wrong_codes_count_toward_the_lockout_even_after_a_right_password(
    web: TestClient, app_container: Container, clock: FakeClock, olga: str
) -> None:
    secret = signed_in(web, olga, clock)
    web.post("/sign-out", data={"csrf_token": csrf_of(web)})
    for _ in range(5):
        assert post_password(web, olga, PASSWORD).status_code == 303  # type: ignore[attr-defined]
        assert totp(web, "000000").status_code in (303, 401)  # type: ignore[attr-defined]
    assert [e.action for e in events(app_container, "auth:lock")] == ["auth:lock"]
    clock.advance(seconds=30)
    assert post_password(web, olga, PASSWORD).status_code == 401  # type: ignore[attr-defined]
    assert code_at(secret, step_of(clock.now()))  # the right code would not help now either


def test_the_session_cookie_changes_when_the_second_factor_is_given(
    web: TestClient, app_container: Container, clock: FakeClock, olga: str
) -> None:
    r = post_password(web, olga, PASSWORD)
    before = r.cookies.get("opendems_session")  # type: ignore[attr-defined]
    enrol(web, clock)
    after = web.cookies.get("opendems_session")
    assert before and after and before != after
    assert web.get("/api/v1/me").status_code == 200
    with browser(app_container) as fixated:
        fixated.cookies.set("opendems_session", before, domain="testserver.local")
        assert fixated.get("/api/v1/me").status_code == 401  # the pre-MFA value is worthless


def test_odd_characters_are_refused_not_crashed(
    web: TestClient, app_container: Container, clock: FakeClock, olga: str
) -> None:
    r = web.post("/sign-in", data={"username": "olga", "password": PASSWORD, "csrf_token": "é"})
    assert r.status_code == 403
    secret = signed_in(web, olga, clock)
    r = web.post(
        "/api/v1/cases",
        json={"number": "Z-1", "title": "t"},
        headers={"X-CSRF-Token": "\u00e9t\u00e9".encode("latin-1")},  # type: ignore[dict-item]
    )
    assert r.status_code == 403
    web.post("/sign-out", data={"csrf_token": csrf_of(web)})
    post_password(web, olga, PASSWORD)
    assert totp(web, "\u0661\u0662\u0663\u0664\u0665\u0666").status_code == 401  # type: ignore[attr-defined]
    assert secret


def test_a_way_back_that_a_browser_reads_as_another_site_is_not_followed(
    web: TestClient, clock: FakeClock, olga: str
) -> None:
    # Browsers drop tabs and newlines inside a URL, so "/\t/evil.example" is "//evil.example".
    for sneaky in ("/\t/evil.example", "/\n/evil.example", "/\r/evil.example"):
        page = web.get("/sign-in", params={"next": sneaky})
        assert 'name="next" value="/"' in page.text, sneaky
    page = web.get("/sign-in")
    web.post(
        "/sign-in",
        data={
            "username": olga,
            "password": PASSWORD,
            "csrf_token": form_token(page.text),
            "next": "/\t/evil.example",
        },
    )
    page = web.get("/sign-in/mfa/enrol", params={"next": "/\t/evil.example"})
    secret = re.search(r'<code id="secret">([A-Z2-7]+)</code>', page.text).group(1)  # type: ignore[union-attr]
    r = web.post(
        "/sign-in/mfa/enrol",
        data={
            "code": code_at(secret, step_of(clock.now())),
            "csrf_token": form_token(page.text),
            "next": "/\t/evil.example",
        },
    )
    assert r.status_code == 200, r.text
    assert 'class="button" href="/">Continue</a>' in r.text
