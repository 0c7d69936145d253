"""One settings object for the whole application (environment prefix ``OPENDEMS_``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_FILE = "opendems.env"


class Settings(BaseSettings):
    """Everything an operator may set. Defaults give the embedded one-machine mode."""

    model_config = SettingsConfigDict(env_prefix="OPENDEMS_", extra="ignore")

    data_dir: Path = Field(default=Path("opendems-data"))
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    # TLS served by this process (a certificate chain and its key, PEM); unset: plain HTTP,
    # for a loopback address or behind a reverse proxy that terminates TLS.
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    # Reverse proxies whose X-Forwarded-For/-Proto are believed (comma-separated addresses),
    # so custody events record the client's address rather than the proxy's.
    trusted_proxies: str = ""

    # Agency key-encryption key: base64 of 32 bytes. When unset, a key file in the data
    # directory is used (created on first start).
    kek: str | None = None
    kek_id: str = "agency-1"
    # Where the agency key files and the custody signing key live (default: the data
    # directory's keys/). Every node of a cluster must hold the same keys: mount one secret.
    keys_dir: Path | None = None

    # AES-GCM segment size for originals: ranged reads decrypt only the segments they need.
    segment_size: int = 1024 * 1024
    max_upload_bytes: int = 1024**4  # 1 TiB
    upload_expiry_hours: int = 7 * 24

    # Metadata bounds: oversize metadata is refused, never truncated.
    max_title_chars: int = 200
    max_description_chars: int = 10_000
    max_tags: int = 50
    max_tag_chars: int = 64
    max_custom_fields_bytes: int = 16_384

    # Processing: job worker threads inside the server (0: only `opendems worker` runs jobs).
    workers: int = 1
    # A job whose worker has not reported for this long is taken to be dead and run again.
    job_lease_seconds: int = 300

    # Sign-in and sessions (CJIS AC-7, AC-11, AC-12, IA-2, IA-5).
    lockout_attempts: int = 5  # consecutive failures that lock an account...
    lockout_window_minutes: int = 15  # ...when they fall within this window
    sign_in_rate_per_address: int = 30  # sign-in attempts per client address...
    sign_in_rate_window_minutes: int = 5  # ...in this window; more answer 429
    session_idle_minutes: int = 30
    session_max_hours: int = 12
    inactive_account_days: int = 90
    require_mfa: bool = True
    mfa_issuer: str = "OpenDEMS"
    cookie_secure: bool = True  # browsers accept Secure cookies from http://localhost too
    agency_name: str = "OpenDEMS agency"  # printed on custody reports, receipts and exports
    # Speech to text for every audio and video original: the Whisper model (shipped in pinned
    # packages; tiny.en: English, fast -- speech in another language is handed to base;
    # base: multilingual, steadier on noisy body-camera audio, about 3 times slower), or "off".
    transcription: Literal["off", "tiny.en", "base"] = "tiny.en"
    # Meaning search: search documents get sentence-embedding vectors (MiniLM, int8, shipped in
    # a pinned package) and a query's words also find paraphrases; off: words only.
    meaning_search: bool = True
    # Text in every photo and PDF (OCR: RapidOCR for photos, tesseract for scanned pages), for
    # search and for the redaction's first pass; "off" reads none.
    ocr: Literal["off", "on"] = "on"
    system_use_banner: str = (
        "You are accessing a criminal justice information system. Use is restricted to "
        "authorised users for authorised purposes, and is monitored and recorded. "
        "Unauthorised use may lead to disciplinary action and criminal prosecution. "
        "By signing in you consent to this monitoring."
    )

    # Single sign-on with OpenID Connect (off unless an issuer is set).
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_public_url: str = "http://127.0.0.1:8000"  # where the provider sends users back
    oidc_groups_claim: str = "groups"
    # Group -> role, comma-separated: "dems-admins=administrator,dems-ia=internal_affairs".
    # A user in several mapped groups gets the first match; in none, sign-in is refused.
    oidc_group_roles: str = ""
    oidc_unit_claim: str | None = None

    # Scale-out (docs/deploy.md): each part defaults to the embedded one.
    # Blob store: "local" (the data directory) or "s3" (AWS S3, MinIO, Ceph RGW, SeaweedFS).
    blob_store: Literal["local", "s3"] = "local"
    s3_endpoint_url: str | None = None  # unset: AWS itself
    s3_region: str = "us-east-1"
    s3_bucket: str = "opendems"
    s3_prefix: str = ""  # every key starts with this (several agencies or test runs, one bucket)
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    # Object Lock on originals: "auto" uses it where the bucket has it enabled, "required"
    # refuses to start without it, "off" never asks.
    s3_object_lock: Literal["off", "auto", "required"] = "auto"
    s3_retention_days: int = 0  # compliance-mode retention of each original (0: none)
    s3_part_size: int = 16 * 1024 * 1024  # multipart part size (S3's minimum is 5 MiB)
    # Job queue: "database" (the jobs table, polled) or "celery" (a broker delivers each job;
    # the jobs table still holds its state and progress).
    job_queue: Literal["database", "celery"] = "database"
    broker_url: str = "redis://127.0.0.1:6379/0"  # Redis, or amqp://… for RabbitMQ
    celery_queue: str = "opendems"

    @classmethod
    def load(cls, data_dir: Path | None = None, **values: Any) -> Settings:
        """The settings from the environment (``OPENDEMS_…``), then from the data directory's
        ``opendems.env`` file (same names), then the defaults. A cluster's nodes keep the
        shared parts (database, object store, broker) there."""
        root = data_dir or Path(os.environ.get("OPENDEMS_DATA_DIR") or "opendems-data")
        env_file = root / ENV_FILE
        if data_dir is not None:
            values["data_dir"] = data_dir
        return cls(_env_file=env_file if env_file.is_file() else None, **values)

    @property
    def scaled_out(self) -> bool:
        """Whether any part is a shared service (then nothing may live in one process only)."""
        return self.database_url is not None and not self.database_url.startswith("sqlite")

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'opendems.db').resolve()}"

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def staging_dir(self) -> Path:
        return self.data_dir / "staging"

    @property
    def work_dir(self) -> Path:
        return self.data_dir / "work"

    @property
    def key_dir(self) -> Path:
        return self.keys_dir or self.data_dir / "keys"
