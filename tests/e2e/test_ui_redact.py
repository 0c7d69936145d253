"""The redaction editor in a real browser, against a real server and its in-process workers:
find the faces of an uploaded clip, see a picture of each and their boxes over the paused
video, keep one face, move another's box, draw a box by hand with keyframes, mark sound to
mute on the keys and on the waveform, preview the effect, save a version with a reason,
render it with its progress shown to the end, and cancel a render still waiting.

The clip is small on purpose (two seconds at 320x240, two faces the detector finds, a tone):
every step here runs on it in well under a second."""

from __future__ import annotations

import json
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, expect

from opendems.bootstrap import Container
from opendems.config import Settings
from tests.e2e.server import Server, cli
from tests.e2e.test_ui_evidence_detail import upload
from tests.e2e.ui import add_user, check_page, sign_in, wait_for
from tests.faces import FacePath, write_clip

W, H, FPS, SECONDS = 320, 240, 15, 2
FACES = [
    FacePath(80, 100, 60, dx=2.0),  # the suspect, kept visible
    FacePath(240, 150, 50, dx=-1.0, mirror=True),  # a bystander, covered
]
MEDIA = "document.getElementById('redact-media')"


def api(server: Server, token: str, path: str, *, raw: bool = False) -> Any:
    req = urllib.request.Request(f"{server.url}{path}", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=30) as reply:
        body = reply.read()
    return body if raw else json.loads(body)


def go_to_frame(page: Page, frame: int) -> None:
    page.evaluate(f"{MEDIA}.currentTime = {(frame + 0.5) / FPS}")
    wait_for(
        page,
        f"!{MEDIA}.seeking && {MEDIA}.readyState >= 2 && "
        f"document.getElementById('redact-overlay').dataset.frame === '{frame}'",
    )


def to_screen(page: Page, x: float, y: float) -> tuple[float, float]:
    """A point of the clip (plan coordinates) on the screen, over the overlay."""
    box = page.locator("#redact-overlay").bounding_box()
    assert box is not None
    return box["x"] + x * box["width"] / W, box["y"] + y * box["height"] / H


def pixel(page: Page, x: float, y: float) -> list[int]:
    """The overlay's pixel at a point of the clip (plan coordinates)."""
    rgba: list[int] = page.evaluate(
        """([x, y, w, h]) => { const c = document.getElementById('redact-overlay');
             return [...c.getContext('2d').getImageData(Math.round(x * c.width / w),
                                                          Math.round(y * c.height / h), 1, 1).data]; }""",
        [x, y, W, H],
    )
    return rgba


def hold_a_render(server: Server, item: str, kind: str) -> int:
    """A render job the worker will not reach for an hour, to be cancelled while it waits."""
    c = Container(Settings.load(server.data_dir))
    with c.uow() as uow:
        job = uow.jobs.enqueue(kind, item, c.clock.now() + timedelta(hours=1))
        uow.commit()
    c.engine.dispose()
    assert job is not None
    return int(job)


def test_review_a_detected_plan_adjust_it_save_render_and_cancel(
    browser: Browser, app_server: Server, tmp_path: Path
) -> None:
    add_user(app_server, "red_inv", "investigator", unit="detectives")
    token = cli(app_server.data_dir, "token", "create", "--user", "red_inv", "--name", "t").stdout.strip()
    page = sign_in(browser, app_server, "red_inv")
    clip = tmp_path / "bwc.mp4"
    write_clip(clip, width=W, height=H, fps=FPS, seconds=SECONDS, faces=FACES, seed=3)
    item = upload(page, app_server, clip)["bwc.mp4"]

    page.goto(f"{app_server.url}/evidence/{item}")
    expect(page.locator("#player")).to_be_visible(timeout=60_000)  # the proxy is made
    page.click("#redact-link")
    expect(page.locator("#detect")).to_be_visible()
    page.click("#detect")
    expect(page.locator("#plan-version")).to_contain_text("version 1", timeout=60_000)
    expect(page.locator("#detect")).to_be_hidden()
    v1 = api(app_server, token, f"/api/v1/evidence/{item}/redaction/plan")["plan"]
    detected = [t["id"] for t in v1["tracks"]]
    assert len(detected) >= 2

    # A picture of each face, taken from the video at the track's largest box.
    rows = page.locator("#tracks tbody tr")
    expect(rows).to_have_count(len(detected))
    expect(page.locator("#tracks canvas.thumb[data-ready]")).to_have_count(len(detected), timeout=15_000)
    spread = page.evaluate(
        """() => [...document.querySelectorAll('#tracks canvas.thumb')].map((c) => {
             const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
             let lo = 255, hi = 0;
             for (let i = 0; i < d.length; i += 4) { lo = Math.min(lo, d[i + 1]); hi = Math.max(hi, d[i + 1]); }
             return hi - lo; })"""
    )
    assert all(s > 60 for s in spread), spread  # a face, not a blank or a flat grey

    # Keep the suspect (first track): unticked, it is drawn dashed and not rendered.
    first, second = detected[0], detected[1]
    rows.first.locator("input[type=checkbox]").uncheck()

    # Move the bystander's box at frame 6 by dragging it, then nudge it 1 px with Shift+→.
    wait_for(page, f"{MEDIA}.readyState >= 2", 30)
    go_to_frame(page, 6)
    b = v1["tracks"][1]["boxes"]["6"]
    cx, cy = to_screen(page, (b[0] + b[2]) / 2, (b[1] + b[3]) / 2)
    page.mouse.move(cx, cy)
    page.mouse.down()
    page.mouse.move(cx - 40, cy - 20, steps=4)
    page.mouse.up()
    expect(page.locator("#redact-status")).to_contain_text(f"Box of {second} changed at frame 6 only")
    expect(page.locator(f"#tracks tr[data-track={second}]")).to_have_class("selected")
    moved = page.evaluate("document.getElementById('redact-overlay').getBoundingClientRect().width")
    dx, dy = -40 * W / moved, -20 * W / moved  # the overlay keeps the clip's aspect
    page.keyboard.press("Shift+ArrowRight")

    # Preview: a solid box shows black where the bystander is, the suspect stays visible.
    page.select_option("#effect", "box")
    page.keyboard.press("p")
    expect(page.locator("#preview")).to_have_attribute("aria-pressed", "true")
    wait_for(page, "document.getElementById('redact-overlay').dataset.preview === 'on'")
    assert pixel(page, (b[0] + b[2]) / 2 + dx, (b[1] + b[3]) / 2 + dy)[:3] == [0, 0, 0]
    s = v1["tracks"][0]["boxes"]["6"]
    assert pixel(page, (s[0] + s[2]) / 2, (s[1] + s[3]) / 2)[:3] != [0, 0, 0]
    page.keyboard.press("p")
    expect(page.locator("#preview")).to_have_attribute("aria-pressed", "false")

    # Draw a box by hand at frame 20 (a badge on the uniform, say), and again at frame 26:
    # two keyframes, the second removed again from the list.
    page.keyboard.press("Escape")  # nothing selected: the next box makes a new track
    for frame in (20, 26):
        go_to_frame(page, frame)
        page.keyboard.press("b")
        x0, y0 = to_screen(page, 10, H - 40)
        x1, y1 = to_screen(page, 60, H - 10)
        page.mouse.move(x0, y0)
        page.mouse.down()
        page.mouse.move(x1, y1, steps=4)
        page.mouse.up()
    expect(page.locator("#tracks tbody tr[data-track=manual-1]")).to_be_visible()
    expect(page.locator("#keyframe-list li")).to_have_count(2)
    page.click("#keyframe-list li[data-frame='26'] >> text=Remove")
    expect(page.locator("#keyframe-list li")).to_have_count(1)
    # Back to where the drawn box starts (Shift+N) and make it larger by its bottom right corner.
    page.keyboard.press("Shift+N")
    expect(page.locator("#redact-overlay")).to_have_attribute("data-frame", "20")
    expect(page.locator("#redact-status")).to_contain_text("manual-1 starts at frame 20")
    wait_for(page, f"!{MEDIA}.seeking")
    x0, y0 = to_screen(page, 60, H - 10)
    x1, y1 = to_screen(page, 75, H - 5)
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x1, y1, steps=3)
    page.mouse.up()
    expect(page.locator("#redact-status")).to_contain_text("Keyframe at frame 20 of manual-1 set")

    # Sound: half a second muted with the [ and ] keys, and a part bleeped by a drag on the waveform.
    wait_for(page, "Number(document.getElementById('audio-wave').dataset.drawn) > 0")
    page.evaluate(f"{MEDIA}.currentTime = 0.5")
    wait_for(page, f"!{MEDIA}.seeking")
    page.keyboard.press("[")
    page.evaluate(f"{MEDIA}.currentTime = 1.0")
    wait_for(page, f"!{MEDIA}.seeking")
    page.keyboard.press("]")
    page.select_option("#audio-mode", "bleep")
    wave = page.locator("#audio-wave").bounding_box()
    assert wave is not None
    page.mouse.move(wave["x"] + wave["width"] * 0.6, wave["y"] + wave["height"] / 2)
    page.mouse.down()
    page.mouse.move(wave["x"] + wave["width"] * 0.85, wave["y"] + wave["height"] / 2, steps=4)
    page.mouse.up()
    expect(page.locator("#audio-segments li")).to_have_count(2)

    page.click("#save")  # without a reason: refused in the page
    expect(page.locator("#redact-status")).to_contain_text("Say why")
    page.fill("#reason", "keep the suspect; cover the badge; mute the address")
    page.click("#save")
    expect(page.locator("#plan-version")).to_contain_text("version 2")
    saved = api(app_server, token, f"/api/v1/evidence/{item}/redaction/plan")
    tracks = {t["id"]: t for t in saved["plan"]["tracks"]}
    assert saved["version"] == 2 and tracks[first]["include"] is False
    assert saved["note"] == "keep the suspect; cover the badge; mute the address"
    assert saved["plan"]["effect"] == "box"
    after = tracks[second]["boxes"]["6"]
    assert abs(after[0] - (b[0] + dx + 1)) < 0.6 and abs(after[1] - (b[1] + dy)) < 0.6, (b, after)
    assert abs((after[2] - after[0]) - (b[2] - b[0])) < 0.3  # moved, not resized
    assert tracks[second]["boxes"]["7"] == v1["tracks"][1]["boxes"]["7"]  # the other frames as they were
    assert tracks["manual-1"]["kind"] == "manual" and list(tracks["manual-1"]["keyframes"]) == ["20"]
    drawn = tracks["manual-1"]["keyframes"]["20"]
    assert all(abs(v - w) < 1 for v, w in zip(drawn, [10, H - 40, 75, H - 5], strict=True)), drawn
    muted, bleeped = saved["plan"]["audio"]
    assert muted == {"start_s": 0.5, "end_s": 1.0, "mode": "mute", "reason": "pii"}
    assert bleeped["mode"] == "bleep" and 1.0 < bleeped["start_s"] < bleeped["end_s"] <= SECONDS + 0.1

    # Render: its row shows progress to the end and a link to the copy. A render of version
    # 1 that no worker reaches yet waits beside it, with a Cancel button.
    held = hold_a_render(app_server, item, "redact:1")
    page.keyboard.press("r")
    expect(page.locator("#redact-status")).to_contain_text("version 2")
    render_row = page.locator("#jobs li", has_text="Render of version 2")
    expect(render_row).to_have_attribute("data-state", "done", timeout=60_000)
    expect(render_row.locator("progress")).to_have_attribute("value", "1")
    link = render_row.locator("a.job-download")
    expect(link).to_have_text("Download redacted-v2")
    assert api(app_server, token, link.get_attribute("href") or "", raw=True)[4:8] == b"ftyp"
    expect(page.locator("#renders li[data-kind=redacted-v2]")).to_be_visible()
    waiting = page.locator(f"#jobs li[data-job='{held}']")
    expect(waiting).to_have_attribute("data-state", "queued")
    check_page(page, "redaction-editor")

    waiting.locator("button.job-cancel").click()
    expect(waiting).to_have_attribute("data-state", "cancelled")
    expect(waiting.locator("button.job-cancel")).to_be_hidden()
    expect(page.locator("#redact-status")).to_contain_text("Render of version 1: cancelled")
    states = {
        j["job_id"]: j["state"] for j in api(app_server, token, f"/api/v1/evidence/{item}/redaction/jobs")
    }
    assert states[held] == "cancelled"


def overlay_pixel(page: Page, x: float, y: float, size: tuple[float, float]) -> list[int]:
    """The overlay's pixel at a point of the page shown (points, top-left origin)."""
    rgba: list[int] = page.evaluate(
        """([x, y, w, h]) => { const c = document.getElementById('redact-overlay');
             return [...c.getContext('2d').getImageData(Math.round(x * c.width / w),
                                                          Math.round(y * c.height / h), 1, 1).data]; }""",
        [x, y, *size],
    )
    return rgba


def test_redact_a_pdf_page_by_page_with_the_words_found(
    browser: Browser, app_server: Server, tmp_path: Path
) -> None:
    """A PDF: its personal data found in the text and shown as black boxes over the page the
    server draws, a name found on both pages, a box drawn by hand, a version saved and
    rendered, and the redacted PDF downloaded without the words."""
    from tests.api.test_redaction_api import EMAIL, LETTER, NAME, SSN
    from tests.integration.test_pdf_redaction import letter_pdf, page_texts

    add_user(app_server, "pdf_inv", "investigator", unit="detectives")
    token = cli(app_server.data_dir, "token", "create", "--user", "pdf_inv", "--name", "t").stdout.strip()
    page = sign_in(browser, app_server, "pdf_inv")
    item = upload(page, app_server, letter_pdf(tmp_path / "statement.pdf", LETTER))["statement.pdf"]
    base = f"/api/v1/evidence/{item}/redaction"
    letter = (612, 792)

    page.goto(f"{app_server.url}/evidence/{item}")
    page.click("#redact-link")  # a PDF's page offers the editor as a video's does
    page.wait_for_url(f"**/evidence/{item}/redact")
    wait_for(page, "document.getElementById('redact-media')?.dataset.loaded === '0'")  # page 1, drawn
    page.click("#detect")
    expect(page.locator("#plan-version")).to_contain_text("version 1", timeout=30_000)
    expect(page.locator("#frame-label")).to_have_text("page 1 of 2")
    rows = page.locator("#tracks tbody tr")
    # The fixed patterns' four, and what the personal-data finder names in the text: the
    # witness's name on both pages and the town.
    expect(rows).to_have_count(7)
    for label in ("SSN", "phone", "e-mail", "date of birth", "place"):
        expect(rows.filter(has_text=label)).to_have_count(1)
    expect(rows.filter(has_text="name")).to_have_count(2)
    v1 = api(app_server, token, f"{base}/plan")["plan"]
    ssn = next(t["boxes"]["0"] for t in v1["tracks"] if t["label"] == "ssn")
    centre = ((ssn[0] + ssn[2]) / 2, (ssn[1] + ssn[3]) / 2)
    assert overlay_pixel(page, *centre, letter) == [0, 0, 0, 255]  # solid black, as it will render
    assert overlay_pixel(page, 300, 400, letter)[3] == 0  # the page shows through elsewhere
    page.keyboard.press("p")  # see through: the words under the boxes can be read
    expect(page.locator("#preview")).to_have_attribute("aria-pressed", "true")
    assert overlay_pixel(page, *centre, letter)[3] < 255
    page.keyboard.press("p")

    # The witness's name, looked for by hand: both places are boxed already.
    page.fill("#find-terms", NAME)
    page.click("#find")
    expect(page.locator("#redact-status")).to_contain_text("Found 2 place(s) on 2 page(s) (2 boxed already)")
    expect(rows).to_have_count(7)
    # A word the finder leaves alone: added as a box.
    page.fill("#find-terms", "Badge 4471")
    page.click("#find")
    expect(page.locator("#redact-status")).to_contain_text("Found 1 place(s) on 1 page(s):")
    expect(rows).to_have_count(8)
    expect(rows.filter(has_text="found word")).to_have_count(1)

    # Page 2 (PageDown), and a box drawn by hand over "blue".
    page.click("#next-page")
    page.keyboard.press("PageUp")
    expect(page.locator("#frame-label")).to_have_text("page 1 of 2")
    page.keyboard.press("PageDown")
    expect(page.locator("#redact-overlay")).to_have_attribute("data-frame", "1")
    wait_for(page, "document.getElementById('redact-media').dataset.loaded === '1'")
    # Arm drawing first: its status line may move the page before the overlay is measured.
    # The page is brought to the middle of the window, clear of the sticky header.
    page.keyboard.press("b")
    expect(page.locator("#redact-status")).to_contain_text("Drag over the page")
    page.evaluate("document.getElementById('redact-overlay').scrollIntoView({block: 'center'})")
    overlay = page.locator("#redact-overlay").bounding_box()
    assert overlay is not None
    k = overlay["width"] / 612
    page.mouse.move(overlay["x"] + 175 * k, overlay["y"] + 80 * k)
    page.mouse.down()
    page.mouse.move(overlay["x"] + 205 * k, overlay["y"] + 95 * k, steps=4)
    page.mouse.up()
    expect(page.locator("#redact-status")).to_contain_text("Box drawn on page 2")
    expect(rows.filter(has_text="drawn")).to_have_count(1)

    page.fill("#reason", "the witness's name; the colour of the car")
    page.click("#save")
    expect(page.locator("#plan-version")).to_contain_text("version 2")
    saved = api(app_server, token, f"{base}/plan")["plan"]
    names = [t for t in saved["tracks"] if t.get("label") == "name"]
    assert sorted(list(t["boxes"]) for t in names) == [["0"], ["1"]]
    assert [list(t["boxes"]) for t in saved["tracks"] if t.get("label") == "term"] == [["0"]]
    (drawn,) = [t for t in saved["tracks"] if t["kind"] == "manual"]
    assert list(drawn["boxes"]) == ["1"] and "keyframes" not in drawn
    assert all(abs(v - w) < 1.5 for v, w in zip(drawn["boxes"]["1"], [175, 80, 205, 95], strict=True))

    page.keyboard.press("r")
    render_row = page.locator("#jobs li", has_text="Render of version 2")
    expect(render_row).to_have_attribute("data-state", "done", timeout=30_000)
    link = render_row.locator("a.job-download")
    expect(link).to_have_text("Download redacted-v2")
    redacted = tmp_path / "redacted.pdf"
    redacted.write_bytes(api(app_server, token, link.get_attribute("href") or "", raw=True))
    first, second = page_texts(redacted)
    assert NAME not in first + second and SSN not in first and EMAIL not in first and "4471" not in first
    assert "Witness:" in first and "Statement of" in second and "The vehicle was" in second
    assert "blue" not in second
    page.keyboard.press("Escape")  # nothing selected: every box black, as rendered
    page.keyboard.press("PageUp")
    wait_for(page, "document.getElementById('redact-media').dataset.loaded === '0'")
    check_page(page, "redaction-editor-pdf")
