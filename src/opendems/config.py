"""One settings object for the whole application (environment prefix ``OPENDEMS_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything an operator may set. Defaults give the embedded one-machine mode."""

    model_config = SettingsConfigDict(env_prefix="OPENDEMS_", extra="ignore")

    data_dir: Path = Field(default=Path("opendems-data"))
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000

    # Agency key-encryption key: base64 of 32 bytes. When unset, a key file in the data
    # directory is used (created on first start).
    kek: str | None = None
    kek_id: str = "agency-1"

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
        return self.data_dir / "keys"
