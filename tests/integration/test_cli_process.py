"""What every ``opendems`` process sets up for itself before its work starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = "import opendems.cli, numpy, os; print(len(os.listdir('/proc/self/task')))"


def _threads_after_numpy(**env: str) -> int:
    base = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, env={**base, **env}
    )
    assert done.returncode == 0, done.stderr[-500:]
    return int(done.stdout)


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="counts threads through /proc")
def test_a_command_starts_no_blas_threads_unless_the_operator_asks_for_them() -> None:
    # numpy's OpenBLAS would start one spinning thread per extra core: CPU taken from an ingest.
    assert _threads_after_numpy() == 1
    assert _threads_after_numpy(OPENBLAS_NUM_THREADS="2") == 2  # an operator's choice stands


def test_a_command_that_runs_no_job_loads_no_media_or_numerical_library() -> None:
    # They load with the first job or vector; every other command starts without them.
    probe = "import sys, opendems.cli.main; print(sorted({'av', 'PIL', 'numpy'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-500:]
    assert done.stdout.strip() == "[]"
