"""Every page of the main menu, for each kind of user, in dark mode: axe finds no serious or
critical violation (colour contrast included), nothing scrolls sideways at 1280x800 or on a
tablet, and the screenshots are kept. (Light mode is checked by each page's own tests.)"""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser

from tests.e2e.server import Server, cli
from tests.e2e.ui import add_user, check_page, sign_in
from tests.factories import pdf_bytes
from tests.media import jpeg_bytes


@pytest.fixture(scope="module")
def seeded(app_server: Server, tmp_path_factory: pytest.TempPathFactory) -> Server:
    files = tmp_path_factory.mktemp("seed")
    (files / "scene.jpg").write_bytes(jpeg_bytes())
    (files / "report.pdf").write_bytes(pdf_bytes())
    add_user(app_server, "dark_investigator", "investigator", unit="detectives")
    cli(app_server.data_dir, "--as", "dark_investigator", "ingest", str(files), "--category", "scene")
    cli(app_server.data_dir, "jobs", "--wait", "--timeout", "60")
    return app_server


@pytest.mark.parametrize("role", ["investigator", "evidence_custodian", "administrator", "auditor"])
def test_every_menu_page_in_dark_mode(browser: Browser, seeded: Server, role: str) -> None:
    name = "dark_investigator" if role == "investigator" else f"dark_{role}"
    if role != "investigator":
        add_user(seeded, name, role)
    page = sign_in(browser, seeded, name)
    page.emulate_media(color_scheme="dark")
    hrefs = page.eval_on_selector_all("header nav a", "links => links.map(a => a.getAttribute('href'))")
    assert len(hrefs) >= 2
    for href in [*hrefs, "/account"]:
        page.goto(f"{seeded.url}{href}")
        assert (
            page.evaluate("getComputedStyle(document.documentElement).backgroundColor") == "rgb(15, 20, 26)"
        )
        check_page(page, f"dark-{role}-{href.strip('/').replace('/', '-') or 'home'}")
    if role == "investigator":
        page.goto(f"{seeded.url}/evidence")
        first = page.eval_on_selector("#evidence-table a[href^='/evidence/']", "a => a.getAttribute('href')")
        page.goto(f"{seeded.url}{first}")
        check_page(page, "dark-evidence-detail")
