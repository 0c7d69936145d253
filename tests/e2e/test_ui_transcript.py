"""A recording's transcript in a real browser: a spoken script (espeak-ng) is uploaded, the
server's own processing transcribes it, and the item's page shows the transcript under the
player, plays from a word that is clicked, follows along while playing, and gives the
player captions; the spoken words are found by search at the second they were said."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser, expect

from tests.e2e.server import Server
from tests.e2e.test_ui_evidence_detail import media_time, seek_settled, upload
from tests.e2e.ui import add_user, check_page, sign_in, wait_for
from tests.speech import SCRIPT, speak, talking_video


def test_transcript_under_the_player(browser: Browser, app_server: Server, tmp_path: Path) -> None:
    add_user(app_server, "tr_detective", "investigator", unit="cid")
    page = sign_in(browser, app_server, "tr_detective")
    recording = tmp_path / "witness.wav"
    # An interview: the officer (a man's voice) and the witness (a woman's) take turns.
    spoken = speak(
        recording, SCRIPT, voices=["en-us" if n % 2 == 0 else "en-us+f3" for n in range(len(SCRIPT))]
    )
    ids = upload(page, app_server, recording)

    page.goto(f"{app_server.url}/evidence/{ids['witness.wav']}")
    expect(page.locator("#player")).to_be_visible(timeout=90_000)
    # The transcript comes after the proxy: the page is opened again once it is there.
    for _ in range(60):
        if page.locator("#transcript").count():
            break
        page.wait_for_timeout(1000)
        page.reload()
    wait_for(page, "Number(document.getElementById('transcript').dataset.loaded) > 20", 30)
    text = page.inner_text("#transcript")
    assert "John Smith" in text and "Language: English" in text
    assert page.locator("#transcript li").count() == len(SCRIPT)
    # Each turn names its speaker, in the order they are first heard.
    speakers = page.locator("#transcript .transcript-speaker").all_inner_texts()
    assert speakers == ["Speaker 1:", "Speaker 2:"] * (len(SCRIPT) // 2) + ["Speaker 1:"] * (len(SCRIPT) % 2)

    # Click the word "river": the player goes there and plays.
    river = page.locator("#transcript .word", has_text="river").first
    start = float(river.get_attribute("data-start") or "nan")
    assert spoken[3].start - 0.5 <= start <= spoken[3].end
    river.click()
    wait_for(page, "!document.getElementById('media').paused")
    page.evaluate("document.getElementById('media').pause()")
    seek_settled(page)
    assert start <= media_time(page) <= start + 2.0
    wait_for(page, "document.querySelectorAll('#transcript .word.said').length > 0")

    # Captions: the player's text track holds the cues.
    wait_for(
        page,
        """(() => { const t = document.getElementById('media').textTracks[0];
            return t && t.mode === 'showing' && t.cues && t.cues.length >= 6; })()""",
        20,
    )
    check_page(page, "item-transcript")

    # Correct a misheard word: click it, type what was said, give the reason, save. The
    # transcript is the next revision and the captions follow it.
    page.click("#transcript-edit")
    expect(page.locator("#transcript-save")).to_be_visible()
    page.locator("#transcript .word", has_text="river").first.click()
    word = page.locator("#transcript .word-input")
    expect(word).to_be_focused()
    word.fill("canal")
    word.press("Enter")
    expect(page.locator("#transcript-pending")).to_have_text("1 word changed, not saved yet.")
    page.click("#transcript-save button[type=submit]")
    expect(page.locator("#transcript-status")).to_contain_text("Say why")
    page.fill("#transcript-reason", "the witness said canal")
    check_page(page, "item-transcript-correcting")
    page.click("#transcript-save button[type=submit]")
    expect(page.locator("#transcript-status")).to_have_text("Saved as revision 2.", timeout=15_000)
    expect(page.locator("#transcript")).to_have_attribute("data-revision", "2")
    expect(page.locator("#transcript-save")).to_be_hidden()
    expect(page.locator(".transcript-about")).to_contain_text(
        "revision 2, corrected by tr_detective: the witness said canal"
    )
    assert "canal" in page.inner_text("#transcript") and "river" not in page.inner_text("#transcript")
    wait_for(
        page,
        """(() => { const t = [...document.getElementById('media').textTracks].at(-1);
            return t && t.mode === 'showing' && t.cues && [...t.cues].some(c => c.text.includes('canal')); })()""",
        20,
    )
    page.reload()  # the page made afresh shows the latest revision and its captions
    wait_for(page, "document.getElementById('transcript').dataset.revision === '2'", 30)
    assert page.locator("#media track").get_attribute("src", timeout=5000).endswith("/captions-r2")  # type: ignore[union-attr]

    # Search finds what was said and opens the player at that second.
    page.goto(f"{app_server.url}/search?q=sergeant")
    hit = page.locator("a[href*='?t=']").first
    expect(hit).to_be_visible()
    seconds = float((hit.get_attribute("href") or "").split("?t=")[1].split("&")[0])
    assert abs(seconds - spoken[5].start) <= 0.5


def test_a_spoken_name_is_suggested_for_muting_in_the_editor(
    browser: Browser, app_server: Server, tmp_path: Path
) -> None:
    add_user(app_server, "pii_detective", "investigator", unit="cid")
    page = sign_in(browser, app_server, "pii_detective")
    wav = tmp_path / "stop.wav"
    spoken = speak(
        wav,
        [
            "The officer stopped the car near the school.",
            "The driver said his name was John Smith.",
            "Nobody else was in the car at the time.",
        ],
    )
    video = tmp_path / "stop.mp4"
    talking_video(wav, video)
    item = upload(page, app_server, video)["stop.mp4"]

    page.goto(f"{app_server.url}/evidence/{item}")
    expect(page.locator("#player")).to_be_visible(timeout=90_000)
    for _ in range(60):  # the transcript comes after the proxy
        if page.locator("#transcript").count():
            break
        page.wait_for_timeout(1000)
        page.reload()
    page.click("#redact-link")
    page.click("#detect")
    expect(page.locator("#plan-version")).to_contain_text("version 1", timeout=60_000)

    page.click("#find-spoken")
    suggestion = page.locator("#spoken-pii li", has_text="John Smith")
    expect(suggestion).to_have_count(1, timeout=30_000)
    expect(suggestion).to_contain_text("name:")
    check_page(page, "redact-spoken-pii")
    suggestion.get_by_role("button", name="Mute").click()
    expect(page.locator("#audio-segments li")).to_have_count(1)
    expect(page.locator("#spoken-pii li", has_text="John Smith")).to_have_count(0)
    page.fill("#reason", "the driver's name")
    page.click("#save")
    expect(page.locator("#plan-version")).to_contain_text("version 2", timeout=15_000)
    segment = page.evaluate(
        "fetch(location.pathname.replace('/redact', '').replace('/evidence/', '/api/v1/evidence/') + '/redaction/plan').then(r => r.json()).then(b => b.plan.audio)"
    )
    assert len(segment) == 1 and segment[0]["reason"] == "pii"
    assert spoken[1].start < segment[0]["start_s"] < segment[0]["end_s"] <= spoken[1].end + 0.5
