"""The segmented AES-256-GCM blob format: round trips, ranged reads, and every kind of tampering."""

from __future__ import annotations

import array
import hashlib
import io
import math
import os
import random
import struct

import pytest

from opendems.adapters.crypto.envelope import (
    HEADER_SIZE,
    MAGIC,
    SEGMENT_OVERHEAD,
    BlobIntegrityError,
    EncryptedBlobReader,
    EncryptingWriter,
    Header,
    SegmentCipher,
    new_header,
    open_data_key,
)
from opendems.adapters.crypto.keys import KeyEncryptionKey, Keyring

SEG = 1024
SIZES = [1, SEG - 1, SEG, SEG + 1, 3 * SEG, 3 * SEG + 17]
SECRET = os.urandom(32)


def keyring(secret: bytes = SECRET, key_id: str = "k1") -> Keyring:
    return Keyring(KeyEncryptionKey(key_id, secret))


def chunked(data: bytes, rng: random.Random, *, max_chunk: int) -> list[bytes | bytearray | memoryview]:
    """Split data into random pieces of mixed types, some empty, some longer than a segment."""
    pieces: list[bytes | bytearray | memoryview] = []
    pos = 0
    while pos < len(data):
        n = rng.choice([0, 1, rng.randint(1, max_chunk), rng.randint(1, max_chunk)])
        piece = data[pos : pos + n]
        kind = rng.randrange(3)
        pieces.append(memoryview(piece) if kind == 0 else bytearray(piece) if kind == 1 else piece)
        pos += n
    return pieces


def encrypt(
    data: bytes, ring: Keyring | None = None, *, seg: int = SEG, seed: int = 0, max_chunk: int = 3 * SEG
) -> tuple[bytes, EncryptingWriter]:
    header, key = new_header(ring or keyring(), seg)
    out = io.BytesIO()
    out.write(header.pack())
    writer = EncryptingWriter(out, SegmentCipher(header, key))
    for piece in chunked(data, random.Random(seed), max_chunk=max_chunk):
        writer.write(piece)
    writer.finish()
    return out.getvalue(), writer


def open_blob(blob: bytes, ring: Keyring | None = None) -> EncryptedBlobReader:
    return EncryptedBlobReader(io.BytesIO(blob), len(blob), ring or keyring())


def read_all(blob: bytes, ring: Keyring | None = None) -> bytes:
    return b"".join(open_blob(blob, ring).iter_all())


def segment_offset(index: int) -> int:
    return HEADER_SIZE + index * (SEG + SEGMENT_OVERHEAD)


def flip(blob: bytes, pos: int) -> bytes:
    out = bytearray(blob)
    out[pos] ^= 0x01
    return bytes(out)


def with_header(blob: bytes, header: Header) -> bytes:
    return header.pack() + blob[HEADER_SIZE:]


DATA = os.urandom(3 * SEG + 17)  # four segments: three full, one of 17 bytes


@pytest.fixture(scope="module")
def blob() -> bytes:
    return encrypt(DATA)[0]


# -- round trips -----------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_round_trip(size: int, seed: int) -> None:
    data = os.urandom(size)
    blob, writer = encrypt(data, seed=seed)
    assert writer.hasher.hexdigest() == hashlib.sha256(data).hexdigest()
    assert writer.size == size
    assert writer.pending == b""
    segments = math.ceil(size / SEG)
    assert len(blob) == HEADER_SIZE + size + segments * SEGMENT_OVERHEAD
    assert writer.next_index == segments
    reader = open_blob(blob)
    assert reader.size == size
    assert read_all(blob) == data
    assert b"".join(reader.iter_range(0, size - 1)) == data


@pytest.mark.parametrize("size", SIZES)
def test_round_trip_in_one_write_and_byte_by_byte(size: int) -> None:
    data = os.urandom(size)
    ring = keyring()
    for pieces in ([data], [data[i : i + 1] for i in range(size)], [memoryview(data)]):
        header, key = new_header(ring, SEG)
        out = io.BytesIO(header.pack())
        out.seek(0, io.SEEK_END)
        writer = EncryptingWriter(out, SegmentCipher(header, key))
        for piece in pieces:
            writer.write(piece)
        writer.finish()
        assert read_all(out.getvalue(), ring) == data
        assert writer.hasher.hexdigest() == hashlib.sha256(data).hexdigest()


class WindowSink:
    """A sink with a buffer of ``room`` bytes that offers space for segments to be sealed
    into in place (``space``/``advance``), and flushes to ``out`` when full."""

    def __init__(self, out: io.BytesIO, room: int) -> None:
        self.out = out
        self.buf = bytearray(room)
        self.fill = 0
        self.in_place = 0
        self.written = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += 1
        mv = memoryview(data).cast("B")
        while mv:
            take = min(len(mv), len(self.buf) - self.fill)
            self.buf[self.fill : self.fill + take] = mv[:take]
            mv = mv[take:]
            self._grow(take)

    def space(self, n: int) -> memoryview | None:
        return memoryview(self.buf)[self.fill : self.fill + n] if self.fill + n <= len(self.buf) else None

    def advance(self, n: int) -> None:
        self.in_place += 1
        self._grow(n)

    def _grow(self, n: int) -> None:
        self.fill += n
        if self.fill == len(self.buf):
            self.flush()

    def flush(self) -> None:
        self.out.write(self.buf[: self.fill])
        self.fill = 0


@pytest.mark.parametrize("size", SIZES)
def test_segments_sealed_in_place_in_a_sink_that_has_room(size: int) -> None:
    data = os.urandom(size)
    ring = keyring()
    header, key = new_header(ring, SEG)
    out = io.BytesIO(header.pack())
    out.seek(0, io.SEEK_END)
    sink = WindowSink(out, room=2 * (SEG + SEGMENT_OVERHEAD) + 100)  # room for some, not all
    writer = EncryptingWriter(sink, SegmentCipher(header, key))
    for piece in chunked(data, random.Random(size), max_chunk=3 * SEG):
        writer.write(piece)
    writer.finish()
    sink.flush()
    assert read_all(out.getvalue(), ring) == data
    segments = math.ceil(size / SEG)
    assert sink.in_place + sink.written == segments  # each segment went one way or the other
    assert sink.in_place >= 1
    if segments >= 3:  # the third segment no longer fits the window: written the usual way
        assert sink.written >= 1


def test_memoryview_of_non_byte_items_is_written_as_bytes() -> None:
    values = array.array("I", range(700))  # 2800 bytes, 4-byte items
    data = values.tobytes()
    header, key = new_header(keyring(), SEG)
    out = io.BytesIO()
    out.write(header.pack())
    writer = EncryptingWriter(out, SegmentCipher(header, key))
    writer.write(memoryview(values))
    writer.finish()
    assert writer.size == len(data)
    assert read_all(out.getvalue()) == data


def test_no_plaintext_on_the_wire() -> None:
    marker = b"SUSPECT-PLATE-XYZ-1234" * 20
    blob, _ = encrypt(os.urandom(100) + marker + os.urandom(2000))
    assert b"SUSPECT-PLATE" not in blob
    assert blob.startswith(MAGIC)


def test_same_plaintext_encrypts_differently() -> None:
    a, _ = encrypt(DATA)
    b, _ = encrypt(DATA)
    assert a[HEADER_SIZE:] != b[HEADER_SIZE:]  # a fresh data key per blob
    assert read_all(a) == read_all(b) == DATA


def test_resuming_a_writer_mid_stream() -> None:
    """A writer rebuilt from (next_index, pending, hasher, size) continues the same blob."""
    data = os.urandom(5 * SEG + 300)
    ring = keyring()
    header, key = new_header(ring, SEG)
    out = io.BytesIO()
    out.write(header.pack())
    first = EncryptingWriter(out, SegmentCipher(header, key))
    first.write(data[:2500])
    state = (first.next_index, first.pending, first.hasher.copy(), first.size)
    assert state[0] == 2 and len(state[1]) == 2500 - 2 * SEG and state[3] == 2500
    second = EncryptingWriter(
        out,
        SegmentCipher(header, open_data_key(header, ring)),
        next_index=state[0],
        pending=state[1],
        hasher=state[2],
        size=state[3],
    )
    second.write(data[2500:])
    second.finish()
    assert second.hasher.hexdigest() == hashlib.sha256(data).hexdigest()
    assert read_all(out.getvalue(), ring) == data


@pytest.mark.parametrize("size", [SEG, 2 * SEG, 3 * SEG + 17, 4 * SEG])
def test_with_a_known_length_full_segments_are_sealed_as_they_fill(size: int) -> None:
    """Knowing the stream's size, the writer holds nothing back at a segment boundary short
    of the end (so a resumable upload's saved state carries no held-back segment), and the
    one segment that ends the stream is still the one marked final."""
    data = os.urandom(size)
    ring = keyring()
    header, key = new_header(ring, SEG)
    out = io.BytesIO()
    out.write(header.pack())
    writer = EncryptingWriter(out, SegmentCipher(header, key), length=size)
    for at in range(0, size, SEG):  # chunks that end on segment boundaries
        writer.write(data[at : at + SEG])
        ends_stream = at + SEG >= size
        assert writer.pending == (data[at : at + SEG] if ends_stream else b"")
        assert writer.next_index == (at // SEG if ends_stream else at // SEG + 1)
    writer.finish()
    assert read_all(out.getvalue(), ring) == data

    # Rebuilt mid-stream from its state, as after a restart, with the length known again.
    cut = SEG
    out = io.BytesIO()
    out.write(header.pack())
    first = EncryptingWriter(out, SegmentCipher(header, key), length=size)
    first.write(data[:cut])
    second = EncryptingWriter(
        out,
        SegmentCipher(header, key),
        next_index=first.next_index,
        pending=first.pending,
        hasher=first.hasher.copy(),
        size=first.size,
        length=size,
    )
    second.write(data[cut:])
    second.finish()
    assert read_all(out.getvalue(), ring) == data


def test_empty_stream_cannot_finish() -> None:
    header, key = new_header(keyring(), SEG)
    writer = EncryptingWriter(io.BytesIO(), SegmentCipher(header, key))
    with pytest.raises(ValueError):
        writer.finish()
    writer.write(b"")
    writer.write(memoryview(b""))
    with pytest.raises(ValueError):
        writer.finish()


# -- ranged reads ----------------------------------------------------------------------------


def interesting_ranges(size: int) -> list[tuple[int, int]]:
    points = {0, 1, size - 1, size - 2}
    for k in range(1, size // SEG + 1):
        points |= {k * SEG - 1, k * SEG, k * SEG + 1}
    points = {p for p in points if 0 <= p < size}
    ranges = [(a, b) for a in points for b in points if a <= b]
    rng = random.Random(size)
    for _ in range(60):
        a = rng.randrange(size)
        ranges.append((a, rng.randrange(a, size)))
    return ranges


@pytest.mark.parametrize("size", SIZES)
def test_iter_range_returns_exactly_the_slice(size: int) -> None:
    data = os.urandom(size)
    reader = open_blob(encrypt(data)[0])
    for a, b in interesting_ranges(size):
        assert b"".join(reader.iter_range(a, b)) == data[a : b + 1], (a, b)
    assert b"".join(reader.iter_range(size - 1, size - 1)) == data[-1:]


def test_iter_range_decrypts_only_the_segments_it_needs(blob: bytes) -> None:
    reader = open_blob(blob)
    pieces = list(reader.iter_range(SEG - 2, 2 * SEG + 1))
    assert [len(p) for p in pieces] == [2, SEG, 2]
    assert len(list(reader.iter_range(SEG, 2 * SEG - 1))) == 1
    # Damage in segment 3 does not stop a read of segment 0 (only what is read is checked).
    damaged = open_blob(flip(blob, segment_offset(3) + 2))
    assert b"".join(damaged.iter_range(0, 99)) == DATA[:100]


@pytest.mark.parametrize(("a", "b"), [(-1, 5), (5, 4), (0, len(DATA)), (len(DATA), len(DATA))])
def test_iter_range_rejects_ranges_outside_the_blob(blob: bytes, a: int, b: int) -> None:
    with pytest.raises(ValueError):
        list(open_blob(blob).iter_range(a, b))


# -- tampering -------------------------------------------------------------------------------


def assert_rejected(blob: bytes, ring: Keyring | None = None) -> None:
    with pytest.raises(BlobIntegrityError):
        read_all(blob, ring)


def test_untampered_fixture_reads(blob: bytes) -> None:
    assert read_all(blob) == DATA


@pytest.mark.parametrize("index", [0, 1, 2, 3])
@pytest.mark.parametrize("where", ["first", "middle", "last-plaintext", "tag-first", "tag-last"])
def test_flipped_byte_in_any_segment_or_tag(blob: bytes, index: int, where: str) -> None:
    start = segment_offset(index)
    length = (SEG if index < 3 else 17) + SEGMENT_OVERHEAD
    pos = {
        "first": start,
        "middle": start + (length - SEGMENT_OVERHEAD) // 2,
        "last-plaintext": start + length - SEGMENT_OVERHEAD - 1,
        "tag-first": start + length - SEGMENT_OVERHEAD,
        "tag-last": start + length - 1,
    }[where]
    assert pos < len(blob)
    assert_rejected(flip(blob, pos))


def test_every_single_bit_position_of_a_small_blob_is_protected() -> None:
    blob, _ = encrypt(os.urandom(40), seg=16)
    for pos in range(HEADER_SIZE, len(blob)):
        assert_rejected(flip(blob, pos))


@pytest.mark.parametrize("size", [SEG + 1, 2 * SEG, 3 * SEG + 17])
def test_dropping_the_final_segment_is_detected(size: int) -> None:
    data = os.urandom(size)
    blob, _ = encrypt(data)
    segments = math.ceil(size / SEG)
    truncated = blob[: segment_offset(segments - 1)]  # ends exactly on a segment boundary
    assert (len(truncated) - HEADER_SIZE) % (SEG + SEGMENT_OVERHEAD) == 0
    assert_rejected(truncated)


@pytest.mark.parametrize("cut", [1, 5, 16, 17, SEGMENT_OVERHEAD + 10, SEG // 2, SEG + SEGMENT_OVERHEAD - 1])
def test_truncation_mid_segment_is_detected(blob: bytes, cut: int) -> None:
    assert_rejected(blob[: segment_offset(1) + cut])  # keeps segment 0 and a piece of segment 1


@pytest.mark.parametrize("keep", [0, 1, SEGMENT_OVERHEAD, SEGMENT_OVERHEAD + 1])
def test_truncation_of_the_tail_segment_is_detected(blob: bytes, keep: int) -> None:
    assert_rejected(blob[: segment_offset(3) + keep])


@pytest.mark.parametrize("length", [0, 10, HEADER_SIZE - 1, HEADER_SIZE, HEADER_SIZE + SEGMENT_OVERHEAD])
def test_blob_without_data_is_rejected(blob: bytes, length: int) -> None:
    assert_rejected(blob[:length])


@pytest.mark.parametrize("extra", [1, 15, 16, 17, SEG + SEGMENT_OVERHEAD])
def test_appended_bytes_are_detected(blob: bytes, extra: int) -> None:
    assert_rejected(blob + os.urandom(extra))


def test_appending_a_copy_of_a_segment_is_detected(blob: bytes) -> None:
    seg1 = blob[segment_offset(1) : segment_offset(2)]
    assert_rejected(blob[: segment_offset(3)] + seg1 + blob[segment_offset(3) :])


@pytest.mark.parametrize(("i", "j"), [(0, 1), (1, 2), (0, 2)])
def test_swapping_two_segments_is_detected(blob: bytes, i: int, j: int) -> None:
    segs = [blob[segment_offset(k) : segment_offset(k + 1)] for k in range(3)]
    segs[i], segs[j] = segs[j], segs[i]
    assert_rejected(blob[:HEADER_SIZE] + b"".join(segs) + blob[segment_offset(3) :])


def test_swapping_equal_length_final_and_other_segment_is_detected() -> None:
    data = os.urandom(2 * SEG)  # two full segments: the final one has the same length
    blob, _ = encrypt(data)
    a, b = blob[segment_offset(0) : segment_offset(1)], blob[segment_offset(1) :]
    assert len(a) == len(b)
    assert_rejected(blob[:HEADER_SIZE] + b + a)


@pytest.mark.parametrize(
    "new_seg", [SEG // 2, SEG - 1, SEG + 1, SEG + SEGMENT_OVERHEAD, 2 * SEG, 4 * SEG + 100, 1]
)
def test_changing_the_header_segment_size_is_detected(blob: bytes, new_seg: int) -> None:
    header = Header.unpack(blob[:HEADER_SIZE])
    assert_rejected(with_header(blob, Header(new_seg, header.kek_id, header.wrapped_key)))


def test_zero_segment_size_is_malformed(blob: bytes) -> None:
    raw = bytearray(blob)
    raw[len(MAGIC) : len(MAGIC) + 4] = struct.pack(">I", 0)
    assert_rejected(bytes(raw))


def test_altered_magic_is_rejected(blob: bytes) -> None:
    assert_rejected(flip(blob, 0))
    assert_rejected(b"ODEMSB2\x00" + blob[len(MAGIC) :])


@pytest.mark.parametrize("byte", [0, 7, 20, 39])
def test_altered_wrapped_key_is_detected(blob: bytes, byte: int) -> None:
    header = Header.unpack(blob[:HEADER_SIZE])
    wrapped = bytearray(header.wrapped_key)
    wrapped[byte] ^= 0x80
    assert_rejected(with_header(blob, Header(header.segment_size, header.kek_id, bytes(wrapped))))


def test_wrapped_key_from_another_blob_is_detected(blob: bytes) -> None:
    other, _ = encrypt(DATA)
    assert_rejected(other[:HEADER_SIZE] + blob[HEADER_SIZE:])


def test_wrong_key_length_field_is_malformed(blob: bytes) -> None:
    raw = bytearray(blob)
    offset = len(MAGIC) + 4 + 16  # magic, segment size, key id
    raw[offset : offset + 2] = struct.pack(">H", 32)
    assert_rejected(bytes(raw))


def test_different_kek_with_the_same_id_cannot_open(blob: bytes) -> None:
    assert_rejected(blob, keyring(os.urandom(32), "k1"))


def test_unknown_kek_id_cannot_open(blob: bytes) -> None:
    with pytest.raises(BlobIntegrityError, match="k1"):
        read_all(blob, keyring(SECRET, "k2"))
    header = Header.unpack(blob[:HEADER_SIZE])
    renamed = with_header(blob, Header(header.segment_size, "k9", header.wrapped_key))
    assert_rejected(renamed)  # the right secret under another id is not looked up


def test_older_kek_still_opens_after_rotation(blob: bytes) -> None:
    new = KeyEncryptionKey("k2", os.urandom(32))
    rotated = Keyring(new, [KeyEncryptionKey("k1", SECRET)])
    assert read_all(blob, rotated) == DATA
    fresh, _ = encrypt(b"after rotation", rotated)
    assert Header.unpack(fresh[:HEADER_SIZE]).kek_id == "k2"
    assert read_all(fresh, Keyring(new)) == b"after rotation"
    assert_rejected(fresh, keyring())  # the old key alone cannot open the new blob


def test_rewrapping_the_header_keeps_the_segments(blob: bytes) -> None:
    old_ring = keyring()
    header = Header.unpack(blob[:HEADER_SIZE])
    data_key = open_data_key(header, old_ring)
    new = KeyEncryptionKey("k2", os.urandom(32))
    rewrapped = with_header(blob, Header(header.segment_size, "k2", new.wrap(data_key)))
    assert rewrapped[HEADER_SIZE:] == blob[HEADER_SIZE:]
    assert read_all(rewrapped, Keyring(new)) == DATA
    assert_rejected(rewrapped, old_ring)


def test_header_round_trip(blob: bytes) -> None:
    header = Header.unpack(blob[:HEADER_SIZE])
    assert header.segment_size == SEG
    assert header.kek_id == "k1"
    assert len(header.wrapped_key) == 40
    assert header.pack() == blob[:HEADER_SIZE]
    assert len(header.pack()) == HEADER_SIZE


# -- the resumable tail ----------------------------------------------------------------------


def cipher(seg: int = SEG, ring: Keyring | None = None) -> SegmentCipher:
    header, key = new_header(ring or keyring(), seg)
    return SegmentCipher(header, key)


@pytest.mark.parametrize("pending", [b"", b"x", os.urandom(SEG - 1), os.urandom(SEG)])
@pytest.mark.parametrize("committed", [0, 1, 7, 2**40])
def test_tail_round_trip(pending: bytes, committed: int) -> None:
    c = cipher()
    sealed = c.seal_tail(committed, pending)
    assert len(sealed) == len(pending) + SEGMENT_OVERHEAD
    assert c.open_tail(committed, sealed) == pending
    if len(pending) >= 8:
        assert pending not in sealed


def test_tail_uses_a_fresh_nonce_each_time() -> None:
    c = cipher()
    assert c.seal_tail(3, b"same bytes") != c.seal_tail(3, b"same bytes")


def test_tail_tampering_is_detected() -> None:
    c = cipher()
    sealed = c.seal_tail(5, b"pending bytes of an upload")
    for pos in [0, 11, 12, 20, len(sealed) - SEGMENT_OVERHEAD, len(sealed) - 1]:
        with pytest.raises(BlobIntegrityError):
            c.open_tail(5, flip(sealed, pos))
    with pytest.raises(BlobIntegrityError):
        c.open_tail(5, sealed[:-1])
    with pytest.raises(BlobIntegrityError):
        c.open_tail(5, sealed + b"\0")


@pytest.mark.parametrize("length", [0, 1, 7, 8, 11, 12, 27])
def test_truncated_tail_is_an_integrity_error(length: int) -> None:
    """A damaged tail file must read as damage, whatever is left of it."""
    c = cipher()
    sealed = c.seal_tail(5, b"pending bytes")
    with pytest.raises(BlobIntegrityError):
        c.open_tail(5, sealed[:length])


def test_tail_is_bound_to_its_committed_count_and_blob() -> None:
    c = cipher()
    sealed = c.seal_tail(5, b"pending")
    with pytest.raises(BlobIntegrityError):
        c.open_tail(4, sealed)
    with pytest.raises(BlobIntegrityError):
        c.open_tail(6, sealed)
    with pytest.raises(BlobIntegrityError):
        cipher().open_tail(5, sealed)  # another blob's data key
    # Same data key, different segment size in the header: the tail belongs to another layout.
    header = c.header
    data_key = open_data_key(header, keyring())
    other_layout = SegmentCipher(Header(SEG * 2, header.kek_id, header.wrapped_key), data_key)
    with pytest.raises(BlobIntegrityError):
        other_layout.open_tail(5, sealed)
    assert SegmentCipher(header, data_key).open_tail(5, sealed) == b"pending"


def test_segment_cipher_binds_index_and_finality() -> None:
    c = cipher()
    sealed = c.seal(4, b"segment four", final=False)
    assert c.open(4, sealed, final=False) == b"segment four"
    for index, final in [(4, True), (3, False), (5, False)]:
        with pytest.raises(BlobIntegrityError):
            c.open(index, sealed, final)
