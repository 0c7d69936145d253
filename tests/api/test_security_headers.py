"""Headers every answer carries, and the page policy (Content-Security-Policy, no framing,
no caching) that only HTML pages get -- through the real app."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from opendems.web.app import PAGE_POLICY, create_app
from tests.factories import make_container


def test_pages_json_and_the_api_docs_get_the_headers_they_need(tmp_path: Path) -> None:
    with TestClient(create_app(make_container(tmp_path)), follow_redirects=False) as client:
        page = client.get("/sign-in")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert page.headers["content-security-policy"] == PAGE_POLICY
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["cache-control"] == "no-store"
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["referrer-policy"] == "same-origin"

        problem = client.get("/api/v1/evidence")  # JSON (here a 401 problem body)
        assert problem.status_code == 401
        assert problem.headers["x-content-type-options"] == "nosniff"
        assert problem.headers["referrer-policy"] == "same-origin"
        assert "content-security-policy" not in problem.headers

        docs = client.get("/docs")  # Swagger UI runs inline scripts of its own
        assert docs.status_code == 200 and "content-security-policy" not in docs.headers
        assert docs.headers["x-content-type-options"] == "nosniff"

        tus = client.options("/api/v1/uploads")
        assert tus.status_code == 204 and tus.headers["x-content-type-options"] == "nosniff"
        # Each header once, even where the answer set it itself.
        assert len(page.headers.get_list("cache-control")) == 1
