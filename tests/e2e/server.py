"""Start and stop a real ``opendems serve`` process for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

from opendems.config import Settings
from tests.stack.settings import prepare_data_dir

OPENDEMS = [sys.executable, "-m", "opendems.cli.main"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli(
    data_dir: Path, *args: str, input_text: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run the opendems command line against ``data_dir``."""
    prepare_data_dir(data_dir)
    result = subprocess.run(
        [*OPENDEMS, "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        input=input_text,
        timeout=300,
        env={**os.environ, "COLUMNS": "200"},
    )
    if check and result.returncode != 0:
        raise AssertionError(f"opendems {' '.join(args)} failed ({result.returncode}): {result.stderr}")
    return result


class Server:
    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.log = data_dir.parent / f"server-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> Server:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        prepare_data_dir(self.data_dir)
        log = self.log.open("ab")
        self.proc = subprocess.Popen(
            [*OPENDEMS, "--data-dir", str(self.data_dir), "serve", "--port", str(self.port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early: {self.log.read_text()[-2000:]}")
            try:
                if requests.get(f"{self.url}/api/v1/health", timeout=1).ok:
                    self._start_worker(log)
                    return self
            except requests.ConnectionError:
                time.sleep(0.1)
        raise RuntimeError("server did not start in time")

    def _start_worker(self, log: Any) -> None:
        """With a broker delivering the jobs (scale-out mode), a server runs none itself: a
        worker process beside it does what the embedded server's worker threads would
        (unless the data directory's settings ask for no workers)."""
        if self.worker is not None and self.worker.poll() is None:
            return
        settings = Settings.load(self.data_dir)  # as the server read them (environment first)
        if settings.job_queue != "celery" or settings.workers == 0:
            return
        self.worker = subprocess.Popen(
            [*OPENDEMS, "--data-dir", str(self.data_dir), "worker"], stdout=log, stderr=subprocess.STDOUT
        )

    def kill(self) -> None:
        """Stop the server abruptly (SIGKILL): nothing gets a chance to clean up."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.worker and self.worker.poll() is None:
            self.worker.terminate()
            try:
                self.worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.worker.kill()
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
