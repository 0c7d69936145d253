"""What every blob store shares: the key format, how much plaintext a staged blob shows, and
the cache of resumable uploads' running digests. (Pools of write buffers: ``opendems.buffers``.)"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, wait

from opendems.domain.errors import NotFound

HEAD_BYTES = 8192  # plaintext kept with a staged blob, for content-type detection
_HEX = frozenset("0123456789abcdef")


def key_digest(key: str) -> str:
    """The SHA-256 hex digest a blob key ``sha256/<hex>`` names; ``NotFound`` for anything else
    (so a malformed key reads exactly like a missing blob, and never reaches a path or URL)."""
    algo, _, digest = key.partition("/")
    if algo != "sha256" or len(digest) != 64 or not set(digest) <= _HEX:
        raise NotFound(f"no blob {key!r}")
    return digest


class DigestCache:
    """In-process running SHA-256 of resumable uploads, so an upload served by this process is
    hashed exactly once; another process (or this one after a restart) rebuilds the digest
    from the stored bytes instead. An entry holds for one version of the upload's stored
    progress (its offset on disk, its state object's ETag in a bucket)."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[object, hashlib._Hash]] = {}
        self._lock = threading.Lock()

    def get(self, upload_id: str, version: object) -> hashlib._Hash | None:
        with self._lock:
            entry = self._entries.get(upload_id)
        return entry[1].copy() if entry and entry[0] == version else None

    def put(self, upload_id: str, version: object, hasher: hashlib._Hash) -> None:
        with self._lock:
            self._entries[upload_id] = (version, hasher.copy())

    def forget(self, upload_id: str) -> None:
        with self._lock:
            self._entries.pop(upload_id, None)


def threaded_sha256_many(
    read_all: Callable[[str], Iterable[bytes]],
    keys: list[str],
    progress: Callable[[int], None],
    workers: int = 2,
) -> dict[str, str]:
    """SHA-256 of each blob's plaintext, ``workers`` blobs at a time on threads; ``progress``
    is called with the bytes hashed since its last call (from the calling thread only)."""
    done = 0
    lock = threading.Lock()

    def one(key: str) -> str:
        nonlocal done
        digest = hashlib.sha256()
        for chunk in read_all(key):
            digest.update(chunk)
            with lock:
                done += len(chunk)
        return digest.hexdigest()

    out: dict[str, str] = {}
    with ThreadPoolExecutor(max(1, workers), thread_name_prefix="opendems-sha256-many") as pool:
        futures = {pool.submit(one, k): k for k in keys}
        pending = set(futures)
        reported = 0
        while pending:
            finished, pending = wait(pending, timeout=1.0)
            for f in finished:
                out[futures[f]] = f.result()
            with lock:
                now = done
            progress(now - reported)
            reported = now
    return out
