"""The search page in a real browser against a real server: a typed query swaps in ranked
results with the matches marked (and the address follows), a facet adds its filter to the
query, the order changes by the select, a query that cannot be read is a clear message, and
the page passes the accessibility and layout checks."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.server import Server, cli
from tests.e2e.ui import add_user, check_page, sign_in, tab_to, wait_for
from tests.factories import png_bytes

USER = "find_fay"
HITS = "document.querySelectorAll('#search-hits li.search-hit').length"


def ids_in(output: str) -> list[str]:
    return list(dict.fromkeys(re.findall(r"EV-\d{4}-\d{6}", output)))


@pytest.fixture(scope="module")
def evidence(app_server: Server, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    add_user(app_server, USER, "investigator")
    root = tmp_path_factory.mktemp("search-files")
    made = {}
    for n, (name, tag, category, when) in enumerate(
        [
            ("bakery-burglary", "night", "burglary", "2026-01-05T03:00:00Z"),
            ("bakery-delivery-van", "day", "traffic", "2026-02-01T10:00:00Z"),
            ("elm-street-stop", "night", "traffic", "2026-03-14T21:00:00Z"),
        ]
    ):
        path = root / f"{name}.png"
        path.write_bytes(png_bytes(seed=300 + n))
        out = cli(
            app_server.data_dir,
            "--as",
            USER,
            "ingest",
            str(path),
            "--tag",
            tag,
            "--category",
            category,
            "--captured-at",
            when,
        ).stdout
        made[name] = ids_in(out)[0]
    return made


def hit_ids(page: object) -> list[str]:
    return [
        (el.get_attribute("id") or "")[4:]
        for el in page.locator("#search-hits li.search-hit").all()  # type: ignore[attr-defined]
    ]


def test_search_highlight_facet_order_and_errors(
    browser: Browser, app_server: Server, evidence: dict[str, str]
) -> None:
    page = sign_in(browser, app_server, USER)
    page.goto(f"{app_server.url}/search")
    expect(page.locator("#search-intro")).to_be_visible()

    # Typing a query and pressing Enter swaps in the results; the address follows, no page load.
    page.evaluate("window.stayed = true")
    tab_to(page, "#search-q")
    page.keyboard.type("bakery")
    page.keyboard.press("Enter")
    wait_for(page, f"{HITS} === 2")
    assert set(hit_ids(page)) == {evidence["bakery-burglary"], evidence["bakery-delivery-van"]}
    assert page.evaluate("window.stayed") is True
    assert "q=bakery" in page.url
    expect(page.locator("#search-count")).to_have_text("2 items found")
    marks = page.locator("#search-hits mark")
    expect(marks.first).to_have_text(re.compile("bakery", re.I))
    check_page(page, "search")

    # A facet adds its filter to the query, in the box and in the address.
    night = page.locator('#facet-tag a[data-value="night"]')
    expect(night).to_be_visible()
    expect(page.locator("#facet-tag li", has_text="night")).to_contain_text("1")
    night.click()
    wait_for(page, f"{HITS} === 1")
    assert hit_ids(page) == [evidence["bakery-burglary"]]
    expect(page.locator("#search-q")).to_have_value("bakery tag:night")
    assert "tag%3Anight" in page.url
    expect(page.locator("#facet-tag .facet-applied")).to_contain_text("night")
    # Back: the two hits again, and the box says so.
    page.go_back()
    wait_for(page, f"{HITS} === 2")

    # The order select re-sorts at once.
    page.fill("#search-q", "")
    page.press("#search-q", "Enter")
    wait_for(page, f"{HITS} === 3")
    page.select_option("#search-sort", "oldest")
    wait_for(page, f"document.querySelector('#search-hits li').id === 'hit-{evidence['bakery-burglary']}'")
    page.select_option("#search-sort", "captured")
    wait_for(page, f"document.querySelector('#search-hits li').id === 'hit-{evidence['elm-street-stop']}'")
    assert "sort=captured" in page.url

    # A query that cannot be read says what to change, where the results were.
    page.fill("#search-q", "color:red")
    page.press("#search-q", "Enter")
    error = page.locator("#search-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("unknown search field 'color:'")
    expect(page.locator("#search-hits")).to_have_count(0)
    check_page(page, "search-error")
    page.context.close()


def test_dark_mode(browser: Browser, app_server: Server, evidence: dict[str, str]) -> None:
    page = sign_in(browser, app_server, USER)
    page.goto(f"{app_server.url}/search?q=bakery+OR+elm")
    expect(page.locator("#search-hits li.search-hit")).to_have_count(3)
    page.click("#theme-toggle")
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    check_page(page, "search-dark")
    page.context.close()
