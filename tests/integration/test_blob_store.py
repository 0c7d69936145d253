"""The blob stores, on real storage with a real keyring: commits, resumable uploads, crash
recovery. Port behaviour runs against both stores -- a real directory (LocalBlobStore) and a
real S3 server (S3BlobStore on SeaweedFS, see ``tests.stack.seaweed``); what only the local
store has (file locks, O_DIRECT, the crash sweeps driven by file times) is tested on it alone,
and the S3 store's own mechanics are in test_s3_blob_store.py."""

from __future__ import annotations

import hashlib
import os
import secrets
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from opendems.adapters.blobs.direct import BLOCK as DIRECT_BLOCK
from opendems.adapters.blobs.local import LocalBlobStore, _LocalWriter
from opendems.adapters.blobs.s3 import S3BlobStore, _S3Writer
from opendems.adapters.crypto.envelope import HEADER_SIZE, SEGMENT_OVERHEAD, BlobIntegrityError
from opendems.adapters.crypto.keys import KeyEncryptionKey, Keyring
from opendems.config import Settings
from opendems.domain.errors import Conflict, NotFound
from opendems.ports import StagedBlob
from tests.stack.seaweed import S3Target, s3_target

SEG = 1024
PART = 5 * 1024 * 1024  # the S3 store's part size here (S3's smallest)
MARKER = b"PLAINTEXT-MARKER-OPENDEMS-7f3a9c"
OLD = time.time() - 3600  # an mtime old enough for any sweep

Store = LocalBlobStore | S3BlobStore
Writer = _LocalWriter | _S3Writer


@pytest.fixture
def secret() -> bytes:
    return os.urandom(32)


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    return tmp_path / "blobs", tmp_path / "staging"


def make_local(dirs: tuple[Path, Path], secret: bytes) -> LocalBlobStore:
    return LocalBlobStore(dirs[0], dirs[1], Keyring(KeyEncryptionKey("k1", secret)), SEG)


@pytest.fixture
def local(dirs: tuple[Path, Path], secret: bytes) -> LocalBlobStore:
    return make_local(dirs, secret)


# -- the two stores, and how a test looks at what each keeps -----------------------------------


class LocalBackend:
    name = "local"

    def __init__(self, dirs: tuple[Path, Path]) -> None:
        self.dirs = dirs

    def make(self, secret: bytes) -> LocalBlobStore:
        """A new store instance on the same storage (as another process would open it)."""
        return make_local(self.dirs, secret)

    def _files(self, *roots: Path) -> list[Path]:
        return sorted(p for root in roots if root.exists() for p in root.rglob("*") if p.is_file())

    def staged_exists(self, staged: StagedBlob) -> bool:
        return Path(staged.token).exists()

    def staged_bytes(self, staged: StagedBlob) -> bytes:
        return Path(staged.token).read_bytes()

    def blobs(self) -> list[bytes]:
        return [p.read_bytes() for p in self._files(self.dirs[0] / "sha256")]

    def everything(self) -> list[bytes]:
        return [p.read_bytes() for p in self._files(*self.dirs)]

    def staging_empty(self) -> bool:
        return self._files(self.dirs[1] / "parts") == []

    def unsettled_empty(self) -> bool:
        return self._files(self.dirs[0] / "unsettled") == []

    def writing(self, writer: Writer) -> bool:
        assert isinstance(writer, _LocalWriter)
        return writer.path.exists()

    def upload_bytes(self, upload_id: str) -> list[bytes]:
        return [p.read_bytes() for p in self._files(self.dirs[1] / "uploads" / upload_id)]

    def upload_exists(self, upload_id: str) -> bool:
        return (self.dirs[1] / "uploads" / upload_id).exists()

    def rewrite_blob(self, change: Callable[[bytes], bytes]) -> None:
        (path,) = self._files(self.dirs[0] / "sha256")
        path.write_bytes(change(path.read_bytes()))

    def rewrite_progress(self, upload_id: str, change: Callable[[bytes], bytes]) -> None:
        tail = self.dirs[1] / "uploads" / upload_id / "tail"
        tail.write_bytes(change(tail.read_bytes()))


class S3Backend:
    name = "s3"

    def __init__(self, target: S3Target, root: Path) -> None:
        self.target = target
        self.root = root
        self.prefix = f"test-{secrets.token_hex(6)}/"  # each test its own keys in the bucket
        self._client: object | None = None

    def settings(self, **overrides: object) -> Settings:
        t = self.target
        values: dict[str, object] = {
            "data_dir": self.root,
            "blob_store": "s3",
            "s3_endpoint_url": t.endpoint_url,
            "s3_region": t.region,
            "s3_bucket": t.bucket,
            "s3_prefix": self.prefix,
            "s3_access_key_id": t.access_key,
            "s3_secret_access_key": t.secret_key,
            "s3_part_size": PART,
            "s3_object_lock": "off",
            "segment_size": SEG,
        }
        values.update(overrides)
        return Settings(**values)  # type: ignore[arg-type]

    def make(self, secret: bytes) -> S3BlobStore:
        store = S3BlobStore.from_settings(self.settings(), Keyring(KeyEncryptionKey("k1", secret)))
        self._client = store.client
        return store

    @property
    def client(self):  # type: ignore[no-untyped-def]
        assert self._client is not None, "make a store first"
        return self._client

    def keys(self, under: str = "") -> list[str]:
        found: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.target.bucket, Prefix=self.prefix + under
        ):
            found += [o["Key"] for o in page.get("Contents", [])]
        return sorted(found)

    def get(self, key: str) -> bytes:
        return bytes(self.client.get_object(Bucket=self.target.bucket, Key=key)["Body"].read())

    def multipart_uploads(self) -> list[str]:
        got = self.client.list_multipart_uploads(Bucket=self.target.bucket, Prefix=self.prefix)
        return [u["Key"] for u in got.get("Uploads", [])]

    def staged_exists(self, staged: StagedBlob) -> bool:
        return self.prefix + staged.token in self.keys("staging/parts/")

    def staged_bytes(self, staged: StagedBlob) -> bytes:
        return self.get(self.prefix + staged.token)

    def blobs(self) -> list[bytes]:
        return [self.get(k) for k in self.keys("sha256/")]

    def everything(self) -> list[bytes]:
        return [self.get(k) for k in self.keys()]

    def staging_empty(self) -> bool:
        return self.keys("staging/parts/") == [] and self.multipart_uploads() == []

    def unsettled_empty(self) -> bool:
        return self.keys("unsettled/") == [] and self.keys("deleting/") == []

    def writing(self, writer: Writer) -> bool:
        assert isinstance(writer, _S3Writer)
        return writer.key in self.multipart_uploads()

    def upload_bytes(self, upload_id: str) -> list[bytes]:
        return [self.get(k) for k in self.keys(f"staging/uploads/{upload_id}/")]

    def upload_exists(self, upload_id: str) -> bool:
        return self.keys(f"staging/uploads/{upload_id}/") != []

    def rewrite_blob(self, change: Callable[[bytes], bytes]) -> None:
        (key,) = self.keys("sha256/")
        self.client.put_object(Bucket=self.target.bucket, Key=key, Body=change(self.get(key)))

    def rewrite_progress(self, upload_id: str, change: Callable[[bytes], bytes]) -> None:
        key = f"{self.prefix}staging/uploads/{upload_id}/state"
        got = self.client.get_object(Bucket=self.target.bucket, Key=key)
        body = change(got["Body"].read())
        self.client.put_object(Bucket=self.target.bucket, Key=key, Body=body, Metadata=got["Metadata"])


Backend = LocalBackend | S3Backend


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> S3Target:
    return s3_target(tmp_path_factory.getbasetemp() / "seaweedfs")


@pytest.fixture(params=["local", "s3"])
def backend(request: pytest.FixtureRequest, dirs: tuple[Path, Path], tmp_path: Path) -> Iterator[Backend]:
    if request.param == "local":
        yield LocalBackend(dirs)
    else:
        yield S3Backend(request.getfixturevalue("s3"), tmp_path)


@pytest.fixture
def store(backend: Backend, secret: bytes) -> Store:
    return backend.make(secret)


def sample(size: int = 5 * SEG + 123) -> bytes:
    body = os.urandom(size)
    middle = size // 2
    return body[:middle] + MARKER + body[middle + len(MARKER) :]


def stage(store: Store, data: bytes, piece: int = 700) -> StagedBlob:
    writer = store.writer()
    for i in range(0, len(data), piece):
        writer.write(memoryview(data)[i : i + piece])
    assert writer.size == len(data)
    return writer.finish()


def read(store: Store, key: str) -> bytes:
    return b"".join(store.read_all(key))


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- single-request writes -------------------------------------------------------------------


def test_write_finish_commit_read(store: Store, backend: Backend) -> None:
    data = sample()
    staged = stage(store, data)
    assert staged.sha256 == sha(data)
    assert staged.size == len(data)
    assert staged.head and data.startswith(staged.head)
    assert backend.staged_exists(staged)

    key = store.commit(staged)
    assert key == f"sha256/{sha(data)}"
    assert not backend.staged_exists(staged)
    assert store.exists(key)
    assert store.size(key) == len(data)
    assert read(store, key) == data
    assert b"".join(store.read_range(key, 1000, 3100)) == data[1000:3101]
    assert b"".join(store.read_range(key, len(data) - 1, len(data) - 1)) == data[-1:]
    store.settle(key)
    assert read(store, key) == data
    assert backend.staging_empty()
    assert backend.unsettled_empty()


def test_committed_blob_is_readable_by_a_new_store_instance(
    store: Store, backend: Backend, secret: bytes
) -> None:
    data = sample()
    key = store.commit(stage(store, data))
    store.settle(key)
    assert read(backend.make(secret), key) == data
    with pytest.raises(BlobIntegrityError):
        read(backend.make(os.urandom(32)), key)


def test_missing_and_malformed_keys(store: Store) -> None:
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


def test_stored_bytes_are_not_the_plaintext(store: Store, backend: Backend) -> None:
    data = sample()
    assert MARKER in data
    staged = stage(store, data)
    assert MARKER not in backend.staged_bytes(staged)
    key = store.commit(staged)
    store.settle(key)
    (raw,) = backend.blobs()
    assert MARKER not in raw
    assert data[:64] not in raw
    assert len(raw) == HEADER_SIZE + len(data) + SEGMENT_OVERHEAD * -(-len(data) // SEG)
    for stored in backend.everything():
        assert MARKER not in stored


def test_tampered_committed_blob_fails_to_read(store: Store, backend: Backend) -> None:
    data = sample()
    key = store.commit(stage(store, data))
    store.settle(key)

    def flip(raw: bytes) -> bytes:
        changed = bytearray(raw)
        changed[HEADER_SIZE + 2 * (SEG + SEGMENT_OVERHEAD) + 5] ^= 0x40
        return bytes(changed)

    backend.rewrite_blob(flip)
    with pytest.raises(BlobIntegrityError):
        read(store, key)
    with pytest.raises(BlobIntegrityError):  # a ranged read of the damaged segment alone
        b"".join(store.read_range(key, 2 * SEG + 1, 2 * SEG + 1))
    assert b"".join(store.read_range(key, 0, SEG - 1)) == data[:SEG]  # the others still open


def test_two_commits_of_the_same_content_leave_one_readable_blob(store: Store, backend: Backend) -> None:
    data = sample()
    first = store.commit(stage(store, data))
    store.settle(first)
    second = store.commit(stage(store, data))
    store.settle(second)
    assert first == second
    assert len(backend.blobs()) == 1
    assert read(store, first) == data
    assert backend.staging_empty()
    assert backend.unsettled_empty()


def test_concurrent_commits_of_the_same_content(store: Store, backend: Backend) -> None:
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
    assert len(backend.blobs()) == 1
    assert read(store, key) == data
    assert not backend.staged_exists(staged_b)
    assert backend.unsettled_empty()


def test_discard_removes_the_part(store: Store, backend: Backend) -> None:
    data = sample()
    staged = stage(store, data)
    store.discard(staged)
    assert not backend.staged_exists(staged)
    assert not store.exists(f"sha256/{sha(data)}")
    assert backend.staging_empty()
    assert backend.blobs() == []
    store.discard(staged)  # a no-op the second time


def test_abort_removes_the_part(store: Store, backend: Backend) -> None:
    writer = store.writer()
    writer.write(os.urandom(PART + 3000))  # more than one S3 part: a multipart upload is under way
    assert backend.writing(writer)
    writer.abort()
    assert not backend.writing(writer)
    assert backend.staging_empty()
    writer.abort()  # twice is harmless (a failed write aborts, and its caller aborts again)


def test_delete(store: Store) -> None:
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


def test_resumable_upload_survives_a_restart(backend: Backend, secret: bytes) -> None:
    data = sample(7 * SEG + 333)
    first_part, rest = data[: 3 * SEG + 100], data[3 * SEG + 100 :]

    store = backend.make(secret)
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
    stored = backend.upload_bytes("up-1")
    assert stored
    for raw in stored:
        assert MARKER not in raw and first_part[:64] not in raw

    restarted = backend.make(secret)  # a new process: no cached digest
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
    assert not backend.upload_exists("up-1")
    assert read(restarted, key) == data


def test_resumable_upload_in_one_process_with_several_savepoints(store: Store) -> None:
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


def test_upload_advanced_by_another_process_rebuilds_the_digest(backend: Backend, secret: bytes) -> None:
    """Process A saved at one offset (and cached its digest); process B then carried the upload
    further. When A serves the next request, its cached digest is stale and must not be used."""
    data = sample(6 * SEG + 77)
    a, b = backend.make(secret), backend.make(secret)
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


def test_offset_counts_a_held_back_full_segment(store: Store, backend: Backend, secret: bytes) -> None:
    data = os.urandom(2 * SEG)  # exactly two segments: the second is held back as pending
    store.create_resumable("up-3")
    upload = store.open_resumable("up-3")
    upload.append(data)
    upload.savepoint()
    upload.close()
    assert store.resumable_offset("up-3") == 2 * SEG
    upload = backend.make(secret).open_resumable("up-3")
    assert upload.offset == 2 * SEG
    staged = upload.finish()
    upload.close()
    assert staged.sha256 == sha(data)


def test_unsaved_bytes_are_lost_on_close(store: Store, backend: Backend, secret: bytes) -> None:
    saved, unsaved, other = os.urandom(SEG + 10), os.urandom(2 * SEG + 50), os.urandom(700)
    store.create_resumable("up-4")
    upload = store.open_resumable("up-4")
    upload.append(saved)
    upload.savepoint()
    upload.append(unsaved)
    upload.close()  # the request died before its savepoint
    assert store.resumable_offset("up-4") == len(saved)
    for s in (store, backend.make(secret)):
        upload = s.open_resumable("up-4")
        assert upload.offset == len(saved)
        upload.close()
    upload = backend.make(secret).open_resumable("up-4")
    upload.append(other)
    staged = upload.finish()
    upload.close()
    assert staged.sha256 == sha(saved + other)
    assert read(store, store.commit(staged)) == saved + other


@pytest.mark.parametrize("saved_len", [0, 10, SEG, SEG + 10])
def test_rollback_returns_to_the_saved_offset(store: Store, saved_len: int) -> None:
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


def test_rollback_twice_and_after_a_savepoint(store: Store) -> None:
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


def raw_segment(local: LocalBlobStore, upload_id: str, index: int) -> bytes:
    blob = (local.uploads_dir / upload_id / "blob").read_bytes()
    start = HEADER_SIZE + index * (SEG + SEGMENT_OVERHEAD)
    return blob[start : start + SEG]


def xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("how", ["rollback", "reopen"])
def test_rewriting_a_segment_after_rollback_does_not_reuse_the_keystream(
    local: LocalBlobStore, how: str
) -> None:
    """A chunk whose checksum failed is rolled back and sent again. Its segment index is then
    encrypted a second time under the same data key; with the same nonce, the XOR of the two
    ciphertexts is the XOR of the two plaintexts (and the GCM authentication key leaks)."""
    rejected, resent = os.urandom(SEG + 10), os.urandom(SEG + 10)
    local.create_resumable("up-7")
    upload = local.open_resumable("up-7")
    upload.append(rejected)
    upload.append(os.urandom(2 * DIRECT_BLOCK))  # fills both write buffers: the first is on disk
    first = raw_segment(local, "up-7", 0)
    if how == "rollback":
        upload.rollback()
    else:
        upload.close()
        upload = local.open_resumable("up-7")
    upload.append(resent)
    upload.savepoint()
    second = raw_segment(local, "up-7", 0)
    assert first != second
    reused = xor(first, second) == xor(rejected[:SEG], resent[:SEG])
    assert not reused, "segment 0 was encrypted twice with the same key and nonce"
    staged = upload.finish()
    upload.close()
    assert staged.sha256 == sha(resent)


def test_opening_an_upload_twice_is_a_conflict(store: Store, backend: Backend, secret: bytes) -> None:
    store.create_resumable("up-8")
    upload = store.open_resumable("up-8")
    upload.append(b"a" * 100)
    with pytest.raises(Conflict):
        store.open_resumable("up-8")
    with pytest.raises(Conflict):
        backend.make(secret).open_resumable("up-8")
    upload.append(b"b" * 100)  # the holder is unaffected
    upload.savepoint()
    upload.close()
    again = store.open_resumable("up-8")
    assert again.offset == 200
    again.close()


def test_unknown_upload(store: Store) -> None:
    with pytest.raises(NotFound):
        store.open_resumable("nope")
    with pytest.raises(NotFound):
        store.resumable_offset("nope")
    store.discard_resumable("nope")  # nothing to do, no error


def test_tampered_upload_tail_is_refused(store: Store, backend: Backend) -> None:
    store.create_resumable("up-9")
    upload = store.open_resumable("up-9")
    upload.append(os.urandom(SEG + 50))
    upload.savepoint()
    upload.close()

    def flip_last(raw: bytes) -> bytes:
        return raw[:-1] + bytes([raw[-1] ^ 1])

    backend.rewrite_progress("up-9", flip_last)
    with pytest.raises(BlobIntegrityError):
        store.open_resumable("up-9")
    # The failed open released the upload's lock.
    backend.rewrite_progress("up-9", flip_last)
    upload = store.open_resumable("up-9")
    assert upload.offset == SEG + 50
    upload.close()


# -- crash recovery --------------------------------------------------------------------------


def test_sweep_removes_only_dead_parts(local: LocalBlobStore, dirs: tuple[Path, Path], secret: bytes) -> None:
    dead = local.parts_dir / "0123456789abcdef.part"
    dead.write_bytes(os.urandom(500))
    os.utime(dead, (OLD, OLD))

    live = local.writer()
    live.write(b"still streaming" * 100)
    waiting = sample()
    staged = stage(local, waiting)  # finished, waiting for its database record
    local.create_resumable("up-10")
    upload = local.open_resumable("up-10")
    upload.append(os.urandom(SEG + 1))
    resumed = upload.finish()  # a finished resumable upload is a held part too
    upload.close()
    for path in (live.path, Path(staged.token), Path(resumed.token)):
        os.utime(path, (OLD, OLD))  # old enough: only the lock keeps them

    assert make_local(dirs, secret).sweep_staging(older_than_s=60) == 1  # another process sweeping
    assert not dead.exists()
    assert live.path.exists() and Path(staged.token).exists() and Path(resumed.token).exists()
    assert local.sweep_staging(older_than_s=60) == 0

    live.write(b" and done")
    done = live.finish()
    assert read(local, local.commit(done)) == b"still streaming" * 100 + b" and done"
    assert read(local, local.commit(staged)) == waiting
    assert local.exists(local.commit(resumed))


def test_sweep_leaves_young_dead_parts(local: LocalBlobStore) -> None:
    dead = local.parts_dir / "fedcba9876543210.part"
    dead.write_bytes(b"x")
    assert local.sweep_staging(older_than_s=600) == 0
    assert dead.exists()
    os.utime(dead, (OLD, OLD))
    assert local.sweep_staging(older_than_s=600) == 1
    assert not dead.exists()


def test_unsettled_while_held_is_not_reported(
    local: LocalBlobStore, dirs: tuple[Path, Path], secret: bytes
) -> None:
    data = sample()
    key = local.commit(stage(local, data))
    marker = local.unsettled_dir / sha(data)  # the claim file of those bytes
    os.utime(marker, (OLD, OLD))
    assert local.unsettled(older_than_s=60) == []
    assert make_local(dirs, secret).unsettled(older_than_s=60) == []  # another process looking
    local.settle(key)
    assert not marker.exists()
    assert local.unsettled(older_than_s=0) == []
    assert read(local, key) == data  # settling keeps the blob


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

    local = make_local(dirs, secret)  # the restarted service
    assert local.exists(key)
    assert local.unsettled(older_than_s=600) == []  # too recent to judge
    for path in [*local.unsettled_dir.iterdir(), *local.parts_dir.iterdir()]:
        os.utime(path, (OLD, OLD))
    assert local.unsettled(older_than_s=60) == [key]
    assert local.sweep_staging(older_than_s=60) == 1  # the dead process's unfinished part
    local.settle(key)
    assert local.unsettled(older_than_s=0) == []
    assert read(local, key) == data


def test_a_blob_being_committed_is_never_deleted_as_unreferenced(
    store: Store, backend: Backend, secret: bytes
) -> None:
    data = sample()
    key = store.commit(stage(store, data))  # committed, its record not yet settled
    other = backend.make(secret)  # another process running recovery
    assert other.unsettled(older_than_s=0) == []
    assert other.delete_unclaimed(key, lambda: False) is False
    assert read(store, key) == data
    store.settle(key)
    assert other.delete_unclaimed(key, lambda: True) is False  # a record holds it: kept
    assert read(store, key) == data
    assert other.delete_unclaimed(key, lambda: False) is True
    assert not store.exists(key)
    assert backend.unsettled_empty()
    assert backend.blobs() == []


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
    local = make_local(dirs, secret)  # the restarted service
    assert local.resumable_offset("up-x") == 5000, "unconfirmed bytes must not count as received"
    upload = local.open_resumable("up-x")  # drops the dead attempt's staged copy
    assert upload.offset == 5000
    upload.append(data[5000:])
    staged = upload.finish()
    upload.close()
    assert staged.sha256 == sha(data)
    assert local.sweep_staging(older_than_s=0) == 0
