"""LocalBlobStore on a real directory with a real keyring: commits, resumable uploads, crash recovery."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from opendems.adapters.blobs.direct import BLOCK as DIRECT_BLOCK
from opendems.adapters.blobs.local import LocalBlobStore
from opendems.adapters.crypto.envelope import HEADER_SIZE, SEGMENT_OVERHEAD, BlobIntegrityError
from opendems.adapters.crypto.keys import KeyEncryptionKey, Keyring
from opendems.domain.errors import Conflict, NotFound
from opendems.ports import StagedBlob

SEG = 1024
MARKER = b"PLAINTEXT-MARKER-OPENDEMS-7f3a9c"
OLD = time.time() - 3600  # an mtime old enough for any sweep


@pytest.fixture
def secret() -> bytes:
    return os.urandom(32)


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    return tmp_path / "blobs", tmp_path / "staging"


def make_store(dirs: tuple[Path, Path], secret: bytes) -> LocalBlobStore:
    return LocalBlobStore(dirs[0], dirs[1], Keyring(KeyEncryptionKey("k1", secret)), SEG)


@pytest.fixture
def store(dirs: tuple[Path, Path], secret: bytes) -> LocalBlobStore:
    return make_store(dirs, secret)


def sample(size: int = 5 * SEG + 123) -> bytes:
    body = os.urandom(size)
    middle = size // 2
    return body[:middle] + MARKER + body[middle + len(MARKER) :]


def stage(store: LocalBlobStore, data: bytes, piece: int = 700) -> StagedBlob:
    writer = store.writer()
    for i in range(0, len(data), piece):
        writer.write(memoryview(data)[i : i + piece])
    assert writer.size == len(data)
    return writer.finish()


def read(store: LocalBlobStore, key: str) -> bytes:
    return b"".join(store.read_all(key))


def blob_files(store: LocalBlobStore) -> list[Path]:
    return sorted(p for p in (store.root / "sha256").rglob("*") if p.is_file())


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- single-request writes -------------------------------------------------------------------


def test_write_finish_commit_read(store: LocalBlobStore) -> None:
    data = sample()
    staged = stage(store, data)
    assert staged.sha256 == sha(data)
    assert staged.size == len(data)
    assert staged.head and data.startswith(staged.head)
    assert Path(staged.token).exists()

    key = store.commit(staged)
    assert key == f"sha256/{sha(data)}"
    assert not Path(staged.token).exists()
    assert store.exists(key)
    assert store.size(key) == len(data)
    assert read(store, key) == data
    assert b"".join(store.read_range(key, 1000, 3100)) == data[1000:3101]
    assert b"".join(store.read_range(key, len(data) - 1, len(data) - 1)) == data[-1:]
    store.settle(key)
    assert read(store, key) == data
    assert list(store.parts_dir.iterdir()) == []


def test_committed_blob_is_readable_by_a_new_store_instance(
    store: LocalBlobStore, dirs: tuple[Path, Path], secret: bytes
) -> None:
    data = sample()
    key = store.commit(stage(store, data))
    store.settle(key)
    assert read(make_store(dirs, secret), key) == data
    with pytest.raises(BlobIntegrityError):
        read(make_store(dirs, os.urandom(32)), key)


def test_missing_and_malformed_keys(store: LocalBlobStore) -> None:
    absent = "sha256/" + "0" * 64
    assert not store.exists(absent)
    for bad in ["", "sha256/", "md5/" + "0" * 32, "sha256/../../etc/passwd", "sha256/" + "G" * 64]:
        assert not store.exists(bad)
        with pytest.raises(NotFound):
            read(store, bad)
    with pytest.raises(NotFound):
        read(store, absent)
    with pytest.raises(NotFound):
        store.size(absent)


def test_stored_bytes_are_not_the_plaintext(store: LocalBlobStore) -> None:
    data = sample()
    assert MARKER in data
    staged = stage(store, data)
    assert MARKER not in Path(staged.token).read_bytes()
    key = store.commit(staged)
    store.settle(key)
    (path,) = blob_files(store)
    raw = path.read_bytes()
    assert MARKER not in raw
    assert data[:64] not in raw
    assert len(raw) == HEADER_SIZE + len(data) + SEGMENT_OVERHEAD * -(-len(data) // SEG)
    for p in store.root.rglob("*"):
        if p.is_file():
            assert MARKER not in p.read_bytes()


def test_tampered_committed_blob_fails_to_read(store: LocalBlobStore) -> None:
    data = sample()
    key = store.commit(stage(store, data))
    store.settle(key)
    (path,) = blob_files(store)
    raw = bytearray(path.read_bytes())
    raw[HEADER_SIZE + 2 * (SEG + SEGMENT_OVERHEAD) + 5] ^= 0x40
    path.write_bytes(bytes(raw))
    with pytest.raises(BlobIntegrityError):
        read(store, key)


def test_two_commits_of_the_same_content_leave_one_readable_blob(store: LocalBlobStore) -> None:
    data = sample()
    first = store.commit(stage(store, data))
    store.settle(first)
    second = store.commit(stage(store, data))
    store.settle(second)
    assert first == second
    assert len(blob_files(store)) == 1
    assert read(store, first) == data
    assert list(store.parts_dir.iterdir()) == []
    assert list(store.unsettled_dir.iterdir()) == []


def test_concurrent_commits_of_the_same_content(store: LocalBlobStore) -> None:
    """A second request commits the same bytes while the first is still unsettled."""
    data = sample()
    staged_a, staged_b = stage(store, data), stage(store, data)
    key = store.commit(staged_a)
    errors: list[BaseException] = []

    def commit_b() -> None:
        try:
            store.commit(staged_b)
        except BaseException as exc:  # reported below
            errors.append(exc)

    thread = threading.Thread(target=commit_b, daemon=True)
    thread.start()
    thread.join(0.3)
    store.settle(key)  # the first request's record committed
    thread.join(10)
    assert not thread.is_alive(), "second commit of the same content never returned"
    assert errors == []
    store.settle(key)
    assert len(blob_files(store)) == 1
    assert read(store, key) == data
    assert not Path(staged_b.token).exists()


def test_discard_removes_the_part(store: LocalBlobStore) -> None:
    data = sample()
    staged = stage(store, data)
    store.discard(staged)
    assert not Path(staged.token).exists()
    assert not store.exists(f"sha256/{sha(data)}")
    assert list(store.parts_dir.iterdir()) == []
    assert blob_files(store) == []


def test_abort_removes_the_part(store: LocalBlobStore) -> None:
    writer = store.writer()
    writer.write(b"x" * 3000)
    assert writer.path.exists()
    writer.abort()
    assert not writer.path.exists()
    assert list(store.parts_dir.iterdir()) == []


def test_delete(store: LocalBlobStore) -> None:
    key = store.commit(stage(store, sample()))
    store.settle(key)
    store.delete(key)
    assert not store.exists(key)
    store.delete(key)  # idempotent


# -- resumable uploads -----------------------------------------------------------------------


def pieces(data: bytes, sizes: list[int]) -> list[memoryview]:
    out: list[memoryview] = []
    pos = 0
    i = 0
    while pos < len(data):
        n = sizes[i % len(sizes)]
        out.append(memoryview(data)[pos : pos + n])
        pos += n
        i += 1
    return out


def test_resumable_upload_survives_a_restart(dirs: tuple[Path, Path], secret: bytes) -> None:
    data = sample(7 * SEG + 333)
    first_part, rest = data[: 3 * SEG + 100], data[3 * SEG + 100 :]

    store = make_store(dirs, secret)
    store.create_resumable("up-1")
    assert store.resumable_offset("up-1") == 0
    upload = store.open_resumable("up-1")
    assert upload.offset == 0
    for piece in pieces(first_part, [1, 500, 1024, 2000, 7]):
        upload.append(piece)
    assert upload.offset == len(first_part)
    upload.savepoint()
    upload.close()
    assert store.resumable_offset("up-1") == len(first_part)
    for p in (store.uploads_dir / "up-1").iterdir():
        assert MARKER not in p.read_bytes() and first_part[:64] not in p.read_bytes()

    restarted = make_store(dirs, secret)  # a new process: no cached digest
    assert restarted.resumable_offset("up-1") == len(first_part)
    upload = restarted.open_resumable("up-1")
    assert upload.offset == len(first_part)
    for piece in pieces(rest, [999, 1025, 3]):
        upload.append(piece)
    assert upload.offset == len(data)
    staged = upload.finish()
    upload.close()
    assert staged.sha256 == sha(data)
    assert staged.size == len(data)
    assert data.startswith(staged.head)
    key = restarted.commit(staged)
    restarted.settle(key)
    assert read(restarted, key) == data
    restarted.discard_resumable("up-1")
    assert not (restarted.uploads_dir / "up-1").exists()


def test_resumable_upload_in_one_process_with_several_savepoints(store: LocalBlobStore) -> None:
    data = sample(4 * SEG + 5)
    store.create_resumable("up-2")
    for chunk in pieces(data, [SEG - 1, SEG + 1, 1, 2 * SEG]):
        upload = store.open_resumable("up-2")
        assert upload.offset == store.resumable_offset("up-2")
        upload.append(chunk)
        upload.savepoint()
        upload.close()
    assert store.resumable_offset("up-2") == len(data)
    upload = store.open_resumable("up-2")
    staged = upload.finish()
    upload.close()
    assert staged.sha256 == sha(data)
    assert read(store, store.commit(staged)) == data


def test_upload_advanced_by_another_process_rebuilds_the_digest(
    dirs: tuple[Path, Path], secret: bytes
) -> None:
    """Process A saved at one offset (and cached its digest); process B then carried the upload
    further. When A serves the next request, its cached digest is stale and must not be used."""
    data = sample(6 * SEG + 77)
    a, b = make_store(dirs, secret), make_store(dirs, secret)
    a.create_resumable("up-11")
    for s, (lo, hi) in [(a, (0, 2 * SEG + 5)), (b, (2 * SEG + 5, 4 * SEG)), (a, (4 * SEG, len(data)))]:
        upload = s.open_resumable("up-11")
        assert upload.offset == lo
        upload.append(data[lo:hi])
        upload.savepoint()
        upload.close()
    upload = a.open_resumable("up-11")
    staged = upload.finish()
    upload.close()
    assert staged.sha256 == sha(data)


def test_offset_counts_a_held_back_full_segment(
    store: LocalBlobStore, dirs: tuple[Path, Path], secret: bytes
) -> None:
    data = os.urandom(2 * SEG)  # exactly two segments: the second is held back as pending
    store.create_resumable("up-3")
    upload = store.open_resumable("up-3")
    upload.append(data)
    upload.savepoint()
    upload.close()
    assert store.resumable_offset("up-3") == 2 * SEG
    upload = make_store(dirs, secret).open_resumable("up-3")
    assert upload.offset == 2 * SEG
    staged = upload.finish()
    upload.close()
    assert staged.sha256 == sha(data)


def test_unsaved_bytes_are_lost_on_close(
    store: LocalBlobStore, dirs: tuple[Path, Path], secret: bytes
) -> None:
    saved, unsaved, other = os.urandom(SEG + 10), os.urandom(2 * SEG + 50), os.urandom(700)
    store.create_resumable("up-4")
    upload = store.open_resumable("up-4")
    upload.append(saved)
    upload.savepoint()
    upload.append(unsaved)
    upload.close()  # the request died before its savepoint
    assert store.resumable_offset("up-4") == len(saved)
    for s in (store, make_store(dirs, secret)):
        upload = s.open_resumable("up-4")
        assert upload.offset == len(saved)
        upload.close()
    upload = make_store(dirs, secret).open_resumable("up-4")
    upload.append(other)
    staged = upload.finish()
    upload.close()
    assert staged.sha256 == sha(saved + other)
    assert read(store, store.commit(staged)) == saved + other


@pytest.mark.parametrize("saved_len", [0, 10, SEG, SEG + 10])
def test_rollback_returns_to_the_saved_offset(store: LocalBlobStore, saved_len: int) -> None:
    saved, rejected, good = os.urandom(saved_len), os.urandom(2 * SEG + 7), os.urandom(SEG + 3)
    store.create_resumable("up-5")
    upload = store.open_resumable("up-5")
    if saved:
        upload.append(saved)
        upload.savepoint()
    upload.append(rejected)
    assert upload.offset == saved_len + len(rejected)
    upload.rollback()
    assert upload.offset == saved_len
    assert store.resumable_offset("up-5") == saved_len
    upload.append(good)
    upload.savepoint()
    assert store.resumable_offset("up-5") == saved_len + len(good)
    staged = upload.finish()
    upload.close()
    assert staged.sha256 == sha(saved + good)
    assert read(store, store.commit(staged)) == saved + good


def test_rollback_twice_and_after_a_savepoint(store: LocalBlobStore) -> None:
    a, b, c = os.urandom(1500), os.urandom(1500), os.urandom(1500)
    store.create_resumable("up-6")
    upload = store.open_resumable("up-6")
    upload.append(a)
    upload.savepoint()
    upload.append(b)
    upload.rollback()
    upload.rollback()
    assert upload.offset == len(a)
    upload.append(b)
    upload.savepoint()
    upload.rollback()  # nothing unsaved: a no-op
    assert upload.offset == len(a) + len(b)
    upload.append(c)
    staged = upload.finish()
    upload.close()
    assert staged.sha256 == sha(a + b + c)


def raw_segment(store: LocalBlobStore, upload_id: str, index: int) -> bytes:
    blob = (store.uploads_dir / upload_id / "blob").read_bytes()
    start = HEADER_SIZE + index * (SEG + SEGMENT_OVERHEAD)
    return blob[start : start + SEG]


def xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("how", ["rollback", "reopen"])
def test_rewriting_a_segment_after_rollback_does_not_reuse_the_keystream(
    store: LocalBlobStore, how: str
) -> None:
    """A chunk whose checksum failed is rolled back and sent again. Its segment index is then
    encrypted a second time under the same data key; with the same nonce, the XOR of the two
    ciphertexts is the XOR of the two plaintexts (and the GCM authentication key leaks)."""
    rejected, resent = os.urandom(SEG + 10), os.urandom(SEG + 10)
    store.create_resumable("up-7")
    upload = store.open_resumable("up-7")
    upload.append(rejected)
    upload.append(os.urandom(2 * DIRECT_BLOCK))  # fills both write buffers: the first is on disk
    first = raw_segment(store, "up-7", 0)
    if how == "rollback":
        upload.rollback()
    else:
        upload.close()
        upload = store.open_resumable("up-7")
    upload.append(resent)
    upload.savepoint()
    second = raw_segment(store, "up-7", 0)
    assert first != second
    reused = xor(first, second) == xor(rejected[:SEG], resent[:SEG])
    assert not reused, "segment 0 was encrypted twice with the same key and nonce"
    staged = upload.finish()
    upload.close()
    assert staged.sha256 == sha(resent)


def test_opening_an_upload_twice_is_a_conflict(
    store: LocalBlobStore, dirs: tuple[Path, Path], secret: bytes
) -> None:
    store.create_resumable("up-8")
    upload = store.open_resumable("up-8")
    upload.append(b"a" * 100)
    with pytest.raises(Conflict):
        store.open_resumable("up-8")
    with pytest.raises(Conflict):
        make_store(dirs, secret).open_resumable("up-8")
    upload.append(b"b" * 100)  # the holder is unaffected
    upload.savepoint()
    upload.close()
    again = store.open_resumable("up-8")
    assert again.offset == 200
    again.close()


def test_unknown_upload(store: LocalBlobStore) -> None:
    with pytest.raises(NotFound):
        store.open_resumable("nope")
    with pytest.raises(NotFound):
        store.resumable_offset("nope")
    store.discard_resumable("nope")  # nothing to do, no error


def test_tampered_upload_tail_is_refused(store: LocalBlobStore) -> None:
    store.create_resumable("up-9")
    upload = store.open_resumable("up-9")
    upload.append(os.urandom(SEG + 50))
    upload.savepoint()
    upload.close()
    tail = store.uploads_dir / "up-9" / "tail"
    raw = bytearray(tail.read_bytes())
    raw[-1] ^= 1
    tail.write_bytes(bytes(raw))
    with pytest.raises(BlobIntegrityError):
        store.open_resumable("up-9")
    # The failed open released the upload's lock.
    tail.write_bytes(bytes(raw[:-1]) + bytes([raw[-1] ^ 1]))
    upload = store.open_resumable("up-9")
    assert upload.offset == SEG + 50
    upload.close()


# -- crash recovery --------------------------------------------------------------------------


def test_sweep_removes_only_dead_parts(store: LocalBlobStore, dirs: tuple[Path, Path], secret: bytes) -> None:
    dead = store.parts_dir / "0123456789abcdef.part"
    dead.write_bytes(os.urandom(500))
    os.utime(dead, (OLD, OLD))

    live = store.writer()
    live.write(b"still streaming" * 100)
    waiting = sample()
    staged = stage(store, waiting)  # finished, waiting for its database record
    store.create_resumable("up-10")
    upload = store.open_resumable("up-10")
    upload.append(os.urandom(SEG + 1))
    resumed = upload.finish()  # a finished resumable upload is a held part too
    upload.close()
    for path in (live.path, Path(staged.token), Path(resumed.token)):
        os.utime(path, (OLD, OLD))  # old enough: only the lock keeps them

    assert make_store(dirs, secret).sweep_staging(older_than_s=60) == 1  # another process sweeping
    assert not dead.exists()
    assert live.path.exists() and Path(staged.token).exists() and Path(resumed.token).exists()
    assert store.sweep_staging(older_than_s=60) == 0

    live.write(b" and done")
    done = live.finish()
    assert read(store, store.commit(done)) == b"still streaming" * 100 + b" and done"
    assert read(store, store.commit(staged)) == waiting
    assert store.exists(store.commit(resumed))


def test_sweep_leaves_young_dead_parts(store: LocalBlobStore) -> None:
    dead = store.parts_dir / "fedcba9876543210.part"
    dead.write_bytes(b"x")
    assert store.sweep_staging(older_than_s=600) == 0
    assert dead.exists()
    os.utime(dead, (OLD, OLD))
    assert store.sweep_staging(older_than_s=600) == 1
    assert not dead.exists()


def test_unsettled_while_held_is_not_reported(
    store: LocalBlobStore, dirs: tuple[Path, Path], secret: bytes
) -> None:
    data = sample()
    key = store.commit(stage(store, data))
    marker = store.unsettled_dir / sha(data)  # the claim file of those bytes
    os.utime(marker, (OLD, OLD))
    assert store.unsettled(older_than_s=60) == []
    assert make_store(dirs, secret).unsettled(older_than_s=60) == []  # another process looking
    store.settle(key)
    assert not marker.exists()
    assert store.unsettled(older_than_s=0) == []
    assert read(store, key) == data  # settling keeps the blob


CRASHING_COMMIT = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from opendems.adapters.blobs.local import LocalBlobStore
    from opendems.adapters.crypto.keys import KeyEncryptionKey, Keyring

    root, staging, secret, seg = sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3]), int(sys.argv[4])
    store = LocalBlobStore(Path(root), Path(staging), Keyring(KeyEncryptionKey("k1", secret)), seg)
    writer = store.writer()
    writer.write(sys.stdin.buffer.read())
    print(store.commit(writer.finish()), flush=True)
    live = store.writer()  # a part still being written when the process dies
    live.write(b"unfinished")
    os._exit(0)  # crash: no settle, no cleanup
    """
)


def test_crash_after_commit_is_reported_unsettled(dirs: tuple[Path, Path], secret: bytes) -> None:
    data = sample()
    result = subprocess.run(
        [sys.executable, "-c", CRASHING_COMMIT, str(dirs[0]), str(dirs[1]), secret.hex(), str(SEG)],
        input=data,
        capture_output=True,
        check=True,
        timeout=60,
    )
    key = result.stdout.decode().strip()
    assert key == f"sha256/{sha(data)}"

    store = make_store(dirs, secret)  # the restarted service
    assert store.exists(key)
    assert store.unsettled(older_than_s=600) == []  # too recent to judge
    for path in [*store.unsettled_dir.iterdir(), *store.parts_dir.iterdir()]:
        os.utime(path, (OLD, OLD))
    assert store.unsettled(older_than_s=60) == [key]
    assert store.sweep_staging(older_than_s=60) == 1  # the dead process's unfinished part
    store.settle(key)
    assert store.unsettled(older_than_s=0) == []
    assert read(store, key) == data


def test_a_blob_being_committed_is_never_deleted_as_unreferenced(
    store: LocalBlobStore, dirs: tuple[Path, Path], secret: bytes
) -> None:
    data = sample()
    key = store.commit(stage(store, data))  # committed, its record not yet settled
    other = make_store(dirs, secret)  # another process running recovery
    assert other.unsettled(older_than_s=0) == []
    assert other.delete_unclaimed(key, lambda: False) is False
    assert read(store, key) == data
    store.settle(key)
    assert other.delete_unclaimed(key, lambda: True) is False  # a record holds it: kept
    assert read(store, key) == data
    assert other.delete_unclaimed(key, lambda: False) is True
    assert not store.exists(key)
    assert list(store.unsettled_dir.iterdir()) == []


CRASH_WHILE_FINISHING = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from opendems.adapters.blobs.local import LocalBlobStore
    from opendems.adapters.crypto.keys import KeyEncryptionKey, Keyring

    root, staging, secret, seg = sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3]), int(sys.argv[4])
    store = LocalBlobStore(Path(root), Path(staging), Keyring(KeyEncryptionKey("k1", secret)), seg)
    data = sys.stdin.buffer.read()
    store.create_resumable("up-x")
    upload = store.open_resumable("up-x")
    upload.append(data[:5000])
    upload.savepoint()
    upload.append(data[5000:])
    upload.finish()  # the whole file is staged, but its evidence never commits:
    os._exit(0)  # the process dies here
    """
)


def test_an_upload_whose_finish_died_resumes_from_its_last_savepoint(
    dirs: tuple[Path, Path], secret: bytes
) -> None:
    data = os.urandom(9000)
    subprocess.run(
        [sys.executable, "-c", CRASH_WHILE_FINISHING, str(dirs[0]), str(dirs[1]), secret.hex(), str(SEG)],
        input=data,
        check=True,
        timeout=60,
    )
    store = make_store(dirs, secret)  # the restarted service
    assert store.resumable_offset("up-x") == 5000, "unconfirmed bytes must not count as received"
    upload = store.open_resumable("up-x")  # drops the dead attempt's staged copy
    assert upload.offset == 5000
    upload.append(data[5000:])
    staged = upload.finish()
    upload.close()
    assert staged.sha256 == sha(data)
    assert store.sweep_staging(older_than_s=0) == 0
