"""Pools of reusable write buffers, one per buffer size and kind, shared by the whole process:
the blob stores' part and direct-write buffers, and the blocks a request body is gathered in."""

from __future__ import annotations

import mmap
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

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
