"""The application frame in a real browser: menu by role, theme, sign-in return path,
error pages, idle lock, keyboard access and accessibility of the shared pages."""

from __future__ import annotations

from playwright.sync_api import Browser

from tests.e2e.server import Server
from tests.e2e.ui import add_user, check_page, sign_in, tab_to


def test_menu_theme_and_return_after_sign_in(browser: Browser, app_server: Server) -> None:
    add_user(app_server, "shell_officer", "officer", unit="patrol")
    page = sign_in(browser, app_server, "shell_officer")
    labels = page.locator("header nav a").all_inner_texts()
    assert "Evidence" in labels and "Upload" in labels
    assert "Administration" not in labels and "Audit" not in labels
    check_page(page, "home")

    # Dark mode is remembered across pages.
    page.click("#theme-toggle")
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    page.goto(f"{app_server.url}/account")
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    check_page(page, "account-dark")

    # Signed out, a deep link comes back after signing in again.
    page.click("header button:has-text('Sign out')")
    page.goto(f"{app_server.url}/account?x=1")
    assert "/sign-in?" in page.url and "next=%2Faccount" in page.url
    page.fill("#username", "shell_officer")
    page.fill("#password", "river stone lantern 42")
    page.click("button[type=submit]")
    assert page.url.endswith("/sign-in/mfa?next=%2Faccount%3Fx%3D1")


def test_error_page_and_keyboard(browser: Browser, app_server: Server) -> None:
    add_user(app_server, "shell_auditor", "auditor")
    page = sign_in(browser, app_server, "shell_auditor")
    assert "Audit" in page.locator("header nav a").all_inner_texts()
    reply = page.goto(f"{app_server.url}/no-such-page")
    assert reply is not None and reply.status == 404
    assert "There is no such page" in page.inner_text("#error")
    assert page.locator("header.topbar").count() == 1  # still inside the application frame
    check_page(page, "not-found")
    page.goto(f"{app_server.url}/")
    tab_to(page, "a.skip")
    page.keyboard.press("Enter")
    tab_to(page, "#theme-toggle")


def test_an_idle_page_locks_itself(browser: Browser, app_server: Server) -> None:
    add_user(app_server, "shell_idle", "officer")
    page = sign_in(browser, app_server, "shell_idle")
    # The page's clock runs 31 minutes ahead with nobody at the keyboard (limit: 30).
    page.clock.install()
    page.goto(f"{app_server.url}/account")
    page.clock.fast_forward("31:00")
    page.wait_for_url("**/sign-in?m=locked*")
    assert "locked" in page.inner_text("body")
