"""Administration and audit in a real browser: an administrator creates a user (one-time
password shown once), changes their role, adds a category, creates and revokes a token; an
auditor finds all of it in the audit trail. Every page passes the accessibility checks and
fits a desktop and a tablet."""

from __future__ import annotations

from playwright.sync_api import Browser, expect

from tests.e2e.server import Server
from tests.e2e.ui import add_user, check_page, sign_in, tab_to


def test_administration_then_audit(browser: Browser, app_server: Server) -> None:
    add_user(app_server, "ada", "administrator")
    add_user(app_server, "audrey", "auditor")
    page = sign_in(browser, app_server, "ada")
    page.on("dialog", lambda dialog: dialog.accept())  # the "revoke?" confirmation

    # Users: create one; the one-time password is shown once.
    page.goto(f"{app_server.url}/admin/users")
    expect(page.locator("#admin-nav a[aria-current=page]")).to_have_text("Users")
    tab_to(page, "#filter-q")
    check_page(page, "admin users")
    page.click("#create-user summary")
    page.fill("#new-username", "nina")
    page.fill("#new-display-name", "Nina North")
    page.select_option("#new-role", "officer")
    page.fill("#new-unit", "north")
    page.click("#create-user-button")
    password = page.inner_text("#one-time-password")
    assert len(password) >= 15
    check_page(page, "admin user created")
    page.goto(f"{app_server.url}/admin/users/nina")
    assert password not in page.content()

    # Change their role, with a reason; the role shows at once.
    page.select_option("#role", "investigator")
    page.fill("#reason", "joined investigations")
    page.click("#save-user")
    expect(page.locator("#notice")).to_contain_text("The account is changed")
    expect(page.locator("#user-role")).to_have_text("investigator")
    # Nobody changes their own role: the service's message.
    page.goto(f"{app_server.url}/admin/users/ada")
    page.select_option("#role", "officer")
    page.fill("#reason", "try")
    page.click("#save-user")
    expect(page.locator("#error")).to_contain_text("nobody may change their own role")

    # Roles: the matrix and one role's checkboxes.
    page.goto(f"{app_server.url}/admin/roles")
    check_page(page, "admin roles")
    page.click("#edit-role-officer")
    expect(page.locator("#perm-evidence-view")).to_be_checked()
    check_page(page, "admin role")

    # Categories.
    page.goto(f"{app_server.url}/admin/categories")
    page.fill("#category-name", "Traffic stop")
    page.fill("#category-description", "Vehicle stops")
    page.fill("#category-retention", "365")
    page.click("#add-category")
    expect(page.locator("#notice")).to_contain_text("The category is added")
    expect(page.locator("#categories-table")).to_contain_text("Traffic stop")
    check_page(page, "admin categories")

    # API tokens: shown once with a copy button, then revoked.
    page.goto(f"{app_server.url}/admin/tokens")
    page.fill("#token-name", "nightly export")
    page.fill("#token-expires", "30")
    page.click("#create-token")
    secret = page.inner_text("#new-token-value")
    assert secret.startswith("odt_")
    page.click("button[data-copy='#new-token-value']")
    expect(page.locator("#new-token-value-copied")).not_to_be_empty()
    check_page(page, "admin tokens")
    row = page.locator("#tokens-table tr", has_text="nightly export")
    row.locator("button", has_text="Revoke").click()
    expect(page.locator("#notice")).to_contain_text("revoked")
    expect(page.locator("#tokens-table tr", has_text="nightly export")).to_contain_text("revoked")
    assert secret not in page.content()

    # The auditor finds all of it.
    audit = sign_in(browser, app_server, "audrey")
    audit.goto(f"{app_server.url}/audit")
    expect(audit.locator("nav[aria-label=Main] a[aria-current=page]")).to_have_text("Audit")
    audit.fill("#audit-actor", "ada")
    audit.fill("#audit-action", "user:*")
    audit.click("#audit-search")
    results = audit.locator("#audit-results")
    expect(results).to_contain_text("user:create")
    expect(results).to_contain_text("user:role_change")
    expect(results.locator("tr", has_text="user:role_change")).to_contain_text("nina")
    first = results.locator("details").first
    first.locator("summary").click()
    expect(first.locator(".hash").first).to_be_visible()
    check_page(audit, "audit search")
    href = audit.get_attribute("#audit-export", "href")
    assert href == "/api/v1/audit/export.csv?actor=ada&action=user%3A%2A"
    for action, what in (("category:create", "Traffic stop"), ("token:revoke", "ada")):
        audit.fill("#audit-actor", "ada")
        audit.fill("#audit-action", action)
        audit.click("#audit-search")
        expect(audit.locator("#audit-results")).to_contain_text(what)
