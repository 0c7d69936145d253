"""The byte layout of a stored (uncompressed) ZIP64 archive, known before any content is read.

A whole-share download or a court package is streamed as a ZIP of files that may together
be far larger than memory or 4 GiB. Evidence is already compressed (video, photos), so
members are stored as they are; then every offset depends only on the names and sizes, and
the archive's length is known before its first byte goes out (a ``Content-Length`` for the
browser, and ``Range`` requests to resume a broken download).

Each member is written as: local header (CRC and sizes deferred, general-purpose flag bit 3),
its bytes, a ZIP64 data descriptor (CRC-32 and sizes). The CRC-32 of a member is needed only
after its bytes, in its descriptor and in the central directory, so streaming can begin at
once. The same members and times give byte-identical archives, so a resumed range continues
exactly the bytes the first request sent (APPNOTE.TXT 6.3.10, sections 4.3 and 4.5).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

_LOCAL = 0x04034B50
_DESCRIPTOR = 0x08074B50
_CENTRAL = 0x02014B50
_END64 = 0x06064B50
_LOCATOR64 = 0x07064B50
_END = 0x06054B50
_VERSION = 45  # 4.5: ZIP64
_MADE_BY = (3 << 8) | _VERSION  # UNIX
_FLAGS = 0x0808  # bit 3: sizes and CRC in the data descriptor; bit 11: UTF-8 names
_FILE_MODE = 0o100644 << 16
_DESCRIPTOR_SIZE = 24
_MAX16 = 0xFFFF
_MAX32 = 0xFFFFFFFF


@dataclass(frozen=True)
class ZipMember:
    name: str  # the path inside the archive, "/"-separated
    size: int
    key: str  # names the content (its SHA-256): CRC-32s are remembered by it
    modified: datetime


@dataclass(frozen=True)
class Part:
    """A slice of the archive: ``kind`` is "raw" (fixed bytes), "data" (a member's bytes),
    "descriptor" (needs the member's CRC-32) or "central" (needs every CRC-32)."""

    kind: str
    member: int  # index into the members; -1 for the central directory
    offset: int  # where the part starts in the archive
    length: int


def _dos_time(moment: datetime) -> tuple[int, int]:
    year = min(max(moment.year, 1980), 2107)
    date = ((year - 1980) << 9) | (moment.month << 5) | moment.day
    time = (moment.hour << 11) | (moment.minute << 5) | (moment.second // 2)
    return time, date


def _name(member: ZipMember) -> bytes:
    return member.name.encode("utf-8")


def local_header(member: ZipMember) -> bytes:
    name = _name(member)
    time, date = _dos_time(member.modified)
    extra = struct.pack("<HHQQ", 0x0001, 16, 0, 0)  # ZIP64: sizes follow in the descriptor
    return (
        struct.pack(
            "<IHHHHHIIIHH", _LOCAL, _VERSION, _FLAGS, 0, time, date, 0, _MAX32, _MAX32, len(name), len(extra)
        )
        + name
        + extra
    )


def descriptor(member: ZipMember, crc: int) -> bytes:
    return struct.pack("<IIQQ", _DESCRIPTOR, crc, member.size, member.size)


class ZipLayout:
    """Where everything of the archive lies; ``len(layout)`` is its size in bytes."""

    def __init__(self, members: Sequence[ZipMember]) -> None:
        names = [m.name for m in members]
        if len(set(names)) != len(names):
            raise ValueError("two members of the archive have the same name")
        self.members = list(members)
        self.headers = [local_header(m) for m in self.members]
        self.parts: list[Part] = []
        self.member_offsets: list[int] = []
        at = 0
        for i, (m, head) in enumerate(zip(self.members, self.headers, strict=True)):
            self.member_offsets.append(at)
            self.parts.append(Part("raw", i, at, len(head)))
            at += len(head)
            if m.size:
                self.parts.append(Part("data", i, at, m.size))
            at += m.size
            self.parts.append(Part("descriptor", i, at, _DESCRIPTOR_SIZE))
            at += _DESCRIPTOR_SIZE
        self.central_offset = at
        central = sum(46 + len(_name(m)) + 28 for m in self.members)
        self.central_size = central
        self.parts.append(Part("central", -1, at, central + 56 + 20 + 22))
        self.size = at + central + 56 + 20 + 22

    def __len__(self) -> int:
        return self.size

    def central(self, crcs: Sequence[int]) -> bytes:
        """The central directory and the end records, given every member's CRC-32."""
        out = bytearray()
        for m, crc, offset in zip(self.members, crcs, self.member_offsets, strict=True):
            name = _name(m)
            time, date = _dos_time(m.modified)
            extra = struct.pack("<HHQQQ", 0x0001, 24, m.size, m.size, offset)
            out += struct.pack(
                "<IHHHHHHIIIHHHHHII",
                _CENTRAL,
                _MADE_BY,
                _VERSION,
                _FLAGS,
                0,
                time,
                date,
                crc,
                _MAX32,
                _MAX32,
                len(name),
                len(extra),
                0,
                0,
                0,
                _FILE_MODE,
                _MAX32,
            )
            out += name + extra
        count = len(self.members)
        end64_at = self.central_offset + len(out)
        out += struct.pack(
            "<IQHHIIQQQQ",
            _END64,
            44,
            _MADE_BY,
            _VERSION,
            0,
            0,
            count,
            count,
            self.central_size,
            self.central_offset,
        )
        out += struct.pack("<IIQI", _LOCATOR64, 0, end64_at, 1)
        out += struct.pack("<IHHHHIIH", _END, 0, 0, min(count, _MAX16), min(count, _MAX16), _MAX32, _MAX32, 0)
        return bytes(out)

    def parts_in(self, start: int, end: int) -> list[tuple[Part, int, int]]:
        """The parts that bytes ``start``..``end`` (inclusive) touch, each with the slice of
        it wanted (offsets within the part, inclusive)."""
        wanted = []
        for part in self.parts:
            last = part.offset + part.length - 1
            if part.length == 0 or last < start or part.offset > end:
                continue
            wanted.append((part, max(start, part.offset) - part.offset, min(end, last) - part.offset))
        return wanted
