"""The evidence library and the home desk in a real browser against a real server: filters
that update the results and the address (and the back button), the thumbnail grid, sorting,
paging, selecting rows and tagging them in bulk with the keyboard alone, and the home page's
processing queue following a video's processing live, without a reload.

This module's server runs no processing workers of its own: the test runs the worker
(`opendems worker --until-idle`) when it wants processing to happen, so the queue is seen
waiting first and finished afterwards, never by luck of timing.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.server import OPENDEMS, Server, cli
from tests.e2e.ui import add_user, check_page, sign_in, tab_to, wait_for
from tests.factories import pdf_bytes, png_bytes
from tests.media import video_bytes

USER = "lib_ivy"
ROWS = "document.querySelectorAll('#evidence-table tbody tr').length"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("library-ui")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("OPENDEMS_WORKERS", "0")
        s = Server(root / "data").start()
    yield s
    s.stop()


def ids_in(output: str) -> list[str]:
    return list(dict.fromkeys(re.findall(r"EV-\d{4}-\d{6}", output)))


@pytest.fixture(scope="module")
def evidence(server: Server, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """26 routine photos, two tagged photos in a case, and a statement, all processed."""
    add_user(server, USER, "investigator")
    data = server.data_dir
    cli(data, "--as", USER, "case", "create", "LIB-1", "--title", "Bridge collision")
    root = tmp_path_factory.mktemp("files")
    (root / "routine").mkdir()
    for n in range(26):
        (root / "routine" / f"routine-{n:02d}.png").write_bytes(png_bytes(seed=200 + n))
    (root / "bridge").mkdir()
    for n in (1, 2):
        (root / "bridge" / f"bridge-{n}.png").write_bytes(png_bytes(width=96, height=64, seed=n))
    (root / "statement.pdf").write_bytes(pdf_bytes("Witness statement"))
    routine = ids_in(cli(data, "--as", USER, "ingest", str(root / "routine")).stdout)
    bridge = ids_in(
        cli(
            data,
            "--as",
            USER,
            "ingest",
            str(root / "bridge"),
            "--case",
            "LIB-1",
            "--category",
            "traffic",
            "--tag",
            "night",
            "--device",
            "BWC-9",
            "--captured-at",
            "2026-02-10T08:00:00Z",
        ).stdout
    )
    statement = ids_in(cli(data, "--as", USER, "ingest", str(root / "statement.pdf")).stdout)
    assert len(routine) == 26 and len(bridge) == 2 and len(statement) == 1
    cli(data, "worker", "--until-idle")
    return {"routine": routine, "bridge": bridge, "statement": statement}


def rows(page: Page) -> list[str]:
    return [r.get_attribute("id")[4:] for r in page.locator("#evidence-table tbody tr").all()]  # type: ignore[index]


def shift_tab_to(page: Page, selector: str, limit: int = 40) -> None:
    for _ in range(limit):
        page.keyboard.press("Shift+Tab")
        if page.evaluate("(s) => document.activeElement && document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"{selector} cannot be reached backwards with the keyboard")


def test_filter_sort_page_grid_and_bulk_tag(
    browser: Browser, server: Server, evidence: dict[str, list[str]]
) -> None:
    page = sign_in(browser, server, USER)
    page.goto(f"{server.url}/evidence")
    expect(page.locator("#result-count")).to_contain_text("29 items, showing 1 to 25")
    assert len(rows(page)) == 25
    check_page(page, "library-table")

    # A filter swaps only the results, and the address says what is shown (no empty fields).
    page.evaluate("window.stayed = true")
    page.select_option("#f-kind", "document")
    wait_for(page, f"{ROWS} === 1")
    assert rows(page) == evidence["statement"]
    assert page.url == f"{server.url}/evidence?kind=document"
    assert page.evaluate("window.stayed") is True  # no page load
    # The back button returns to the unfiltered list.
    page.go_back()
    wait_for(page, f"{ROWS} === 25")
    assert page.url == f"{server.url}/evidence"
    # Typing a filter and pressing Enter.
    page.select_option("#f-kind", "")
    page.fill("#f-tag", "night")
    page.press("#f-tag", "Enter")
    wait_for(page, f"{ROWS} === 2")
    assert sorted(rows(page)) == sorted(evidence["bridge"])
    assert "tag=night" in page.url

    # Sorting by title, then the second page of it.
    page.goto(f"{server.url}/evidence")
    page.select_option("#f-sort", "title")
    wait_for(page, "document.querySelector('#evidence-table tbody tr td:nth-child(3)')"
             ".textContent.includes('bridge-1')")  # fmt: skip
    assert rows(page)[:2] == evidence["bridge"]
    page.click("#next-page")
    expect(page.locator("#page-of")).to_have_text("Page 2 of 2")
    assert "sort=title" in page.url and "page=2" in page.url
    assert rows(page) == evidence["routine"][-3:] + evidence["statement"]
    page.click("#prev-page")
    expect(page.locator("#page-of")).to_have_text("Page 1 of 2")

    # The thumbnail grid: pictures made by processing, loaded lazily, with a text alternative.
    page.select_option("#f-view", "grid")
    expect(page.locator("#evidence-grid li")).to_have_count(25)
    assert "view=grid" in page.url
    wait_for(
        page,
        "[...document.querySelectorAll('#evidence-grid img')].some(i => i.complete && i.naturalWidth > 0)",
    )
    first = page.locator("#evidence-grid img").first
    assert first.get_attribute("loading") == "lazy" and "bridge-1" in (first.get_attribute("alt") or "")
    check_page(page, "library-grid")

    # Select two rows and tag them, with the keyboard alone.
    page.goto(f"{server.url}/evidence?tag=night")
    wait_for(page, f"{ROWS} === 2")
    one, two = evidence["bridge"]
    tab_to(page, "#bulk-tags")
    page.keyboard.type("kbd-checked")
    # "Select all on this page" (shown once the script runs) ticks and unticks every row.
    tab_to(page, "#select-all")
    page.keyboard.press("Space")
    expect(page.locator("#selected-count")).to_have_text("2 of 2 on this page selected.")
    page.keyboard.press("Space")
    expect(page.locator("#selected-count")).to_contain_text("Tick the items")
    expect(page.locator("input[name=ids]:checked")).to_have_count(0)
    tab_to(page, f"#sel-{one}")
    page.keyboard.press("Space")
    tab_to(page, f"#sel-{two}")
    page.keyboard.press("Space")
    expect(page.locator("#selected-count")).to_have_text("2 of 2 on this page selected.")
    expect(page.locator("#select-all")).to_be_checked()
    shift_tab_to(page, "#bulk-apply")
    page.keyboard.press("Enter")
    expect(page.locator("#bulk-result")).to_contain_text("2 done.")
    check_page(page, "library-bulk-result")
    tab_to(page, "#back-to-library")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{server.url}/evidence?tag=night")
    expect(page.locator("#evidence-table tbody tr")).to_have_count(2)
    for evidence_id in (one, two):
        expect(page.locator(f"#row-{evidence_id} .tags")).to_contain_text("kbd-checked")


def test_home_queue_follows_processing_live(browser: Browser, server: Server, tmp_path: Path) -> None:
    add_user(server, "lib_home", "investigator")
    cli(server.data_dir, "--as", "lib_home", "case", "create", "HOME-1", "--title", "Patrol")
    clip = tmp_path / "patrol.mp4"
    clip.write_bytes(video_bytes(seconds=12, width=640, height=360))
    video = ids_in(cli(server.data_dir, "--as", "lib_home", "ingest", str(clip), "--case", "HOME-1").stdout)[
        0
    ]
    page = sign_in(browser, server, "lib_home")
    expect(page.locator("#recent-table")).to_contain_text(video)
    expect(page.locator("#cases-panel")).to_contain_text("HOME-1")
    queue = page.locator("#queue")
    assert queue.get_attribute("data-pending") == "true"
    assert queue.get_attribute("hx-trigger") == "every 2s"
    waiting = page.locator("#queue-table tr", has_text=video)
    expect(waiting.first).to_contain_text("queued")
    check_page(page, "home")

    page.evaluate("window.stayed = true")
    worker = subprocess.Popen(
        [*OPENDEMS, "--data-dir", str(server.data_dir), "worker", "--until-idle"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(page, "document.getElementById('queue').dataset.pending === 'false'", timeout=120)
    finally:
        output = worker.communicate(timeout=120)[0].decode()
    assert worker.returncode == 0, output
    assert page.evaluate("window.stayed") is True  # followed without a reload
    finished = page.locator("#queue-table tr", has_text=video)
    expect(finished).to_have_count(3)  # probe, proxy and transcribe
    for n in range(2):
        expect(finished.nth(n).locator(".badge")).to_have_text("done")
        assert finished.nth(n).locator("progress").get_attribute("value") == "100"
    assert page.locator("#queue").get_attribute("hx-trigger") is None  # polling stopped
    expect(page.locator("#queue-summary")).to_have_text("Processing finished.")
