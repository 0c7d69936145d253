"""Streaming a ZIP (``domain.ziplayout``) from stored files, from any byte on.

CRC-32s are taken from what is already known (remembered from earlier downloads) or
computed while the member's bytes go out; a range that starts after a member whose CRC-32 is
not known reads that member once more to learn it.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator

from opendems.domain.ziplayout import ZipLayout, descriptor

Reader = Callable[[int, int, int], Iterator[bytes]]  # (member index, first, last byte) -> chunks


def stream_zip(
    layout: ZipLayout, start: int, end: int, read: Reader, crcs: dict[str, int]
) -> Iterator[bytes]:
    """Bytes ``start``..``end`` (inclusive) of the archive. ``crcs`` maps member keys to
    their CRC-32; what is learnt on the way is added to it (the caller remembers it)."""

    def crc_of(i: int) -> int:
        m = layout.members[i]
        if m.key not in crcs:
            crc = 0
            if m.size:
                for chunk in read(i, 0, m.size - 1):
                    crc = zlib.crc32(chunk, crc)
            crcs[m.key] = crc
        return crcs[m.key]

    for part, a, b in layout.parts_in(start, end):
        if part.kind == "raw":
            yield layout.headers[part.member][a : b + 1]
        elif part.kind == "data":
            m = layout.members[part.member]
            whole = a == 0 and b == m.size - 1 and m.key not in crcs
            crc = 0
            for chunk in read(part.member, a, b):
                if whole:
                    crc = zlib.crc32(chunk, crc)
                yield chunk
            if whole:
                crcs[m.key] = crc
        elif part.kind == "descriptor":
            yield descriptor(layout.members[part.member], crc_of(part.member))[a : b + 1]
        else:
            yield layout.central([crc_of(i) for i in range(len(layout.members))])[a : b + 1]
