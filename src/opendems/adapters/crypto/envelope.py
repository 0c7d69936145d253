"""Encrypted blob format: AES-256-GCM in fixed-size segments under a random data key.

Layout: a 96-byte header, then segments of ``segment_size`` plaintext bytes (the last one
shorter). Each segment is stored as a random 96-bit nonce, the ciphertext and its 16-byte tag; it
authenticates the header's fixed fields, its index and whether it is the last one, so segments cannot be reordered, dropped
or the blob truncated without detection. A ranged read decrypts only the segments it needs.

The header carries the data key wrapped (RFC 3394) by the agency's key-encryption key and
that key's id, so a blob opens with the agency key alone, without the database; rotation
rewraps the header and leaves the segments as they are.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import struct
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap

from opendems.adapters.crypto.keys import KEK_ID_BYTES, KeyError_, Keyring

MAGIC = b"ODEMSB1\x00"
HEADER_SIZE = 96
TAG_SIZE = 16
NONCE_SIZE = 12
# Every stored segment carries its own random nonce: a resumable upload may rewrite a segment
# index after a rollback, and a data key must never encrypt twice under one nonce.
SEGMENT_OVERHEAD = NONCE_SIZE + TAG_SIZE
WRAPPED_KEY_SIZE = 40
_HEADER = struct.Struct(f">8sI{KEK_ID_BYTES}sH{WRAPPED_KEY_SIZE}s")


class BlobIntegrityError(Exception):
    """Stored bytes do not decrypt or authenticate: they were altered or damaged."""


@dataclass(frozen=True)
class Header:
    segment_size: int
    kek_id: str
    wrapped_key: bytes

    def pack(self) -> bytes:
        packed = _HEADER.pack(
            MAGIC,
            self.segment_size,
            self.kek_id.encode().ljust(KEK_ID_BYTES, b"\0"),
            len(self.wrapped_key),
            self.wrapped_key,
        )
        return packed.ljust(HEADER_SIZE, b"\0")

    @classmethod
    def unpack(cls, raw: bytes) -> Header:
        if len(raw) < HEADER_SIZE:
            raise BlobIntegrityError("blob is shorter than its header")
        magic, seg, kek_id, wrapped_len, wrapped = _HEADER.unpack_from(raw)
        if magic != MAGIC:
            raise BlobIntegrityError("blob header is not an OpenDEMS encrypted blob")
        if wrapped_len != WRAPPED_KEY_SIZE or seg <= 0 or any(raw[_HEADER.size : HEADER_SIZE]):
            raise BlobIntegrityError("blob header is malformed")
        return cls(seg, kek_id.rstrip(b"\0").decode(errors="replace"), wrapped)

    def aad_prefix(self) -> bytes:
        return MAGIC + struct.pack(">I", self.segment_size)


def new_header(keyring: Keyring, segment_size: int) -> tuple[Header, bytes]:
    data_key = AESGCM.generate_key(bit_length=256)
    kek = keyring.current
    return Header(segment_size, kek.key_id, kek.wrap(data_key)), data_key


def open_data_key(header: Header, keyring: Keyring) -> bytes:
    try:
        return keyring.get(header.kek_id).unwrap(header.wrapped_key)
    except InvalidUnwrap as exc:
        raise BlobIntegrityError("blob data key does not unwrap: header altered or wrong key") from exc
    except KeyError_ as exc:
        raise BlobIntegrityError(str(exc)) from exc


def _aad(header: Header, index: int, final: bool) -> bytes:
    return header.aad_prefix() + struct.pack(">Q?", index, final)


class SegmentCipher:
    def __init__(self, header: Header, data_key: bytes) -> None:
        self.header = header
        self._aead = AESGCM(data_key)

    def seal(self, index: int, plaintext: bytes | bytearray | memoryview, final: bool) -> bytes:
        out = bytearray(len(plaintext) + SEGMENT_OVERHEAD)
        return bytes(out[: self.seal_into(index, plaintext, final, out)])

    def seal_into(
        self, index: int, plaintext: bytes | bytearray | memoryview, final: bool, out: bytearray | memoryview
    ) -> int:
        """Like ``seal`` but into a caller's buffer; returns the stored length."""
        nonce = os.urandom(NONCE_SIZE)
        out[:NONCE_SIZE] = nonce
        n = len(plaintext) + TAG_SIZE
        view = memoryview(out)[NONCE_SIZE : NONCE_SIZE + n]
        self._aead.encrypt_into(nonce, plaintext, _aad(self.header, index, final), view)
        return NONCE_SIZE + n

    def open(self, index: int, sealed: bytes, final: bool) -> bytes:
        try:
            nonce, body = sealed[:NONCE_SIZE], sealed[NONCE_SIZE:]
            return self._aead.decrypt(nonce, body, _aad(self.header, index, final))
        except (InvalidTag, ValueError) as exc:
            raise BlobIntegrityError(f"segment {index} fails authentication") from exc

    def seal_tail(self, committed: int, pending: bytes) -> bytes:
        """Encrypt not-yet-final bytes of a resumable upload (rewritten often: random nonce)."""
        nonce = os.urandom(NONCE_SIZE)
        aad = b"tail" + self.header.aad_prefix() + struct.pack(">Q", committed)
        return nonce + self._aead.encrypt(nonce, pending, aad)

    def open_tail(self, committed: int, sealed: bytes) -> bytes:
        aad = b"tail" + self.header.aad_prefix() + struct.pack(">Q", committed)
        if len(sealed) < SEGMENT_OVERHEAD:
            raise BlobIntegrityError("upload tail is truncated")
        try:
            return self._aead.decrypt(sealed[:NONCE_SIZE], sealed[NONCE_SIZE:], aad)
        except (InvalidTag, ValueError) as exc:
            raise BlobIntegrityError("upload tail fails authentication") from exc


# Hashing runs beside encryption on another core: SHA-256 is the slowest step of ingest and
# hashlib releases the GIL for large buffers, so the two overlap instead of adding up.
_HASH_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="opendems-sha256")
_PARALLEL_HASH_MIN = 256 * 1024


class Sink(Protocol):
    def write(self, data: bytes | bytearray | memoryview, /) -> int | None: ...


def _no_room(n: int) -> None:
    """The ``space`` of a sink that takes segments only by ``write``."""


class EncryptingWriter:
    """Hashes and encrypts a byte stream in one pass, writing sealed segments to ``out``.

    The newest full segment is held back until more data arrives, so the one marked final
    is really the last -- unless ``length``, the stream's whole size, is known (a tus upload
    announces it): then a full segment is sealed as soon as it fills, except the one that
    ends the stream. ``pending`` exposes what is held back (for resumable uploads), which
    with a known length is only a segment's unfilled start.
    Buffers are allocated once per writer: no per-segment allocation on the hot path.
    """

    def __init__(
        self,
        out: Sink,
        cipher: SegmentCipher,
        *,
        next_index: int = 0,
        pending: bytes = b"",
        hasher: hashlib._Hash | None = None,
        size: int = 0,
        length: int | None = None,
    ) -> None:
        self._out = out
        # A sink with ``space(n)`` (a writable view of its next n bytes, or None when it has
        # less room) and ``advance(n)`` has segments sealed straight into its buffer: one copy
        # of every stored byte fewer than sealing aside and writing.
        advance = getattr(out, "advance", None)
        self._space: Callable[[int], memoryview | None] = (
            getattr(out, "space", _no_room) if advance is not None else _no_room
        )
        self._advance: Callable[[int], None] = advance or _no_room
        self.length = length
        self._cipher = cipher
        self._seg = cipher.header.segment_size
        if len(pending) > self._seg:
            raise ValueError("pending data is larger than a segment")
        self.next_index = next_index
        self._buf = bytearray(self._seg)
        self._buf[: len(pending)] = pending
        self._fill = len(pending)
        self._sealed = bytearray(self._seg + SEGMENT_OVERHEAD)
        self.hasher = hasher or hashlib.sha256()
        self.size = size

    @property
    def pending(self) -> bytes:
        return bytes(self._buf[: self._fill])

    def _emit(self, plaintext: memoryview | bytearray, final: bool = False) -> None:
        space = self._space(len(plaintext) + SEGMENT_OVERHEAD)
        if space is not None:
            self._advance(self._cipher.seal_into(self.next_index, plaintext, final, space))
        else:
            n = self._cipher.seal_into(self.next_index, plaintext, final, self._sealed)
            self._out.write(memoryview(self._sealed)[:n])
        self.next_index += 1

    def write(self, data: bytes | bytearray | memoryview) -> None:
        mv = memoryview(data).cast("B")
        if not len(mv):
            return
        if len(mv) >= _PARALLEL_HASH_MIN:
            hashed = _HASH_POOL.submit(self.hasher.update, mv)
            try:
                self._encrypt(mv)
            finally:
                hashed.result()  # ``data`` may be reused by the caller once we return
        else:
            self.hasher.update(mv)
            self._encrypt(mv)
        self.size += len(mv)
        if self._fill == self._seg and self.length is not None and self.size < self.length:
            self._emit(self._buf)  # more is announced: this full segment is not the last
            self._fill = 0

    def _encrypt(self, mv: memoryview) -> None:
        seg = self._seg
        if self._fill:
            need = seg - self._fill
            if len(mv) <= need:
                self._buf[self._fill : self._fill + len(mv)] = mv
                self._fill += len(mv)
                return
            self._buf[self._fill :] = mv[:need]
            mv = mv[need:]
            self._emit(self._buf)
            self._fill = 0
        while len(mv) > seg:
            self._emit(mv[:seg])
            mv = mv[seg:]
        self._buf[: len(mv)] = mv
        self._fill = len(mv)

    def finish(self) -> None:
        """Write the final segment. The stream must not be empty."""
        if not self._fill:
            raise ValueError("an empty stream has no final segment")
        self._emit(memoryview(self._buf)[: self._fill], final=True)
        self._fill = 0


def segment_count(body_size: int, segment_size: int) -> int:
    return math.ceil(body_size / (segment_size + SEGMENT_OVERHEAD))


def plaintext_size(file_size: int, segment_size: int) -> int:
    body = file_size - HEADER_SIZE
    if body <= SEGMENT_OVERHEAD:
        raise BlobIntegrityError("blob holds no data")
    count = segment_count(body, segment_size)
    last = body - (count - 1) * (segment_size + SEGMENT_OVERHEAD)
    if last <= SEGMENT_OVERHEAD:
        raise BlobIntegrityError("blob was truncated inside a segment")
    return body - count * SEGMENT_OVERHEAD


class EncryptedBlobReader:
    """Random access to the plaintext of one encrypted blob file."""

    def __init__(self, f: BinaryIO, file_size: int, keyring: Keyring) -> None:
        self._f = f
        self.header = Header.unpack(f.read(HEADER_SIZE))
        self._cipher = SegmentCipher(self.header, open_data_key(self.header, keyring))
        self._seg = self.header.segment_size
        self.size = plaintext_size(file_size, self._seg)
        self._last_index = (self.size - 1) // self._seg

    def fileno(self) -> int:
        return self._f.fileno()

    def offset_of(self, index: int) -> int:
        """Where segment ``index`` starts in the stored file."""
        return HEADER_SIZE + index * (self._seg + SEGMENT_OVERHEAD)

    def segment(self, index: int) -> bytes:
        stored = self._seg + SEGMENT_OVERHEAD
        self._f.seek(HEADER_SIZE + index * stored)
        final = index == self._last_index
        length = (self.size - index * self._seg if final else self._seg) + SEGMENT_OVERHEAD
        sealed = self._f.read(length)
        if len(sealed) != length:
            raise BlobIntegrityError(f"segment {index} is truncated")
        return self._cipher.open(index, sealed, final)

    def iter_range(self, start: int, end: int) -> Iterator[bytes]:
        """Plaintext bytes ``start``..``end`` inclusive."""
        if not 0 <= start <= end < self.size:
            raise ValueError("range outside the blob")
        first, last = start // self._seg, end // self._seg
        for index in range(first, last + 1):
            data = self.segment(index)
            base = index * self._seg
            lo = max(start - base, 0)
            hi = min(end - base + 1, len(data))
            yield data[lo:hi] if (lo, hi) != (0, len(data)) else data

    def iter_all(self) -> Iterator[bytes]:
        for index in range(self._last_index + 1):
            yield self.segment(index)


class PlaintextFile(io.RawIOBase):
    """A seekable read-only view of a blob's plaintext, decrypting one segment at a time
    (the last one is kept), so a media library can seek through a large encrypted original."""

    def __init__(self, handle: BinaryIO, reader: EncryptedBlobReader) -> None:
        self._handle = handle
        self._reader = reader
        self._pos = 0
        self._cached: tuple[int, bytes] | None = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._reader.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def _segment(self, index: int) -> bytes:
        if self._cached is None or self._cached[0] != index:
            self._cached = (index, self._reader.segment(index))
        return self._cached[1]

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._pos >= self._reader.size or not len(view):
            return 0
        size = self._reader.header.segment_size
        index, offset = divmod(self._pos, size)
        data = self._segment(index)
        n = min(len(view), len(data) - offset)
        view[:n] = data[offset : offset + n]
        self._pos += n
        return n

    def close(self) -> None:
        if not self.closed:
            self._handle.close()
        super().close()
