"""S3BlobStore against a real S3 server (SeaweedFS, with authentication; or the server
``OPENDEMS_TEST_S3`` names): multipart writes, ranged reads, commits and claims, sweeps of what
dead processes left, resumable uploads carried on by another process, Object Lock, errors --
and the application's services running unchanged on it. The port behaviour it shares with the
local store is tested on both in test_blob_store.py."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import secrets
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from fastapi.testclient import TestClient

from opendems.adapters.blobs.s3 import FIRST_READ, SAVE_AS_PART, ObjectStoreError, S3BlobStore
from opendems.adapters.crypto.envelope import HEADER_SIZE, SEGMENT_OVERHEAD, BlobIntegrityError
from opendems.adapters.crypto.keys import KeyEncryptionKey, Keyring
from opendems.bootstrap import Container
from opendems.config import Settings
from opendems.domain.access import visibility
from opendems.domain.errors import Conflict, DigestMismatch, NotFound
from opendems.domain.evidence import EvidenceFilter
from opendems.domain.jobs import JobState
from opendems.services.accounts import create_token
from opendems.services.ingest import IngestRequest, IngestResult, ingest_stream, recover_storage
from opendems.services.verify import verify
from opendems.web.app import create_app
from tests.factories import admin, make_container, png_bytes, user_actor
from tests.stack.seaweed import S3Target, s3_target, start_seaweedfs

MiB = 1024 * 1024
SEG = 64 * 1024
PART = 5 * MiB
MARKER = b"PLAINTEXT-MARKER-OPENDEMS-s3-51c2"


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> S3Target:
    return s3_target(tmp_path_factory.getbasetemp() / "seaweedfs")


@pytest.fixture
def prefix() -> str:
    return f"s3t-{secrets.token_hex(6)}/"  # each test its own keys in the bucket


@pytest.fixture
def keyring() -> Keyring:
    return Keyring(KeyEncryptionKey("k1", os.urandom(32)))


def s3_settings(target: S3Target, prefix: str, **overrides: object) -> dict[str, object]:
    values: dict[str, object] = {
        "blob_store": "s3",
        "s3_endpoint_url": target.endpoint_url,
        "s3_region": target.region,
        "s3_bucket": target.bucket,
        "s3_prefix": prefix,
        "s3_access_key_id": target.access_key,
        "s3_secret_access_key": target.secret_key,
        "s3_part_size": PART,
        "segment_size": SEG,
    }
    values.update(overrides)
    return values


MakeStore = Callable[..., S3BlobStore]


@pytest.fixture
def make(target: S3Target, prefix: str, keyring: Keyring, tmp_path: Path) -> MakeStore:
    """make(**settings) -> a new store instance (as a new process would open it)."""

    def build(
        *, lease_s: float | None = None, lock_lease_s: float | None = None, **overrides: object
    ) -> S3BlobStore:
        settings = Settings(data_dir=tmp_path / "data", **s3_settings(target, prefix, **overrides))  # type: ignore[arg-type]
        timing = {"lease_s": lease_s, "lock_lease_s": lock_lease_s}
        return S3BlobStore.from_settings(
            settings, keyring, **{k: v for k, v in timing.items() if v is not None}
        )

    return build


@pytest.fixture
def store(make: MakeStore) -> S3BlobStore:
    return make()


class Bucket:
    """A look at what one test's prefix holds, through a client of its own."""

    def __init__(self, target: S3Target, prefix: str, bucket: str | None = None) -> None:
        self.name = bucket or target.bucket
        self.prefix = prefix
        self.client = boto3.session.Session().client(
            "s3",
            endpoint_url=target.endpoint_url,
            region_name=target.region,
            aws_access_key_id=target.access_key,
            aws_secret_access_key=target.secret_key,
            config=Config(s3={"addressing_style": "path"}),
        )

    def listing(self, under: str = "") -> list[str]:
        found: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.name, Prefix=self.prefix + under
        ):
            found += [o["Key"][len(self.prefix) :] for o in page.get("Contents", [])]
        return sorted(found)

    def get(self, key: str) -> bytes:
        return bytes(self.client.get_object(Bucket=self.name, Key=self.prefix + key)["Body"].read())

    def head(self, key: str) -> dict[str, Any]:
        got: dict[str, Any] = self.client.head_object(Bucket=self.name, Key=self.prefix + key)
        return got

    def uploads(self) -> list[str]:
        got = self.client.list_multipart_uploads(Bucket=self.name, Prefix=self.prefix)
        return sorted(u["Key"][len(self.prefix) :] for u in got.get("Uploads", []))

    def parts(self, key: str) -> list[int]:
        got = self.client.list_multipart_uploads(Bucket=self.name, Prefix=self.prefix + key)
        (upload,) = got["Uploads"]
        listed = self.client.list_parts(Bucket=self.name, Key=upload["Key"], UploadId=upload["UploadId"])
        return [int(p["Size"]) for p in listed.get("Parts", [])]

    def named_parts(self) -> set[str]:
        """The part objects the committed blobs stored as parts name (their manifests)."""
        named: set[str] = set()
        for key in self.listing("sha256/"):
            if self.head(key).get("Metadata", {}).get("layout") == "parts":
                named |= {name for name, _ in json.loads(self.get(key))["parts"]}
        return named

    def only_blobs(self) -> list[str]:
        """Everything left but committed blobs and the parts they are stored as (there
        should be nothing)."""
        named = self.named_parts()
        return [k for k in self.listing() if not k.startswith("sha256/") and k not in named] + self.uploads()


@pytest.fixture
def bucket(target: S3Target, prefix: str) -> Bucket:
    return Bucket(target, prefix)


def sample(size: int) -> bytes:
    body = bytearray(os.urandom(size))
    body[size // 2 : size // 2 + len(MARKER)] = MARKER
    return bytes(body)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def stage(store: S3BlobStore, data: bytes, piece: int = 1_000_003) -> Any:
    writer = store.writer()
    for i in range(0, len(data), piece):
        writer.write(memoryview(data)[i : i + piece])
    return writer.finish()


def read(store: S3BlobStore, key: str) -> bytes:
    return b"".join(store.read_all(key))


def gets(store: S3BlobStore) -> list[tuple[str, str | None]]:
    """Record every GetObject the store's client sends from now on: (key, Range)."""
    seen: list[tuple[str, str | None]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        seen.append((params["Key"], params.get("Range")))

    store.client.meta.events.register("provide-client-params.s3.GetObject", record)
    return seen


# -- single-request writes and reads -----------------------------------------------------------


def test_a_large_write_goes_up_in_parts_as_they_fill(store: S3BlobStore, bucket: Bucket) -> None:
    data = sample(12 * MiB + 777)  # three parts of 5 MiB or a little over (the last shorter)
    writer = store.writer()
    writer.write(data[: 11 * MiB])
    deadline = time.monotonic() + 30
    while len(bucket.parts(writer.token)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)  # parts are sent in the background while the caller writes on
    sizes = bucket.parts(writer.token)
    assert len(sizes) == 2, "full parts are sent before the end"
    # A part goes once 5 MiB have gathered: at most one stored segment (or the header) over.
    assert all(PART <= n < PART + SEG + SEGMENT_OVERHEAD + HEADER_SIZE for n in sizes), sizes
    writer.write(data[11 * MiB :])
    staged = writer.finish()
    assert staged.sha256 == sha(data) and staged.size == len(data)
    assert data.startswith(staged.head) and len(staged.head) == 8192
    assert bucket.head(staged.token)["ETag"].strip('"').endswith("-3")  # a three-part upload
    assert bucket.uploads() == []

    key = store.commit(staged)
    store.settle(key)
    assert bucket.listing() == [f"sha256/{sha(data)[:2]}/{sha(data)[2:4]}/{sha(data)}"]
    raw = bucket.get(bucket.listing()[0])
    assert MARKER not in raw and data[:64] not in raw
    assert len(raw) == HEADER_SIZE + len(data) + SEGMENT_OVERHEAD * -(-len(data) // SEG)
    assert store.size(key) == len(data)
    assert read(store, key) == data
    assert read(make_fresh(store), key) == data


def make_fresh(store: S3BlobStore) -> S3BlobStore:
    return S3BlobStore(
        store.client,
        store.bucket,
        store.keyring,
        store.segment_size,
        prefix=store.prefix,
        part_size=store.part_size,
    )


@pytest.fixture(scope="module")
def committed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[S3BlobStore, str, bytes]]:
    """One 3 MiB blob in 64 KiB segments, for the reading tests."""
    target = s3_target(tmp_path_factory.getbasetemp() / "seaweedfs")
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("reads"),
        **s3_settings(target, f"s3t-reads-{secrets.token_hex(4)}/"),  # type: ignore[arg-type]
    )
    store = S3BlobStore.from_settings(settings, Keyring(KeyEncryptionKey("k1", os.urandom(32))))
    data = sample(3 * MiB + 1234)
    key = store.commit(stage(store, data))
    store.settle(key)
    yield store, key, data


BOUNDARIES = [0, 1, SEG - 1, SEG, SEG + 1, 2 * SEG - 1, 2 * SEG, 44 * SEG + 3]


@pytest.mark.parametrize("start", BOUNDARIES)
@pytest.mark.parametrize("length", [1, 2, SEG, SEG + 1, 3 * SEG + 7])
def test_ranged_reads_at_segment_boundaries(
    committed: tuple[S3BlobStore, str, bytes], start: int, length: int
) -> None:
    store, key, data = committed
    end = start + length - 1
    assert b"".join(store.read_range(key, start, end)) == data[start : end + 1]


def test_ranged_reads_at_the_end_and_outside(committed: tuple[S3BlobStore, str, bytes]) -> None:
    store, key, data = committed
    n = len(data)
    for start, end in [
        (n - 1, n - 1),
        (n - SEG - 3, n - 1),
        ((n // SEG) * SEG - 1, (n // SEG) * SEG),
        (0, n - 1),
    ]:
        assert b"".join(store.read_range(key, start, end)) == data[start : end + 1]
    for start, end in [(n, n), (5, 4), (-1, 3), (0, n)]:
        with pytest.raises(ValueError, match="outside"):
            b"".join(store.read_range(key, start, end))


def test_a_ranged_read_fetches_only_the_segments_it_needs(committed: tuple[S3BlobStore, str, bytes]) -> None:
    store, key, data = committed
    seen = gets(store)
    start, end = 10 * SEG + 5, 12 * SEG + 9  # segments 10, 11 and 12
    assert b"".join(store.read_range(key, start, end)) == data[start : end + 1]
    stored = SEG + SEGMENT_OVERHEAD
    assert [r for _, r in seen] == [
        f"bytes=0-{FIRST_READ - 1}",  # the header (the data key, the blob's length), or a manifest
        f"bytes={HEADER_SIZE + 10 * stored}-{HEADER_SIZE + 13 * stored - 1}",
    ]


def test_open_plaintext_seeks(committed: tuple[S3BlobStore, str, bytes]) -> None:
    store, key, data = committed
    seen = gets(store)
    with store.open_plaintext(key) as f:
        assert f.seekable()
        assert f.read(10) == data[:10]
        f.seek(2 * SEG - 3)
        assert f.read(6) == data[2 * SEG - 3 : 2 * SEG + 3]
        f.seek(-100, io.SEEK_END)
        assert f.tell() == len(data) - 100
        assert f.read() == data[-100:]
        assert f.read(5) == b""
        f.seek(SEG * 20 + 11)
        assert f.read(3 * SEG) == data[SEG * 20 + 11 : SEG * 23 + 11]
        f.seek(0)
        whole = b"".join(iter(lambda: f.read(100_000), b""))
        assert whole == data
    # Sequential reading fetches growing windows, not one request per segment.
    assert len(seen) < 20, seen
    assert all(k.endswith(key.removeprefix("sha256/")) for k, _ in seen)


def test_missing_blobs_and_damaged_objects(store: S3BlobStore, bucket: Bucket) -> None:
    absent = "sha256/" + "0" * 64
    assert not store.exists(absent)
    with pytest.raises(NotFound, match="missing from the store"):
        read(store, absent)
    with pytest.raises(NotFound):
        store.open_plaintext(absent)
    with pytest.raises(NotFound):
        store.size(absent)
    data = sample(300_000)
    key = store.commit(stage(store, data))
    store.settle(key)
    (name,) = bucket.listing("sha256/")
    raw = bucket.get(name)
    bucket.client.put_object(Bucket=bucket.name, Key=bucket.prefix + name, Body=raw[: len(raw) - 10])
    with pytest.raises(BlobIntegrityError):
        read(store, key)
    bucket.client.put_object(Bucket=bucket.name, Key=bucket.prefix + name, Body=b"")
    with pytest.raises(BlobIntegrityError):
        store.size(key)


def test_identical_content_committed_twice_keeps_the_first_object(make: MakeStore, bucket: Bucket) -> None:
    a, b = make(), make()
    data = sample(700_000)
    key = a.commit(stage(a, data))
    a.settle(key)
    (name,) = bucket.listing("sha256/")
    first = bucket.head(name)
    again = b.commit(stage(b, data))  # another process, the same bytes
    b.settle(again)
    assert again == key
    assert bucket.listing() == [name]
    assert bucket.head(name)["ETag"] == first["ETag"]  # not copied over
    assert read(b, key) == data


def test_identical_content_under_a_key_this_store_lacks_is_replaced(
    make: MakeStore, target: S3Target, prefix: str, tmp_path: Path, bucket: Bucket
) -> None:
    """Kept "as it is" only if this store can open it: bytes left under the same name by a
    store with another agency key (a misconfigured shared prefix, a lost key) are replaced."""
    foreign = S3BlobStore.from_settings(
        Settings(data_dir=tmp_path, **s3_settings(target, prefix)),  # type: ignore[arg-type]
        Keyring(KeyEncryptionKey("other-agency", os.urandom(32))),
    )
    data = sample(90_000)
    foreign.settle(foreign.commit(stage(foreign, data)))
    store = make()
    with pytest.raises(BlobIntegrityError):
        read(store, f"sha256/{sha(data)}")
    key = store.commit(stage(store, data))
    store.settle(key)
    assert read(store, key) == data
    assert len(bucket.listing("sha256/")) == 1 and bucket.only_blobs() == []


def test_a_large_blob_is_committed_by_multipart_copy(store: S3BlobStore, bucket: Bucket) -> None:
    store.copy_limit = 6 * MiB  # stands in for S3's 5 GiB single-copy limit
    store.copy_part_size = PART
    data = sample(13 * MiB + 5)
    seen: list[str] = []
    store.client.meta.events.register(
        "provide-client-params.s3.UploadPartCopy", lambda params, **_: seen.append(params["CopySourceRange"])
    )
    key = store.commit(stage(store, data))
    store.settle(key)
    stored = len(bucket.get(bucket.listing("sha256/")[0]))
    assert seen == [f"bytes=0-{PART - 1}", f"bytes={PART}-{2 * PART - 1}", f"bytes={2 * PART}-{stored - 1}"]
    assert read(store, key) == data
    assert bucket.only_blobs() == []


# -- failures leave nothing ------------------------------------------------------------------


def test_abort_leaves_nothing(store: S3BlobStore, bucket: Bucket) -> None:
    writer = store.writer()
    writer.write(os.urandom(2 * PART + 10))
    writer.abort()
    assert bucket.listing() == [] and bucket.uploads() == []
    # A finished write that is discarded, and one that fails after its end, too.
    store.discard(stage(store, sample(2 * PART)))
    assert bucket.listing() == [] and bucket.uploads() == []


def test_a_source_failing_midway_stores_nothing(
    tmp_path: Path, target: S3Target, prefix: str, bucket: Bucket
) -> None:
    c = make_container(tmp_path, **s3_settings(target, prefix))

    def source() -> Iterator[bytes]:
        yield os.urandom(PART + 100)
        yield os.urandom(PART)
        raise OSError("camera disconnected")

    with pytest.raises(OSError, match="camera disconnected"):
        ingest(c, source())
    assert bucket.listing() == [] and bucket.uploads() == []


def test_an_object_store_failing_midway_is_a_clear_error_and_keeps_nothing(
    tmp_path: Path, keyring: Keyring
) -> None:
    """A real store that runs out of room (SeaweedFS with one 1 MiB volume): it answers
    500 InternalError (it does not say "full"); the write fails with the store's words and
    leaves no object and no multipart upload behind."""
    tiny = start_seaweedfs(tmp_path / "tiny", extra_args=("-master.volumeSizeLimitMB=1", "-volume.max=1"))
    try:
        t = S3Target(tiny.endpoint_url, tiny.access_key, tiny.secret_key, tiny.region, "tiny")
        settings = Settings(data_dir=tmp_path / "data", **s3_settings(t, "p/"))  # type: ignore[arg-type]
        store = S3BlobStore.from_settings(settings, keyring)
        writer = store.writer()
        with pytest.raises(ObjectStoreError, match="failed to") as failure:
            for _ in range(8):
                writer.write(os.urandom(MiB))
            writer.finish()
        assert tiny.endpoint_url in str(failure.value)
        writer.abort()
        look = Bucket(t, "p/")
        assert look.listing() == [] and look.uploads() == []
    finally:
        tiny.stop(grace=0.5)  # a full SeaweedFS does not shut down by itself


# -- crash recovery: sweeps and unsettled commits ----------------------------------------------


def test_sweep_removes_abandoned_staging_and_multipart_uploads_only(make: MakeStore, bucket: Bucket) -> None:
    dead = make(lease_s=2)  # a process that will die: its work is left as it is
    dying = dead.writer()
    dying.write(os.urandom(PART + 1))  # a multipart upload with one part
    waiting = stage(dead, sample(100_000))  # finished, never committed

    other = make(lease_s=2)  # a live process, working now
    busy = other.writer()
    busy.write(os.urandom(PART + 1))
    sweeper = make(lease_s=2)
    own = sweeper.writer()
    own.write(os.urandom(PART + 1))
    own_waiting = stage(sweeper, sample(120_000))
    time.sleep(3.5)  # all older than the lease (ages are whole seconds of the store's clock)...
    busy.write(os.urandom(PART))  # ...but this writer sends another part: a sign of life
    deadline = time.monotonic() + 30
    while len(bucket.parts(busy.token)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)

    assert sweeper.sweep_staging(older_than_s=3600) == 0  # nothing is that old
    assert sweeper.sweep_staging(older_than_s=0) == 2  # the dead writer's upload and staged object
    assert dying.token not in bucket.uploads() and waiting.token not in bucket.listing()
    assert busy.token in bucket.uploads()  # alive: sent a part within the lease
    assert own.token in bucket.uploads() and own_waiting.token in bucket.listing()  # this process's
    for writer in (busy, own):
        writer.write(b"end")
        assert store_reads(writer.finish(), sweeper)
    assert store_reads(own_waiting, sweeper)


def store_reads(staged: Any, store: S3BlobStore) -> bool:
    key = store.commit(staged)
    store.settle(key)
    return store.size(key) == staged.size


def test_a_starting_process_never_sweeps_work_in_flight_elsewhere(
    tmp_path: Path, make: MakeStore, bucket: Bucket, target: S3Target, prefix: str
) -> None:
    """``initialise`` recovers with ``older_than_s=0``: on S3 the lease still protects what
    other API processes are writing and committing right now."""
    other = make()
    writer = other.writer()
    writer.write(os.urandom(PART + 1))
    staged = stage(other, sample(50_000))
    key = other.commit(stage(other, sample(60_000)))  # committed, its record not yet settled
    c = make_container(tmp_path, **s3_settings(target, prefix))  # a new process starts
    assert recover_storage(c.uow(), c.blobs, older_than_s=0) == {"parts": 0, "blobs": 0}
    assert writer.token in bucket.uploads() and staged.token in bucket.listing()
    assert other.exists(key)
    other.settle(key)
    assert other.commit(staged)


CRASHING_COMMIT = textwrap.dedent(
    """
    import json, os, sys
    from pathlib import Path
    from opendems.adapters.blobs.s3 import S3BlobStore
    from opendems.adapters.crypto.keys import KeyEncryptionKey, Keyring
    from opendems.config import Settings

    values, secret = json.loads(sys.argv[1]), bytes.fromhex(sys.argv[2])
    store = S3BlobStore.from_settings(Settings(**values), Keyring(KeyEncryptionKey("k1", secret)))
    writer = store.writer()
    writer.write(sys.stdin.buffer.read())
    print(store.commit(writer.finish()), flush=True)
    live = store.writer()  # a part still being sent when the process dies
    live.write(os.urandom(5 * 1024 * 1024 + 1))
    live._upload._parts.wait()
    os._exit(0)  # crash: no settle, no cleanup
    """
)


def run_script(script: str, values: dict[str, object], secret: bytes, stdin: bytes = b"") -> str:
    result = subprocess.run(
        [sys.executable, "-c", script, json.dumps(values), secret.hex()],
        input=stdin,
        capture_output=True,
        check=True,
        timeout=120,
    )
    return result.stdout.decode().strip()


def test_a_commit_whose_process_died_is_found_and_removed(
    target: S3Target, prefix: str, tmp_path: Path, bucket: Bucket
) -> None:
    secret = os.urandom(32)
    values = {"data_dir": str(tmp_path), **s3_settings(target, prefix)}
    data = sample(200_000)
    key = run_script(CRASHING_COMMIT, values, secret, data)
    assert key == f"sha256/{sha(data)}"
    keyring = Keyring(KeyEncryptionKey("k1", secret))
    settings = Settings(**values)  # type: ignore[arg-type]
    store = S3BlobStore.from_settings(settings, keyring, lease_s=3)  # the restarted service
    assert store.exists(key)
    assert len(bucket.listing("unsettled/")) == 1 and len(bucket.uploads()) == 1
    assert store.unsettled(older_than_s=0) == []  # too recent to judge
    time.sleep(4.5)
    assert store.unsettled(older_than_s=0) == [key]
    assert store.unsettled(older_than_s=3600) == []
    assert store.sweep_staging(older_than_s=0) == 1  # the dead process's unfinished upload
    assert store.delete_unclaimed(key, lambda: False) is True  # no record holds it
    assert not store.exists(key)
    assert bucket.listing() == [] and bucket.uploads() == []


def test_unsettled_settle_and_delete_unclaimed(make: MakeStore, bucket: Bucket) -> None:
    a, b = make(), make()
    data = sample(90_000)
    key = a.commit(stage(a, data))
    assert len(bucket.listing("unsettled/")) == 1
    assert b.unsettled(older_than_s=0) == []
    assert b.delete_unclaimed(key, lambda: False) is False  # a's commit is in flight
    a.settle(key)
    assert bucket.listing("unsettled/") == []
    assert b.delete_unclaimed(key, lambda: True) is False  # a record holds it
    assert read(b, key) == data
    key2 = a.commit(stage(a, data))  # committed twice by one process: two claims
    a.commit(stage(a, data))
    a.settle(key2)
    assert b.delete_unclaimed(key, lambda: False) is False
    a.settle(key2)
    assert b.delete_unclaimed(key, lambda: False) is True
    assert bucket.listing() == []


def test_a_commit_waits_for_a_deletion_in_progress(make: MakeStore, bucket: Bucket) -> None:
    """The race the claims exist for: recovery decides the bytes are unreferenced and deletes
    them while another request commits the same bytes. The commit must not find the old object
    "already there" and skip its copy while it is being deleted."""
    deleter, committer = make(), make()
    data = sample(80_000)
    key = deleter.commit(stage(deleter, data))
    deleter.settle(key)
    staged = stage(committer, data)
    deciding = threading.Event()
    outcome: list[bool] = []

    def unreferenced() -> bool:
        deciding.set()
        time.sleep(1.5)  # the database answers slowly
        return False

    thread = threading.Thread(target=lambda: outcome.append(deleter.delete_unclaimed(key, unreferenced)))
    thread.start()
    assert deciding.wait(10)
    began = time.monotonic()
    assert committer.commit(staged) == key
    waited = time.monotonic() - began
    thread.join(10)
    assert outcome == [True]  # the deletion went ahead...
    assert waited > 0.5  # ...while the commit waited for it
    assert read(committer, key) == data  # ...and then put its own copy in place
    committer.settle(key)
    assert bucket.only_blobs() == []


# -- resumable uploads ---------------------------------------------------------------------------


def test_resumable_upload_in_pieces_resumed_by_another_process(make: MakeStore, bucket: Bucket) -> None:
    data = sample(13 * MiB + 321)
    a = make()
    a.create_resumable("up-1")
    upload = a.open_resumable("up-1")
    for i in range(0, 6 * MiB, 333_333):
        upload.append(data[i : min(i + 333_333, 6 * MiB)])
    upload.savepoint()
    assert a.resumable_offset("up-1") == 6 * MiB
    assert len(bucket.listing("data/up-1/")) == 1  # one full part; the rest in the state
    upload.append(data[6 * MiB : 11 * MiB])  # a chunk whose checksum fails (it fills a part)...
    deadline = time.monotonic() + 30
    while len(bucket.listing("data/up-1/")) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(bucket.listing("data/up-1/")) == 2
    upload.rollback()  # ...is dropped, the part it filled too
    assert len(bucket.listing("data/up-1/")) == 1
    assert upload.offset == 6 * MiB
    assert a.resumable_offset("up-1") == 6 * MiB
    upload.append(data[6 * MiB : 7 * MiB + 5])
    upload.savepoint()  # what gathered since the last part (over 1 MiB) goes up as a part
    upload.close()
    assert bucket.listing("staging/uploads/up-1/") == ["staging/uploads/up-1/state"]
    assert len(bucket.listing("data/up-1/")) == 2
    # The state holds the held-back segment and under 1 MiB of stored bytes, never a part.
    assert len(bucket.get("staging/uploads/up-1/state")) < SAVE_AS_PART + SEG + 1024
    for name in bucket.listing():
        raw = bucket.get(name)
        assert MARKER not in raw and data[:64] not in raw

    # The same process goes on from its cached digest: no part is read back.
    seen = gets(a)
    upload = a.open_resumable("up-1")
    upload.append(data[7 * MiB + 5 : 9 * MiB])
    upload.savepoint()
    upload.close()
    assert [k for k, _ in seen if "/data/" in k] == []

    b = make()  # another process: rebuilds the digest from the stored parts
    seen = gets(b)
    assert b.resumable_offset("up-1") == 9 * MiB
    upload = b.open_resumable("up-1")
    assert upload.offset == 9 * MiB
    assert len([k for k, _ in seen if "/data/" in k]) == len(bucket.listing("data/up-1/")) == 3
    upload.append(data[9 * MiB :])
    staged = upload.finish()
    upload.close()
    assert staged.sha256 == sha(data) and staged.size == len(data)
    assert b.resumable_offset("up-1") == 9 * MiB  # not received until its evidence commits
    key = b.commit(staged)
    b.settle(key)
    b.discard_resumable("up-1")
    assert bucket.only_blobs() == []
    assert read(a, key) == data


def upload_whole(store: S3BlobStore, upload_id: str, data: bytes, piece: int = 3 * MiB + 17) -> Any:
    """A whole resumable upload, saved after each piece, finished."""
    store.create_resumable(upload_id)
    handle = store.open_resumable(upload_id)
    for i in range(0, len(data), piece):
        handle.append(data[i : i + piece])
        if i + piece < len(data):
            handle.savepoint()
    staged = handle.finish()
    handle.close()
    return staged


def requests_sent(store: S3BlobStore, *operations: str) -> list[str]:
    """Record every request of these operations the store's client sends from now on."""
    seen: list[str] = []
    for operation in operations:
        store.client.meta.events.register(
            f"provide-client-params.s3.{operation}", lambda params, op=operation, **_: seen.append(op)
        )
    return seen


def test_a_finished_upload_is_committed_without_copying_a_byte(make: MakeStore, bucket: Bucket) -> None:
    """The parts written while the upload ran are the blob: the content address gets a
    manifest naming them, and no request copies (or sends again) any byte."""
    data = sample(13 * MiB + 4321)
    store = make()
    store.create_resumable("up-m")
    handle = store.open_resumable("up-m")
    for i in range(0, len(data), 3 * MiB + 17):
        handle.append(data[i : i + 3 * MiB + 17])
        handle.savepoint()
    copies = requests_sent(store, "CopyObject", "UploadPartCopy", "UploadPart", "CreateMultipartUpload")
    staged = handle.finish()
    handle.close()
    key = store.commit(staged)
    store.settle(key)
    store.discard_resumable("up-m")
    assert copies == []
    assert staged.sha256 == sha(data) and key == f"sha256/{sha(data)}"

    (blob,) = bucket.listing("sha256/")
    assert bucket.head(blob)["Metadata"] == {"layout": "parts"}
    manifest = json.loads(bucket.get(blob))
    assert sorted(name for name, _ in manifest["parts"]) == bucket.listing("data/up-m/")
    assert (
        manifest["size"]
        == sum(n for _, n in manifest["parts"])
        == len(b"".join(bucket.get(n) for n, _ in manifest["parts"]))
    )
    # What each savepoint held (over 1 MiB each: sent as a part), then the last bytes.
    assert [n >= SAVE_AS_PART for _, n in manifest["parts"]] == [True] * 5 + [False]
    assert bucket.listing("staging/") == [] and bucket.only_blobs() == []

    other = make()  # another process reads it: whole, by ranges across parts, by seeking
    assert read(other, key) == data
    for start, end in [
        (0, 10),
        (5 * MiB - 100, 5 * MiB + 100),
        (len(data) - 7, len(data) - 1),
        (0, len(data) - 1),
    ]:
        assert b"".join(other.read_range(key, start, end)) == data[start : end + 1]
    with other.open_plaintext(key) as f:
        f.seek(10 * MiB - 3)
        assert f.read(MiB) == data[10 * MiB - 3 : 11 * MiB - 3]
    assert other.size(key) == len(data) and other.exists(key)
    for name, _ in manifest["parts"]:
        raw = bucket.get(name)
        assert MARKER not in raw and data[:64] not in raw  # encrypted like any blob


def test_an_upload_of_announced_length_saves_a_small_state(make: MakeStore, bucket: Bucket) -> None:
    """Its size known, the writer seals every full segment short of the end as it fills: a
    savepoint after whole segments leaves no plaintext held back, and what gathered went up
    as a part, so the state is a few hundred bytes, not a segment and a part's worth."""
    data = sample(5 * MiB + 123)
    store = make()
    store.create_resumable("up-n")
    handle = store.open_resumable("up-n", length=len(data))
    handle.append(data[: 2 * MiB])
    handle.savepoint()
    handle.close()
    assert len(bucket.get("staging/uploads/up-n/state")) < 1024
    handle = make().open_resumable("up-n", length=len(data))  # another process goes on
    handle.append(data[2 * MiB :])
    staged = handle.finish()
    handle.close()
    assert staged.sha256 == sha(data)
    key = store.commit(staged)
    store.settle(key)
    store.discard_resumable("up-n")
    assert read(store, key) == data and bucket.only_blobs() == []


def test_the_same_bytes_uploaded_twice_keep_one_blob_and_its_parts(make: MakeStore, bucket: Bucket) -> None:
    data = sample(7 * MiB + 1)
    store = make()
    first = store.commit(upload_whole(store, "up-d1", data))
    store.settle(first)
    store.discard_resumable("up-d1")
    kept = bucket.listing("data/up-d1/")
    second = store.commit(upload_whole(store, "up-d2", data))
    store.settle(second)
    store.discard_resumable("up-d2")
    assert first == second
    assert bucket.listing("data/") == kept  # the second upload's parts are gone
    assert bucket.only_blobs() == [] and read(store, first) == data

    # An upload that ends without its blob committing leaves nothing at all.
    store.create_resumable("up-d3")
    handle = store.open_resumable("up-d3")
    handle.append(sample(6 * MiB))
    handle.savepoint()
    handle.close()
    store.discard_resumable("up-d3")
    assert bucket.listing("data/up-d3/") == []
    staged = upload_whole(store, "up-d4", sample(6 * MiB))  # finished, but refused before it commits
    store.discard(staged)
    store.discard_resumable("up-d4")
    assert bucket.listing("data/up-d4/") == [] and bucket.listing("staging/") == []


def test_deleting_a_blob_stored_as_parts_removes_its_parts(make: MakeStore, bucket: Bucket) -> None:
    store = make()
    key = store.commit(upload_whole(store, "up-x", sample(6 * MiB)))
    store.discard_resumable("up-x")
    assert store.delete_unclaimed(key, lambda: True) is False  # a record holds it
    assert bucket.listing("data/up-x/") != []
    store.settle(key)
    assert store.delete_unclaimed(key, lambda: False) is True
    assert bucket.listing() == []


def test_a_damaged_part_or_manifest_is_detected(make: MakeStore, bucket: Bucket) -> None:
    data = sample(6 * MiB)
    store = make()
    key = store.commit(upload_whole(store, "up-t", data))
    store.settle(key)
    store.discard_resumable("up-t")
    (blob,) = bucket.listing("sha256/")
    (first, _), (second, _) = json.loads(bucket.get(blob))["parts"]
    raw = bytearray(bucket.get(second))
    raw[1000] ^= 1
    bucket.client.put_object(Bucket=bucket.name, Key=bucket.prefix + second, Body=bytes(raw))
    with pytest.raises(BlobIntegrityError):
        read(store, key)
    manifest = json.loads(bucket.get(blob))
    manifest["parts"][0][0] = "../etc/passwd"
    bucket.client.put_object(
        Bucket=bucket.name,
        Key=bucket.prefix + blob,
        Body=json.dumps(manifest).encode(),
        Metadata={"layout": "parts"},
    )
    with pytest.raises(BlobIntegrityError, match="list of its stored parts is damaged"):
        read(store, key)
    bucket.client.delete_object(Bucket=bucket.name, Key=bucket.prefix + first)
    manifest["parts"][0][0] = first
    bucket.client.put_object(
        Bucket=bucket.name,
        Key=bucket.prefix + blob,
        Body=json.dumps(manifest).encode(),
        Metadata={"layout": "parts"},
    )
    with pytest.raises(NotFound):
        read(store, key)


KILLED_WRITER = textwrap.dedent(
    """
    import json, os, sys
    from opendems.adapters.blobs.s3 import S3BlobStore
    from opendems.adapters.crypto.keys import KeyEncryptionKey, Keyring
    from opendems.config import Settings

    values, secret = json.loads(sys.argv[1]), bytes.fromhex(sys.argv[2])
    store = S3BlobStore.from_settings(Settings(**values), Keyring(KeyEncryptionKey("k1", secret)))
    data = sys.stdin.buffer.read()
    store.create_resumable("up-k")
    upload = store.open_resumable("up-k")
    upload.append(data[: 6 * 1024 * 1024])
    upload.savepoint()
    upload.append(data[6 * 1024 * 1024 :])  # more arrives, then the process is killed
    print(upload.offset, flush=True)
    os.kill(os.getpid(), 9)
    """
)


def test_an_upload_resumes_after_the_process_writing_it_is_killed(
    target: S3Target, prefix: str, tmp_path: Path, bucket: Bucket
) -> None:
    secret = os.urandom(32)
    values = {"data_dir": str(tmp_path), **s3_settings(target, prefix)}
    data = sample(11 * MiB + 17)
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_WRITER, json.dumps(values), secret.hex()],
        input=data[: 8 * MiB],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == -9, proc.stderr.decode()
    assert int(proc.stdout) == 8 * MiB
    keyring = Keyring(KeyEncryptionKey("k1", secret))
    store = S3BlobStore.from_settings(Settings(**values), keyring, lock_lease_s=3)  # type: ignore[arg-type]
    assert store.resumable_offset("up-k") == 6 * MiB  # what was saved
    assert bucket.listing("staging/uploads/up-k/lock")  # the dead writer's lock, still fresh...
    upload = store.open_resumable("up-k")  # ...but its process, on this machine, is gone
    assert upload.offset == 6 * MiB
    upload.append(data[6 * MiB :])
    staged = upload.finish()
    upload.close()
    assert staged.sha256 == sha(data)
    key = store.commit(staged)
    store.settle(key)
    store.discard_resumable("up-k")
    assert read(store, key) == data
    assert bucket.only_blobs() == []


def test_a_lock_held_on_another_machine_is_waited_for_until_its_lease_runs_out(
    make: MakeStore, bucket: Bucket
) -> None:
    store = make(lock_lease_s=3)
    store.create_resumable("up-o")
    # A writer on another machine holds it (whether that one lives cannot be seen from here).
    bucket.client.put_object(
        Bucket=bucket.name, Key=bucket.prefix + "staging/uploads/up-o/lock", Body=b"elsewhere pid 4242 f00d"
    )
    with pytest.raises(Conflict, match="being written"):
        store.open_resumable("up-o")
    time.sleep(4.5)
    upload = store.open_resumable("up-o")  # its lease ran out: taken over
    upload.append(b"x" * 1000)
    upload.savepoint()
    upload.close()
    assert store.resumable_offset("up-o") == 1000


def test_a_stalled_writer_cannot_save_over_the_one_that_took_over(make: MakeStore, bucket: Bucket) -> None:
    data = sample(7 * MiB)
    first = make(lock_lease_s=1)
    first.create_resumable("up-s")
    stalled = first.open_resumable("up-s")
    stalled.append(data[: 2 * MiB])
    time.sleep(2.5)  # it stalls past its lease...
    second = make(lock_lease_s=1)
    taker = second.open_resumable("up-s")  # ...and another request takes the upload over
    assert taker.offset == 0
    taker.append(data[: 6 * MiB])
    taker.savepoint()
    with pytest.raises(Conflict):
        stalled.append(data[2 * MiB : 6 * MiB])
        stalled.savepoint()
    stalled.rollback()
    stalled.close()  # removes only its own unsaved parts
    taker.append(data[6 * MiB :])
    staged = taker.finish()
    taker.close()
    assert staged.sha256 == sha(data)
    assert read(second, second.commit(staged)) == data


def test_the_progress_record_is_written_only_over_the_version_read(make: MakeStore, bucket: Bucket) -> None:
    """Even a writer that lost its lock without noticing (its lock object vanished, say) can
    never save over another's progress: a savepoint replaces the progress record only if it is
    still the version its writer read."""
    a = make()
    a.create_resumable("up-c")
    one = a.open_resumable("up-c")
    bucket.client.delete_object(Bucket=bucket.name, Key=bucket.prefix + "staging/uploads/up-c/lock")
    two = make().open_resumable("up-c")
    one.append(b"a" * 1000)
    two.append(b"b" * 2000)
    two.savepoint()
    with pytest.raises(Conflict, match="changed or removed by another request"):
        one.savepoint()
    one.close()
    two.close()
    upload = a.open_resumable("up-c")
    assert upload.offset == 2000
    staged = upload.finish()
    upload.close()
    assert staged.sha256 == sha(b"b" * 2000)


def test_two_processes_opening_one_upload_at_once(make: MakeStore) -> None:
    stores = [make() for _ in range(6)]
    stores[0].create_resumable("up-r")
    barrier = threading.Barrier(len(stores))
    results: list[str] = []

    def attempt(s: S3BlobStore) -> None:
        barrier.wait()
        try:
            s.open_resumable("up-r")  # held open (not closed) by the winner
            results.append("opened")
        except Conflict:
            results.append("conflict")

    threads = [threading.Thread(target=attempt, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == ["conflict"] * (len(stores) - 1) + ["opened"]


# -- credentials and configuration -------------------------------------------------------------


def test_wrong_credentials_give_a_clear_error(make: MakeStore, target: S3Target) -> None:
    with pytest.raises(ObjectStoreError, match=r"refused the secret key of access key .*OPENDEMS_S3_SECRET"):
        make(s3_secret_access_key="not-the-secret")
    with pytest.raises(ObjectStoreError, match="does not know the access key 'AKNOBODY'"):
        make(s3_access_key_id="AKNOBODY")
    with pytest.raises(ValueError, match="between 5 MiB and 5 GiB"):
        make(s3_part_size=1024 * 1024)


def test_an_unreachable_object_store_is_a_clear_error(make: MakeStore) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    with pytest.raises(ObjectStoreError, match=f"cannot reach the object store at http://127.0.0.1:{port}"):
        make(s3_endpoint_url=f"http://127.0.0.1:{port}")


def test_a_missing_bucket_is_created(make: MakeStore, target: S3Target) -> None:
    name = f"odt-new-{secrets.token_hex(4)}"
    store = make(s3_bucket=name)
    store.client.head_bucket(Bucket=name)
    assert not store.versioned and not store.object_lock


# -- Object Lock ---------------------------------------------------------------------------------
# SeaweedFS 4.48 supports it: buckets created with Object Lock (versioned), compliance-mode
# retention and legal holds, enforced on deletion.


def test_object_lock_retains_originals_in_compliance_mode(
    make: MakeStore, target: S3Target, prefix: str
) -> None:
    name = f"{target.bucket}-locked"
    store = make(s3_bucket=name, s3_object_lock="required", s3_retention_days=2)
    assert store.object_lock and store.versioned
    look = Bucket(target, prefix, name)
    data = sample(150_000)
    key = store.commit(stage(store, data))
    store.retain(key)
    store.settle(key)
    (blob,) = look.listing("sha256/")
    retention = look.client.get_object_retention(Bucket=name, Key=prefix + blob)["Retention"]
    assert retention["Mode"] == "COMPLIANCE"
    days = (retention["RetainUntilDate"].timestamp() - time.time()) / 86400
    assert 1.99 < days <= 2.0
    with pytest.raises(Conflict, match=r"protected by S3 Object Lock .*compliance retention until"):
        store.delete(key)
    assert store.delete_unclaimed(key, lambda: False) is False  # kept: the lock wins
    assert read(store, key) == data

    shorter = make(s3_bucket=name, s3_object_lock="required", s3_retention_days=1)
    shorter.retain(key)  # never shortens a retention
    again = look.client.get_object_retention(Bucket=name, Key=prefix + blob)["Retention"]
    assert again["RetainUntilDate"] == retention["RetainUntilDate"]

    store.legal_hold(key, True)
    assert look.client.get_object_legal_hold(Bucket=name, Key=prefix + blob)["LegalHold"]["Status"] == "ON"
    with pytest.raises(Conflict, match="a legal hold"):
        store.delete(key)
    store.legal_hold(key, False)
    assert look.client.get_object_legal_hold(Bucket=name, Key=prefix + blob)["LegalHold"]["Status"] == "OFF"

    # An original stored as an upload's parts: the manifest and every part are retained.
    uploaded = store.commit(upload_whole(store, "up-lk", sample(6 * MiB)))
    store.retain(uploaded)
    store.settle(uploaded)
    store.discard_resumable("up-lk")
    address = next(k for k in look.listing("sha256/") if k != blob)
    parts = [n for n, _ in json.loads(look.get(address))["parts"]]
    assert len(parts) == 2
    for target_key in [address, *parts]:
        got = look.client.get_object_retention(Bucket=name, Key=prefix + target_key)["Retention"]
        assert got["Mode"] == "COMPLIANCE"
    store.legal_hold(uploaded, True)
    for target_key in [address, *parts]:
        hold = look.client.get_object_legal_hold(Bucket=name, Key=prefix + target_key)["LegalHold"]
        assert hold["Status"] == "ON"
    with pytest.raises(Conflict):
        store.delete(uploaded)
    store.legal_hold(uploaded, False)
    assert read(store, uploaded) and look.listing("data/up-lk/") == sorted(parts)

    # Everything else in a locked (versioned) bucket is removed for good, every version.
    other = stage(store, sample(10_000))
    store.discard(other)
    store.create_resumable("up-l")
    upload = store.open_resumable("up-l")
    upload.append(sample(PART + 100))
    upload.savepoint()
    upload.append(b"x")
    upload.savepoint()
    upload.close()
    store.discard_resumable("up-l")
    unlocked = store.commit(stage(store, sample(20_000)))  # committed, never retained
    store.settle(unlocked)
    store.delete(unlocked)
    versions = look.client.list_object_versions(Bucket=name, Prefix=prefix)
    left = [v["Key"][len(prefix) :] for v in versions.get("Versions", [])]
    assert sorted(left) == sorted([blob, address, *parts])
    assert versions.get("DeleteMarkers", []) == []


def test_object_lock_auto_on_a_bucket_without_it_does_nothing_and_fails_nothing(
    make: MakeStore, bucket: Bucket
) -> None:
    store = make(s3_object_lock="auto", s3_retention_days=30)  # the test bucket has no lock
    assert not store.object_lock
    key = store.commit(stage(store, sample(30_000)))
    store.retain(key)
    store.legal_hold(key, True)
    store.settle(key)
    (blob,) = bucket.listing("sha256/")
    with pytest.raises(bucket.client.exceptions.ClientError):
        bucket.client.get_object_retention(Bucket=bucket.name, Key=bucket.prefix + blob)
    store.delete(key)
    assert bucket.listing() == []


def test_object_lock_required_refuses_a_bucket_without_it(make: MakeStore, target: S3Target) -> None:
    make()  # the test bucket exists, without Object Lock
    with pytest.raises(ObjectStoreError, match=r"'required' but bucket .* does not have Object Lock enabled"):
        make(s3_object_lock="required")


def test_a_bucket_with_default_retention_is_refused(make: MakeStore, target: S3Target) -> None:
    name = f"{target.bucket}-default-retention"
    creator = Bucket(target, "", name).client
    with contextlib.suppress(creator.exceptions.BucketAlreadyOwnedByYou):
        creator.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    creator.put_object_lock_configuration(
        Bucket=name,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}},
        },
    )
    with pytest.raises(ObjectStoreError, match="default Object Lock retention"):
        make(s3_bucket=name, s3_object_lock="auto")
    off = make(s3_bucket=name, s3_object_lock="off")  # "off" never asks about the lock
    assert not off.object_lock


# -- the services, unchanged, on S3 --------------------------------------------------------------


def ingest(c: Container, chunks: Any, **fields: object) -> IngestResult:
    req = IngestRequest(**{"filename": "evidence.bin", **fields})  # type: ignore[arg-type]
    return ingest_stream(admin(c), req, chunks, uow=c.uow(), blobs=c.blobs, clock=c.clock, limits=c.limits)


def item_count(c: Container) -> int:
    with c.uow() as uow:
        return uow.evidence.page(EvidenceFilter(), visibility(admin(c).principal), limit=10, offset=0)[1]


def check(c: Container) -> Any:
    return verify(admin(c), None, uow=c.uow(), blobs=c.blobs, anchor=c.anchor, signer=c.signer, clock=c.clock)


def test_ingest_download_verify_and_processing_run_unchanged_on_s3(
    tmp_path: Path, target: S3Target, prefix: str, bucket: Bucket
) -> None:
    c = make_container(tmp_path, **s3_settings(target, prefix))
    assert isinstance(c.blobs, S3BlobStore)
    data = os.urandom(PART + 300_000)  # two parts, many segments
    result = ingest(c, [data[:1000], data[1000:4_000_000], data[4_000_000:]], filename="clip.dat")
    item = result.item
    assert item.original is not None and item.original.sha256 == sha(data)
    assert (
        b"".join(c.blobs.read_range(item.original.blob_key, SEG - 1, 3 * SEG)) == data[SEG - 1 : 3 * SEG + 1]
    )
    assert bucket.only_blobs() == []  # no claim, no staging left once the record is settled

    # The same bytes again: a duplicate, one object. Refused and failed ingests store nothing.
    assert ingest(c, [data], filename="again.dat").duplicate
    with pytest.raises(DigestMismatch):
        ingest(c, [os.urandom(200_000)], filename="x.dat", expected_sha256="0" * 64)
    assert len(bucket.listing("sha256/")) == 1 and bucket.only_blobs() == []

    # Processing reads the original from S3 and stores derivatives there.
    photo = ingest(c, [png_bytes(64, 48, seed=3)], filename="scene.png").item
    jobs = c.processor.run_until_idle("w1")
    assert jobs and all(j.state is JobState.DONE for j in jobs), [(j.kind, j.state, j.error) for j in jobs]
    with c.uow() as uow:
        stored = uow.evidence.get(photo.id)
    assert stored is not None and stored.derivatives
    for d in stored.derivatives:
        assert c.blobs.exists(d.blob_key) and sha(b"".join(c.blobs.read_all(d.blob_key))) == d.sha256

    # Upload, and download with HTTP Range, through the API.
    user_actor(c, "ivy", "investigator")
    auth = {"Authorization": f"Bearer {create_token(admin(c), 'ivy', 't', uow=c.uow(), clock=c.clock).token}"}
    body = os.urandom(PART + 90_000)
    with TestClient(create_app(c)) as client:
        r = client.post("/api/v1/evidence", params={"filename": "body.dat"}, content=body, headers=auth)
        assert r.status_code == 201, r.text
        uploaded = r.json()["item"]["id"]
        r = client.get(
            f"/api/v1/evidence/{uploaded}/original",
            headers={**auth, "Range": f"bytes={PART - 5}-{PART + 70_000}"},
        )
        assert r.status_code == 206, r.text
        assert r.content == body[PART - 5 : PART + 70_001]

    report = check(c)
    assert report.ok, report.problems
    assert item_count(c) == 3
    assert recover_storage(c.uow(), c.blobs, older_than_s=0) == {"parts": 0, "blobs": 0}

    # Fixity: a changed object in the bucket is named by verify.
    name = f"sha256/{item.original.sha256[:2]}/{item.original.sha256[2:4]}/{item.original.sha256}"
    raw = bytearray(bucket.get(name))
    raw[HEADER_SIZE + 3 * (SEG + SEGMENT_OVERHEAD) + 9] ^= 1
    bucket.client.put_object(Bucket=bucket.name, Key=bucket.prefix + name, Body=bytes(raw))
    problems = check(c).problems
    assert len(problems) == 1 and item.id in problems[0] and "damaged or altered" in problems[0]


def test_ingest_retains_the_original_and_not_its_derivatives(
    tmp_path: Path, target: S3Target, prefix: str
) -> None:
    name = f"{target.bucket}-locked"
    c = make_container(
        tmp_path,
        **s3_settings(target, prefix, s3_bucket=name, s3_object_lock="required", s3_retention_days=1),
    )
    photo = ingest(c, [png_bytes(32, 32, seed=9)], filename="scene.png").item
    c.processor.run_until_idle("w1")
    with c.uow() as uow:
        stored = uow.evidence.get(photo.id)
    assert stored is not None and stored.original is not None and stored.derivatives
    look = Bucket(target, prefix, name)

    def retention(sha256: str) -> str | None:
        key = f"{prefix}sha256/{sha256[:2]}/{sha256[2:4]}/{sha256}"
        try:
            return str(look.client.get_object_retention(Bucket=name, Key=key)["Retention"]["Mode"])
        except look.client.exceptions.ClientError:
            return None

    assert retention(stored.original.sha256) == "COMPLIANCE"
    assert {retention(d.sha256) for d in stored.derivatives} == {None}


def tus(headers: dict[str, str], **more: str) -> dict[str, str]:
    return {**headers, "Tus-Resumable": "1.0.0", **more}


def test_a_tus_upload_continues_through_another_api_process(
    tmp_path: Path, target: S3Target, prefix: str, bucket: Bucket
) -> None:
    """One API process takes the first chunks of an upload; another (its own store, its own
    memory) takes the rest: the upload's state is all in the bucket and the database."""
    first = make_container(tmp_path, **s3_settings(target, prefix))
    user_actor(first, "ivy", "investigator")
    issued = create_token(admin(first), "ivy", "t", uow=first.uow(), clock=first.clock)
    auth = {"Authorization": f"Bearer {issued.token}"}
    data = sample(11 * MiB + 99)
    patch = {"Content-Type": "application/offset+octet-stream"}
    with TestClient(create_app(first)) as a:
        r = a.post(
            "/api/v1/uploads",
            headers=tus(
                auth, **{"Upload-Length": str(len(data)), "Upload-Metadata": "filename Y2xpcC5iaW4="}
            ),
        )
        assert r.status_code == 201, r.text
        url = r.headers["location"]
        for start, end in [(0, 4 * MiB), (4 * MiB, 7 * MiB)]:
            r = a.patch(
                url, content=data[start:end], headers=tus(auth, **patch, **{"Upload-Offset": str(start)})
            )
            assert r.status_code == 204, r.text

    second = Container(first.settings)  # another process on the same database and bucket
    assert second.blobs is not first.blobs
    with TestClient(create_app(second)) as b:
        r = b.head(url, headers=tus(auth))
        assert r.headers["upload-offset"] == str(7 * MiB)
        r = b.patch(
            url, content=data[7 * MiB :], headers=tus(auth, **patch, **{"Upload-Offset": str(7 * MiB)})
        )
        assert r.status_code == 204, r.text
        assert r.headers["opendems-sha256"] == sha(data)
        evidence_id = r.headers["opendems-evidence-id"]
        r = b.get(f"/api/v1/evidence/{evidence_id}/original", headers=auth)
        assert r.content == data
    assert bucket.only_blobs() == []
