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
    def key_dir(self) -> Path:
        return self.data_dir / "keys"
