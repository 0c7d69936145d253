"""Blob store on S3 (AWS S3, SeaweedFS, MinIO, Ceph RGW): encrypted, content-addressed, and
committed by a server-side copy once the hash is known -- the local store's semantics, with
the bucket in place of the data directory and leases in place of file locks.

Layout under the configured prefix::

    sha256/ab/cd/<sha256>               committed originals and derivatives: the bytes, or
                                        (``layout: parts`` in its metadata) a manifest
                                        naming the part objects that hold them, in order
    data/<id>/<random>                  the parts of resumable upload <id>: written once, as
                                        the bytes arrive, and kept as the blob's own bytes
                                        once a manifest names them
    unsettled/<sha256>/<claim>          one claim per commit of those bytes, until ``settle``
    deleting/<sha256>                   a deletion of unreferenced bytes in progress (a lease)
    staging/parts/<token>.part          single-request writes (a multipart upload, then an
                                        object)
    staging/uploads/<id>/state          a resumable upload's progress (encrypted, see below)
    staging/uploads/<id>/finished       its manifest, once the last byte arrived
    staging/uploads/<id>/lock           the lease of the request writing it

Bytes are the envelope format of ``crypto.envelope``, so a ranged read fetches and decrypts
only the segments it needs (ranged GETs). A single-request write is hashed and encrypted in
one pass and sent as an S3 multipart upload, each part as soon as it fills (a blob smaller
than one part is one PUT).

**Liveness without locks.** Object stores have no file locks, so "someone is still working on
this" is a *lease*: an object's age, measured by the object store's own clock (the ``Date`` of
the response against ``LastModified``, so app servers' clocks do not matter). Staged objects,
multipart uploads and commit claims count as alive for ``lease_s`` (an hour by default) after
their last sign of life (a part sent, a claim written or refreshed); sweeps and the crash
recovery leave them alone until then, whatever ``older_than_s`` they are given. Short-lived
exclusive locks (a resumable upload's writer, a deletion in progress) are lock objects created
with ``If-None-Match: *`` and refreshed with ``If-Match`` while held; one older than
``lock_lease_s`` (30 s) belonged to a process that died and may be taken over.

**Commit and deletion of unreferenced bytes** follow the local store's shared/exclusive
locking: a commit writes its claim, then waits while a deletion of the same bytes is in
progress; a deletion takes ``deleting/<sha256>``, then gives up if any live claim exists. Of
two such requests racing, at least one sees the other's object (S3 is strongly consistent), so
a blob is never removed while a request is committing it.

**Resumable uploads** live entirely in the bucket, so any API process can continue an upload
another one started (or that died). S3 cannot read back the parts of an unfinished multipart
upload, and the SHA-256 of the whole file must be rebuilt by re-reading the stored prefix in a
process that has not seen it, so the stored bytes go up as ordinary objects with random names:
a part each time ``s3_part_size`` bytes have gathered, and at each savepoint what gathered
since (from 1 MiB on). The ``state`` object -- the data key (wrapped), the list of parts, the
few sealed bytes not yet in a part, and the held-back plaintext, authenticated and encrypted
under the upload's data key -- defines the committed offset, and is replaced at each savepoint
with ``If-Match`` on the version the writer read. Two writers can therefore never both save:
the second is refused (``Conflict``), and as parts are never overwritten, nothing a saved state
names can change. ``finish`` writes the last bytes as one more part and a manifest naming
every part; ``commit`` puts that manifest at the content address. Not a byte is copied: on
object stores a server-side copy costs about half as much as the write itself (SeaweedFS
measured ~6 CPU-seconds a GiB to copy, ~10 to write), and assembling then moving a large
upload would have written it three times. ``discard_resumable`` then removes the upload's
staging and every part of it that no committed manifest names (a rolled-back chunk, or all
of them when the bytes were already stored, or when the upload never committed). Reading
a blob stored as parts costs nothing extra: the first ranged GET of any read brings the
manifest whole, and ranges are then read from the parts they fall in.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import hashlib
import io
import itertools
import json
import logging
import math
import os
import re
import secrets
import socket
import struct
import threading
import time
from collections.abc import Callable, Generator, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, BinaryIO, cast

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from opendems.adapters.blobs.common import HEAD_BYTES, DigestCache, key_digest, threaded_sha256_many
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
from opendems.buffers import BufferPool, byte_pool
from opendems.domain.errors import Conflict, NotFound, StorageFull, StorageUnavailable
from opendems.ports import StagedBlob

if TYPE_CHECKING:
    from opendems.config import Settings

log = logging.getLogger(__name__)

MiB = 1024 * 1024
MIN_PART = 5 * MiB  # S3's smallest part (all but the last)
MAX_PART = 5 * 1024 * MiB  # S3's largest part, and the largest single copy
MAX_PARTS = 10_000
LEASE_S = 3600.0
LOCK_LEASE_S = 30.0
READAHEAD_MAX = 8 * MiB
# A savepoint sends the stored bytes it holds as a part of their own once they reach this.
SAVE_AS_PART = 1 * MiB
UPLOAD_DEPTH = 1  # parts of one upload in flight while the next fills (more only adds memory
# pressure on the object store: measured on SeaweedFS, 2 cost ~10% more of its CPU than 1)
COPY_DEPTH = 6  # server-side part copies of one object in flight at once

# A blob stored as the part objects of a resumable upload: the object at its content address
# is a manifest naming them (metadata ``layout: parts``), not the bytes themselves.
LAYOUT = "layout"
PARTS = "parts"
MANIFEST_FORMAT = "opendems-parts/1"
# A read starts with at least this much: the header, or a manifest whole (about 60 bytes a
# part), so a blob stored as parts costs no extra request.
FIRST_READ = 64 * 1024

_POOL = ThreadPoolExecutor(max_workers=16, thread_name_prefix="opendems-s3")
_UPLOAD_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
_FINISHED = re.compile(r"staging/uploads/[A-Za-z0-9_-]{1,128}/finished")

_MISSING = {"NoSuchKey", "NotFound", "404", "NoSuchVersion", "NoSuchUpload"}
_PRECONDITION = {"PreconditionFailed", "412", "ConditionalRequestConflict"}
_FULL = {
    "XMinioStorageFull",
    "XMinioAdminBucketQuotaExceeded",
    "QuotaExceeded",
    "InsufficientStorage",
    "StorageFull",
}
_NO_RETENTION = {"NoSuchObjectLockConfiguration", "ObjectLockConfigurationNotFoundError"}


class ObjectStoreError(StorageUnavailable, OSError):
    """The object store could not be used: unreachable, wrong credentials, a missing bucket,
    or a request it refused. Whatever raised it kept nothing half-stored."""


class _Precondition(Exception):
    """A conditional write found the object changed (or gone, or already there)."""


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


def _missing(exc: ClientError) -> bool:
    return _code(exc) in _MISSING or (_status(exc) == 404 and _code(exc) != "NoSuchBucket")


def _server_time(response: Mapping[str, Any]) -> float:
    """The object store's clock, from the response's ``Date`` (falls back to ours)."""
    date = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
    if date:
        with contextlib.suppress(TypeError, ValueError):
            return parsedate_to_datetime(str(date)).timestamp()
    return time.time()


def _age(response: Mapping[str, Any]) -> float:
    modified = response.get("LastModified")
    if not isinstance(modified, datetime):
        return 0.0
    return _server_time(response) - modified.timestamp()


@dataclass(frozen=True)
class _Listed:
    key: str
    modified: float
    size: int


@dataclass
class _Claim:
    key: str
    version: str | None
    touched: float  # time.monotonic() of the last write


# -- reading -------------------------------------------------------------------------------------


class _RangedObject:
    """A read-only, seekable view of a stored blob through ranged GETs, enough for
    ``EncryptedBlobReader``: one object, or the part objects a manifest names (read as their
    concatenation). A range announced with ``plan`` is streamed by one GET per part it
    touches; other reads fetch a window that doubles while they stay sequential (never past
    the end of a part), so seeking reads little."""

    def __init__(
        self, store: S3BlobStore, key: str, missing: str, *, whole: bool = False, first: int = HEADER_SIZE
    ) -> None:
        self._store = store
        self._key = key
        self._missing = missing
        self._pos = 0
        self._buf = b""
        self._buf_at = 0
        self._stream: Any = None
        self._stream_at = 0
        self._stream_end = 0
        self._planned: tuple[int, int] | None = None
        self._readahead = 0
        self.closed = False
        data, length, metadata = store._get_first(key, max(first, FIRST_READ), missing)
        if metadata.get(LAYOUT) == PARTS:
            self.parts = store._manifest(key, data, length)
        else:
            self.parts = [(key, length)]
            self._buf = data
        self._starts = list(itertools.accumulate((n for _, n in self.parts), initial=0))
        self.length = self._starts[-1]
        if whole:
            self.plan(0, self.length - 1)

    def _part_at(self, pos: int) -> int:
        return bisect.bisect_right(self._starts, pos) - 1

    def plan(self, start: int, end: int) -> None:
        """The next reads go through bytes ``start``..``end``: stream them (one GET a part)."""
        self._close_stream()
        end = min(end, self.length - 1)
        self._planned = (start, end) if start <= end else None

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.length}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def read(self, size: int = -1) -> bytes:
        size = self.length - self._pos if size < 0 else min(size, self.length - self._pos)
        out = b""
        while len(out) < size:
            chunk = self._fetch(self._pos, size - len(out))
            if not chunk:
                raise BlobIntegrityError(f"object {self._key} is shorter than the object store says")
            out = out + chunk if out else chunk
            self._pos += len(chunk)
        return out

    def _fetch(self, pos: int, n: int) -> bytes:
        if self._buf_at <= pos < self._buf_at + len(self._buf):
            offset = pos - self._buf_at
            return self._buf[offset : offset + n]
        if self._stream is not None and pos == self._stream_at and pos < self._stream_end:
            try:
                data = bytes(self._stream.read(min(n, self._stream_end - pos)))
            except BotoCoreError:  # the connection broke mid-stream: fetch the rest by range
                data = b""
            if data:
                self._stream_at += len(data)
                return data
        self._close_stream()  # not where the stream is (or it broke): read by range
        index = self._part_at(pos)
        part, base = self.parts[index][0], self._starts[index]
        part_end = self._starts[index + 1] - 1
        planned = self._planned
        if planned is not None and planned[0] <= pos <= planned[1]:
            end = min(planned[1], part_end)
            with self._store._call("read an object", self._missing):
                got = self._store.client.get_object(
                    Bucket=self._store.bucket, Key=part, Range=f"bytes={pos - base}-{end - base}"
                )
            self._stream, self._stream_at, self._stream_end = got["Body"], pos, end + 1
            return self._fetch(pos, n)
        sequential = pos == self._buf_at + len(self._buf)
        self._readahead = min(max(2 * self._readahead, n), READAHEAD_MAX) if sequential else 0
        end = min(pos + max(n, self._readahead) - 1, part_end)
        self._buf, _ = self._store._get_range(part, pos - base, end - base, self._missing)
        self._buf_at = pos
        return self._buf[:n]

    def _close_stream(self) -> None:
        if self._stream is not None:
            with contextlib.suppress(Exception):
                self._stream.close()
            self._stream = None

    def close(self) -> None:
        self._close_stream()
        self.closed = True


# -- writing -------------------------------------------------------------------------------------


class _PartBuffer:
    """The sink of an ``EncryptingWriter``: gathers stored bytes into a part-sized buffer from
    ``pool`` and hands it on whole each time it fills (``emit`` returns the future of its
    sending; the buffer goes back to the pool when that is done). ``take`` hands on what has
    gathered since, as bytes: the last part, or a savepoint's part. Each stored byte is copied
    once on its way to the object store."""

    def __init__(
        self,
        pool: BufferPool[bytearray],
        emit: Callable[[bytearray], Future[Any] | None],
        initial: bytes = b"",
    ) -> None:
        self._pool = pool
        self._emit = emit
        self._buf = pool.get()
        self._fill = 0
        self.write(initial)

    def write(self, data: bytes | bytearray | memoryview, /) -> None:
        mv = memoryview(data).cast("B")
        while mv:
            take = min(len(mv), self._pool.size - self._fill)
            self._buf[self._fill : self._fill + take] = mv[:take]
            self.advance(take)
            mv = mv[take:]

    def space(self, n: int) -> memoryview | None:
        """The next ``n`` bytes of the part, to be filled in place (an encrypted segment sealed
        straight into it) and counted with ``advance``; None when the part has less room."""
        if self._fill + n > self._pool.size:
            return None
        return memoryview(self._buf)[self._fill : self._fill + n]

    def advance(self, n: int) -> None:
        self._fill += n
        if self._fill == self._pool.size:
            self._part_full()

    def _part_full(self) -> None:
        full, self._fill = self._buf, 0
        sent = self._emit(full)
        self._buf = self._pool.get()
        if sent is None:
            self._pool.give(full)
        else:
            sent.add_done_callback(functools.partial(self._given_back, full))

    def _given_back(self, buf: bytearray, _sent: Future[Any]) -> None:
        self._pool.give(buf)

    def peek(self) -> bytes:
        return bytes(memoryview(self._buf)[: self._fill])

    def __len__(self) -> int:
        return self._fill

    def take(self) -> bytes:
        data = self.peek()
        self._fill = 0
        return data

    def close(self) -> None:
        """Give the buffer back (the writer is done with it)."""
        buf, self._buf = self._buf, bytearray()
        self._fill = 0
        self._pool.give(buf)


class _Inflight:
    """Background requests of one object, at most ``depth`` running at once; the first
    failure is raised by the next call (never lost)."""

    def __init__(self) -> None:
        self.futures: list[Future[Any]] = []
        self._unchecked = 0  # futures before this index have been checked

    def submit(self, depth: int, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        self.throttle(depth)
        future = _POOL.submit(fn, *args)
        self.futures.append(future)
        return future

    def throttle(self, depth: int) -> None:
        while len(self.futures) - self._unchecked >= depth:
            self.futures[self._unchecked].result()
            self._unchecked += 1
        while self._unchecked < len(self.futures) and self.futures[self._unchecked].done():
            self.futures[self._unchecked].result()
            self._unchecked += 1

    def wait(self) -> None:
        self.throttle(1)

    def drain(self) -> None:
        """Stop what has not started; wait for the rest, ignoring failures."""
        for f in self.futures:
            f.cancel()
        for f in self.futures:
            with contextlib.suppress(BaseException):
                f.result()
        self._unchecked = len(self.futures)


class _Multipart:
    """One multipart upload to ``key``, started with its first part; parts are sent (or copied
    server-side) in the background, a few at a time. With no part before ``complete``, the
    object is one PUT."""

    def __init__(self, store: S3BlobStore, key: str) -> None:
        self._store = store
        self.key = key
        self.upload_id: str | None = None
        self._parts = _Inflight()
        self.completed = False

    def _start(self) -> str:
        if self.upload_id is None:
            with self._store._call("start a multipart upload"):
                got = self._store.client.create_multipart_upload(Bucket=self._store.bucket, Key=self.key)
            self.upload_id = str(got["UploadId"])
        return self.upload_id

    def add(self, data: bytes | bytearray) -> Future[Any]:
        if len(self._parts.futures) >= MAX_PARTS:
            raise StorageFull(f"an object may have at most {MAX_PARTS} parts: raise OPENDEMS_S3_PART_SIZE")
        upload_id = self._start()
        number = len(self._parts.futures) + 1
        return self._parts.submit(UPLOAD_DEPTH, self._store._upload_part, self.key, upload_id, number, data)

    def add_copy(self, source: str, first: int | None = None, last: int | None = None) -> None:
        upload_id = self._start()
        number = len(self._parts.futures) + 1
        self._parts.submit(
            COPY_DEPTH, self._store._copy_part, self.key, upload_id, number, source, first, last
        )

    def complete(self, last: bytes) -> None:
        store = self._store
        if self.upload_id is None:
            store._put(self.key, last, what="store an object")
        else:
            if last:
                self.add(last)
            self._parts.wait()
            parts = [
                {"PartNumber": n, "ETag": str(f.result())} for n, f in enumerate(self._parts.futures, start=1)
            ]
            with store._call("complete a multipart upload"):
                store.client.complete_multipart_upload(
                    Bucket=store.bucket,
                    Key=self.key,
                    UploadId=self.upload_id,
                    MultipartUpload={"Parts": parts},
                )
        self.completed = True

    def abort(self) -> None:
        self._parts.drain()
        if self.upload_id is not None and not self.completed:
            with contextlib.suppress(Exception), self._store._call("abort a multipart upload"):
                self._store.client.abort_multipart_upload(
                    Bucket=self._store.bucket, Key=self.key, UploadId=self.upload_id
                )
            self.upload_id = None


class _S3Writer:
    """A single-request write: hashed and encrypted in one pass, sent as a multipart upload to
    a staging object as each part fills."""

    def __init__(self, store: S3BlobStore) -> None:
        self._store = store
        self.token = f"staging/parts/{secrets.token_hex(16)}.part"
        self.key = store._k(self.token)
        header, data_key = new_header(store.keyring, store.segment_size)
        self._upload = _Multipart(store, self.key)
        self._sink = _PartBuffer(store.part_pool, self._upload.add, initial=header.pack())
        self._enc = EncryptingWriter(self._sink, SegmentCipher(header, data_key))
        self._done = False
        store._hold(self.key)
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._done:
            raise ValueError("this write was already finished or aborted")
        try:
            self._enc.write(data)
        except BaseException:
            self.abort()
            raise
        self.size = self._enc.size

    def finish(self) -> StagedBlob:
        try:
            self._enc.finish()
            self._upload.complete(self._sink.take())
            head = self._store._read_head(self.key, self.token, self._enc.size)
        except BaseException:
            self.abort()
            raise
        self._done = True
        self._sink.close()
        return StagedBlob(self.token, self._enc.hasher.hexdigest(), self._enc.size, head)

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        self._upload.abort()
        self._sink.close()
        if self._upload.completed:
            with contextlib.suppress(Exception):
                self._store._remove(self.key)
        self._store._release(self.key)


# -- resumable uploads ---------------------------------------------------------------------------

_STATE_MAGIC = b"ODEMSU1\x00"
_Q = struct.Struct(">Q")
_I = struct.Struct(">I")
_PART = struct.Struct(">16sQ")


@dataclass
class _UploadState:
    header: Header
    cipher: SegmentCipher
    committed: int  # segments sealed (all full, none final)
    parts: list[tuple[str, int]]  # part objects (name, length), in order
    buffered: bytes  # stored bytes after the last part (the header, while there is no part)
    pending: bytes  # plaintext held back, not yet a segment


def _pack_state(state: _UploadState) -> bytes:
    payload = bytearray(_I.pack(len(state.parts)))
    for name, length in state.parts:
        payload += _PART.pack(bytes.fromhex(name), length)
    payload += _Q.pack(len(state.buffered)) + state.buffered + state.pending
    sealed = state.cipher.seal_tail(state.committed, bytes(payload))
    return _STATE_MAGIC + state.header.pack() + _Q.pack(state.committed) + sealed


def _unpack_state(raw: bytes, keyring: Keyring, upload_id: str) -> _UploadState:
    damaged = BlobIntegrityError(f"upload {upload_id}: its progress record is damaged")
    fixed = len(_STATE_MAGIC) + HEADER_SIZE + _Q.size
    if len(raw) < fixed or not raw.startswith(_STATE_MAGIC):
        raise damaged
    header = Header.unpack(raw[len(_STATE_MAGIC) : len(_STATE_MAGIC) + HEADER_SIZE])
    cipher = SegmentCipher(header, open_data_key(header, keyring))
    committed: int = _Q.unpack_from(raw, fixed - _Q.size)[0]
    payload = cipher.open_tail(committed, raw[fixed:])  # authenticates everything below
    try:
        (count,) = _I.unpack_from(payload)
        at = _I.size
        parts: list[tuple[str, int]] = []
        for _ in range(count):
            name, length = _PART.unpack_from(payload, at)
            parts.append((name.hex(), int(length)))
            at += _PART.size
        (buffered_len,) = _Q.unpack_from(payload, at)
        at += _Q.size
    except struct.error:
        raise damaged from None
    buffered, pending = payload[at : at + buffered_len], payload[at + buffered_len :]
    stored = HEADER_SIZE + committed * (header.segment_size + SEGMENT_OVERHEAD)
    if len(buffered) != buffered_len or sum(n for _, n in parts) + buffered_len != stored:
        raise damaged
    if len(pending) > header.segment_size:
        raise damaged
    return _UploadState(header, cipher, committed, parts, buffered, pending)


class _SegmentFeed:
    """Rebuilds an upload's running SHA-256 from its stored bytes: skips the header, opens
    each sealed segment in turn and hashes its plaintext."""

    def __init__(self, cipher: SegmentCipher, hasher: hashlib._Hash) -> None:
        self._cipher = cipher
        self._stored = cipher.header.segment_size + SEGMENT_OVERHEAD
        self._hasher = hasher
        self._skip = HEADER_SIZE
        self._buf = bytearray()
        self.index = 0

    def update(self, data: bytes) -> None:
        if self._skip:
            cut = min(self._skip, len(data))
            self._skip -= cut
            data = data[cut:]
        self._buf += data
        whole = len(self._buf) - len(self._buf) % self._stored
        for at in range(0, whole, self._stored):
            sealed = bytes(self._buf[at : at + self._stored])
            self._hasher.update(self._cipher.open(self.index, sealed, False))
            self.index += 1
        del self._buf[:whole]

    def done(self, committed: int, upload_id: str) -> None:
        if self._buf or self._skip or self.index != committed:
            raise BlobIntegrityError(f"upload {upload_id}: its stored parts do not match its progress record")


@dataclass
class _Saved:
    parts: list[tuple[str, int]]
    buffered: bytes
    committed: int
    pending: bytes
    hasher: hashlib._Hash


def _holder_gone(store: S3BlobStore, key: str) -> bool:
    """Whether a lock's holder was a process of this machine that no longer runs (a server
    restarted after a crash takes its uploads back at once instead of after the lease).
    Only a shortcut: a holder wrongly taken for dead still cannot save over the new one,
    since every save is conditional on the version it read."""
    try:
        got = store.client.get_object(Bucket=store.bucket, Key=key)
        host, _, pid, *_ = got["Body"].read().decode().split()
    except Exception:
        return False
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


class _Lease:
    """An exclusive lock object: created with ``If-None-Match: *``, refreshed with ``If-Match``
    while held, and taken over once older than the store's ``lock_lease_s`` (its holder died)."""

    def __init__(self, store: S3BlobStore, key: str, body: bytes, etag: str, version: str | None) -> None:
        self._store = store
        self.key = key
        self._body = body
        self.etag = etag
        self._version = version
        self._refreshed = time.monotonic()

    @classmethod
    def take(cls, store: S3BlobStore, key: str, busy: str) -> _Lease:
        body = f"{socket.gethostname()} pid {os.getpid()} {secrets.token_hex(8)}".encode()
        for _ in range(3):
            try:
                etag, version = store._put(key, body, what="take a lock", create=True)
                return cls(store, key, body, etag, version)
            except _Precondition:
                pass
            held = store._head(key)
            if held is None:
                continue  # released meanwhile: try again
            if _age(held) <= store.lock_lease_s and not _holder_gone(store, key):
                raise Conflict(busy)
            try:  # its holder died: take it over (of several trying, one wins)
                etag, version = store._put(key, body, what="take a lock", if_match=str(held["ETag"]))
            except _Precondition:
                raise Conflict(busy) from None
            store._drop_version(key, held.get("VersionId"))
            return cls(store, key, body, etag, version)
        raise Conflict(busy)

    def keep(self, *, force: bool = False) -> None:
        """Refresh the lease (when a third of it has passed, or ``force``); ``Conflict`` when
        another process took it over meanwhile."""
        if not force and time.monotonic() - self._refreshed < self._store.lock_lease_s / 3:
            return
        try:
            etag, version = self._store._put(self.key, self._body, what="refresh a lock", if_match=self.etag)
        except _Precondition:
            raise Conflict(f"{self.key}: the lock was lost (this request stalled too long)") from None
        self._store._drop_version(self.key, self._version)
        self.etag, self._version = etag, version
        self._refreshed = time.monotonic()

    def release(self) -> None:
        store = self._store
        with contextlib.suppress(Exception):
            if store.versioned and self._version:
                store.client.delete_object(Bucket=store.bucket, Key=self.key, VersionId=self._version)
            else:
                store.client.delete_object(Bucket=store.bucket, Key=self.key, IfMatch=self.etag)


class _S3Resumable:
    """One resumable upload, opened under its lock (see the module's description)."""

    def __init__(self, store: S3BlobStore, upload_id: str, length: int | None = None) -> None:
        self._store = store
        self.upload_id = upload_id
        self._length = length
        self._dir = store._upload_dir(upload_id)
        self._state_key = self._dir + "state"
        self._inflight = _Inflight()
        self._new: list[str] = []  # part objects written since the last savepoint
        self._closed = False
        self._lease = _Lease.take(
            store, self._dir + "lock", f"upload {upload_id} is being written by another request"
        )
        try:
            self._open()
        except BaseException:
            self._lease.release()
            raise

    def _open(self) -> None:
        store = self._store
        raw, self._etag, self._version = store._get_state(self.upload_id)
        state = _unpack_state(raw, store.keyring, self.upload_id)
        self._header, self._cipher = state.header, state.cipher
        self._seg = state.header.segment_size
        hasher = store.digests.get(self.upload_id, self._etag)
        if hasher is None:
            # Another process (or a restart) carried it here: rebuild the digest from the bytes.
            hasher = self._rebuild_hash(state)
        self._saved = _Saved(list(state.parts), state.buffered, state.committed, state.pending, hasher)
        self._restore()

    def _rebuild_hash(self, state: _UploadState) -> hashlib._Hash:
        store = self._store
        hasher = hashlib.sha256()
        feed = _SegmentFeed(state.cipher, hasher)
        for name, length in state.parts:
            self._lease.keep()
            missing = f"upload {self.upload_id}: a stored part is missing"
            with store._call("read an upload's part", missing):
                body = store.client.get_object(Bucket=store.bucket, Key=self._part_key(name))["Body"]
            got = 0
            with contextlib.closing(body):
                while chunk := body.read(MiB):
                    feed.update(chunk)
                    got += len(chunk)
            if got != length:
                raise BlobIntegrityError(f"upload {self.upload_id}: a stored part has the wrong length")
        feed.update(state.buffered)
        feed.done(state.committed, self.upload_id)
        hasher.update(state.pending)
        return hasher

    def _part_key(self, name: str) -> str:
        return self._store._k(f"data/{self.upload_id}/{name}")

    def _restore(self) -> None:
        saved = self._saved
        self._parts = list(saved.parts)
        self._buffer = _PartBuffer(self._store.part_pool, self._put_part, initial=saved.buffered)
        self._enc = EncryptingWriter(
            self._buffer,
            self._cipher,
            next_index=saved.committed,
            pending=saved.pending,
            hasher=saved.hasher.copy(),
            size=saved.committed * self._seg + len(saved.pending),
            length=self._length,
        )

    def _put_part(self, data: bytes | bytearray) -> Future[Any]:
        name = secrets.token_hex(16)
        self._parts.append((name, len(data)))
        self._new.append(name)
        return self._inflight.submit(UPLOAD_DEPTH, self._store._put_part_object, self._part_key(name), data)

    def _wait(self, *, quiet: bool = False) -> None:
        if quiet:
            self._inflight.drain()
        else:
            self._inflight.wait()

    def _drop_new_parts(self) -> None:
        for name in self._new:
            with contextlib.suppress(Exception):
                self._store._remove(self._part_key(name))
        self._new = []

    @property
    def offset(self) -> int:
        return self._enc.size

    def append(self, data: bytes | bytearray | memoryview) -> None:
        self._lease.keep()
        self._enc.write(data)

    def savepoint(self) -> None:
        if len(self._buffer) >= SAVE_AS_PART:
            # Parts are objects of their own, never assembled: any length will do. So what
            # arrived since the last part goes up as one, and the state stays small (the
            # held-back segment and a few stored bytes), instead of carrying -- and sealing,
            # sending, reading back and opening at every request -- up to a part of data.
            self._put_part(self._buffer.take())
        self._wait()
        self._lease.keep()
        state = _UploadState(
            self._header,
            self._cipher,
            self._enc.next_index,
            self._parts,
            self._buffer.peek(),
            self._enc.pending,
        )
        store = self._store
        try:
            etag, version = store._put(
                self._state_key,
                _pack_state(state),
                what="save an upload's progress",
                if_match=self._etag,
                metadata={"offset": str(self._enc.size)},
            )
        except _Precondition:
            raise Conflict(
                f"upload {self.upload_id} was changed or removed by another request; "
                "ask for its offset and resume from there"
            ) from None
        store._drop_version(self._state_key, self._version)
        self._etag, self._version = etag, version
        self._saved = _Saved(
            list(self._parts), state.buffered, state.committed, state.pending, self._enc.hasher.copy()
        )
        self._new = []
        store.digests.put(self.upload_id, self._etag, self._enc.hasher)

    def rollback(self) -> None:
        self._wait(quiet=True)
        self._drop_new_parts()
        self._buffer.close()
        self._restore()

    def finish(self) -> StagedBlob:
        """The upload is whole: its last bytes become one more part, and a manifest naming
        every part (``finished``, beside the state) is what ``commit`` puts at the content
        address. No byte is copied: the parts written while the upload ran are the blob."""
        store = self._store
        self._enc.finish()
        tail = self._buffer.take()
        if tail:
            self._put_part(tail)
        self._wait()
        self._lease.keep()
        digest = self._enc.hasher.hexdigest()
        token = f"staging/uploads/{self.upload_id}/finished"
        key = store._k(token)
        parts = [(self._part_key(name), length) for name, length in self._parts]
        store._put(
            key,
            store._pack_manifest(parts),
            what="record a finished upload",
            metadata={LAYOUT: PARTS, "sha256": digest},
        )
        head = store._read_head(key, token, self._enc.size)
        self._new = []  # named by the manifest now: kept until the upload is discarded
        store.digests.forget(self.upload_id)
        return StagedBlob(token, digest, self._enc.size, head)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._wait(quiet=True)
        self._buffer.close()
        self._drop_new_parts()  # never saved: no state names them
        self._lease.release()


# -- the store -----------------------------------------------------------------------------------


_SESSION: list[Any] = []


def _session() -> Any:
    """One boto3 session per process: it caches the service models that every client would
    otherwise load again (clients made from it keep event hooks of their own)."""
    with _SESSION_LOCK:
        if not _SESSION:
            _SESSION.append(boto3.session.Session())
        return _SESSION[0]


_SESSION_LOCK = threading.Lock()
_CHECKED: dict[tuple[Any, ...], tuple[bool, bool]] = {}


def _client_config() -> Config:
    return Config(
        s3={"addressing_style": "path"},
        retries={"max_attempts": 5, "mode": "standard"},
        connect_timeout=10,
        read_timeout=120,
        max_pool_connections=32,
        tcp_keepalive=True,
        # No extra CRC32 over every byte sent and read: each stored segment is authenticated
        # (AES-GCM) and the plaintext's SHA-256 checked, and in transit TLS (or, over plain
        # HTTP, the signed payload hash) already covers the body. Operations that need a
        # checksum (DeleteObjects) still get one.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )


class S3BlobStore:
    """The scale-out blob store. Keys are ``sha256/<hex>``; bytes are always encrypted."""

    def __init__(
        self,
        client: Any,
        bucket: str,
        keyring: Keyring,
        segment_size: int,
        *,
        prefix: str = "",
        part_size: int = 16 * MiB,
        where: str = "the object store",
        access_key_id: str | None = None,
        versioned: bool = False,
        object_lock: bool = False,
        retention_days: int = 0,
        lease_s: float = LEASE_S,
        lock_lease_s: float = LOCK_LEASE_S,
    ) -> None:
        if not MIN_PART <= part_size <= MAX_PART:
            raise ValueError(
                f"the S3 part size must be between 5 MiB and 5 GiB (OPENDEMS_S3_PART_SIZE={part_size})"
            )
        self.client = client
        self.bucket = bucket
        self.keyring = keyring
        self.segment_size = segment_size
        self.prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        self.part_size = part_size
        self.part_pool = byte_pool(part_size)
        self.where = where
        self.access_key_id = access_key_id
        self.versioned = versioned
        self.object_lock = object_lock
        self.retention_days = retention_days
        self.lease_s = lease_s
        self.lock_lease_s = lock_lease_s
        self.copy_limit = MAX_PART  # larger objects are copied part by part (UploadPartCopy)
        self.copy_part_size = 512 * MiB
        self._lock = threading.Lock()
        self._claims: dict[str, list[_Claim]] = {}  # this process's unsettled commits, by key
        self._live: set[str] = set()  # staging objects this process still works on
        self.digests = DigestCache()  # running digests of the uploads this process serves

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        keyring: Keyring,
        *,
        lease_s: float = LEASE_S,
        lock_lease_s: float = LOCK_LEASE_S,
    ) -> S3BlobStore:
        """Connect, check the credentials, create the bucket when missing (with Object Lock
        when retention is asked for, or required, and the store supports it) and find out
        whether it is versioned and locked. Raises ``ObjectStoreError`` with what to fix."""
        s = settings
        # The bucket's properties are checked once per process (they take several requests).
        identity = (s.s3_endpoint_url, s.s3_region, s.s3_access_key_id, s.s3_secret_access_key)
        client = _session().client(
            "s3",
            endpoint_url=s.s3_endpoint_url or None,
            region_name=s.s3_region,
            aws_access_key_id=s.s3_access_key_id or None,
            aws_secret_access_key=s.s3_secret_access_key or None,
            config=_client_config(),
        )
        store = cls(
            client,
            s.s3_bucket,
            keyring,
            s.segment_size,
            prefix=s.s3_prefix,
            part_size=s.s3_part_size,
            where=s.s3_endpoint_url or f"AWS S3 ({s.s3_region})",
            access_key_id=s.s3_access_key_id,
            retention_days=s.s3_retention_days,
            lease_s=lease_s,
            lock_lease_s=lock_lease_s,
        )
        mode = s.s3_object_lock
        checked = (*identity, s.s3_bucket, s.s3_prefix, mode, s.s3_retention_days)
        known = _CHECKED.get(checked)
        if known is not None:
            store.versioned, store.object_lock = known
            return store
        store._ensure_bucket(
            s.s3_region,
            lock=mode == "required" or (mode == "auto" and s.s3_retention_days > 0),
            required=mode == "required",
        )
        store.versioned = store._bucket_versioned()
        store._check_conditional_writes()
        if mode != "off":
            store.object_lock = store._bucket_locked(required=mode == "required")
            if not store.object_lock and s.s3_retention_days > 0:
                log.warning(
                    "bucket %s has no Object Lock: originals are not retained by the object store "
                    "(OPENDEMS_S3_RETENTION_DAYS=%d is not applied)",
                    s.s3_bucket,
                    s.s3_retention_days,
                )
        _CHECKED[checked] = (store.versioned, store.object_lock)
        return store

    def _ensure_bucket(self, region: str, *, lock: bool, required: bool) -> None:
        try:
            self.client.list_objects_v2(Bucket=self.bucket, Prefix=self.prefix, MaxKeys=1)
            return
        except ClientError as exc:
            if _code(exc) != "NoSuchBucket":
                raise self._translate(exc, f"list bucket {self.bucket!r}") from exc
        except BotoCoreError as exc:
            raise self._unreachable(exc) from exc
        args: dict[str, Any] = {"Bucket": self.bucket}
        if region != "us-east-1":
            args["CreateBucketConfiguration"] = {"LocationConstraint": region}
        if lock:
            try:
                self.client.create_bucket(**args, ObjectLockEnabledForBucket=True)
                log.info("created bucket %s with Object Lock", self.bucket)
                return
            except ClientError as exc:
                if _code(exc) in {"BucketAlreadyOwnedByYou"}:
                    return
                if required:
                    raise ObjectStoreError(
                        f"the object store at {self.where} did not create bucket {self.bucket!r} with "
                        f"Object Lock ({_code(exc) or _status(exc)}), and OPENDEMS_S3_OBJECT_LOCK is "
                        "'required'"
                    ) from exc
                log.warning(
                    "the object store refused Object Lock (%s): creating the bucket without", _code(exc)
                )
            except BotoCoreError as exc:
                raise self._unreachable(exc) from exc
        try:
            self.client.create_bucket(**args)
            log.info("created bucket %s", self.bucket)
        except ClientError as exc:
            if _code(exc) != "BucketAlreadyOwnedByYou":
                raise self._translate(exc, f"create bucket {self.bucket!r}") from exc
        except BotoCoreError as exc:
            raise self._unreachable(exc) from exc

    def _check_conditional_writes(self) -> None:
        """Refuse an object store that ignores ``If-None-Match``: the locks of resumable uploads
        and deletions rest on it (AWS S3 and SeaweedFS honour it)."""
        probe = self._k(f"staging/probe-{secrets.token_hex(8)}")
        try:
            self._put(probe, b"", what="write a probe object", create=True)
            try:
                self._put(probe, b"", what="write a probe object", create=True)
            except _Precondition:
                return
            raise ObjectStoreError(
                f"the object store at {self.where} ignores conditional writes (If-None-Match): "
                "OpenDEMS needs them to keep concurrent uploads apart; upgrade it"
            )
        finally:
            with contextlib.suppress(Exception):
                self._remove(probe)

    def _bucket_versioned(self) -> bool:
        with self._call(f"read the versioning of bucket {self.bucket!r}"):
            got = self.client.get_bucket_versioning(Bucket=self.bucket)
        return bool(got.get("Status") in {"Enabled", "Suspended"})

    def _bucket_locked(self, *, required: bool) -> bool:
        try:
            got = self.client.get_object_lock_configuration(Bucket=self.bucket)
            config = got.get("ObjectLockConfiguration", {})
        except ClientError as exc:
            if _code(exc) in {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"}:
                raise self._translate(exc, "read the bucket's Object Lock configuration") from exc
            config = {}  # not configured, or not supported by this object store
        except BotoCoreError as exc:
            raise self._unreachable(exc) from exc
        enabled = bool(config.get("ObjectLockEnabled") == "Enabled")
        if enabled and config.get("Rule", {}).get("DefaultRetention"):
            raise ObjectStoreError(
                f"bucket {self.bucket!r} has a default Object Lock retention: it would lock every "
                "temporary object OpenDEMS writes (staging, upload progress) too. Remove the bucket's "
                "default retention; OpenDEMS retains each original itself (OPENDEMS_S3_RETENTION_DAYS)"
            )
        if required and not enabled:
            raise ObjectStoreError(
                f"OPENDEMS_S3_OBJECT_LOCK is 'required' but bucket {self.bucket!r} at {self.where} "
                "does not have Object Lock enabled: use a bucket created with Object Lock (or let "
                "OpenDEMS create a new one), or set OPENDEMS_S3_OBJECT_LOCK=auto"
            )
        return enabled

    # -- errors -------------------------------------------------------------------------------
    def _translate(self, exc: ClientError, what: str, missing: str | None = None) -> Exception:
        code, status = _code(exc), _status(exc)
        message = str(exc.response.get("Error", {}).get("Message", "")).strip()
        if code in _FULL or status == 507:
            return StorageFull("the evidence store is out of space; nothing was kept")
        if code == "NoSuchBucket":
            return ObjectStoreError(f"bucket {self.bucket!r} does not exist at {self.where}")
        if missing is not None and _missing(exc):
            return NotFound(missing)
        if code == "InvalidAccessKeyId":
            return ObjectStoreError(
                f"the object store at {self.where} does not know the access key {self.access_key_id!r}: "
                "check OPENDEMS_S3_ACCESS_KEY_ID"
            )
        if code == "SignatureDoesNotMatch":
            return ObjectStoreError(
                f"the object store at {self.where} refused the secret key of access key "
                f"{self.access_key_id!r}: check OPENDEMS_S3_SECRET_ACCESS_KEY"
            )
        if code in {"ExpiredToken", "InvalidToken", "TokenRefreshRequired"}:
            return ObjectStoreError(f"the object store at {self.where} refused expired credentials ({code})")
        if code == "AccessDenied" or status == 403:
            return ObjectStoreError(
                f"the object store at {self.where} does not allow access key {self.access_key_id!r} "
                f"to {what} in bucket {self.bucket!r} (AccessDenied)"
            )
        detail = f"{code or status}{': ' + message if message else ''}"
        return ObjectStoreError(f"the object store at {self.where} failed to {what} ({detail})")

    def _unreachable(self, exc: BotoCoreError) -> Exception:
        if isinstance(exc, NoCredentialsError):
            return ObjectStoreError(
                "no S3 credentials: set OPENDEMS_S3_ACCESS_KEY_ID and OPENDEMS_S3_SECRET_ACCESS_KEY"
            )
        if isinstance(exc, (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError)):
            return ObjectStoreError(f"cannot reach the object store at {self.where}: {exc}")
        return ObjectStoreError(f"the object store at {self.where} failed: {exc}")

    @contextlib.contextmanager
    def _call(self, what: str, missing: str | None = None) -> Iterator[None]:
        """Turn S3 failures into the project's errors (``NotFound`` with ``missing``)."""
        try:
            yield
        except ClientError as exc:
            raise self._translate(exc, what, missing) from exc
        except BotoCoreError as exc:
            raise self._unreachable(exc) from exc

    # -- small operations ---------------------------------------------------------------------
    def _k(self, relative: str) -> str:
        return self.prefix + relative

    def _blob(self, key: str) -> str:
        digest = key_digest(key)
        return self._k(f"sha256/{digest[:2]}/{digest[2:4]}/{digest}")

    def _staged(self, token: str) -> str:
        if ".." in token or not (
            (token.startswith("staging/parts/") and token.endswith(".part")) or _FINISHED.fullmatch(token)
        ):
            raise NotFound(f"no staged blob {token!r}")
        return self._k(token)

    def _upload_dir(self, upload_id: str) -> str:
        if not _UPLOAD_ID.fullmatch(upload_id):
            raise NotFound(f"upload {upload_id} does not exist")
        return self._k(f"staging/uploads/{upload_id}/")

    def _hold(self, key: str) -> None:
        with self._lock:
            self._live.add(key)

    def _release(self, key: str) -> None:
        with self._lock:
            self._live.discard(key)

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            got: dict[str, Any] = self.client.head_object(Bucket=self.bucket, Key=key)
            return got
        except ClientError as exc:
            if _missing(exc):
                return None
            raise self._translate(exc, "look an object up") from exc
        except BotoCoreError as exc:
            raise self._unreachable(exc) from exc

    def _get_range(self, key: str, first: int, last: int, missing: str) -> tuple[bytes, int]:
        """Bytes ``first``..``last`` (fewer at the end of the object) and the object's length."""
        try:
            got = self.client.get_object(Bucket=self.bucket, Key=key, Range=f"bytes={first}-{last}")
        except ClientError as exc:
            if _code(exc) == "InvalidRange" or _status(exc) == 416:
                return b"", 0  # empty (or shorter than ``first``): the reader says it is damaged
            raise self._translate(exc, "read an object", missing) from exc
        except BotoCoreError as exc:
            raise self._unreachable(exc) from exc
        with contextlib.closing(got["Body"]) as body, self._call("read an object", missing):
            data = bytes(body.read())
        total = str(got.get("ContentRange", "")).rpartition("/")[2]
        return data, int(total) if total.isdigit() else first + len(data)

    def _get_first(self, key: str, first: int, missing: str) -> tuple[bytes, int, dict[str, str]]:
        """The first ``first`` bytes of an object, its length and its user metadata."""
        try:
            got = self.client.get_object(Bucket=self.bucket, Key=key, Range=f"bytes=0-{first - 1}")
        except ClientError as exc:
            if _code(exc) == "InvalidRange" or _status(exc) == 416:
                return b"", 0, {}  # empty: the reader says it is damaged
            raise self._translate(exc, "read an object", missing) from exc
        except BotoCoreError as exc:
            raise self._unreachable(exc) from exc
        with contextlib.closing(got["Body"]) as body, self._call("read an object", missing):
            data = bytes(body.read())
        total = str(got.get("ContentRange", "")).rpartition("/")[2]
        metadata = {str(k).lower(): str(v) for k, v in (got.get("Metadata") or {}).items()}
        return data, int(total) if total.isdigit() else len(data), metadata

    def _manifest(self, key: str, data: bytes, length: int) -> list[tuple[str, int]]:
        """The part objects (full keys, lengths) a manifest names, from its first bytes."""
        if len(data) < length:
            data += self._get_range(key, len(data), length - 1, f"{key} vanished")[0]
        return self._parse_manifest(key, data)

    def _parse_manifest(self, key: str, raw: bytes) -> list[tuple[str, int]]:
        damaged = BlobIntegrityError(f"{key}: the list of its stored parts is damaged")
        try:
            doc = json.loads(raw)
            parts = [(str(name), int(length)) for name, length in doc["parts"]]
            size = int(doc["size"])
        except (ValueError, KeyError, TypeError):
            raise damaged from None
        if doc.get("format") != MANIFEST_FORMAT or not parts or sum(n for _, n in parts) != size:
            raise damaged
        for name, length in parts:
            if not name.startswith("data/") or ".." in name or length <= 0:
                raise damaged
        return [(self._k(name), length) for name, length in parts]

    def _pack_manifest(self, parts: list[tuple[str, int]]) -> bytes:
        relative = [(name[len(self.prefix) :], n) for name, n in parts]
        size = sum(n for _, n in parts)
        return json.dumps({"format": MANIFEST_FORMAT, "size": size, "parts": relative}).encode()

    def _parts_of(self, full: str) -> list[tuple[str, int]]:
        """The part objects a blob's manifest names ([] when the object holds the bytes, or is
        gone)."""
        try:
            data, length, metadata = self._get_first(full, HEADER_SIZE, f"{full} is missing")
        except NotFound:
            return []
        return self._manifest(full, data, length) if metadata.get(LAYOUT) == PARTS else []

    def _put(
        self,
        key: str,
        body: bytes | bytearray,
        *,
        what: str,
        create: bool = False,
        if_match: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> tuple[str, str | None]:
        """PUT one object; ``_Precondition`` when ``create`` finds it there or ``if_match``
        finds it changed or gone. Returns its ETag and version."""
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "Body": body}
        if create:
            args["IfNoneMatch"] = "*"
        if if_match is not None:
            args["IfMatch"] = if_match
        if metadata:
            args["Metadata"] = metadata
        try:
            got = self.client.put_object(**args)
        except ClientError as exc:
            if (create or if_match is not None) and (
                _code(exc) in _PRECONDITION or _status(exc) == 412 or (if_match is not None and _missing(exc))
            ):
                raise _Precondition from exc
            raise self._translate(exc, what) from exc
        except BotoCoreError as exc:
            raise self._unreachable(exc) from exc
        version = got.get("VersionId")
        return str(got.get("ETag", "")), str(version) if version else None

    def _put_part_object(self, key: str, data: bytes | bytearray) -> None:
        self._put(key, data, what="store an upload's part")

    def _upload_part(self, key: str, upload_id: str, number: int, data: bytes | bytearray) -> str:
        with self._call("send a part"):
            got = self.client.upload_part(
                Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data
            )
        return str(got["ETag"])

    def _copy_part(
        self, key: str, upload_id: str, number: int, source: str, first: int | None, last: int | None
    ) -> str:
        args: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": key,
            "UploadId": upload_id,
            "PartNumber": number,
            "CopySource": {"Bucket": self.bucket, "Key": source},
        }
        if first is not None and last is not None:
            args["CopySourceRange"] = f"bytes={first}-{last}"
        with self._call("copy a part", f"{source} vanished while it was being copied"):
            got = self.client.upload_part_copy(**args)
        return str(got["CopyPartResult"]["ETag"])

    def _drop_version(self, key: str, version: str | None) -> None:
        """In a versioned bucket, remove an overwritten version of one of our own objects."""
        if self.versioned and version:
            with contextlib.suppress(Exception):
                self.client.delete_object(Bucket=self.bucket, Key=key, VersionId=version)

    def _list(self, prefix: str) -> tuple[list[_Listed], float]:
        """Every object under ``prefix``, and the object store's time of the listing."""
        found: list[_Listed] = []
        now = 0.0
        args: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        with self._call("list objects"):
            while True:
                got = self.client.list_objects_v2(**args)
                now = now or _server_time(got)
                for item in got.get("Contents", []):
                    found.append(
                        _Listed(str(item["Key"]), item["LastModified"].timestamp(), int(item["Size"]))
                    )
                if not got.get("IsTruncated") or not got.get("NextContinuationToken"):
                    break
                args["ContinuationToken"] = got["NextContinuationToken"]
        return found, now or time.time()

    def _versions(self, prefix: str, *, exact: bool = False) -> list[tuple[str, str | None]]:
        """Every (key, version) under ``prefix`` (or of the key ``prefix`` when ``exact``)."""
        if not self.versioned:
            if exact:
                return [(prefix, None)]
            return [(item.key, None) for item in self._list(prefix)[0]]
        found: list[tuple[str, str | None]] = []
        args: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        with self._call("list object versions"):
            while True:
                got = self.client.list_object_versions(**args)
                for item in [*got.get("Versions", []), *got.get("DeleteMarkers", [])]:
                    if not exact or item["Key"] == prefix:
                        found.append((str(item["Key"]), str(item["VersionId"])))
                if not got.get("IsTruncated"):
                    break
                args["KeyMarker"] = got.get("NextKeyMarker")
                args["VersionIdMarker"] = got.get("NextVersionIdMarker")
        return found

    def _delete(self, entries: list[tuple[str, str | None]]) -> bool:
        """Delete these objects (versions); False when Object Lock kept any of them."""
        kept = False
        for at in range(0, len(entries), 1000):
            batch = entries[at : at + 1000]
            objects = [{"Key": k, **({"VersionId": v} if v else {})} for k, v in batch]
            with self._call("delete objects"):
                got = self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True}
                )
            for error in got.get("Errors", []):
                if error.get("Code") in {"NoSuchKey", "NoSuchVersion"}:
                    continue
                if error.get("Code") == "AccessDenied" and self.object_lock:
                    kept = True
                    continue
                raise ObjectStoreError(
                    f"the object store at {self.where} did not delete {error.get('Key')} "
                    f"({error.get('Code')}: {error.get('Message', '')})"
                )
        return not kept

    def _remove(self, key: str) -> bool:
        """Remove one object, every version of it in a versioned bucket (never just hiding
        it behind a delete marker). False when Object Lock keeps it."""
        if not self.versioned:
            with self._call("delete an object"):
                self.client.delete_object(Bucket=self.bucket, Key=key)
            return True
        return self._delete(self._versions(key, exact=True))

    def _read_head(self, key: str, token: str, size: int) -> bytes:
        """The first plaintext bytes of a staged object, read back through decryption: the
        object store holds what was sent (its length, its header, its first segments)."""
        first = HEADER_SIZE + self.segment_size + SEGMENT_OVERHEAD
        f = _RangedObject(self, key, f"the staged blob {token} is missing", first=first)
        with contextlib.closing(f):
            reader = EncryptedBlobReader(cast(BinaryIO, f), f.length, self.keyring)
            if reader.size != size:
                raise BlobIntegrityError(
                    f"the object store holds {reader.size} bytes of a {size}-byte blob; nothing was kept"
                )
            return b"".join(reader.iter_range(0, min(HEAD_BYTES, reader.size) - 1))

    # -- single-request writes ----------------------------------------------------------------
    def writer(self) -> _S3Writer:
        return _S3Writer(self)

    # -- commit, claims, deletion of unreferenced bytes ---------------------------------------
    def _claim_key(self, digest: str) -> str:
        return self._k(f"unsettled/{digest}/{secrets.token_hex(12)}")

    def _intent_key(self, digest: str) -> str:
        return self._k(f"deleting/{digest}")

    def _await_no_deletion(self, digest: str) -> None:
        """Wait while a deletion of these bytes is in progress (it ends in moments, or its
        process died and its lease runs out)."""
        key = self._intent_key(digest)
        delay = 0.05
        while (held := self._head(key)) is not None:
            if _age(held) > self.lock_lease_s:  # its process died: clear it (only that version)
                with contextlib.suppress(Exception):
                    if self.versioned and held.get("VersionId"):
                        self.client.delete_object(Bucket=self.bucket, Key=key, VersionId=held["VersionId"])
                    else:
                        self.client.delete_object(Bucket=self.bucket, Key=key, IfMatch=held["ETag"])
                return
            time.sleep(delay)
            delay = min(2 * delay, 1.0)

    def _touch(self, claim: _Claim) -> None:
        etag_version = self._put(claim.key, b"", what="record a commit")
        self._drop_version(claim.key, claim.version)
        claim.version = etag_version[1]
        claim.touched = time.monotonic()

    def _copy(self, source: str, target: str, length: int, claim: _Claim) -> None:
        if length <= self.copy_limit:
            with self._call("copy a staged blob into place", "a staged blob vanished while being committed"):
                self.client.copy_object(
                    Bucket=self.bucket, Key=target, CopySource={"Bucket": self.bucket, "Key": source}
                )
        else:
            part = max(self.copy_part_size, MIN_PART, math.ceil(length / MAX_PARTS))
            upload = _Multipart(self, target)
            try:
                for first in range(0, length, part):
                    upload.add_copy(source, first, min(first + part, length) - 1)
                    if time.monotonic() - claim.touched > self.lease_s / 4:
                        self._touch(claim)
                upload.complete(b"")
            except BaseException:
                upload.abort()
                raise
        if time.monotonic() - claim.touched > self.lease_s / 4:
            self._touch(claim)  # the claim's age counts from the end of the copy

    def _opens(self, key: str) -> bool:
        """Whether this store's keyring opens the blob's data key (its header alone)."""
        try:
            f = _RangedObject(self, key, f"{key} vanished")
            with contextlib.closing(f):
                raw = f.read(HEADER_SIZE)
            open_data_key(Header.unpack(raw), self.keyring)
        except (BlobIntegrityError, NotFound):
            return False
        return True

    def _put_manifest(self, source: str, final: str, staged: StagedBlob) -> None:
        """Commit a finished upload: its manifest goes to the content address."""
        missing = f"the staged blob {staged.token} is gone (discarded, or swept as abandoned)"
        with self._call("read a finished upload", missing):
            got = self.client.get_object(Bucket=self.bucket, Key=source)
            with contextlib.closing(got["Body"]) as body:
                raw = bytes(body.read())
        if (got.get("Metadata") or {}).get("sha256") != staged.sha256:
            raise BlobIntegrityError(f"the staged blob {staged.token} is not the upload that finished")
        self._parse_manifest(source, raw)  # well formed, naming only parts
        self._put(final, raw, what="store a blob's list of parts", metadata={LAYOUT: PARTS})

    def commit(self, staged: StagedBlob) -> str:
        key = f"sha256/{staged.sha256}"
        final = self._blob(key)
        source = self._staged(staged.token)
        claim = _Claim(self._claim_key(staged.sha256), None, time.monotonic())
        self._touch(claim)
        # On failure the claim stays in the bucket: it goes stale, and the crash recovery
        # removes whatever this commit may have put in place, unless a record holds it.
        self._await_no_deletion(staged.sha256)
        existing = self._head(final)
        # Identical bytes already there are kept as they are -- unless this store cannot open
        # them (a key it does not hold): then its own copy replaces them.
        parted = _FINISHED.fullmatch(staged.token) is not None
        if existing is None or not self._opens(final):
            if parted:
                self._put_manifest(source, final, staged)
            else:
                held = self._head(source)
                if held is None:
                    raise NotFound(
                        f"the staged blob {staged.token} is gone (discarded, or swept as abandoned)"
                    )
                self._copy(source, final, int(held["ContentLength"]), claim)
            if existing is not None:
                log.warning("blob %s was stored under a key this store does not hold: replaced", key)
                self._drop_version(final, existing.get("VersionId"))
        if not parted:  # a finished upload's manifest and parts: see discard_resumable
            self._remove(source)
        with self._lock:
            self._claims.setdefault(key, []).append(claim)
        self._release(source)
        return key

    def discard(self, staged: StagedBlob) -> None:
        source = self._staged(staged.token)
        if _FINISHED.fullmatch(staged.token) is None:  # an upload's stay until it is discarded
            self._remove(source)
        self._release(source)

    def settle(self, key: str) -> None:
        """The database record of one commit of ``key`` by this process is settled."""
        with self._lock:
            claims = self._claims.get(key)
            claim = claims.pop() if claims else None
            if claims == []:
                del self._claims[key]
        if claim is not None:
            self._drop_claim(claim)
        else:  # settled after a restart: clear the claims dead processes left
            digest = key_digest(key)
            listed, now = self._list(self._k(f"unsettled/{digest}/"))
            for item in listed:
                if now - item.modified > self.lease_s:
                    self._remove(item.key)

    def _drop_claim(self, claim: _Claim) -> None:
        if self.versioned and claim.version:
            with self._call("remove a commit's claim"):
                self.client.delete_object(Bucket=self.bucket, Key=claim.key, VersionId=claim.version)
        else:
            self._remove(claim.key)

    def _own_claims(self) -> set[str]:
        with self._lock:
            return {c.key for claims in self._claims.values() for c in claims}

    def delete_unclaimed(self, key: str, referenced: Callable[[], bool]) -> bool:
        """Delete the blob unless ``referenced()`` says a record holds it, a commit of it is in
        flight, or Object Lock retains it. Returns True when it was deleted."""
        digest = key_digest(key)
        try:
            intent = _Lease.take(self, self._intent_key(digest), "a deletion is in progress")
        except Conflict:
            return False
        try:
            listed, now = self._list(self._k(f"unsettled/{digest}/"))
            own = self._own_claims()
            if any(item.key in own or now - item.modified <= self.lease_s for item in listed):
                return False  # a commit of these bytes is in flight
            deleted = False
            if not referenced():
                try:
                    intent.keep(force=True)  # a commit waiting on us has not judged us dead
                except Conflict:
                    return False
                deleted = self._remove_blob(self._blob(key))
                if not deleted:
                    log.warning("blob %s is unreferenced but Object Lock retains it", key)
            self._delete([(item.key, v) for item in listed for _, v in self._versions(item.key, exact=True)])
            return deleted
        finally:
            intent.release()

    def unsettled(self, older_than_s: float) -> list[str]:
        """Keys committed by a process that died before settling them: claims no process
        has touched for ``older_than_s`` and at least the lease (``lease_s``)."""
        limit = max(older_than_s, self.lease_s)
        listed, now = self._list(self._k("unsettled/"))
        own = self._own_claims()
        keys = set()
        for item in listed:
            digest = item.key[len(self._k("unsettled/")) :].partition("/")[0]
            if item.key not in own and now - item.modified > limit:
                keys.add(f"sha256/{digest}")
        return sorted(keys)

    def _multipart_uploads(self, prefix: str) -> tuple[list[tuple[str, str, float]], float]:
        found: list[tuple[str, str, float]] = []
        now = 0.0
        args: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        with self._call("list multipart uploads"):
            while True:
                got = self.client.list_multipart_uploads(**args)
                now = now or _server_time(got)
                for u in got.get("Uploads", []):
                    found.append((str(u["Key"]), str(u["UploadId"]), u["Initiated"].timestamp()))
                if not got.get("IsTruncated"):
                    break
                args["KeyMarker"] = got.get("NextKeyMarker")
                args["UploadIdMarker"] = got.get("NextUploadIdMarker")
        return found, now or time.time()

    def _last_part_time(self, key: str, upload_id: str, initiated: float) -> float:
        newest = initiated
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "UploadId": upload_id}
        try:
            while True:
                got = self.client.list_parts(**args)
                for part in got.get("Parts", []):
                    newest = max(newest, part["LastModified"].timestamp())
                if not got.get("IsTruncated"):
                    return newest
                args["PartNumberMarker"] = got.get("NextPartNumberMarker")
        except ClientError as exc:
            if _missing(exc):
                return float("inf")  # finished or aborted meanwhile: nothing to sweep
            raise self._translate(exc, "list the parts of an upload") from exc

    def sweep_staging(self, older_than_s: float) -> int:
        """Remove staged objects and multipart uploads a dead process left behind: nothing
        has happened to them for ``older_than_s`` and at least the lease. Returns how many."""
        limit = max(older_than_s, self.lease_s)
        with self._lock:
            live = set(self._live)
        removed = 0
        listed, now = self._list(self._k("staging/parts/"))
        for item in listed:
            if item.key not in live and now - item.modified > limit:
                self._remove(item.key)
                removed += 1
        for prefix in ("staging/parts/", "sha256/"):  # writes, and copies of large blobs
            uploads, now = self._multipart_uploads(self._k(prefix))
            for key, upload_id, initiated in uploads:
                if key in live or now - initiated <= limit:
                    continue
                if now - self._last_part_time(key, upload_id, initiated) > limit:
                    with self._call("abort a multipart upload"), contextlib.suppress(NotFound):
                        self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
                    removed += 1
        return removed

    # -- reads --------------------------------------------------------------------------------
    def exists(self, key: str) -> bool:
        try:
            return self._head(self._blob(key)) is not None
        except NotFound:
            return False

    @contextlib.contextmanager
    def _reader(
        self, key: str, *, whole: bool = False
    ) -> Iterator[tuple[_RangedObject, EncryptedBlobReader]]:
        f = _RangedObject(self, self._blob(key), f"blob {key} is missing from the store", whole=whole)
        with contextlib.closing(f):
            yield f, EncryptedBlobReader(cast(BinaryIO, f), f.length, self.keyring)

    def size(self, key: str) -> int:
        with self._reader(key) as (_, reader):
            return reader.size

    def read_range(self, key: str, start: int, end: int) -> Generator[bytes, None, None]:
        with self._reader(key) as (f, reader):
            if not 0 <= start <= end < reader.size:
                raise ValueError("range outside the blob")
            seg = reader.header.segment_size
            stored = seg + SEGMENT_OVERHEAD
            first, last = start // seg, end // seg
            last_len = min(seg, reader.size - last * seg) + SEGMENT_OVERHEAD
            f.plan(HEADER_SIZE + first * stored, HEADER_SIZE + last * stored + last_len - 1)
            yield from reader.iter_range(start, end)

    def read_all(self, key: str) -> Generator[bytes, None, None]:
        with self._reader(key, whole=True) as (_, reader):
            yield from reader.iter_all()

    def sha256_many(self, keys: list[str], progress: Callable[[int], None]) -> dict[str, str]:
        return threaded_sha256_many(self.read_all, keys, progress)

    def open_plaintext(self, key: str) -> BinaryIO:
        f = _RangedObject(self, self._blob(key), f"blob {key} is missing from the store")
        try:
            reader = EncryptedBlobReader(cast(BinaryIO, f), f.length, self.keyring)
        except BaseException:
            f.close()
            raise
        return io.BufferedReader(PlaintextFile(cast(BinaryIO, f), reader), buffer_size=256 * 1024)

    def _remove_blob(self, full: str) -> bool:
        """Remove a committed blob: the object at its address and the parts it names. False
        when Object Lock keeps it."""
        try:
            parts = self._parts_of(full)
        except BlobIntegrityError:
            parts = []  # a damaged list: remove it, its parts become unreachable garbage
        if not self._remove(full):
            return False
        entries = [(k, v) for k, _ in parts for _, v in self._versions(k, exact=True)]
        return self._delete(entries) if entries else True

    def delete(self, key: str) -> None:
        full = self._blob(key)
        if not self._remove_blob(full):
            raise Conflict(
                f"blob {key} is protected by S3 Object Lock ({self._lock_state(full)}); "
                "the object store refuses to delete it before then"
            )

    # -- Object Lock --------------------------------------------------------------------------
    def retain(self, key: str) -> None:
        """Compliance-mode retention of ``s3_retention_days`` from now (never shortened) on a
        committed original (and on the parts it is stored as). A no-op without Object Lock
        or with no retention period set."""
        if not self.object_lock or self.retention_days <= 0:
            return
        full = self._blob(key)
        until = datetime.now(UTC) + timedelta(days=self.retention_days)
        missing = f"blob {key} is missing from the store"
        for target in [*(k for k, _ in self._parts_of(full)), full]:
            with self._call(f"read the retention of blob {key}", missing):
                try:
                    current = self.client.get_object_retention(Bucket=self.bucket, Key=target).get(
                        "Retention", {}
                    )
                except ClientError as exc:
                    if _code(exc) not in _NO_RETENTION:
                        raise
                    current = {}
            kept_until = current.get("RetainUntilDate")
            if (
                current.get("Mode") == "COMPLIANCE"
                and isinstance(kept_until, datetime)
                and kept_until >= until
            ):
                continue
            with self._call(f"retain blob {key}", missing):
                self.client.put_object_retention(
                    Bucket=self.bucket, Key=target, Retention={"Mode": "COMPLIANCE", "RetainUntilDate": until}
                )

    def legal_hold(self, key: str, on: bool) -> None:
        """Place (or lift) an S3 legal hold on a blob (and the parts it is stored as): it
        cannot be deleted while held, with no time limit. A no-op where the bucket has no
        Object Lock."""
        if not self.object_lock:
            return
        full = self._blob(key)
        for target in [*(k for k, _ in self._parts_of(full)), full]:
            with self._call(f"set the legal hold of blob {key}", f"blob {key} is missing from the store"):
                self.client.put_object_legal_hold(
                    Bucket=self.bucket, Key=target, LegalHold={"Status": "ON" if on else "OFF"}
                )

    def _lock_state(self, full: str) -> str:
        found: list[str] = []
        with contextlib.suppress(Exception):
            retention = self.client.get_object_retention(Bucket=self.bucket, Key=full).get("Retention", {})
            if retention.get("RetainUntilDate"):
                found.append(
                    f"{retention.get('Mode', '').lower()} retention until {retention['RetainUntilDate']}"
                )
        with contextlib.suppress(Exception):
            hold = self.client.get_object_legal_hold(Bucket=self.bucket, Key=full).get("LegalHold", {})
            if hold.get("Status") == "ON":
                found.append("a legal hold")
        return " and ".join(found) or "retention"

    # -- resumable uploads --------------------------------------------------------------------
    def create_resumable(self, upload_id: str) -> None:
        state_key = self._upload_dir(upload_id) + "state"
        header, data_key = new_header(self.keyring, self.segment_size)
        state = _UploadState(header, SegmentCipher(header, data_key), 0, [], header.pack(), b"")
        try:
            self._put(
                state_key, _pack_state(state), what="create an upload", create=True, metadata={"offset": "0"}
            )
        except _Precondition:
            raise Conflict(f"upload {upload_id} already exists") from None

    def _get_state(self, upload_id: str) -> tuple[bytes, str, str | None]:
        key = self._upload_dir(upload_id) + "state"
        with self._call("read an upload's progress", f"upload {upload_id} does not exist"):
            got = self.client.get_object(Bucket=self.bucket, Key=key)
            with contextlib.closing(got["Body"]) as body:
                raw = bytes(body.read())
        version = got.get("VersionId")
        return raw, str(got["ETag"]), str(version) if version else None

    def open_resumable(self, upload_id: str, *, length: int | None = None) -> _S3Resumable:
        """The upload, to append to; ``length`` (its announced size, when known) lets full
        segments be sealed as they fill instead of one being held back."""
        return _S3Resumable(self, upload_id, length)

    def resumable_offset(self, upload_id: str) -> int:
        held = self._head(self._upload_dir(upload_id) + "state")
        if held is None:
            raise NotFound(f"upload {upload_id} does not exist")
        offset = str(held.get("Metadata", {}).get("offset", ""))
        if not offset.isdigit():
            raise BlobIntegrityError(f"upload {upload_id}: its progress record is damaged")
        return int(offset)

    def discard_resumable(self, upload_id: str) -> None:
        """Remove an upload's staging and every part of it that no committed blob names."""
        try:
            prefix = self._upload_dir(upload_id)
        except NotFound:
            return
        keep: set[str] | None = set()
        finished = self._head(prefix + "finished")
        digest = str((finished or {}).get("Metadata", {}).get("sha256", ""))
        if re.fullmatch(r"[0-9a-f]{64}", digest):
            try:
                keep = {k for k, _ in self._parts_of(self._blob(f"sha256/{digest}"))}
            except BlobIntegrityError:
                keep = None  # cannot tell what the blob's damaged list names: keep every part
        self._delete(self._versions(prefix))
        if keep is not None:
            parts = self._versions(self._k(f"data/{upload_id}/"))
            self._delete([(k, v) for k, v in parts if k not in keep])
        self.digests.forget(upload_id)
