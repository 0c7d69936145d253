"""The whole evidence workflow in a real browser, the way an investigator works it:
sign in with MFA, upload a video and a photo, watch processing finish, play the video and
seek, edit metadata with a reason, create a case and add both items, and find every step
in each item's chain of custody."""

from __future__ import annotations

import hashlib
from pathlib import Path

from playwright.sync_api import Browser, expect

from tests.e2e.server import Server
from tests.e2e.ui import add_user, check_page, sign_in, tab_to, wait_for
from tests.media import jpeg_bytes, video_bytes


def custody_actions(page_url: str, browser_page) -> list[str]:  # type: ignore[no-untyped-def]
    browser_page.goto(page_url)
    return browser_page.eval_on_selector_all(
        "#custody-table tbody tr", "rows => rows.map(r => r.dataset.action)"
    )


def test_investigator_workflow(browser: Browser, app_server: Server, tmp_path: Path) -> None:
    add_user(app_server, "flow_inv", "investigator", unit="detectives")
    page = sign_in(browser, app_server, "flow_inv")  # password, then authenticator enrolment
    assert page.url.endswith("/")

    # Upload a video and a photo through the upload page (tus from the browser).
    video = tmp_path / "bwc-0412.mp4"
    video.write_bytes(video_bytes(seconds=8, width=640, height=360))
    photo = tmp_path / "doorway.jpg"
    photo.write_bytes(jpeg_bytes())
    page.click("header nav >> text=Upload")
    page.set_input_files("#file-input", [str(video), str(photo)])
    ids: dict[str, str] = {}
    for f in (video, photo):
        row = f'#upload-list li[data-name="{f.name}"]'
        wait_for(page, f"document.querySelector('{row}')?.dataset.state === 'done'", timeout=60)
        assert page.inner_text(f"{row} .receipt-sha256") == hashlib.sha256(f.read_bytes()).hexdigest()
        ids[f.name] = page.inner_text(f"{row} .receipt-id")
    video_id, photo_id = ids[video.name], ids[photo.name]

    # Processing finishes while the home page watches (its queue refreshes itself).
    page.click("header nav >> text=Home")
    expect(page.locator("#recent-table")).to_contain_text(video_id)
    wait_for(page, "document.getElementById('queue')?.dataset.pending === 'false'", timeout=120)
    assert page.locator("#queue-table tr[data-state=failed]").count() == 0
    check_page(page, "flow-home")

    # Play the video and seek, by keyboard.
    page.goto(f"{app_server.url}/evidence/{video_id}")
    page.wait_for_selector("#player #media")
    wait_for(page, "document.getElementById('media').readyState >= 1", timeout=30)
    tab_to(page, "#player")
    page.keyboard.press("k")
    wait_for(page, "document.getElementById('media').currentTime > 0.3")
    page.keyboard.press("k")
    page.keyboard.press("ArrowRight")  # +5 s
    wait_for(page, "document.getElementById('media').currentTime >= 5")
    assert page.inner_text("#current-time").startswith("00:00:0")
    check_page(page, "flow-video")

    # A link to a moment (as a transcript search hit gives) opens the player there.
    page.goto(f"{app_server.url}/evidence/{video_id}?t=6.5")
    wait_for(page, "Math.abs(document.getElementById('media')?.currentTime - 6.5) < 0.1", timeout=30)
    assert page.inner_text("#current-time").startswith("00:00:06.")

    # Edit metadata with a reason.
    page.click("#edit-details summary")
    page.fill("#edit-title", "Front door, arrival")
    page.fill("#edit-description", "Arrival at the front door, from the officer's camera.")
    page.fill("#edit-reason", "Title from the incident report")
    page.click("#edit-save")
    expect(page.locator("#fact-title")).to_have_text("Front door, arrival")

    # Create a case and add both items to it.
    page.click("header nav >> text=Cases")
    page.fill("#new-number", "2026-04120")
    page.fill("#new-title", "Burglary, 12 Elm Street")
    page.click("#new-case-submit")
    expect(page.locator("#case-heading")).to_contain_text("2026-04120")
    page.fill("#add-ids", f"{video_id} {photo_id}")
    page.click("#evidence-add-submit")
    expect(page.locator("#add-outcome-list li")).to_have_count(2)
    assert page.locator("#add-outcome-list li.ok").count() == 2, page.inner_text("#add-outcome-list")
    page.goto(f"{app_server.url}/cases/2026-04120")
    expect(page.locator("#case-evidence")).to_contain_text(video_id)
    expect(page.locator("#case-evidence")).to_contain_text(photo_id)
    check_page(page, "flow-case")

    # Each step is in the chain of custody of each item.
    actions = custody_actions(f"{app_server.url}/evidence/{video_id}", page)
    for expected in (
        "evidence:ingest",
        "evidence:derive",
        "evidence:view",
        "evidence:edit",
        "evidence:link_case",
    ):
        assert expected in actions, (expected, actions)
    assert page.locator("#custody-table tr[data-action='evidence:edit'] td.reason").inner_text() == (
        "Title from the incident report"
    )
    actions = custody_actions(f"{app_server.url}/evidence/{photo_id}", page)
    for expected in ("evidence:ingest", "evidence:derive", "evidence:link_case"):
        assert expected in actions, (expected, actions)
    expect(page.locator("#case-list")).to_contain_text("2026-04120")
