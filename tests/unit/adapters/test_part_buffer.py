"""The S3 store's part buffer: parts of exactly the part size, handed on whole, their buffers
reused once sent; segments sealed in place where a part has room."""

from __future__ import annotations

import os
import random
from concurrent.futures import Future
from typing import Any

from opendems.adapters.blobs.s3 import _PartBuffer
from opendems.buffers import BufferPool

PART = 4096


class Sent:
    """Records each part as it was when handed on; its sending finishes when told."""

    def __init__(self, *, finish_at_once: bool = True) -> None:
        self.parts: list[bytes] = []
        self.buffers: list[bytearray] = []
        self.pending: list[Future[Any]] = []
        self._at_once = finish_at_once

    def __call__(self, buf: bytearray) -> Future[Any]:
        self.parts.append(bytes(buf))
        self.buffers.append(buf)
        sent: Future[Any] = Future()
        if self._at_once:
            sent.set_result("etag")
        else:
            self.pending.append(sent)
        return sent


def test_parts_are_exactly_the_part_size_and_hold_the_bytes_in_order() -> None:
    data = os.urandom(5 * PART + 123)
    sent = Sent()
    buffer = _PartBuffer(BufferPool(PART, bytearray), sent, initial=b"head")
    rng = random.Random(7)
    pos = 0
    while pos < len(data):
        n = rng.randint(1, 3 * PART)
        buffer.write(data[pos : pos + n])
        pos += n
    rest = buffer.take()
    assert [len(p) for p in sent.parts] == [PART] * 5
    assert b"".join(sent.parts) + rest == b"head" + data
    assert len(buffer) == 0


def test_a_sent_part_s_buffer_is_reused_and_an_unsent_one_is_not() -> None:
    pool = BufferPool(PART, bytearray)
    sent = Sent(finish_at_once=False)
    buffer = _PartBuffer(pool, sent)
    buffer.write(os.urandom(PART))  # part 1 handed on, still being sent; part 2 fills another
    sent.pending[0].set_result("etag")  # part 1 is sent: its buffer goes back to the pool
    buffer.write(os.urandom(PART))  # part 2 handed on; part 3 fills part 1's buffer
    buffer.write(os.urandom(PART))
    assert sent.buffers[1] is not sent.buffers[0]
    assert sent.buffers[2] is sent.buffers[0]
    buffer.write(os.urandom(PART))  # part 2 is still being sent: part 4 needs a new buffer
    assert all(sent.buffers[3] is not b for b in sent.buffers[:3])
    assert len(sent.parts) == 4 and all(len(p) == PART for p in sent.parts)


def test_closing_gives_the_buffer_back_once() -> None:
    pool = BufferPool(PART, bytearray, keep=4)
    buffer = _PartBuffer(pool, Sent(), initial=b"x")
    mine = buffer._buf
    buffer.close()
    buffer.close()
    assert pool.get() is mine
    assert pool.get() is not mine  # given back once, not twice


def test_the_pool_keeps_at_most_its_limit() -> None:
    pool = BufferPool(PART, bytearray, keep=2)
    bufs = [pool.get() for _ in range(4)]
    for b in bufs:
        pool.give(b)
    assert {id(pool.get()), id(pool.get())} == {id(bufs[0]), id(bufs[1])}
    fresh = pool.get()
    assert all(fresh is not b for b in bufs)  # a fresh one: the other two were dropped
    pool.give(bytearray(PART - 1))  # not a part's size: never kept
    assert len(pool.get()) == PART


def test_space_is_offered_only_where_the_part_has_room() -> None:
    sent = Sent()
    buffer = _PartBuffer(BufferPool(PART, bytearray), sent)
    view = buffer.space(PART - 10)
    assert view is not None
    view[:] = b"a" * (PART - 10)
    buffer.advance(PART - 10)
    assert buffer.space(11) is None  # does not fit: the caller writes (and the part splits)
    tail = buffer.space(10)
    assert tail is not None
    tail[:] = b"b" * 10
    buffer.advance(10)  # exactly full: handed on
    assert sent.parts == [b"a" * (PART - 10) + b"b" * 10]
    assert len(buffer) == 0


def test_aligned_buffers_are_page_aligned_and_shared_per_size() -> None:
    import ctypes
    import mmap

    from opendems.buffers import aligned_pool

    pool = aligned_pool(2 * mmap.PAGESIZE)
    assert aligned_pool(2 * mmap.PAGESIZE) is pool
    buf = pool.get()
    assert isinstance(buf, mmap.mmap) and len(buf) == 2 * mmap.PAGESIZE
    start = ctypes.c_char.from_buffer(buf)
    assert ctypes.addressof(start) % mmap.PAGESIZE == 0
    del start
    pool.give(buf)
    assert pool.get() is buf
