"""Wires adapters to ports from the settings: the only place that knows the concrete parts."""

from __future__ import annotations

import contextlib
import gc
import getpass
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine

from opendems.adapters.blobs.local import LocalBlobStore
from opendems.adapters.crypto.anchor import FileCustodyAnchor
from opendems.adapters.crypto.keys import Keyring, Signer, load_keyring, load_signer
from opendems.adapters.crypto.secrets import SecretBox
from opendems.adapters.db.engine import exclusive, make_engine
from opendems.adapters.db.migrate import upgrade
from opendems.adapters.db.uow import SqlUnitOfWork
from opendems.config import Settings
from opendems.domain.custody import Where
from opendems.domain.evidence import MetadataLimits
from opendems.ports import BlobStore, Embedder, PiiScanner, ReportRenderer, TextReader
from opendems.services.accounts import (
    ensure_cli_account,
    ensure_first_admin,
    ensure_roles,
    principal_of,
    sweep_accounts,
)
from opendems.services.context import Actor, AuthPolicy, Limits, SystemClock
from opendems.services.ingest import recover_storage
from opendems.services.jobs import Processor, StepContext
from opendems.services.uploads import expire_uploads
from opendems.services.verify import check_chain

log = logging.getLogger(__name__)

if TYPE_CHECKING:  # imported where an identity provider is configured (authlib takes a while)
    from opendems.adapters.oidc.client import OidcClient


@dataclass
class Container:
    settings: Settings
    clock: SystemClock = field(default_factory=SystemClock)

    @cached_property
    def engine(self) -> Engine:
        return make_engine(self.settings.resolved_database_url)

    @cached_property
    def keyring(self) -> Keyring:
        return load_keyring(
            self.settings.key_dir, env_secret=self.settings.kek, env_key_id=self.settings.kek_id
        )

    @cached_property
    def signer(self) -> Signer:
        return load_signer(self.settings.key_dir)

    @cached_property
    def anchor(self) -> FileCustodyAnchor:
        return FileCustodyAnchor(self.settings.data_dir / "custody-anchor.json", self.signer)

    @cached_property
    def blobs(self) -> BlobStore:
        s = self.settings
        if s.blob_store == "s3":
            from opendems.adapters.blobs.s3 import S3BlobStore

            return S3BlobStore.from_settings(s, self.keyring)
        return LocalBlobStore(s.blob_dir, s.staging_dir, self.keyring, s.segment_size)

    @cached_property
    def job_publisher(self) -> Callable[[list[int]], None] | None:
        """Hands committed jobs to the broker (scale-out); None: workers poll the jobs table."""
        if self.settings.job_queue == "celery":
            from opendems.adapters.jobs.celery_queue import CeleryPublisher

            return CeleryPublisher(self.settings)
        return None

    @cached_property
    def limits(self) -> Limits:
        s = self.settings
        return Limits(
            metadata=MetadataLimits(
                max_title_chars=s.max_title_chars,
                max_description_chars=s.max_description_chars,
                max_tags=s.max_tags,
                max_tag_chars=s.max_tag_chars,
                max_custom_fields_bytes=s.max_custom_fields_bytes,
            ),
            max_upload_bytes=s.max_upload_bytes,
            upload_expiry_hours=s.upload_expiry_hours,
        )

    @cached_property
    def secrets(self) -> SecretBox:
        return SecretBox(self.keyring)

    @cached_property
    def auth_policy(self) -> AuthPolicy:
        s = self.settings
        return AuthPolicy(
            lockout_attempts=s.lockout_attempts,
            lockout_window=timedelta(minutes=s.lockout_window_minutes),
            rate_per_address=s.sign_in_rate_per_address,
            rate_window=timedelta(minutes=s.sign_in_rate_window_minutes),
            session_idle=timedelta(minutes=s.session_idle_minutes),
            session_max=timedelta(hours=s.session_max_hours),
            inactive_after=timedelta(days=s.inactive_account_days),
            require_mfa=s.require_mfa,
            mfa_issuer=s.mfa_issuer,
        )

    @cached_property
    def identity_provider(self) -> OidcClient | None:
        s = self.settings
        if not (s.oidc_issuer and s.oidc_client_id and s.oidc_client_secret):
            return None
        from opendems.adapters.oidc.client import OidcClient

        return OidcClient(
            s.oidc_issuer,
            s.oidc_client_id,
            s.oidc_client_secret,
            s.oidc_public_url.rstrip("/") + "/sign-in/oidc/callback",
        )

    @cached_property
    def processor(self) -> Processor:
        # The job steps, and the media and numerical libraries they use (PyAV, Pillow, numpy),
        # load with the processor: a command that runs no job never pays for them.
        from opendems.adapters.media.probe import MediaProbe
        from opendems.adapters.media.transcode import MediaTools
        from opendems.services.exports import STEPS as EXPORT_STEPS
        from opendems.services.media import STEPS
        from opendems.services.ocr import STEPS as OCR_STEPS
        from opendems.services.redaction import STEPS as REDACTION_STEPS
        from opendems.services.share_copies import STEPS as COPY_STEPS
        from opendems.services.transcripts import STEPS as TRANSCRIPT_STEPS

        actor: list[Actor] = []

        def context() -> StepContext:
            if not actor:  # once: looking the account up takes the database's write lock
                actor.append(self.system_actor("processing"))
            return StepContext(
                uow=self.uow(),
                blobs=self.blobs,
                clock=self.clock,
                actor=actor[0],
                prober=MediaProbe(),
                tools=MediaTools(),
                work_dir=self.settings.work_dir,
                reports=self.reports,
                check_chain=lambda uow: check_chain(uow, self.anchor, self.signer),
                agency=self.settings.agency_name,
                transcription=None if self.settings.transcription == "off" else self.settings.transcription,
                ocr=None if self.settings.ocr == "off" else self.text_reader,
                pii=pii_finder,
            )

        return Processor(
            steps={**STEPS, **REDACTION_STEPS, **EXPORT_STEPS, **COPY_STEPS, **TRANSCRIPT_STEPS, **OCR_STEPS},
            make_context=context,
            clock=self.clock,
            lease=timedelta(seconds=self.settings.job_lease_seconds),
        )

    @cached_property
    def text_reader(self) -> TextReader:
        from opendems.adapters.text.ocr import TextReader as Reader  # its models load on first use

        return Reader()

    @cached_property
    def reports(self) -> ReportRenderer:
        from opendems.adapters.reports.renderer import PdfReports

        return PdfReports()

    def uow(self, *, meaning: bool = True) -> SqlUnitOfWork:
        """A unit of work; ``meaning=False``: its commits index words only, and leave the
        meaning-search vectors to a later ``services.search.index_meaning``."""
        return SqlUnitOfWork(
            self.engine,
            signer=self.signer,
            anchor=self.anchor,
            publish=self.job_publisher,
            embedder=self.embedder if meaning else None,
        )

    @cached_property
    def embedder(self) -> Embedder | None:
        """Meaning search's sentence embedder (one per process, loaded on first use); None: off."""
        if not self.settings.meaning_search:
            return None
        from opendems.adapters.text.embeddings import shared_embedder

        return shared_embedder()

    def preload(self, *, catch_up: bool = False) -> None:
        """Load meaning search's model on a background thread now, so the first commit that
        indexes an item does not stop to load it (a quarter of a second on two cores). A
        failure is left to that first use to report. ``catch_up``: then embed the documents
        that have no vector (``services.search.catch_up_meaning``), as the server does."""
        embedder = self.embedder
        if embedder is None:
            return
        # numpy is imported here, on the calling thread, before the load starts. Imported by two
        # threads at once -- the load's onnxruntime and, say, the commit's first vector -- it
        # comes out half-initialised in one of them ("partially initialized module").
        import numpy  # noqa: F401

        def load() -> None:
            try:
                embedder.load()
            except Exception:  # reported, with its cause, by the first embed that needs it
                log.debug("preloading the meaning-search model failed", exc_info=True)
                return
            # What exists now -- the imported modules, the model -- lives as long as the
            # process: out of the collector's generations, so a full collection does not walk
            # it all again (60 ms, which otherwise lands in the middle of a commit).
            gc.freeze()
            if catch_up:
                self._catch_up_meaning()

        # Not a daemon: a short command waits for the load at exit rather than leaving the
        # model's native code running while the interpreter shuts down (which aborts).
        threading.Thread(target=load, name="opendems-preload").start()

    def _catch_up_meaning(self) -> None:
        from opendems.services.search import catch_up_meaning

        try:
            found = catch_up_meaning(self.system_actor("search catch-up"), uow=self.uow())
        except Exception as exc:  # the server serves on; words still find every item
            log.warning("could not complete the meaning-search index: %s", exc)
            return
        if found:
            log.info("meaning search: embedded the documents of %d items that had none", found)

    def system_actor(self, endpoint: str) -> Actor:
        """The built-in command-line account, acting locally."""
        user = ensure_cli_account(self.uow(), self.clock)
        with self.uow() as uow:
            principal = principal_of(uow, user, "cli")
        return Actor(
            principal,
            Where(service="cli", endpoint=endpoint, client_address="local"),
            extra={"os_user": os_user()},
        )


def pii_finder() -> PiiScanner:
    """The personal-data finder, loaded on first use (spaCy takes a second or two)."""
    from opendems.adapters.text.pii import pii_finder as finder

    return finder()


def os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return str(os.getuid())


@dataclass(frozen=True)
class InitResult:
    first_admin: tuple[str, str] | None
    recovered: dict[str, int]


def initialise(container: Container) -> InitResult:
    """Create the data directory, keys and schema; create the first administrator once;
    clean what an earlier crash left behind. Safe to run any number of times."""
    s = container.settings
    s.data_dir.mkdir(parents=True, exist_ok=True)
    s.key_dir.mkdir(parents=True, exist_ok=True)
    s.work_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(s.work_dir, 0o700)
    stale = time.time() - 6 * 3600
    for leftover in s.work_dir.iterdir():  # plaintext a crashed job left behind (a live job writes on)
        with contextlib.suppress(FileNotFoundError):
            if leftover.stat().st_mtime < stale:
                leftover.unlink(missing_ok=True)
    os.chmod(s.key_dir, 0o700)
    container.keyring  # noqa: B018 - creates the agency key on first start
    container.signer  # noqa: B018
    with exclusive(container.engine, "opendems.initialise"):
        upgrade(container.engine)
        ensure_roles(container.uow(), container.clock)
        actor = container.system_actor("init")
        first = ensure_first_admin(container.uow(), container.clock, actor)
    swept = sweep_accounts(actor, container.auth_policy, uow=container.uow(), clock=container.clock)
    # On local disk no age threshold is needed: work in progress anywhere is held under a file
    # lock. A shared object store has no such locks: other nodes may be writing right now, so
    # only what has lain untouched for an hour is taken for a crash's leftovers.
    shared = s.blob_store != "local"
    recovered = recover_storage(container.uow(), container.blobs, older_than_s=3600 if shared else 0)
    recovered["uploads_expired"] = expire_uploads(container.uow(), container.blobs, container.clock)
    recovered["accounts_disabled"] = len(swept["inactive"]) + len(swept["expired"])
    return InitResult(first, recovered)
