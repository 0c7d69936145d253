"""Sharing in a real browser against a real server and its in-process workers: an investigator
shares a case by link (with a watermark) and with a prosecutor's account; the defence opens the
link with its access code, plays the video, downloads a watermarked file and the whole share
as a ZIP; the prosecutor opens the share from their own list; the investigator follows the
activity and revokes the share, and the link is refused from then on. The case is also
exported for court from its page and the package downloaded."""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from pathlib import Path

from playwright.sync_api import Browser, Page

from tests.e2e.server import Server, cli
from tests.e2e.ui import add_user, check_page, sign_in, wait_for
from tests.media import jpeg_bytes, video_bytes

CASE = "2026-0501"


def seed(server: Server, files: Path) -> tuple[bytes, bytes]:
    add_user(server, "share_ivy", "investigator")
    add_user(server, "share_pat", "prosecutor")
    clip = video_bytes(seconds=2, width=320, height=240)
    photo = jpeg_bytes(width=320, height=240)
    (files / "bwc.mp4").write_bytes(clip)
    (files / "scene.jpg").write_bytes(photo)
    cli(server.data_dir, "--as", "share_ivy", "case", "create", CASE, "--title", "People v. Doe")
    cli(server.data_dir, "--as", "share_ivy", "ingest", str(files), "--case", CASE)
    cli(server.data_dir, "jobs", "--wait", "--timeout", "120")
    return clip, photo


def share_case(page: Page, server: Server, **fields: str) -> Page:
    page.goto(f"{server.url}/cases/{CASE}")
    page.click("#case-share-link")
    page.wait_for_selector("#share-form")
    assert page.input_value("#share-case") == CASE
    for selector, value in fields.items():
        if selector.startswith("radio:"):
            page.check(f"input[name=recipient_kind][value={value}]")
        elif selector.startswith("select:"):
            page.select_option(selector.partition(":")[2], value)
        elif selector.startswith("check:"):
            page.check(selector.partition(":")[2])
        else:
            page.fill(selector, value)
    page.click("#share-submit")
    page.wait_for_selector("text=is ready")
    return page


def test_share_a_case_by_link_and_to_a_prosecutor_then_revoke(
    browser: Browser, app_server: Server, tmp_path: Path
) -> None:
    server = app_server
    clip, _ = seed(server, tmp_path)
    ivy = sign_in(browser, server, "share_ivy")

    # By link, downloads allowed, watermarked.
    share_case(
        ivy, server, **{"radio:kind": "link", "#share-name": "Dana Defence", "#share-email": "dana@law.example",
                        "select:#share-access": "download", "check:#share-watermark": "1"}
    )  # fmt: skip
    link, code = ivy.inner_text("#share-link"), ivy.inner_text("#share-code")
    share_id = re.search(r"SH-[0-9A-Z]{4}-[0-9A-Z]{4}", ivy.inner_text("h1")).group(0)  # type: ignore[union-attr]
    assert code not in link
    check_page(ivy, "share-created")
    # To the prosecutor's account, view only.
    share_case(ivy, server, **{"radio:kind": "user", "#share-username": "share_pat"})
    cli(server.data_dir, "jobs", "--wait", "--timeout", "120")  # the watermarked copies

    # The defence: no account, the link and the code.
    dana = browser.new_context(accept_downloads=True).new_page()
    dana.goto(link)
    dana.wait_for_selector("#code")
    check_page(dana, "share-code")
    dana.fill("#code", "WRONG-WRONG")
    dana.click("button[type=submit]")
    assert "4 tries left" in dana.inner_text("#share-message")
    dana.fill("#code", code)
    dana.click("button[type=submit]")
    dana.wait_for_selector("#shared-items")
    assert "Dana Defence" in dana.inner_text("h1") and share_id in dana.inner_text("#share-id")
    assert len(dana.query_selector_all("#shared-items > li")) == 2
    wait_for(dana, "document.querySelector('video.shared-media').readyState >= 1")
    assert dana.evaluate("document.querySelector('video.shared-media').duration") > 1.5
    check_page(dana, "share-portal")
    with dana.expect_download() as got:
        dana.click("#shared-items li:first-child a[download]")
    marked = Path(got.value.path()).read_bytes()
    assert got.value.suggested_filename.endswith(".watermarked.mp4")
    assert marked[4:8] == b"ftyp" and hashlib.sha256(marked).hexdigest() != hashlib.sha256(clip).hexdigest()
    assert hashlib.sha256(marked).hexdigest() in dana.content()  # the page lists the hashes
    with dana.expect_download() as got:
        dana.click("#download-all")
    archive = zipfile.ZipFile(io.BytesIO(Path(got.value.path()).read_bytes()))
    assert archive.testzip() is None and f"{share_id}/SHA256SUMS" in archive.namelist()

    # The prosecutor finds the share in their own list.
    pat = sign_in(browser, server, "share_pat")
    pat.goto(f"{server.url}/shares")
    pat.click("#received a")
    pat.wait_for_selector("#shared-items")
    assert "Download everything" not in pat.content()  # view only
    wait_for(pat, "document.querySelector('video.shared-media').readyState >= 1")

    # The investigator follows the activity and revokes the link share.
    ivy.goto(f"{server.url}/shares/{share_id}")
    activity = ivy.inner_text("#share-activity")
    for action in ("share:code_failed", "share:open", "evidence:download", "share:download"):
        assert action in activity, action
    check_page(ivy, "share-detail")
    ivy.fill("#revoke-reason", "Case dismissed")
    ivy.click("#revoke")
    ivy.wait_for_selector("#notice")
    assert ivy.inner_text("#share-state") == "revoked"
    dana.goto(link)
    assert "revoked" in dana.inner_text("#share-message")
    reply = dana.request.get(f"{link}/all.zip")
    assert reply.status == 410 and "revoked" in reply.json()["detail"]

    # A court export from the case's page, followed to the end and downloaded.
    ivy.goto(f"{server.url}/cases/{CASE}")
    ivy.click("#case-export")
    ivy.wait_for_selector("#exports")
    cli(server.data_dir, "jobs", "--wait", "--timeout", "120")
    ivy.reload()
    assert "ready" in ivy.inner_text("#exports")
    check_page(ivy, "exports")
    with ivy.expect_download() as got:
        ivy.click("#exports a:has-text('Download')")
    bag = zipfile.ZipFile(io.BytesIO(Path(got.value.path()).read_bytes()))
    names = bag.namelist()
    assert any(n.endswith("/manifest-sha256.txt") for n in names)
    assert any(n.endswith("/data/provenance.jsonld") for n in names)
