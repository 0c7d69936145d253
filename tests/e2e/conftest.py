from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.e2e.server import Server
from tests.e2e.ui import CHROMIUM
from tests.stack.services import running_services
from tests.stack.settings import stack


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server per test module, for browser tests that build on each other's data."""
    root: Path = tmp_path_factory.mktemp("app")
    s = Server(root / "data").start()
    yield s
    s.stop()


@pytest.fixture(scope="session")
def scale_services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """PostgreSQL, Redis and SeaweedFS: the harness's under ``make test-scale``, else a
    private set started for the tests that need a cluster (and stopped after them)."""
    shared = stack()
    if shared is not None and {"redis", "s3"} <= shared.keys():
        yield shared
        return
    with running_services(tmp_path_factory.mktemp("scale-services")) as started:
        yield started
