"""Sequential file writing that bypasses the page cache (O_DIRECT) where the file system
allows it: large evidence files go straight to disk from one reused, page-aligned buffer,
without evicting the server's working set or paying for fresh cache pages. Falls back to
ordinary buffered writes where O_DIRECT is not supported (tmpfs, some network mounts)."""

from __future__ import annotations

import contextlib
import fcntl
import mmap
import os

BLOCK = 8 * 1024 * 1024  # a multiple of every logical block size in use


class DirectAppendFile:
    """Write-only, append-only file; ``flush_all`` pushes the unaligned tail with O_DIRECT off."""

    def __init__(self, path: str) -> None:
        self.direct = hasattr(os, "O_DIRECT")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
        try:
            self._fd = os.open(path, flags | (os.O_DIRECT if self.direct else 0), 0o600)
        except OSError:
            self.direct = False
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            self._fd = os.open(path, flags, 0o600)
        self._buf = mmap.mmap(-1, BLOCK)  # page-aligned, as O_DIRECT requires
        self._view = memoryview(self._buf)
        self._fill = 0
        self.closed = False

    def fileno(self) -> int:
        return self._fd

    def write(self, data: bytes | bytearray | memoryview) -> int:
        mv = memoryview(data).cast("B")
        n = len(mv)
        while mv:
            take = min(len(mv), BLOCK - self._fill)
            self._view[self._fill : self._fill + take] = mv[:take]
            self._fill += take
            mv = mv[take:]
            if self._fill == BLOCK:
                self._write_out(self._view)
                self._fill = 0
        return n

    def _write_out(self, view: memoryview) -> None:
        while view:
            written = os.write(self._fd, view)
            view = view[written:]

    def flush_all(self) -> None:
        """Write whatever is buffered (the tail need not be block-aligned)."""
        if self._fill:
            if self.direct:
                flags = fcntl.fcntl(self._fd, fcntl.F_GETFL)
                fcntl.fcntl(self._fd, fcntl.F_SETFL, flags & ~os.O_DIRECT)
                self.direct = False
            self._write_out(self._view[: self._fill])
            self._fill = 0

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(OSError):
            os.close(self._fd)
        self._view.release()
        self._buf.close()
