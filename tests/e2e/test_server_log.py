"""What the server does on its own shows in its log, with a level, beside uvicorn's lines."""

from __future__ import annotations

import re
import time
from pathlib import Path

from tests.backends import RawDatabase, container_of
from tests.e2e.server import Server, cli
from tests.factories import png_bytes


def test_the_server_log_says_what_the_search_catch_up_embedded(tmp_path: Path) -> None:
    data = tmp_path / "data"
    photo = tmp_path / "shed.png"
    photo.write_bytes(png_bytes(seed=11))
    assert re.search(r"EV-\d{4}-\d{6}", cli(data, "ingest", str(photo)).stdout)
    raw = RawDatabase(container_of(data))
    raw.execute("DELETE FROM search_vectors")  # as if the ingest had stopped before its last step
    raw.close()
    server = Server(data).start()
    try:
        line = "INFO:     meaning search: embedded the documents of 1 items that had none"
        deadline = time.monotonic() + 60
        while line not in server.log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        log = server.log.read_text()
        assert line in log, log[-2000:]
        assert "INFO:     Uvicorn running on" in log  # uvicorn's own lines are kept as they were
    finally:
        server.stop()
