"""A first sign-in in a real browser (Debian's Chromium, driven by Playwright) against a real
server process on http://127.0.0.1, the way `make run` serves it: banner, a failed attempt,
the one-time password, authenticator enrolment from the QR page, recovery codes, the
strength meter, the password change, and signing out."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.e2e.server import Server, cli
from tests.e2e.ui import wait_for
from tests.media import video_bytes

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    s = Server(tmp_path / "data").start()
    yield s
    s.stop()


def first_admin_password(server: Server) -> str:
    found = re.search(r"one-time password (\S+)", server.log.read_text())
    assert found, server.log.read_text()
    return found.group(1)


def test_first_sign_in_in_a_real_browser(browser: Browser, server: Server, tmp_path: Path) -> None:
    page: Page = browser.new_page()
    page.goto(f"{server.url}/sign-in")
    assert "criminal justice information system" in page.inner_text("#banner")

    page.fill("#username", "admin")
    page.fill("#password", "not the password")
    page.click("button[type=submit]")
    assert "Sign-in failed" in page.inner_text("#error")

    page.fill("#username", "admin")
    page.fill("#password", first_admin_password(server))
    page.click("button[type=submit]")
    # Each step waits for the next page to be there (the URL changes before it is drawn).
    expect(page).to_have_url(re.compile(r"/sign-in/mfa/enrol$"))
    expect(page.locator("#qr svg")).to_have_count(1)
    page.screenshot(path=str(tmp_path / "enrol.png"))
    secret = page.inner_text("#secret")
    page.fill("#code", pyotp.TOTP(secret).now())
    page.click("button[type=submit]")
    expect(page.locator("#codes li")).to_have_count(10)
    assert all(c.strip() for c in page.locator("#codes li").all_inner_texts())  # ten codes, each shown

    page.click("text=Continue")
    expect(page).to_have_url(re.compile(r"/account$"))
    page.fill("#current", first_admin_password(server))
    page.fill("#new", "sunshine")
    expect(page.locator("#strength")).to_contain_text("common password")
    page.fill("#new", "violet harbour compass 9")
    expect(page.locator("#strength")).to_have_text(re.compile(r"^Strong enough"))
    page.click("#password-form button[type=submit]")
    assert "password is changed" in page.inner_text("#notice")

    # The Secure, HttpOnly session cookie works on http://127.0.0.1 and the API answers to it.
    me = page.evaluate("fetch('/api/v1/me').then(r => r.json())")
    assert me["name"] == "admin" and me["via"] == "session"
    cookie = next(c for c in page.context.cookies() if c["name"] == "opendems_session")
    assert cookie["secure"] and cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    assert page.evaluate("document.cookie") == ""  # scripts cannot read it

    page.click("text=Sign out everywhere")
    assert "signed out on every device" in page.inner_text("body")
    assert page.evaluate("fetch('/api/v1/me').then(r => r.status)") == 401


def test_the_proxy_plays_and_seeks_in_a_real_browser(
    browser: Browser, server: Server, tmp_path: Path
) -> None:
    """What "browser-playable" means: Chromium's own <video> decodes the proxy, plays it,
    and seeks with Range requests through the access check."""
    (tmp_path / "bwc.mp4").write_bytes(video_bytes(seconds=4, width=640, height=360))
    cli(
        server.data_dir,
        "user",
        "add",
        "olga",
        "--role",
        "officer",
        "--password-stdin",
        input_text="river stone lantern\n",
    )
    cli(server.data_dir, "--as", "olga", "ingest", str(tmp_path / "bwc.mp4"))
    cli(server.data_dir, "jobs", "--wait", "--timeout", "60")
    token = cli(server.data_dir, "token", "create", "--user", "olga", "--name", "player").stdout.strip()
    item_id = json.loads(cli(server.data_dir, "jobs", "--json").stdout)["jobs"][0]["evidence_id"]
    url = f"{server.url}/api/v1/evidence/{item_id}/derivatives/proxy"

    page = browser.new_page()
    ranges: list[str] = []

    def with_token(route: Any) -> None:
        ranges.append(route.request.headers.get("range", ""))
        route.continue_(headers={**route.request.headers, "authorization": f"Bearer {token}"})

    page.route("**/derivatives/**", with_token)
    page.goto(f"{server.url}/")
    page.set_content(f'<video id="v" src="{url}" muted autoplay playsinline></video>')
    wait_for(page, "document.getElementById('v').currentTime > 0.5", timeout=15)
    state = page.evaluate(
        "(() => { const v = document.getElementById('v');"
        " return {w: v.videoWidth, h: v.videoHeight, d: v.duration, err: v.error && v.error.message}; })()"
    )
    assert state["err"] is None and (state["w"], state["h"]) == (640, 360) and 3.9 < state["d"] < 4.2
    page.evaluate("document.getElementById('v').currentTime = 3.0")
    wait_for(page, "document.getElementById('v').currentTime >= 3.0", timeout=10)
    assert any(r.startswith("bytes=") for r in ranges)  # the player asked for ranges
