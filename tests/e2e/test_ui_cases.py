"""The cases pages in a real browser: open a case from the page, add two camera videos
ingested with different capture times, and play them in step in the synchronised player
(master transport, scrub bar, keys, per-camera clock correction)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, expect

from tests.e2e.server import Server, cli
from tests.e2e.ui import add_user, check_page, sign_in, tab_to, wait_for
from tests.media import video_bytes

START = "2026-03-01T14:05:00+00:00"
SECOND = "2026-03-01T14:05:02+00:00"  # the second camera starts two seconds later


def ingest_clip(server: Server, path: Path, captured_at: str, name: str) -> str:
    path.write_bytes(video_bytes(seconds=4, width=320, height=180, metadata={"title": name}))
    out = cli(
        server.data_dir, "ingest", str(path), "--captured-at", captured_at, "--officer", "case_cora"
    ).stdout
    found = re.search(r"EV-\d{4}-\d{6,}", out)
    assert found, out
    return found.group(0)


def snapshot(page: Page) -> dict[str, Any]:
    """The master time and both cameras, read in one go (so they belong to one moment)."""
    result: dict[str, Any] = page.evaluate(
        """() => {
          const v = [...document.querySelectorAll('#sync-grid video')];
          return {t: Number(document.getElementById('sync-player').dataset.t),
                  times: v.map((x) => x.currentTime), paused: v.map((x) => x.paused),
                  states: [...document.querySelectorAll('#sync-grid .sync-state')].map((s) => s.textContent)};
        }"""
    )
    return result


def test_case_pages_and_synchronised_player(browser: Browser, app_server: Server, tmp_path: Path) -> None:
    add_user(app_server, "case_cora", "evidence_custodian", unit="north")
    page = sign_in(browser, app_server, "case_cora")

    # Open a case from the list page, by keyboard.
    page.goto(f"{app_server.url}/cases")
    tab_to(page, "#new-number")
    page.keyboard.type("SYNC-1")
    page.keyboard.press("Tab")
    page.keyboard.type("Two cameras at the harbour")
    page.click("#new-case-submit")
    page.wait_for_url("**/cases/SYNC-1?m=created")
    expect(page.locator("#notice")).to_contain_text("The case is open.")

    first = ingest_clip(app_server, tmp_path / "cam1.mp4", START, "cam one")
    second = ingest_clip(app_server, tmp_path / "cam2.mp4", SECOND, "cam two")
    cli(app_server.data_dir, "jobs", "--wait", "--timeout", "120")

    page.fill("#add-ids", f"{first}, {second}")
    page.click("#evidence-add-submit")
    expect(page.locator("#add-outcomes")).to_contain_text("2 of 2 added")
    expect(page.locator("#case-evidence tbody tr")).to_have_count(2)
    expect(page.locator(f"#evidence-row-{first} img")).to_have_count(1)  # the video's poster
    check_page(page, "case-detail")
    page.goto(f"{app_server.url}/cases")
    expect(page.locator("#case-row-SYNC-1 td.num")).to_have_text("2")
    check_page(page, "case-list")

    page.goto(f"{app_server.url}/cases/SYNC-1")
    page.click("#case-play-link")
    page.wait_for_url("**/cases/SYNC-1/play")
    wait_for(page, "[...document.querySelectorAll('#sync-grid video')].every((v) => v.readyState >= 2)", 30)
    wait_for(page, "Number(document.getElementById('sync-scrub').max) > 5.5")
    expect(page.locator("#sync-clock")).to_have_text("14:05:00 UTC")
    expect(page.locator(f"#state-{second}")).to_contain_text("Not yet recording")
    check_page(page, "case-player")

    # Sound from one camera at a time; the transport is reachable by keyboard.
    muted = "[...document.querySelectorAll('#sync-grid video')].map((v) => v.muted)"
    assert page.evaluate(muted) == [False, True]
    page.check(f"#audio-{second}")
    assert page.evaluate(muted) == [True, False]
    page.check(f"#audio-{first}")
    page.locator("body").focus()
    tab_to(page, "#sync-play")

    # Space plays both; each keeps to the master clock at its own offset.
    page.locator("body").focus()
    page.keyboard.press("Space")
    wait_for(page, "document.getElementById('sync-player').dataset.t > 3.0", 20)
    now = snapshot(page)
    assert not any(now["paused"]), now
    assert abs(now["times"][0] - now["t"]) < 0.3, now
    assert abs(now["times"][1] - (now["t"] - 2)) < 0.3, now
    assert now["times"][1] > 0.7, now  # the second camera started and advanced
    page.keyboard.press("Space")
    wait_for(page, "document.getElementById('sync-player').dataset.playing === 'false'")

    # The master bar: back to half a second, where the second camera has not started.
    page.locator("#sync-scrub").fill("0.5")
    wait_for(page, "Math.abs(document.querySelector('#sync-grid video').currentTime - 0.5) < 0.05")
    expect(page.locator(f"#state-{second}")).to_contain_text("Not yet recording (starts in 1.5 s)")
    expect(page.locator("#sync-offset")).to_contain_text("+0:00.5")

    # Keys: five seconds on (the first camera has ended, the second runs), then back.
    page.keyboard.press("ArrowRight")
    expect(page.locator(f"#state-{first}")).to_have_text("Ended")
    expect(page.locator(f"#state-{second}")).to_have_text("")
    expect(page.locator("#sync-clock")).to_have_text("14:05:05 UTC")
    assert abs(snapshot(page)["t"] - 5.5) < 0.01
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    wait_for(page, "document.getElementById('sync-player').dataset.t < 0.01")
    page.keyboard.press("ArrowRight")  # 5.0: the first camera ended, the second at 3.0
    wait_for(page, "Math.abs(document.querySelectorAll('#sync-grid video')[1].currentTime - 3) < 0.05")
    page.keyboard.press(",")
    stepped = snapshot(page)
    assert 4.85 < stepped["t"] < 5.0, stepped

    # A clock correction: the second camera one second later puts it one second back.
    page.click(f"#cell-{second} button[data-nudge='1']")
    expect(page.locator(f"#nudge-{second}")).to_have_text("+1.0 s")
    wait_for(
        page,
        "Math.abs(document.querySelectorAll('#sync-grid video')[1].currentTime"
        " - (Number(document.getElementById('sync-player').dataset.t) - 3)) < 0.05",
    )
