"""Sequential appends that bypass the page cache (O_DIRECT) where the file system allows it:
evidence goes straight to disk from one reused, page-aligned buffer, without evicting the
server's working set or spending CPU on cache pages. Falls back to ordinary buffered writes
where O_DIRECT is not supported (tmpfs, some network mounts).

Direct I/O needs block-aligned offsets and lengths, so the buffer always starts on a block
boundary: appending to an existing file first re-reads the partial last block, and the
unaligned tail is written (with O_DIRECT switched off) only when everything is flushed."""

from __future__ import annotations

import contextlib
import fcntl
import os
from concurrent.futures import Future, ThreadPoolExecutor

from opendems.buffers import aligned_pool

ALIGN = 4096
BLOCK = 8 * 1024 * 1024
# Full blocks are written by a helper thread while the caller fills the other buffer, so
# the disk write overlaps hashing and encryption instead of following them.
_WRITERS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="opendems-direct-write")


class DirectAppendFile:
    def __init__(self, path: str, *, create: bool, offset: int = 0) -> None:
        self.path = path
        flags = os.O_WRONLY | (os.O_CREAT | os.O_EXCL if create else 0)
        self.direct = hasattr(os, "O_DIRECT")
        self._unsupported = not self.direct  # O_DIRECT refused at open: never switch it on
        try:
            self._fd = os.open(path, flags | (os.O_DIRECT if self.direct else 0), 0o600)
        except OSError:
            if create:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
            self.direct = False
            self._unsupported = True
            self._fd = os.open(path, flags, 0o600)
        self.closed = False
        # Two page-aligned buffers (as O_DIRECT requires): one fills while the other is written.
        # They come from the process's pool: each request of a chunked upload opens the file
        # anew, and fresh buffers cost a page fault per 4 KiB filled.
        self._pool = aligned_pool(BLOCK)
        self._bufs = [self._pool.get(), self._pool.get()]
        self._views = [memoryview(b) for b in self._bufs]
        self._writing: list[Future[None] | None] = [None, None]
        self._turn = 0
        self._view = self._views[0]
        self._pos = offset - offset % ALIGN  # file offset of the buffer's first byte
        self._fill = offset - self._pos
        if self._fill:
            with open(path, "rb") as f:
                f.seek(self._pos)
                partial = f.read(self._fill)
            if len(partial) != self._fill:
                self.close()
                raise OSError(f"{path} is shorter than the offset to append at")
            self._view[: self._fill] = partial

    def fileno(self) -> int:
        return self._fd

    def write(self, data: bytes | bytearray | memoryview) -> int:
        mv = memoryview(data).cast("B")
        n = len(mv)
        while mv:
            take = min(len(mv), BLOCK - self._fill)
            self._view[self._fill : self._fill + take] = mv[:take]
            self.advance(take)
            mv = mv[take:]
        return n

    def space(self, n: int) -> memoryview | None:
        """The next ``n`` bytes of the buffer, to be filled in place (an encrypted segment
        sealed straight into it, saving a copy) and then counted with ``advance``; None when
        fewer than ``n`` bytes are left in the block (``write`` then)."""
        if self._fill + n > BLOCK:
            return None
        return self._view[self._fill : self._fill + n]

    def advance(self, n: int) -> None:
        self._fill += n
        if self._fill == BLOCK:
            self._block_full()

    def _block_full(self) -> None:
        self._set_direct(True)
        self._writing[self._turn] = _WRITERS.submit(self._pwrite, self._view, self._pos)
        self._pos += BLOCK
        self._fill = 0
        self._turn ^= 1
        self._wait(self._turn)  # the other buffer must be on disk before it is reused
        self._view = self._views[self._turn]

    def _wait(self, turn: int) -> None:
        pending = self._writing[turn]
        if pending is not None:
            self._writing[turn] = None
            pending.result()  # re-raises a failed write (a full disk) in the caller

    def _pwrite(self, view: memoryview, pos: int) -> None:
        while view:
            written = os.pwrite(self._fd, view, pos)
            view = view[written:]
            pos += written

    def _set_direct(self, on: bool) -> None:
        if self._unsupported or self.direct == on:
            return
        self._wait(0)
        self._wait(1)  # never switch modes under a write in flight
        flags = fcntl.fcntl(self._fd, fcntl.F_GETFL)
        fcntl.fcntl(self._fd, fcntl.F_SETFL, (flags | os.O_DIRECT) if on else (flags & ~os.O_DIRECT))
        self.direct = on

    def flush_all(self) -> None:
        """Write everything buffered (the tail need not be aligned); keep appending after."""
        self._wait(0)
        self._wait(1)
        if not self._fill:
            return
        self._set_direct(False)
        self._pwrite(self._view[: self._fill], self._pos)
        aligned = self._fill - self._fill % ALIGN
        if aligned:
            rest = self._fill - aligned
            self._view[:rest] = self._view[aligned : self._fill]
            self._pos += aligned
            self._fill = rest

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for turn in (0, 1):
            with contextlib.suppress(Exception):
                self._wait(turn)
        with contextlib.suppress(OSError):
            os.close(self._fd)
        # No write is in flight any longer (waited for above): the buffers can serve again.
        for view, buf in zip(self._views, self._bufs, strict=True):
            with contextlib.suppress(BufferError):
                view.release()
            self._pool.give(buf)
