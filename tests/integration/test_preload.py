"""The search model is loaded on a background thread while a command or the server starts.
A short command (an offload of files already held) ends before the load does: it must wait
for it and exit cleanly, never leave the model's native code running while the interpreter
shuts down (which aborts the process)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from opendems.bootstrap import Container
from opendems.config import Settings
from tests.e2e.server import cli

SCRIPT = """
import sys, time
from pathlib import Path
from opendems.bootstrap import Container
from opendems.config import Settings
container = Container(Settings.load(Path(sys.argv[1])))
container.preload()
time.sleep(float(sys.argv[2]))
"""


def test_a_command_that_ends_while_the_model_loads_exits_cleanly(tmp_path: Path) -> None:
    data = tmp_path / "data"
    cli(data, "init")
    assert Container(Settings.load(data)).embedder is not None  # meaning search is on: a load runs
    for seconds in ("0", "0.05", "0.1", "0.2"):
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT, str(data), seconds], capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, f"exit {done.returncode} after {seconds} s: {done.stderr[-500:]}"
