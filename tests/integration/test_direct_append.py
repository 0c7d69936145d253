"""Appends that bypass the page cache, on the real disk: bytes written through ``write`` and
bytes filled in place (``space``/``advance``) land in order, across block boundaries, and an
append at an unaligned offset keeps what was there."""

from __future__ import annotations

import os
import random
from pathlib import Path

from opendems.adapters.blobs.direct import ALIGN, BLOCK, DirectAppendFile


def fill_in_place(f: DirectAppendFile, data: bytes) -> bool:
    """Put ``data`` in place if the block has room; False (nothing written) if not."""
    view = f.space(len(data))
    if view is None:
        return False
    view[:] = data
    f.advance(len(data))
    return True


def test_written_and_in_place_bytes_land_in_order(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    rng = random.Random(3)
    expected = bytearray()
    in_place = by_write = 0
    f = DirectAppendFile(str(path), create=True)
    while len(expected) < 2 * BLOCK + 12345:
        piece = os.urandom(rng.choice([1, 1000, 65536 + 7, 1024 * 1024 + 28]))
        if rng.random() < 0.6 and fill_in_place(f, piece):
            in_place += 1
        else:
            f.write(piece)
            by_write += 1
        expected += piece
    f.flush_all()
    f.close()
    assert in_place and by_write
    assert path.read_bytes() == bytes(expected)


def test_space_is_refused_past_the_block_end(tmp_path: Path) -> None:
    f = DirectAppendFile(str(tmp_path / "blob"), create=True)
    try:
        assert f.space(BLOCK + 1) is None
        assert fill_in_place(f, b"x" * (BLOCK - 10))
        assert f.space(11) is None
        assert fill_in_place(f, b"y" * 10)  # exactly full: the block goes to disk
        assert f.space(BLOCK) is not None  # the other buffer, empty
    finally:
        f.flush_all()
        f.close()
    assert (tmp_path / "blob").read_bytes() == b"x" * (BLOCK - 10) + b"y" * 10


def test_appending_in_place_at_an_unaligned_offset(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    first = os.urandom(3 * ALIGN + 100)
    path.write_bytes(first)
    f = DirectAppendFile(str(path), create=False, offset=len(first))
    more = os.urandom(5000)
    assert fill_in_place(f, more)
    f.write(b"end")
    f.flush_all()
    f.close()
    assert path.read_bytes() == first + more + b"end"


def test_a_closed_file_s_buffers_serve_the_next_one_and_carry_nothing_over(tmp_path: Path) -> None:
    """Each request of a chunked upload opens its file anew: the buffers come from the
    process's pool instead of being mapped (and faulted in) again, and a reused buffer never
    lets the previous file's bytes into the next."""
    first = DirectAppendFile(str(tmp_path / "a"), create=True)
    first.write(b"\xaa" * (BLOCK + 5000))
    first.flush_all()
    used = {id(b) for b in first._bufs}
    first.close()
    first.close()  # a second close gives nothing back twice

    second = DirectAppendFile(str(tmp_path / "b"), create=True)
    assert {id(b) for b in second._bufs} == used
    second.write(b"\x01" * 3000)
    second.flush_all()
    second.close()
    assert (tmp_path / "b").read_bytes() == b"\x01" * 3000

    third = DirectAppendFile(str(tmp_path / "c"), create=True)
    fourth = DirectAppendFile(str(tmp_path / "d"), create=True)
    assert len({id(b) for b in third._bufs + fourth._bufs}) == 4  # never one buffer twice at once
    third.close()
    fourth.close()
