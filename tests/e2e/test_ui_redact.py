"""The redaction editor in a real browser, against a real server and its in-process workers:
find the faces of an uploaded clip, see their boxes over the paused video, keep one face,
draw a box by hand, mark sound to mute, save a version with a reason and render it."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from playwright.sync_api import Browser, expect

from tests.e2e.server import Server, cli
from tests.e2e.test_ui_evidence_detail import upload
from tests.e2e.ui import add_user, check_page, sign_in, wait_for
from tests.integration.test_redaction_render import make_clip


def api(server: Server, token: str, path: str) -> dict:
    req = urllib.request.Request(f"{server.url}{path}", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=30) as reply:
        return json.loads(reply.read())


def test_review_a_detected_plan_draw_a_box_save_and_render(
    browser: Browser, app_server: Server, tmp_path: Path
) -> None:
    add_user(app_server, "red_inv", "investigator", unit="detectives")
    token = cli(app_server.data_dir, "token", "create", "--user", "red_inv", "--name", "t").stdout.strip()
    page = sign_in(browser, app_server, "red_inv")
    clip = tmp_path / "bwc.mp4"
    make_clip(clip)
    item = upload(page, app_server, clip)["bwc.mp4"]

    page.goto(f"{app_server.url}/evidence/{item}")
    expect(page.locator("#player")).to_be_visible(timeout=90_000)  # the proxy is made
    page.click("#redact-link")
    expect(page.locator("#detect")).to_be_visible()
    page.click("#detect")
    expect(page.locator("#plan-version")).to_contain_text("version 1", timeout=90_000)
    rows = page.locator("#tracks tbody tr")
    expect(rows.first).to_be_visible()
    assert rows.count() >= 2
    check_page(page, "redaction-editor")

    # Keep the first track (the suspect): unticked, it is drawn dashed and not rendered.
    first = rows.first.get_attribute("data-track")
    rows.first.locator("input[type=checkbox]").uncheck()
    # Go to frame 30 and draw a box by hand (a badge on the uniform, say).
    wait_for(page, "document.getElementById('redact-media').readyState >= 2", 30)
    page.evaluate("document.getElementById('redact-media').currentTime = 30.5 / 30")
    wait_for(page, "!document.getElementById('redact-media').seeking")
    page.keyboard.press("b")
    box = page.locator("#redact-overlay").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + 20, box["y"] + box["height"] - 60)
    page.mouse.down()
    page.mouse.move(box["x"] + 80, box["y"] + box["height"] - 20, steps=5)
    page.mouse.up()
    expect(page.locator("#tracks tbody tr[data-track=manual-1]")).to_be_visible()
    # Mute a second of sound.
    page.evaluate("document.getElementById('redact-media').currentTime = 1.0")
    wait_for(page, "!document.getElementById('redact-media').seeking")
    page.click("#mark-start")
    page.evaluate("document.getElementById('redact-media').currentTime = 2.0")
    wait_for(page, "!document.getElementById('redact-media').seeking")
    page.click("#mark-end")
    expect(page.locator("#audio-segments li")).to_have_count(1)

    page.click("#save")  # without a reason: refused in the page
    expect(page.locator("#redact-status")).to_contain_text("Say why")
    page.fill("#reason", "keep the suspect; cover the badge; mute the address")
    page.click("#save")
    expect(page.locator("#plan-version")).to_contain_text("version 2")
    saved = api(app_server, token, f"/api/v1/evidence/{item}/redaction/plan")
    tracks = {t["id"]: t for t in saved["plan"]["tracks"]}
    assert saved["version"] == 2 and tracks[first]["include"] is False
    assert tracks["manual-1"]["keyframes"] and tracks["manual-1"]["kind"] == "manual"
    assert saved["plan"]["audio"] == [{"start_s": 1.0, "end_s": 2.0, "mode": "mute", "reason": "pii"}]
    assert saved["note"] == "keep the suspect; cover the badge; mute the address"

    page.click("#render")
    expect(page.locator("#redact-status")).to_contain_text("Rendering version 2")
    for _ in range(120):
        kinds = [d["kind"] for d in api(app_server, token, f"/api/v1/evidence/{item}")["derivatives"]]
        if "redacted-v2" in kinds:
            break
        page.wait_for_timeout(1000)
    assert "redacted-v2" in kinds
