"""What every blob store shares: the key format, how much plaintext a staged blob shows, the
cache of resumable uploads' running digests, and pools of reusable write buffers."""

from __future__ import annotations

import hashlib
import mmap
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Generic, TypeVar

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


Buf = TypeVar("Buf", bytearray, mmap.mmap)


# Idle buffers a pool holds at most, in bytes: enough for the buffers of 8 uploads at once of
# 16 MiB parts (a part filling, a part being sent), where a cap of 8 buffers had half of them
# made afresh -- 50 MiB zeroed and faulted in per second of upload, with the GIL held.
KEEP_BYTES = 256 * 1024 * 1024


class BufferPool(Generic[Buf]):
    """Write buffers of one size kept for reuse across writes and requests. A fresh buffer
    costs a page fault per 4 KiB the first time it is filled, and a freed one goes back to the
    operating system; with a buffer or two per request, that churn cost about as much CPU as
    encrypting the bytes. At most ``keep`` idle buffers are held (by default as many as fit
    in KEEP_BYTES, and at least 2)."""

    def __init__(self, size: int, make: Callable[[int], Buf], keep: int | None = None) -> None:
        self.size = size
        self._make: Callable[[int], Buf] = make
        self._keep = keep if keep is not None else max(2, KEEP_BYTES // size)
        self._idle: list[Buf] = []
        self._lock = threading.Lock()

    def get(self) -> Buf:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return self._make(self.size)

    def give(self, buf: Buf) -> None:
        """Hand a buffer back; the caller holds no view of it any longer."""
        if len(buf) != self.size:
            return
        with self._lock:
            if len(self._idle) < self._keep:
                self._idle.append(buf)
                return
        if isinstance(buf, mmap.mmap):
            buf.close()


def _anonymous_map(size: int) -> mmap.mmap:
    return mmap.mmap(-1, size)


_BYTE_POOLS: dict[int, BufferPool[bytearray]] = {}
_ALIGNED_POOLS: dict[int, BufferPool[mmap.mmap]] = {}
_POOLS_LOCK = threading.Lock()


def byte_pool(size: int) -> BufferPool[bytearray]:
    """The process's pool of ``bytearray`` buffers of ``size`` bytes (shared by every store)."""
    with _POOLS_LOCK:
        pool = _BYTE_POOLS.get(size)
        if pool is None:
            pool = _BYTE_POOLS[size] = BufferPool(size, bytearray)
        return pool


def aligned_pool(size: int) -> BufferPool[mmap.mmap]:
    """The process's pool of page-aligned buffers (anonymous memory maps) of ``size`` bytes,
    as direct I/O needs."""
    with _POOLS_LOCK:
        pool = _ALIGNED_POOLS.get(size)
        if pool is None:
            pool = _ALIGNED_POOLS[size] = BufferPool(size, _anonymous_map)
        return pool


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
