"""Helpers for browser tests of the web application: a real server, Debian's Chromium,
signing in through the pages (with TOTP enrolment), accessibility checks with axe-core from
npm, and screenshots kept as test artifacts."""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

import pyotp
from playwright.sync_api import Browser, Page

from tests.e2e.server import Server, cli

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = Path(os.environ.get("OPENDEMS_TEST_ARTIFACTS", ROOT / "test-artifacts")) / "screenshots"
PASSWORD = "river stone lantern 42"
DESKTOP = {"width": 1280, "height": 800}
TABLET = {"width": 820, "height": 1180}


def add_user(server: Server, username: str, role: str, unit: str | None = None) -> None:
    args = ["user", "add", username, "--role", role, "--password-stdin"]
    if unit:
        args += ["--unit", unit]
    cli(server.data_dir, *args, input_text=PASSWORD + "\n")


def sign_in(browser: Browser, server: Server, username: str, *, viewport: dict[str, int] = DESKTOP) -> Page:
    """A new browser context signed in as ``username``: password, then authenticator
    enrolment (first time) or a fresh TOTP code, exactly as a person does it."""
    page = browser.new_context(viewport=viewport).new_page()
    page.goto(f"{server.url}/sign-in")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    if "/sign-in/mfa/enrol" in page.url:
        secret = page.inner_text("#secret")
        page.fill("#code", totp_code(username, secret))
        page.click("button[type=submit]")
        page.click("text=Continue")
    elif "/sign-in/mfa" in page.url:
        page.fill("#code", totp_code(username, SECRETS[username]))
        page.click("button[type=submit]")
    page.wait_for_selector("header.topbar")
    return page


SECRETS: dict[str, str] = {}
_LAST_STEP: dict[str, int] = {}


def totp_code(username: str, secret: str) -> str:
    """A code the server has not seen yet: it refuses a replayed time step, so a second
    sign-in within the same 30 seconds uses the next step (one step of drift is allowed)."""
    SECRETS[username] = secret
    step = max(int(time.time()) // 30, _LAST_STEP.get(username, -1) + 1)
    while step > int(time.time()) // 30 + 1:
        time.sleep(1)
    _LAST_STEP[username] = step
    return str(pyotp.TOTP(secret).at(step * 30))


def check_page(page: Page, name: str) -> None:
    """The page passes axe with no serious or critical violations, fits 1280x800 and a tablet
    without a sideways scroll, and its screenshots (both sizes) are kept as artifacts."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_load_state("networkidle")
    # Evaluated through the browser's debugging protocol: the page's own Content-Security-
    # Policy (scripts from this server only) stays in force for everything else.
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text() + "\n;undefined")
    result: dict[str, Any] = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not bad, f"accessibility violations on {name}: {bad}"
    original = page.viewport_size or DESKTOP
    for label, size in (("desktop", DESKTOP), ("tablet", TABLET)):
        page.set_viewport_size(size)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"{name} scrolls sideways by {overflow}px at {size['width']}px"
        page.screenshot(path=str(ARTIFACTS / f"{safe(name)}-{label}.png"), full_page=True)
    page.set_viewport_size(original)


def tab_to(page: Page, selector: str, limit: int = 80) -> None:
    """Reach an element with the Tab key alone (keyboard access), or fail."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement && document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"{selector} cannot be reached with the keyboard")


def wait_for(page: Page, expression: str, timeout: float = 15.0) -> Any:
    """Poll a JavaScript expression until it is truthy. (Playwright's wait_for_function
    evaluates strings inside the page, which the pages' Content-Security-Policy forbids.)"""
    deadline = time.monotonic() + timeout
    while True:
        value = page.evaluate(expression)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {expression}")
        page.wait_for_timeout(100)


def safe(name: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
