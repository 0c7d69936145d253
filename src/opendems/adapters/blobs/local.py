"""Blob store on local disk: encrypted, content-addressed, committed by atomic rename.

Layout under the data directory::

    blobs/sha256/ab/cd/<sha256>      committed originals and derivatives
    blobs/unsettled/<sha256>         committed by rename, database record not yet confirmed
    staging/parts/<random>.part      single-request writes in progress
    staging/uploads/<id>/            resumable uploads: blob, tail, lock
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import io
import os
import secrets
import struct
import threading
import time
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO, Protocol

from opendems.adapters.blobs.common import HEAD_BYTES, DigestCache, key_digest, threaded_sha256_many
from opendems.adapters.blobs.direct import DirectAppendFile
from opendems.adapters.crypto.envelope import (
    HEADER_SIZE,
    SEGMENT_OVERHEAD,
    BlobIntegrityError,
    EncryptedBlobReader,
    EncryptingWriter,
    Header,
    PlaintextFile,
    SegmentCipher,
    new_header,
    open_data_key,
)
from opendems.adapters.crypto.keys import Keyring
from opendems.domain.errors import Conflict, NotFound, StorageFull
from opendems.ports import StagedBlob


class _Closable(Protocol):
    def close(self) -> None: ...


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _disk_errors() -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            raise StorageFull("the evidence store is out of space; nothing was kept") from exc
        raise


def _read_head(path: Path, keyring: Keyring) -> bytes:
    with path.open("rb") as f:
        reader = EncryptedBlobReader(f, path.stat().st_size, keyring)
        return b"".join(reader.iter_range(0, min(HEAD_BYTES, reader.size) - 1))


class _EarlyFlush:
    """Start writing a growing file to disk while it is still being written, so the final
    fsync (which must happen before the evidence counts as stored) finds little left to do."""

    EVERY = 64 * 1024 * 1024

    def __init__(self, fd: int, *, enabled: bool = True) -> None:
        self._fd = fd
        self._enabled = enabled
        self._since = 0
        self._running: Future[None] | None = None

    def wrote(self, n: int) -> None:
        if not self._enabled:
            return
        self._since += n
        if self._since >= self.EVERY and (self._running is None or self._running.done()):
            self._since = 0
            self._running = _FLUSH_POOL.submit(os.fdatasync, self._fd)

    def wait(self) -> None:
        if self._running is not None:
            with contextlib.suppress(OSError):
                self._running.result()


_FLUSH_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="opendems-flush")


class _LocalWriter:
    def __init__(self, store: LocalBlobStore) -> None:
        self._store = store
        store.parts_dir.mkdir(parents=True, exist_ok=True)
        self.path = store.parts_dir / f"{secrets.token_hex(16)}.part"
        self._f = DirectAppendFile(str(self.path), create=True)
        fcntl.flock(self._f.fileno(), fcntl.LOCK_EX)  # tells a crash sweep this part is alive
        header, key = new_header(store.keyring, store.segment_size)
        with _disk_errors():
            self._f.write(header.pack())
        self._enc = EncryptingWriter(self._f, SegmentCipher(header, key))
        # Direct writes reach the disk as they go; buffered ones are flushed early instead.
        self._flush = _EarlyFlush(self._f.fileno(), enabled=not self._f.direct)
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        try:
            with _disk_errors():
                self._enc.write(data)
        except BaseException:
            self.abort()
            raise
        self._flush.wrote(self._enc.size - self.size)
        self.size = self._enc.size

    def finish(self) -> StagedBlob:
        try:
            with _disk_errors():
                self._enc.finish()
                self._f.flush_all()
                self._flush.wait()
                os.fsync(self._f.fileno())
            head = _read_head(self.path, self._store.keyring)
        except BaseException:
            self.abort()
            raise
        self._store.hold(str(self.path), self._f)
        return StagedBlob(str(self.path), self._enc.hasher.hexdigest(), self._enc.size, head)

    def abort(self) -> None:
        self._flush.wait()
        self.path.unlink(missing_ok=True)
        self._store.release(str(self.path))
        with contextlib.suppress(OSError):
            self._f.close()


class _LocalResumable:
    """Encrypted staging of one tus upload. Full segments go to ``blob``; the held-back
    remainder is sealed into ``tail`` together with how many segments it follows. The
    tail, replaced atomically at each savepoint, is what defines the committed offset."""

    def __init__(self, store: LocalBlobStore, upload_id: str, length: int | None = None) -> None:
        self._store = store
        self.upload_id = upload_id
        self._length = length
        self.dir = store.uploads_dir / upload_id
        if not (self.dir / "blob").exists():
            raise NotFound(f"upload {upload_id} does not exist")
        self._lock = (self.dir / "lock").open("a+b")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()

            raise Conflict(f"upload {upload_id} is being written by another request") from None
        try:
            self._open()
        except BaseException:
            self.close()
            raise

    def _open(self) -> None:
        store = self._store
        self._blob = (self.dir / "blob").open("r+b", buffering=0)  # reads, truncation, lock
        header = Header.unpack(self._blob.read(HEADER_SIZE))
        self._cipher = SegmentCipher(header, open_data_key(header, store.keyring))
        self._seg = header.segment_size
        committed, pending = _read_tail(self.dir / "tail", self._cipher)
        if os.fstat(self._blob.fileno()).st_nlink > 1:
            self._drop_stale_part()
        self._blob.truncate(HEADER_SIZE + committed * (self._seg + SEGMENT_OVERHEAD))
        self._blob.seek(0, os.SEEK_END)
        offset = committed * self._seg + len(pending)
        hasher = store.digests.get(self.upload_id, offset)
        if hasher is None:
            # Another process or a restart: rebuild the digest from the committed prefix.
            hasher = hashlib.sha256()
            for index in range(committed):
                self._blob.seek(HEADER_SIZE + index * (self._seg + SEGMENT_OVERHEAD))
                hasher.update(self._cipher.open(index, self._blob.read(self._seg + SEGMENT_OVERHEAD), False))
            hasher.update(pending)
        self._out = self._appender(committed)
        self._enc = EncryptingWriter(
            self._out,
            self._cipher,
            next_index=committed,
            pending=pending,
            hasher=hasher,
            size=offset,
            length=self._length,
        )
        self._saved = (committed, pending, hasher.copy())

    def _appender(self, committed: int) -> DirectAppendFile:
        end = HEADER_SIZE + committed * (self._seg + SEGMENT_OVERHEAD)
        return DirectAppendFile(str(self.dir / "blob"), create=False, offset=end)

    def _drop_stale_part(self) -> None:
        """The staging file has a second name: a finished copy from an attempt that died.
        Remove it, or refuse if it is still being committed (never truncate shared bytes)."""
        part = self._store.parts_dir / f"{self.upload_id}.part"
        if part.exists() and self._store._abandoned(part, time.time()):
            part.unlink(missing_ok=True)
        if os.fstat(self._blob.fileno()).st_nlink > 1:
            raise Conflict(f"upload {self.upload_id} is being finished; ask for its status")

    @property
    def offset(self) -> int:
        return self._enc.size

    def append(self, data: bytes | bytearray | memoryview) -> None:
        with _disk_errors():
            self._enc.write(data)

    def savepoint(self) -> None:
        with _disk_errors():
            self._out.flush_all()
            os.fsync(self._out.fileno())
            _write_tail(self.dir / "tail", self._cipher, self._enc.next_index, self._enc.pending)
        self._saved = (self._enc.next_index, self._enc.pending, self._enc.hasher.copy())
        self._store.digests.put(self.upload_id, self._enc.size, self._enc.hasher)

    def rollback(self) -> None:
        committed, pending, hasher = self._saved
        self._out.close()
        self._blob.truncate(HEADER_SIZE + committed * (self._seg + SEGMENT_OVERHEAD))
        self._out = self._appender(committed)
        self._enc = EncryptingWriter(
            self._out,
            self._cipher,
            next_index=committed,
            pending=pending,
            hasher=hasher.copy(),
            size=committed * self._seg + len(pending),
            length=self._length,
        )

    def finish(self) -> StagedBlob:
        with _disk_errors():
            self._enc.finish()
            self._out.flush_all()
            os.fsync(self._out.fileno())
        self._out.close()
        fcntl.flock(self._blob, fcntl.LOCK_EX)
        part = self._store.parts_dir / f"{self.upload_id}.part"
        self._store.parts_dir.mkdir(parents=True, exist_ok=True)
        part.unlink(missing_ok=True)  # left by an earlier attempt that failed
        # A second name, not a move: the upload keeps its bytes until its evidence commits.
        os.link(self.dir / "blob", part)
        self._store.hold(str(part), self._blob)
        self._store.digests.forget(self.upload_id)
        head = _read_head(part, self._store.keyring)
        return StagedBlob(str(part), self._enc.hasher.hexdigest(), self._enc.size, head)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._out.close()
        if not self._store.is_held(self._blob):
            with contextlib.suppress(Exception):
                self._blob.close()
        with contextlib.suppress(Exception):
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()


_TAIL = struct.Struct(">Q")


def _write_tail(path: Path, cipher: SegmentCipher, committed: int, pending: bytes) -> None:
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as f:
        f.write(_TAIL.pack(committed) + cipher.seal_tail(committed, pending))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _read_tail(path: Path, cipher: SegmentCipher) -> tuple[int, bytes]:
    raw = path.read_bytes()
    if len(raw) < _TAIL.size:
        raise BlobIntegrityError(f"{path}: the upload's progress record is damaged")
    committed: int = _TAIL.unpack_from(raw)[0]
    return committed, cipher.open_tail(committed, raw[_TAIL.size :])


READ_AHEAD = 8 * 1024 * 1024  # bytes asked of the disk ahead of a whole-blob read (measured best)


class LocalBlobStore:
    """The embedded blob store. Keys are ``sha256/<hex>``; bytes are always encrypted."""

    def __init__(self, root: Path, staging: Path, keyring: Keyring, segment_size: int) -> None:
        self.root = root
        self.keyring = keyring
        self.segment_size = segment_size
        self.parts_dir = staging / "parts"
        self.uploads_dir = staging / "uploads"
        self.unsettled_dir = root / "unsettled"
        for d in (root, self.parts_dir, self.uploads_dir, self.unsettled_dir):
            d.mkdir(parents=True, exist_ok=True)
        self.digests = DigestCache()  # running digests of the uploads this process serves
        # Open, locked handles on staged parts and unsettled markers: a file this process
        # still works on is locked, so a crash sweep (here or in another process) removes
        # only what a dead process left behind.
        self._held: dict[str, _Closable] = {}
        self._claims: dict[str, list[BinaryIO]] = {}
        self._held_lock = threading.Lock()

    def hold(self, path: str, handle: _Closable) -> None:
        with self._held_lock:
            self._held[path] = handle

    def is_held(self, handle: _Closable) -> bool:
        with self._held_lock:
            return any(h is handle for h in self._held.values())

    def release(self, path: str) -> None:
        with self._held_lock:
            handle = self._held.pop(path, None)
        if handle is not None:
            with contextlib.suppress(OSError):
                handle.close()

    # -- paths --------------------------------------------------------------------------
    def _path(self, key: str) -> Path:
        digest = key_digest(key)
        return self.root / "sha256" / digest[:2] / digest[2:4] / digest

    # -- single-request writes ----------------------------------------------------------
    def writer(self) -> _LocalWriter:
        with _disk_errors():
            return _LocalWriter(self)

    # A committed blob stays "unsettled" until its database record is confirmed. Each commit
    # holds a shared lock on the claim file unsettled/<sha256> from just before the rename
    # until ``settle``; deleting an unreferenced blob needs the exclusive lock, so a blob is
    # never removed while any request, in any process, is still committing those bytes.
    def _claim(self, digest: str) -> BinaryIO:
        path = self.unsettled_dir / digest
        while True:
            claim = path.open("ab")
            fcntl.flock(claim, fcntl.LOCK_SH)
            with contextlib.suppress(FileNotFoundError):
                if os.fstat(claim.fileno()).st_ino == path.stat().st_ino:
                    return claim
            claim.close()  # the file was removed while we waited for it: take the new one

    def commit(self, staged: StagedBlob) -> str:
        key = f"sha256/{staged.sha256}"
        final = self._path(key)
        with _disk_errors():
            claim = self._claim(staged.sha256)
            with self._held_lock:
                self._claims.setdefault(key, []).append(claim)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged.token, final)
            _fsync_dir(final.parent)
        self.release(staged.token)
        return key

    def discard(self, staged: StagedBlob) -> None:
        Path(staged.token).unlink(missing_ok=True)
        self.release(staged.token)

    def settle(self, key: str) -> None:
        """The database record of one commit of ``key`` by this process is settled."""
        with self._held_lock:
            claims = self._claims.get(key)
            claim = claims.pop() if claims else None
            if claims == []:
                del self._claims[key]
        if claim is not None:
            claim.close()
        path = self.unsettled_dir / key.removeprefix("sha256/")
        with contextlib.suppress(FileNotFoundError), path.open("rb") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return  # another commit of the same bytes is still in flight
            if os.fstat(f.fileno()).st_ino == path.stat().st_ino:
                path.unlink()

    def delete_unclaimed(self, key: str, referenced: Callable[[], bool]) -> bool:
        """Delete the blob unless ``referenced()`` says a record holds it or a commit of it is
        in flight. Returns True when it was deleted."""
        path = self.unsettled_dir / key.removeprefix("sha256/")
        with path.open("ab") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            deleted = False
            if not referenced():
                self._path(key).unlink(missing_ok=True)
                deleted = True
            with contextlib.suppress(FileNotFoundError):
                if os.fstat(f.fileno()).st_ino == path.stat().st_ino:
                    path.unlink()
            return deleted

    @staticmethod
    def _abandoned(path: Path, cutoff: float) -> bool:
        """True when no live process holds ``path`` and it is older than ``cutoff``."""
        try:
            if path.stat().st_mtime > cutoff:
                return False
            with path.open("rb") as f:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
        except (BlockingIOError, FileNotFoundError):
            return False

    def unsettled(self, older_than_s: float) -> list[str]:
        """Keys committed by a process that died before settling them."""
        cutoff = time.time() - older_than_s
        return sorted(f"sha256/{p.name}" for p in self.unsettled_dir.iterdir() if self._abandoned(p, cutoff))

    def sweep_staging(self, older_than_s: float) -> int:
        """Remove parts a dead process left behind. Returns how many were removed."""
        cutoff = time.time() - older_than_s
        removed = 0
        for part in self.parts_dir.glob("*.part"):
            if self._abandoned(part, cutoff):
                part.unlink(missing_ok=True)
                removed += 1
        return removed

    # -- reads --------------------------------------------------------------------------
    def exists(self, key: str) -> bool:
        try:
            return self._path(key).exists()
        except NotFound:
            return False

    @contextlib.contextmanager
    def _reader(self, key: str) -> Iterator[EncryptedBlobReader]:
        path = self._path(key)
        try:
            f = path.open("rb")
        except FileNotFoundError:
            raise NotFound(f"blob {key} is missing from the store") from None
        with f:
            yield EncryptedBlobReader(f, os.fstat(f.fileno()).st_size, self.keyring)

    def size(self, key: str) -> int:
        with self._reader(key) as reader:
            return reader.size

    def read_range(self, key: str, start: int, end: int) -> Generator[bytes, None, None]:
        with self._reader(key) as reader:
            yield from reader.iter_range(start, end)

    def open_plaintext(self, key: str) -> BinaryIO:
        try:
            f = self._path(key).open("rb")
        except FileNotFoundError:
            raise NotFound(f"blob {key} is missing from the store") from None
        try:
            reader = EncryptedBlobReader(f, os.fstat(f.fileno()).st_size, self.keyring)
        except BaseException:
            f.close()
            raise
        return io.BufferedReader(PlaintextFile(f, reader), buffer_size=256 * 1024)

    def read_all(self, key: str) -> Generator[bytes, None, None]:
        """Every byte, in order. The disk is asked to read ahead a window at a time, so the
        next segments arrive while this one is decrypted and used."""
        with self._reader(key) as reader:
            fd = reader.fileno()
            step = max(1, READ_AHEAD // reader.header.segment_size)
            for index, data in enumerate(reader.iter_all()):
                if index % step == 0 and hasattr(os, "posix_fadvise"):
                    start = reader.offset_of(index + step)
                    os.posix_fadvise(fd, start, READ_AHEAD + READ_AHEAD // 8, os.POSIX_FADV_WILLNEED)
                yield data

    def sha256_many(self, keys: list[str], progress: Callable[[int], None]) -> dict[str, str]:
        """SHA-256 of each blob's plaintext, one blob per core (at most four) at a time."""
        return threaded_sha256_many(self.read_all, keys, progress, workers=min(os.cpu_count() or 1, 4))

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def retain(self, key: str) -> None:
        """Nothing to do: a local disk has no write-once retention. Originals are protected
        here by the file permissions of the data directory and by fixity checks."""

    # -- resumable uploads --------------------------------------------------------------
    def create_resumable(self, upload_id: str) -> None:
        d = self.uploads_dir / upload_id
        with _disk_errors():
            d.mkdir(parents=True)
            header, key = new_header(self.keyring, self.segment_size)
            with (d / "blob.tmp").open("wb") as f:
                f.write(header.pack())
                os.fsync(f.fileno())
            _write_tail(d / "tail", SegmentCipher(header, key), 0, b"")
            os.replace(d / "blob.tmp", d / "blob")

    def open_resumable(self, upload_id: str, *, length: int | None = None) -> _LocalResumable:
        """The upload, to append to; ``length`` (its announced size, when known) lets full
        segments be sealed as they fill instead of one being held back."""
        return _LocalResumable(self, upload_id, length)

    def resumable_offset(self, upload_id: str) -> int:
        d = self.uploads_dir / upload_id
        try:
            raw = (d / "tail").read_bytes()
            with (d / "blob").open("rb") as f:
                header = Header.unpack(f.read(HEADER_SIZE))
        except FileNotFoundError:
            raise NotFound(f"upload {upload_id} does not exist") from None
        if len(raw) < _TAIL.size + SEGMENT_OVERHEAD:
            raise BlobIntegrityError(f"upload {upload_id}: its progress record is damaged")
        committed: int = _TAIL.unpack_from(raw)[0]
        pending_len = len(raw) - _TAIL.size - SEGMENT_OVERHEAD  # nonce and tag around the sealed tail
        return committed * header.segment_size + pending_len

    def discard_resumable(self, upload_id: str) -> None:
        d = self.uploads_dir / upload_id
        if d.exists():
            for child in d.iterdir():
                child.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                d.rmdir()
        (self.parts_dir / f"{upload_id}.part").unlink(missing_ok=True)
        self.digests.forget(upload_id)
