"""The small interfaces the services depend on. Adapters implement them; bootstrap wires them."""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol


@dataclass(frozen=True)
class StagedBlob:
    """A fully written, encrypted blob waiting under a temporary name to be committed."""

    token: str  # store-specific handle of the temporary object
    sha256: str
    size: int
    head: bytes  # the first plaintext bytes, for content-type detection


class BlobWriter(Protocol):
    @property
    def size(self) -> int: ...

    def write(self, data: bytes | bytearray | memoryview) -> None: ...
    def finish(self) -> StagedBlob: ...
    def abort(self) -> None: ...


class ResumableUpload(Protocol):
    """One resumable upload's encrypted staging area, held under a lock while open."""

    @property
    def offset(self) -> int: ...

    def append(self, data: bytes | bytearray | memoryview) -> None: ...
    def savepoint(self) -> None: ...
    def rollback(self) -> None: ...
    def finish(self) -> StagedBlob: ...
    def close(self) -> None: ...


class BlobStore(Protocol):
    def writer(self) -> BlobWriter: ...
    def commit(self, staged: StagedBlob) -> str:
        """Move a staged blob under its content address; return the blob key. Until
        ``settle`` is called the key stays listed as unsettled (see ``unsettled``)."""
        ...

    def discard(self, staged: StagedBlob) -> None: ...
    def settle(self, key: str) -> None: ...
    def delete_unclaimed(self, key: str, referenced: Callable[[], bool]) -> bool: ...
    def unsettled(self, older_than_s: float) -> list[str]: ...
    def sweep_staging(self, older_than_s: float) -> int: ...
    def exists(self, key: str) -> bool: ...
    def size(self, key: str) -> int: ...
    def read_range(self, key: str, start: int, end: int) -> Generator[bytes, None, None]: ...
    def read_all(self, key: str) -> Generator[bytes, None, None]: ...
    def sha256_many(self, keys: list[str], progress: Callable[[int], None]) -> dict[str, str]:
        """The SHA-256 of each blob's plaintext, as fast as the store allows (several at
        once); ``progress`` gets the bytes hashed since its last call."""
        ...

    def open_plaintext(self, key: str) -> BinaryIO:
        """A seekable, read-only file of the blob's plaintext (decrypts segments on demand)."""
        ...

    def delete(self, key: str) -> None: ...
    def retain(self, key: str) -> None:
        """Protect a committed original from deletion by anyone, the store's own operators
        included, for the agency's retention period (S3 Object Lock, compliance mode). A no-op
        where the store has no such lock (local disk, a bucket without Object Lock)."""
        ...

    def create_resumable(self, upload_id: str) -> None: ...
    def open_resumable(self, upload_id: str, *, length: int | None = None) -> ResumableUpload: ...
    def resumable_offset(self, upload_id: str) -> int: ...
    def discard_resumable(self, upload_id: str) -> None: ...


class JobQueue(Protocol):
    """The processing queue. The jobs table implements it for one machine; a broker-backed
    adapter (Celery) implements the same calls, and the steps run unchanged on either.
    Steps are idempotent, so a job may run more than once (a lease ran out, a broker
    redelivered it) without doing its work twice."""

    def enqueue(
        self, kind: str, evidence_id: str | None, now: datetime, *, max_attempts: int = ...
    ) -> int | None: ...
    def claim(
        self, worker: str, now: datetime, lease: timedelta, *, job_id: int | None = None
    ) -> Job | None: ...
    def get(self, job_id: int) -> Job | None: ...
    def progress(
        self, job_id: int, worker: str, fraction: float, now: datetime, lease: timedelta
    ) -> bool: ...
    def finish(self, job_id: int, worker: str, now: datetime) -> bool: ...
    def fail(
        self, job_id: int, worker: str, error: str, now: datetime, *, retry_at: datetime | None
    ) -> bool: ...
    def for_item(self, evidence_id: str) -> list[Job]: ...
    def of_kinds(self, kinds: list[str]) -> list[Job]: ...
    def listing(
        self, state: JobState | None = None, limit: int = 100, *, scope: Visibility | None = None
    ) -> list[Job]: ...
    def counts(self) -> dict[str, int]: ...
    def failed_since(self, when: datetime) -> list[Job]: ...
    def retry(self, job_id: int, now: datetime) -> bool: ...

    def cancel(self, job_id: int, now: datetime, why: str) -> bool: ...


class Clock(Protocol):
    def now(self) -> datetime: ...


class MediaProber(Protocol):
    """Reads what an original holds (streams, duration, capture time, place, device).
    Raises ``PermanentFailure`` for a file that cannot be read."""

    def probe(self, kind: str, f: BinaryIO) -> dict[str, Any]: ...


@dataclass
class ProxyResult:
    """A proxy's parameters, and what was made on the same pass over the original."""

    params: dict[str, Any]
    poster: bytes | None = None  # JPEG
    peaks: dict[str, Any] | None = None  # waveform peaks
    sprite: tuple[bytes, dict[str, Any]] | None = None  # timeline sprite sheet (JPEG, layout)


class PiiScanner(Protocol):
    """Finds personal details (names, phone numbers, addresses...) in a text."""

    provenance: dict[str, Any]

    def find(self, text: str) -> list[PiiFinding]: ...


class TextReader(Protocol):
    """Reads the text in pictures (OCR), with each word's box; never touches the original.
    Raises ``PermanentFailure`` for a file that cannot be opened at all; a page that cannot be
    read is noted in the result, and the others are read."""

    def read_image(self, src: BinaryIO, report: Callable[[float], None]) -> OcrText: ...
    def read_pdf(self, src: BinaryIO, report: Callable[[float], None]) -> OcrText: ...


class MediaTools(Protocol):
    """Makes derivatives; never touches the original it reads."""

    tool_av: str
    tool_images: str
    tool_pdf: str

    def video_proxy(self, src: BinaryIO, dst: Path, report: Callable[[float], None]) -> ProxyResult: ...
    def audio_proxy(self, src: BinaryIO, dst: Path, report: Callable[[float], None]) -> ProxyResult: ...
    def image_previews(self, src: BinaryIO) -> dict[str, tuple[bytes, dict[str, Any]]]: ...
    def pdf_pages(self, src: BinaryIO) -> list[tuple[bytes, dict[str, Any]]]: ...
    def find_faces(
        self, src: BinaryIO, *, image: bool, report: Callable[[float], None], **detections: Any
    ) -> RedactionPlan:
        """Version 1 of a redaction plan: the faces of a video (or photo) tracked through it."""
        ...

    def redact_video(
        self, src: BinaryIO, dst: Path, plan: RedactionPlan, report: Callable[[float], None]
    ) -> dict[str, Any]: ...
    def redact_image(self, src: BinaryIO, plan: RedactionPlan) -> tuple[bytes, dict[str, Any]]: ...
    def find_pdf_text(self, src: BinaryIO, patterns: Sequence[tuple[str, re.Pattern[str]]]) -> TextScan:
        """Search a PDF's text layer: each match's page, label, length and box (points, from the
        top-left corner of the page as displayed), never the text itself."""
        ...

    def redact_pdf(
        self, src: BinaryIO, dst: Path, regions: dict[int, list[Box]], report: Callable[[float], None]
    ) -> dict[str, Any]:
        """Write a copy of the PDF with what lies under each box (page index -> boxes, in the
        coordinates ``find_pdf_text`` gives) taken out of the file; returns the parameters."""
        ...

    def watermark_video(
        self, src: BinaryIO, dst: Path, lines: list[str], report: Callable[[float], None]
    ) -> dict[str, Any]:
        """Write an MP4 of the video with ``lines`` burned into every frame."""
        ...

    def transcribe(self, src: BinaryIO, model: str, report: Callable[[float], None]) -> Transcript:
        """What is said in an audio or video file (a transcript with a note where nothing is)."""
        ...

    def watermark_image(self, src: BinaryIO, lines: list[str]) -> tuple[bytes, str, dict[str, Any]]:
        """The photo with ``lines`` burned in: (bytes, MIME type, parameters)."""
        ...

    def pdf_page_image(self, src: BinaryIO, page: int, width: int) -> tuple[bytes, dict[str, Any]] | None:
        """Page ``page`` (from 0) of a PDF as displayed, as a PNG about ``width`` pixels wide (the
        adapter caps it); None when there is no such page."""
        ...


class ReportRenderer(Protocol):
    """Renders court documents (chain-of-custody reports, share receipts) as PDF; the same
    input gives the same bytes."""

    tool: str

    def custody_report_pdf(self, report: CustodyReport) -> bytes: ...
    def share_receipt_pdf(self, receipt: ShareReceipt) -> bytes: ...


class Secrets(Protocol):
    """Seals small secrets (TOTP seeds) under the agency key before they reach the database."""

    def seal(self, plaintext: bytes, *, context: str) -> str: ...
    def open(self, token: str, *, context: str) -> bytes: ...


class CustodyAnchor(Protocol):
    """A signed record of the newest custody event, kept outside the database."""

    def write(self, seq: int, event_hash: str) -> None: ...
    def read(self) -> tuple[int, str, str] | None: ...


class Embedder(Protocol):
    """Turns texts into sentence-embedding vectors for meaning search (offline model)."""

    model_id: str

    def load(self) -> None:
        """Load the model now (the first ``embed`` does otherwise); safe from any thread."""
        ...

    def embed(self, texts: Sequence[str]) -> Any:
        """A float32 array with one unit-length row per text (dot product: cosine similarity)."""
        ...


class SearchIndex(Protocol):
    """The full-text index over every item's metadata and text derivatives. SQLite FTS5 for
    the embedded default; PostgreSQL full-text search for scale-out. Writes happen on the
    unit of work's transaction, so the index commits (or not) with the rows it describes."""

    def refresh(self, evidence_ids: Iterable[str]) -> None:
        """Rebuild these items' metadata documents from the database (same transaction)."""
        ...

    def add_text(self, evidence_id: str, source: str, segments: Iterable[tuple[float | None, str]]) -> None:
        """Index a text derivative ("transcript", "ocr"): (start seconds, text) segments."""
        ...

    def search(
        self, query: SearchQuery, scope: Visibility, *, limit: int, offset: int, facets: bool
    ) -> SearchResult:
        """Ranked hits, the total and facet counts, all over the items ``scope`` sees."""
        ...

    def rebuild_all(self) -> int:
        """Rebuild the whole index from the database; returns how many items it holds."""
        ...

    def fill_vectors(self, evidence_ids: Iterable[str]) -> None:
        """Embed, for meaning search, these items' documents that have no vector yet (written
        by a unit of work without the model); nothing when meaning search is off."""
        ...

    def lacking_vectors(self, after: int, limit: int) -> tuple[list[str], int | None]:
        """The items with a document that has no vector, among the next ``limit`` documents
        after document ``after``; and the last document looked at (None: none was left)."""
        ...


if TYPE_CHECKING:
    import re

    from opendems.domain.access import Visibility
    from opendems.domain.jobs import Job, JobState
    from opendems.domain.ocr import OcrText
    from opendems.domain.redaction import RedactionPlan, TextScan
    from opendems.domain.reports import CustodyReport, ShareReceipt
    from opendems.domain.search import SearchQuery, SearchResult
    from opendems.domain.tracking import Box
    from opendems.domain.transcripts import PiiFinding, Transcript

if TYPE_CHECKING:  # repository types, for annotations only: services never import adapters
    from opendems.adapters.db.access_repo import AccessRepository
    from opendems.adapters.db.accounts_repo import AccountRepository
    from opendems.adapters.db.cases_repo import CaseRepository
    from opendems.adapters.db.categories_repo import CategoryRepository
    from opendems.adapters.db.custody_repo import CustodyRepository
    from opendems.adapters.db.evidence_repo import EvidenceRepository
    from opendems.adapters.db.exports_repo import ExportRepository
    from opendems.adapters.db.redaction_repo import RedactionRepository
    from opendems.adapters.db.sessions_repo import SessionRepository
    from opendems.adapters.db.shares_repo import ShareRepository
    from opendems.adapters.db.uploads_repo import UploadRepository


class UnitOfWork(Protocol):
    accounts: AccountRepository
    access: AccessRepository
    sessions: SessionRepository
    evidence: EvidenceRepository
    cases: CaseRepository
    uploads: UploadRepository
    custody: CustodyRepository
    categories: CategoryRepository
    redaction: RedactionRepository
    shares: ShareRepository
    exports: ExportRepository

    @property
    def jobs(self) -> JobQueue: ...  # a port of its own: the queue may live elsewhere

    @property
    def search(self) -> SearchIndex: ...

    def __enter__(self) -> UnitOfWork: ...
    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None, /
    ) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def for_reading(self) -> UnitOfWork: ...
