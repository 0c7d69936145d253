"""The upload page in a real browser: files and a folder go up with tus, each with its SHA-256
receipt; an upload resumes after a reload (same file chosen again) and after the network
drops and comes back."""

from __future__ import annotations

import hashlib
from pathlib import Path

from playwright.sync_api import Browser, CDPSession, Page

from tests.e2e.server import Server
from tests.e2e.ui import add_user, check_page, sign_in, wait_for
from tests.factories import random_file
from tests.media import jpeg_bytes, mp3_bytes, video_bytes

MB = 1024 * 1024


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def row(name: str) -> str:
    return f'#upload-list li[data-name="{name}"]'


def wait_stored(page: Page, name: str, timeout: float = 60) -> dict[str, str]:
    """Wait for the file's receipt; returns the row's state, evidence id and SHA-256."""
    state = wait_for(
        page,
        f"""(() => {{ const r = document.querySelector('{row(name)}');
            return r && ['done', 'duplicate', 'failed'].includes(r.dataset.state) && r.dataset.state; }})()""",
        timeout,
    )
    message = page.inner_text(f"{row(name)} .message")
    assert state in ("done", "duplicate"), f"{name}: {state} {message}"
    return {
        "state": state,
        "id": page.inner_text(f"{row(name)} .receipt-id"),
        "sha256": page.inner_text(f"{row(name)} .receipt-sha256"),
        "message": message,
    }


def throttle(page: Page, bytes_per_second: int) -> CDPSession:
    """Slow the page's uploads down (Chromium's own network emulation)."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    network(cdp, offline=False, upload=bytes_per_second)
    return cdp


def network(cdp: CDPSession, *, offline: bool, upload: int = -1) -> None:
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": offline, "latency": 0, "downloadThroughput": -1, "uploadThroughput": upload},
    )


def percent(page: Page, name: str) -> int:
    return int(page.get_attribute(f"{row(name)} progress", "value") or 0)


def test_files_and_a_folder_get_receipts(browser: Browser, app_server: Server, tmp_path: Path) -> None:
    add_user(app_server, "up_officer", "officer", unit="patrol")
    page = sign_in(browser, app_server, "up_officer")
    page.goto(f"{app_server.url}/upload")
    check_page(page, "upload-empty")
    video = tmp_path / "clip.mp4"
    video.write_bytes(video_bytes(seconds=4, width=640, height=360))
    photo = tmp_path / "door.jpg"
    photo.write_bytes(jpeg_bytes())
    page.fill("#batch-category", "scene")
    page.fill("#batch-tags", "e2e, upload")
    page.set_input_files("#file-input", [str(video), str(photo)])
    receipts = {p.name: wait_stored(page, p.name) for p in (video, photo)}
    for p in (video, photo):
        assert receipts[p.name]["sha256"] == sha256_of(p)
        assert receipts[p.name]["id"].startswith("EV-")
        href = page.get_attribute(f"{row(p.name)} .receipt-id", "href")
        assert href == f"/evidence/{receipts[p.name]['id']}"
    assert page.get_attribute("#total-progress", "value") == "100"
    wait_for(page, "document.getElementById('total-text').textContent.includes('2 of 2 files stored')")
    # Sizes in binary units, as on the evidence page and in reports.
    for p in (video, photo):
        size = p.stat().st_size
        shown = f"{size:,} bytes" if size < 1024 else f"{size / 1024:.1f} KiB"
        assert size < 1024 * 1024 and page.inner_text(f"{row(p.name)} .size") == shown
    total = sum(p.stat().st_size for p in (video, photo)) / 1024
    assert f"100% of {total:.1f} KiB" in page.inner_text("#total-text")
    check_page(page, "upload-done")

    # The batch fields went with every file.
    page.goto(f"{app_server.url}/evidence/{receipts['door.jpg']['id']}")
    assert page.inner_text("#fact-category") == "scene"
    assert page.locator("#tag-list li").count() == 2

    # A whole folder, subfolders included.
    folder = tmp_path / "dock"
    (folder / "day2").mkdir(parents=True)
    one = folder / "a.jpg"
    one.write_bytes(jpeg_bytes(width=320, height=200))
    two = folder / "day2" / "b.mp3"
    two.write_bytes(mp3_bytes())
    page.goto(f"{app_server.url}/upload")
    page.set_input_files("#folder-input", str(folder))
    for p in (one, two):
        assert wait_stored(page, p.name)["sha256"] == sha256_of(p)
    assert "dock/day2/b.mp3" in page.inner_text(f"{row('b.mp3')} .name")

    # The server's refusal is shown on the file's row: here, a case that does not exist.
    page.goto(f"{app_server.url}/upload")
    page.fill("#batch-case", "2026-999999")
    page.set_input_files("#file-input", str(photo))
    wait_for(page, f"document.querySelector('{row(photo.name)}').dataset.state === 'failed'", 30)
    assert "not found" in page.inner_text(f"{row(photo.name)} .message")
    assert page.inner_text(f"{row(photo.name)} .pause") == "Retry"


def test_resume_after_a_reload(browser: Browser, app_server: Server, tmp_path: Path) -> None:
    add_user(app_server, "up_resume", "officer")
    page = sign_in(browser, app_server, "up_resume")
    page.on("dialog", lambda d: d.accept())  # "leave the page while uploads run?"
    big = random_file(tmp_path / "interview.bin", 24 * MB)
    page.goto(f"{app_server.url}/upload")
    throttle(page, 4 * MB)
    page.set_input_files("#file-input", str(big))
    wait_for(page, f"Number(document.querySelector('{row(big.name)} progress').value) >= 35", 30)
    assert page.get_attribute(row(big.name), "data-state") == "uploading"
    page.reload()
    throttle(page, -1)
    page.set_input_files("#file-input", str(big))
    wait_for(page, f"document.querySelector('{row(big.name)}').dataset.resumedAt", 30)
    resumed_at = int(page.get_attribute(row(big.name), "data-resumed-at") or 0)
    assert resumed_at >= 8 * MB, resumed_at  # not from the start
    receipt = wait_stored(page, big.name)
    assert receipt["sha256"] == sha256_of(big)
    assert receipt["message"] == f"Resumed at {resumed_at * 100 // big.stat().st_size}%"


def test_a_dropped_network_pauses_and_goes_on(browser: Browser, app_server: Server, tmp_path: Path) -> None:
    add_user(app_server, "up_offline", "officer")
    page = sign_in(browser, app_server, "up_offline")
    big = random_file(tmp_path / "radio.bin", 16 * MB)
    page.goto(f"{app_server.url}/upload")
    cdp = throttle(page, 3 * MB)
    page.set_input_files("#file-input", str(big))
    wait_for(page, f"Number(document.querySelector('{row(big.name)} progress').value) >= 20", 30)
    # The cable is pulled: requests fail and the browser says it is offline.
    network(cdp, offline=True)
    page.context.set_offline(True)
    wait_for(page, f"document.querySelector('{row(big.name)}').dataset.state === 'offline'", 30)
    assert "paused (offline)" in page.inner_text(f"{row(big.name)} .state")
    stalled = percent(page, big.name)
    page.wait_for_timeout(1000)
    assert percent(page, big.name) == stalled
    network(cdp, offline=False)
    page.context.set_offline(False)
    receipt = wait_stored(page, big.name)
    assert receipt["sha256"] == sha256_of(big)
