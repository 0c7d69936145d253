"""An item's page in a real browser: the video plays and is driven by the keyboard (seek,
frame step, speed), the waveform is drawn, metadata edits and tags land in the custody
timeline, and a photo shows its preview with zoom."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from tests.e2e.server import Server
from tests.e2e.test_ui_upload import wait_stored
from tests.e2e.ui import add_user, check_page, sign_in, tab_to, wait_for
from tests.media import jpeg_bytes, video_bytes

FPS = 15  # tests.media.video_bytes' frame rate


def upload(page: Page, server: Server, *files: Path) -> dict[str, str]:
    page.goto(f"{server.url}/upload")
    page.set_input_files("#file-input", [str(f) for f in files])
    return {f.name: wait_stored(page, f.name)["id"] for f in files}


def media_time(page: Page) -> float:
    return float(page.evaluate("document.getElementById('media').currentTime"))


def seek_settled(page: Page) -> None:
    wait_for(
        page,
        "(() => { const m = document.getElementById('media'); return !m.seeking && m.readyState >= 2; })()",
    )


def test_video_page(browser: Browser, app_server: Server, tmp_path: Path) -> None:
    add_user(app_server, "det_officer", "officer", unit="patrol")
    page = sign_in(browser, app_server, "det_officer")
    clip = tmp_path / "stop.mp4"
    clip.write_bytes(video_bytes(seconds=12, width=640, height=360))
    photo = tmp_path / "plate.jpg"
    photo.write_bytes(jpeg_bytes(width=1200, height=800))
    ids = upload(page, app_server, clip, photo)

    # Processing runs in the server; the page polls and swaps the player in when it is done.
    page.goto(f"{app_server.url}/evidence/{ids['stop.mp4']}")
    expect(page.locator("#player")).to_be_visible(timeout=90_000)
    assert page.get_attribute("#player", "data-fps") == str(float(FPS))
    wait_for(page, "document.getElementById('media').readyState >= 1", 30)
    wait_for(page, "Number(document.getElementById('waveform').dataset.drawn) > 0", 30)
    assert page.inner_text("#duration-time").startswith("00:00:1")

    # Keyboard only: reach the player, play and pause.
    page.keyboard.press("Home")
    tab_to(page, "#player")
    page.keyboard.press("k")
    wait_for(
        page, "!document.getElementById('media').paused && document.getElementById('media').currentTime > 0.3"
    )
    page.keyboard.press("k")
    wait_for(page, "document.getElementById('media').paused")
    # Seek: → is +5 s, J is -10 s (not before the start), L is +10 s.
    page.keyboard.press("ArrowRight")
    seek_settled(page)
    start = media_time(page)
    assert start >= 5.0
    page.keyboard.press("j")
    seek_settled(page)
    assert media_time(page) == max(0.0, start - 10)
    page.keyboard.press("ArrowRight")
    seek_settled(page)
    assert abs(media_time(page) - 5.0) < 0.01
    # A frame forward and back: 1/fps each.
    page.keyboard.press(".")
    seek_settled(page)
    assert abs(media_time(page) - (5.0 + 1 / FPS)) < 0.002
    page.keyboard.press(",")
    page.keyboard.press(",")
    seek_settled(page)
    assert abs(media_time(page) - (5.0 - 1 / FPS)) < 0.002
    assert re.fullmatch(r"00:00:04\.9\d\d", page.inner_text("#current-time"))
    # Speed: > and < step through the list; the select does the same.
    page.keyboard.press(">")
    assert page.evaluate("document.getElementById('media').playbackRate") == 1.25
    page.keyboard.press("<")
    page.keyboard.press("<")
    assert page.evaluate("document.getElementById('media').playbackRate") == 0.75
    page.select_option("#speed", "2")
    assert page.evaluate("document.getElementById('media').playbackRate") == 2
    page.focus("#player")  # keys typed into the select stay with the select
    page.keyboard.press("m")
    wait_for(page, "document.getElementById('mute-toggle').getAttribute('aria-pressed') === 'true'")
    assert page.evaluate("document.getElementById('media').muted") is True
    # Clicking the waveform near its end seeks there.
    box = page.locator("#waveform").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] * 0.75, box["y"] + box["height"] / 2)
    seek_settled(page)
    assert 8.0 < media_time(page) < 10.0
    # The timeline thumbnail shows over the slider.
    scrub = page.locator("#scrub").bounding_box()
    assert scrub is not None
    page.mouse.move(scrub["x"] + scrub["width"] / 2, scrub["y"] + scrub["height"] / 2)
    expect(page.locator("#thumb-preview")).to_be_visible()
    check_page(page, "evidence-video")

    # Metadata edit with a reason, then a tag: both in the custody timeline.
    page.click("#edit-details summary")
    page.fill("#edit-title", "Traffic stop, Main St")
    page.fill("#edit-device-serial", "BWC-7")
    page.fill("#edit-reason", "title per the report")
    page.click("#edit-save")
    expect(page.locator("#notice")).to_contain_text("metadata is saved")
    assert page.inner_text("#item-title") == "Traffic stop, Main St"
    edit_row = page.locator('#custody-table tr[data-action="evidence:edit"]').first
    expect(edit_row.locator("td.reason")).to_have_text("title per the report")
    page.fill("#tag-input", "stop")
    page.click("#tag-add")
    expect(page.locator("#tag-list")).to_contain_text("stop")
    expect(page.locator('#custody-table tr[data-action="evidence:tag"]').first).to_contain_text("stop")
    # Newest first by default; the toggle turns the order round.
    first = page.locator("#custody-table tbody tr").first.get_attribute("data-action")
    assert first in ("evidence:tag", "evidence:view", "custody:read")
    page.click("#custody-order")
    assert page.locator("#custody-table tbody tr").first.get_attribute("data-action") == "evidence:ingest"

    # Download with a reason: the browser saves the original, custody keeps the reason.
    page.fill("#download-reason", "disclosure to the defence")
    with page.expect_download() as got:
        page.click("#download-button")
    saved = got.value.path()
    assert saved is not None and Path(saved).read_bytes() == clip.read_bytes()
    page.reload()
    download_row = page.locator('#custody-table tr[data-action="evidence:download"]').first
    expect(download_row.locator("td.reason")).to_have_text("disclosure to the defence")

    # The photo: its preview, zoomed by keys and buttons.
    page.goto(f"{app_server.url}/evidence/{ids['plate.jpg']}")
    expect(page.locator("#image-viewer")).to_be_visible(timeout=60_000)
    # Its exact size, and a readable one in the binary units the rest of OpenDEMS uses.
    size = photo.stat().st_size
    assert 1024 <= size < 1024 * 1024
    expect(page.locator("#original-size")).to_have_text(f"{size:,} bytes ({size / 1024:.1f} KiB)")
    wait_for(page, "document.getElementById('preview-image').naturalWidth > 0", 30)
    assert page.get_attribute("#image-viewer", "data-zoom") == "fit"
    page.focus("#image-viewer")
    page.keyboard.press("+")
    assert page.get_attribute("#image-viewer", "data-zoom") not in ("fit", None)
    page.click("#zoom-fit")
    assert page.get_attribute("#image-viewer", "data-zoom") == "fit"
    check_page(page, "evidence-image")


def test_a_page_of_someone_elses_item_is_not_found(
    browser: Browser, app_server: Server, tmp_path: Path
) -> None:
    add_user(app_server, "det_owner", "officer", unit="north")
    add_user(app_server, "det_other", "officer", unit="south")
    owner = sign_in(browser, app_server, "det_owner")
    photo = tmp_path / "mine.jpg"
    photo.write_bytes(jpeg_bytes(width=100, height=80, serial="S-1"))
    ids = upload(owner, app_server, photo)
    other = sign_in(browser, app_server, "det_other")
    reply = other.goto(f"{app_server.url}/evidence/{ids['mine.jpg']}")
    assert reply is not None and reply.status == 404
    assert "not found" in other.inner_text("main")
