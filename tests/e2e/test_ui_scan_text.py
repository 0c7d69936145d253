"""A scanned document in a real browser: uploaded as an image-only PDF, read by the server's
own processing (tesseract), its text shown page by page on the item's page, and a word of its
second page found by search, the hit leading to that page."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser, expect

from tests.e2e.server import Server
from tests.e2e.test_ui_evidence_detail import upload
from tests.e2e.ui import add_user, check_page, sign_in
from tests.scans import PLAIN, REPORT, scanned_pdf


def test_the_text_of_a_scan_is_shown_and_found_at_its_page(
    browser: Browser, app_server: Server, tmp_path: Path
) -> None:
    add_user(app_server, "scan_clerk", "investigator", unit="records")
    page = sign_in(browser, app_server, "scan_clerk")
    scan = tmp_path / "incident-report.pdf"
    scan.write_bytes(scanned_pdf([PLAIN, REPORT]))
    item = upload(page, app_server, scan)["incident-report.pdf"]

    page.goto(f"{app_server.url}/evidence/{item}")
    for _ in range(90):  # the text comes after the page previews: the page is opened again
        if page.locator("#item-text").count():
            break
        page.wait_for_timeout(1000)
        page.reload()
    text = page.locator("#item-text-pages")
    expect(text.locator("#text-page-2")).to_contain_text("Sergeant Maria Alvarez", timeout=15_000)
    expect(text.locator("#text-page-1")).to_contain_text("returned to the station")
    expect(page.locator("#item-text-about")).to_contain_text("2 scanned page(s) read")
    check_page(page, "item-scan-text")

    page.goto(f"{app_server.url}/search?q=Alvarez&words=1")
    jump = page.locator(".hit-jump").first
    expect(jump).to_have_text("Go to page 2 of incident-report.pdf")
    jump.click()
    expect(page).to_have_url(f"{app_server.url}/evidence/{item}?page=2#text-page-2")
    expect(page.locator("#text-page-2")).to_be_in_viewport()
