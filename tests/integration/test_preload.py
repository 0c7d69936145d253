"""The search model is loaded on a background thread while the server starts, which then
embeds the documents that have no vector. A process that ends before the load does must wait
for it and exit cleanly, never leave the model's native code running while the interpreter
shuts down (which aborts the process)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from opendems.bootstrap import Container
from opendems.config import Settings
from tests.backends import RawDatabase, container_of
from tests.e2e.server import cli
from tests.factories import png_bytes

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


FREEZE_SCRIPT = """
import gc, sys, threading
from pathlib import Path
from opendems.bootstrap import Container
from opendems.config import Settings
container = Container(Settings.load(Path(sys.argv[1])))
before = gc.get_freeze_count()
container.preload()
for thread in threading.enumerate():
    if thread.name == "opendems-preload":
        thread.join()
print(before, gc.get_freeze_count(), container.embedder._loaded())
"""


def test_what_the_preload_leaves_is_kept_out_of_every_later_collection(tmp_path: Path) -> None:
    """The modules and the model live as long as the process; a full collection that walks
    them all again would land in the middle of an ingest's commit."""
    data = tmp_path / "data"
    cli(data, "init")
    done = subprocess.run(
        [sys.executable, "-c", FREEZE_SCRIPT, str(data)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-500:]
    before, frozen, loaded = done.stdout.split()
    assert (int(before), loaded) == (0, "True")
    assert int(frozen) > 10_000  # the imported modules and the model's objects (about 96,000)


NUMPY_SCRIPT = """
import sys
from pathlib import Path
from opendems.bootstrap import Container
from opendems.config import Settings
container = Container(Settings.load(Path(sys.argv[1])))
before = "numpy" in sys.modules
container.preload()
print(before, hasattr(sys.modules.get("numpy"), "ndarray"))
"""


def test_numpy_is_whole_before_the_preload_thread_starts(tmp_path: Path) -> None:
    """The load imports numpy (through onnxruntime) while the command goes on, and a small
    file's commit needs numpy for its first vector at once: imported by both threads at the
    same time, numpy comes out half-initialised in one of them. So the preload imports it on
    the calling thread, and the command line loads it no earlier (it costs every command)."""
    data = tmp_path / "data"
    cli(data, "init")
    done = subprocess.run(
        [sys.executable, "-c", NUMPY_SCRIPT, str(data)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-500:]
    assert done.stdout.split() == ["False", "True"]


CATCH_UP_SCRIPT = """
import sys, threading
from pathlib import Path
from opendems.bootstrap import Container
from opendems.config import Settings
container = Container(Settings.load(Path(sys.argv[1])))
container.preload(catch_up=True)
for thread in threading.enumerate():
    if thread.name == "opendems-preload":
        thread.join()
"""


def test_the_server_start_embeds_what_an_interrupted_ingest_left_without_vectors(tmp_path: Path) -> None:
    data = tmp_path / "data"
    photo = tmp_path / "shed.png"
    photo.write_bytes(png_bytes(seed=7))
    found = re.search(r"EV-\d{4}-\d{6}", cli(data, "ingest", str(photo)).stdout)
    assert found is not None
    item = found.group()
    raw = RawDatabase(container_of(data))
    count = "SELECT COUNT(*) FROM search_vectors WHERE evidence_id = ?"
    assert raw.execute(count, [item]).fetchone()[0] >= 1
    raw.execute("DELETE FROM search_vectors")  # as if the command had stopped before its last step
    done = subprocess.run(
        [sys.executable, "-c", CATCH_UP_SCRIPT, str(data)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-500:]
    assert raw.execute(count, [item]).fetchone()[0] >= 1
    raw.close()
