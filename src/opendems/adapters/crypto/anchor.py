"""The custody anchor: a signed note of the newest custody event, kept beside the database
but outside it, so removing events from the end of the log is detected too."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path

from opendems.adapters.crypto.keys import Signer
from opendems.domain.custody import head_anchor_payload


class FileCustodyAnchor:
    def __init__(self, path: Path, signer: Signer) -> None:
        self.path = path
        self._signer = signer
        self._lock_path = path.with_suffix(".lock")

    def write(self, seq: int, event_hash: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock_path.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            current = self.read()
            if current and current[0] >= seq:
                return  # a later event was anchored by a concurrent writer
            record = {
                "seq": seq,
                "event_hash": event_hash,
                "signature": self._signer.sign(head_anchor_payload(seq, event_hash)),
            }
            tmp = self.path.with_suffix(".tmp")
            with tmp.open("w") as f:
                json.dump(record, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)

    def read(self) -> tuple[int, str, str] | None:
        with contextlib.suppress(FileNotFoundError):
            data = json.loads(self.path.read_text())
            return int(data["seq"]), str(data["event_hash"]), str(data["signature"])
        return None
