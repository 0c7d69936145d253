"""The text OCR read, on the pages a person uses: an item's page shows it (or says that no text
was found), and a search hit in a scan's text leads to its page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from opendems.bootstrap import Container
from opendems.domain.access import Role
from opendems.services.ingest import IngestRequest, ingest_stream
from opendems.web.app import create_app
from tests.api.test_ui_items import sign_in
from tests.factories import make_container, user_actor
from tests.scans import PLAIN, REPORT, blank_photo, scanned_pdf


@pytest.fixture
def c(tmp_path: Path) -> Container:
    return make_container(tmp_path, sign_in_rate_per_address=1000, ocr="on")


@pytest.fixture
def web(c: Container) -> Iterator[TestClient]:
    with TestClient(create_app(c), base_url="https://testserver", follow_redirects=False) as client:
        yield client


def test_an_items_page_shows_its_text_and_a_hit_leads_to_the_page(c: Container, web: TestClient) -> None:
    sign_in(web, c, "ivy", Role.INVESTIGATOR)
    ivy = user_actor(c, "ivy", Role.INVESTIGATOR)

    def ingest(data: bytes, name: str) -> str:
        return ingest_stream(
            ivy,
            IngestRequest(filename=name),
            [data],
            uow=c.uow(),
            blobs=c.blobs,
            clock=c.clock,
            limits=c.limits,
        ).item.id

    scan = ingest(scanned_pdf([PLAIN, REPORT]), "scan.pdf")
    wall = ingest(blank_photo(), "wall.jpg")
    c.processor.run_until_idle("w")

    page = web.get(f"/evidence/{scan}")
    assert page.status_code == 200
    assert f'data-src="/api/v1/evidence/{scan}/derivatives/ocr"' in page.text
    assert 'src="/static/app/js/text.js"' in page.text and "Read automatically (tesseract 5.3.0)" in page.text
    assert "No text found" not in page.text
    empty = web.get(f"/evidence/{wall}")
    assert 'id="item-text-empty"' in empty.text and "No text found." in empty.text
    assert "item-text-pages" not in empty.text

    hits = web.get("/search", params={"q": "Alvarez"})
    assert hits.status_code == 200
    assert f'href="/evidence/{scan}?page=2#text-page-2">Go to page 2' in hits.text
    assert "Text in the file" in hits.text  # where the match is

    script = web.get("/static/app/js/text.js")
    assert script.status_code == 200 and "text-page-" in script.text
