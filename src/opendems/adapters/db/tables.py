"""Database tables (SQLAlchemy Core). Migrations in ``migrations/`` create exactly these."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    func,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
        return value.astimezone(UTC)  # type: ignore[no-any-return]


users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("display_name", String(200), nullable=False, default=""),
    Column("role", String(32), nullable=False),
    Column("password_hash", Text, nullable=True),
    Column("must_change_password", Boolean, nullable=False, default=False),
    Column("is_builtin", Boolean, nullable=False, default=False),
    Column("status", String(16), nullable=False, default="active"),  # active | disabled
    Column("created_at", UTCDateTime, nullable=False),
    Column("unit", String(100), nullable=True, index=True),
    Column("email", String(320), nullable=True),
    Column("auth_source", String(16), nullable=False, default="local"),  # local | oidc
    Column("external_subject", String(255), nullable=True, unique=True),  # OIDC issuer|sub
    Column("password_changed_at", UTCDateTime, nullable=True),
    Column("mfa_secret", Text, nullable=True),  # encrypted under the agency key
    Column("mfa_enrolled_at", UTCDateTime, nullable=True),
    Column("mfa_last_step", BigInteger, nullable=True),  # newest TOTP step used (no replay)
    Column("failed_logins", Integer, nullable=False, default=0),
    Column("first_failed_at", UTCDateTime, nullable=True),
    Column("locked_at", UTCDateTime, nullable=True),
    Column("last_login_at", UTCDateTime, nullable=True),
    Column("expires_at", UTCDateTime, nullable=True),  # temporary accounts
    Column("disabled_reason", String(200), nullable=True),
)

roles = Table(
    "roles",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("description", Text, nullable=False, default=""),
    Column("permissions", JSON, nullable=False),
    Column("builtin", Boolean, nullable=False, default=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

recovery_codes = Table(
    "recovery_codes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False, index=True),
    Column("code_hash", String(64), nullable=False),
    Column("used_at", UTCDateTime, nullable=True),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", String(64), primary_key=True),  # SHA-256 of the cookie value
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False, index=True),
    Column("csrf_token", String(64), nullable=False),
    Column("stage", String(16), nullable=False),  # password | mfa_enrol | active
    Column("created_at", UTCDateTime, nullable=False),
    Column("authenticated_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("client_address", String(64), nullable=True),
    Column("user_agent", String(400), nullable=True),
    Column("ended_at", UTCDateTime, nullable=True),
    Column("end_reason", String(32), nullable=True),
)

sign_in_attempts = Table(
    "sign_in_attempts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("client_address", String(64), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Index("ix_sign_in_attempts_client_at", "client_address", "at"),
)

oidc_states = Table(
    "oidc_states",
    metadata,
    Column("state", String(64), primary_key=True),
    Column("nonce", String(64), nullable=False),
    Column("code_verifier", String(128), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

memberships = Table(
    "memberships",
    metadata,
    Column("object_type", String(16), primary_key=True),  # case | evidence
    Column("object_id", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), primary_key=True, index=True),
    Column("added_by", Integer, ForeignKey("users.id"), nullable=False),
    Column("added_at", UTCDateTime, nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False, index=True),
    Column("name", String(100), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=True),
    Column("revoked_at", UTCDateTime, nullable=True),
    Column("last_used_at", UTCDateTime, nullable=True),
    Column("scopes", JSON, nullable=True),  # permissions the token is cut down to; null: all
)

counters = Table(
    "counters",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

evidence = Table(
    "evidence",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("kind", String(16), nullable=False, index=True),
    Column("title", String(200), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("captured_at", UTCDateTime, nullable=True, index=True),
    Column("captured_by", String(200), nullable=True, index=True),
    Column("device_make", String(200), nullable=True),
    Column("device_model", String(200), nullable=True),
    Column("device_serial", String(200), nullable=True, index=True),
    Column("latitude", Float, nullable=True),
    Column("longitude", Float, nullable=True),
    Column("category", String(200), nullable=True, index=True),
    Column("custom_fields", JSON, nullable=False, default=dict),
    Column("restriction", String(16), nullable=False, default="normal"),
    Column("status", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False, index=True),
    Column("created_by", Integer, ForeignKey("users.id"), nullable=False, index=True),
    Column("updated_at", UTCDateTime, nullable=True),
    Column("unit", String(100), nullable=True, index=True),
    Column("media", JSON, nullable=True),  # what probing the original found
    Index("ix_evidence_status", "status"),
    Index("ix_evidence_location", "latitude", "longitude"),
)
# Who captured an item, as the access rule compares it (case-folded): lets a search start from
# the items a person owns instead of every match.
Index("ix_evidence_captured_by_lower", func.lower(evidence.c.captured_by))

originals = Table(
    "originals",
    metadata,
    Column("evidence_id", String(32), ForeignKey("evidence.id"), primary_key=True),
    Column("sha256", String(64), nullable=False, unique=True),
    Column("size", BigInteger, nullable=False),
    Column("mime_type", String(200), nullable=False),
    Column("filename", String(255), nullable=False),
    Column("blob_key", String(100), nullable=False),
    Column("stored_at", UTCDateTime, nullable=False),
)

derivatives = Table(
    "derivatives",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("evidence_id", String(32), ForeignKey("evidence.id"), nullable=False, index=True),
    Column("kind", String(32), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("mime_type", String(200), nullable=False),
    Column("blob_key", String(100), nullable=False),
    Column("source_sha256", String(64), nullable=False),
    Column("tool", String(100), nullable=False),
    Column("tool_version", String(50), nullable=False),
    Column("parameters", JSON, nullable=False, default=dict),
    Column("created_at", UTCDateTime, nullable=False),
    # One derivative of a kind per original: a step run twice cannot store two.
    Index("uq_derivatives_item_kind_source", "evidence_id", "kind", "source_sha256", unique=True),
)

evidence_tags = Table(
    "evidence_tags",
    metadata,
    Column("evidence_id", String(32), ForeignKey("evidence.id"), primary_key=True),
    Column("tag", String(64), primary_key=True),
    Index("ix_evidence_tags_tag", "tag"),
)

cases = Table(
    "cases",
    metadata,
    Column("number", String(64), primary_key=True),
    Column("title", String(200), nullable=False),
    Column("incident_number", String(64), nullable=True, index=True),
    Column("case_type", String(100), nullable=True),
    Column("description", Text, nullable=False, default=""),
    Column("status", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", Integer, ForeignKey("users.id"), nullable=False),
    Column("closed_at", UTCDateTime, nullable=True),
    Column("restriction", String(16), nullable=False, default="normal"),
    Column("unit", String(100), nullable=True, index=True),
)

case_evidence = Table(
    "case_evidence",
    metadata,
    Column("case_number", String(64), ForeignKey("cases.number"), primary_key=True),
    Column("evidence_id", String(32), ForeignKey("evidence.id"), primary_key=True, index=True),
    Column("added_at", UTCDateTime, nullable=False),
    Column("added_by", Integer, ForeignKey("users.id"), nullable=False),
)

custody_events = Table(
    "custody_events",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False),
    Column("prev_hash", String(64), nullable=False),
    Column("event_hash", String(64), nullable=False, unique=True),
    Column("at", String(32), nullable=False),
    Column("action", String(64), nullable=False, index=True),
    Column("actor_id", Integer, nullable=True, index=True),
    Column("actor_name", String(200), nullable=False),
    Column("object_type", String(32), nullable=False),
    Column("object_id", String(100), nullable=False),
    Column("service", String(16), nullable=False),
    Column("endpoint", String(200), nullable=False),
    Column("client_address", String(64), nullable=True),
    Column("user_agent", String(400), nullable=True),
    Column("outcome", String(16), nullable=False),
    Column("reason", Text, nullable=True),
    Column("details", Text, nullable=False),
    Column("signature", Text, nullable=False),
    Index("ix_custody_events_object", "object_type", "object_id"),
)

custody_head = Table(
    "custody_head",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("event_hash", String(64), nullable=False),
)

uploads = Table(
    "uploads",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("length", BigInteger, nullable=False),
    Column("metadata", JSON, nullable=False),
    Column("raw_metadata", Text, nullable=True),
    Column("created_by", Integer, ForeignKey("users.id"), nullable=False, index=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("status", String(16), nullable=False),  # open | completed | failed
    Column("evidence_id", String(32), nullable=True),
    Column("duplicate", Boolean, nullable=False, default=False),
    Column("error", Text, nullable=True),
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("evidence_id", String(32), ForeignKey("evidence.id"), nullable=True, index=True),
    Column("state", String(16), nullable=False),  # queued | running | done | failed | cancelled
    Column("attempts", Integer, nullable=False, default=0),
    Column("max_attempts", Integer, nullable=False),
    Column("progress", Float, nullable=False, default=0.0),
    Column("error", Text, nullable=True),
    Column("run_after", UTCDateTime, nullable=False),
    Column("locked_by", String(100), nullable=True),
    Column("locked_until", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("started_at", UTCDateTime, nullable=True),  # when the current attempt was claimed
    Index("ix_jobs_state_run_after", "state", "run_after"),
)

redaction_plans = Table(
    "redaction_plans",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("evidence_id", String(32), ForeignKey("evidence.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("body", JSON, nullable=False),  # domain.redaction.RedactionPlan.to_dict()
    Column("note", Text, nullable=False),  # why this version (a person's reason, or the detector's)
    Column("created_by", Integer, ForeignKey("users.id"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    # Versions are never rewritten: a change is a new version.
    Index("uq_redaction_plans_item_version", "evidence_id", "version", unique=True),
)

categories = Table(
    "categories",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False),
    Column("name_key", String(100), nullable=False, unique=True),  # case and spacing folded
    Column("description", Text, nullable=False, default=""),
    Column("retention_days", Integer, nullable=True),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", Integer, ForeignKey("users.id"), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("updated_by", Integer, ForeignKey("users.id"), nullable=False),
)

# One row per document of the search index: an item's metadata ("metadata"), or a window of
# a text derivative ("transcript", "ocr") starting at ``start_s``. The id is the rowid of the
# same document in the FTS5 table ``search_fts`` (SQLite only; see adapters/db/search_repo.py).
search_rows = Table(
    "search_rows",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("evidence_id", String(32), nullable=False),
    Column("source", String(16), nullable=False),
    Column("start_s", Float, nullable=True),
    Index("ix_search_rows_item_source", "evidence_id", "source"),
)

# The sentence-embedding vectors of the search documents, for meaning search: one per part
# of a document (a segment or a few, at most 48 words; ``start_s``: where it starts). ``doc_id`` is the
# document's id (``search_rows.id`` on SQLite, ``search_docs.id`` on PostgreSQL), ``digest``
# the SHA-256 of the model and the text embedded, ``vector`` 384 signed bytes
# (adapters/text/embeddings.py ``pack``; see adapters/db/search_vectors.py).
search_vectors = Table(
    "search_vectors",
    metadata,
    Column("doc_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False),
    Column("part", Integer, primary_key=True, autoincrement=False),
    Column("evidence_id", String(32), nullable=False, index=True),
    Column("start_s", Float, nullable=True),
    Column("model", String(64), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("vector", LargeBinary, nullable=False),
)

# Shares (domain/sharing.py). A link's token and access code are stored only as digests.
shares = Table(
    "shares",
    metadata,
    Column("id", String(16), primary_key=True),  # "SH-7KQ2-9XTR"
    Column("token_hash", String(64), nullable=True, unique=True),  # SHA-256 of the link's token
    Column("code_hash", Text, nullable=True),  # argon2id of the access code
    Column("created_by", Integer, ForeignKey("users.id"), nullable=False, index=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("recipient_kind", String(8), nullable=False),  # user | link
    Column("recipient_user_id", Integer, ForeignKey("users.id"), nullable=True, index=True),
    Column("recipient_name", String(200), nullable=False),
    Column("recipient_email", String(320), nullable=True),
    Column("case_number", String(64), nullable=True),
    Column("note", Text, nullable=False, default=""),
    Column("access", String(16), nullable=False),  # view | download
    Column("content", String(16), nullable=False),  # original | proxy | redacted
    Column("expires_at", UTCDateTime, nullable=False),
    Column("max_downloads", Integer, nullable=True),
    Column("watermark", Boolean, nullable=False),
    Column("reshare", Boolean, nullable=False),
    Column("downloads", Integer, nullable=False, default=0),
    Column("code_failures", Integer, nullable=False, default=0),
    Column("locked_at", UTCDateTime, nullable=True),
    Column("revoked_at", UTCDateTime, nullable=True),
    Column("revoked_by", Integer, ForeignKey("users.id"), nullable=True),
    Column("revoke_reason", Text, nullable=True),
    Column("parent_id", String(16), nullable=True, index=True),
)

share_objects = Table(
    "share_objects",
    metadata,
    Column("share_id", String(16), ForeignKey("shares.id"), primary_key=True),
    Column("object_type", String(16), primary_key=True),  # evidence | export
    Column("object_id", String(32), primary_key=True),
    Column("position", Integer, nullable=False),
    Index("ix_share_objects_object", "object_type", "object_id"),
)

# The watermarked copy of a shared video or photo, made for that share only.
share_copies = Table(
    "share_copies",
    metadata,
    Column("share_id", String(16), ForeignKey("shares.id"), primary_key=True),
    Column("evidence_id", String(32), ForeignKey("evidence.id"), primary_key=True),
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("mime_type", String(200), nullable=False),
    Column("blob_key", String(100), nullable=False),
    Column("source_sha256", String(64), nullable=False),
    Column("tool", String(100), nullable=False),
    Column("parameters", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

# A link recipient's visit after the access code (cookie token stored as its SHA-256).
share_visits = Table(
    "share_visits",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("share_id", String(16), ForeignKey("shares.id"), nullable=False, index=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("client_address", String(64), nullable=True),
)

# Court export packages (BagIt). The payload is the evidence's own blobs; the tag files are
# blobs of their own; ``files`` lists every path of the bag with its blob and SHA-256.
exports = Table(
    "exports",
    metadata,
    Column("id", String(32), primary_key=True),  # "EX-2026-000001"
    Column("title", String(200), nullable=False),
    Column("case_number", String(64), nullable=True),
    Column("content", String(16), nullable=False),  # original | redacted
    Column("evidence_ids", JSON, nullable=False),
    Column("created_by", Integer, ForeignKey("users.id"), nullable=False, index=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("state", String(16), nullable=False),  # building | ready | failed
    Column("files", JSON, nullable=True),
    Column("size", BigInteger, nullable=True),  # of the package as a ZIP
    Column("error", Text, nullable=True),
    Column("finished_at", UTCDateTime, nullable=True),
)

# CRC-32 of stored files by SHA-256, learnt while streaming ZIPs: a resumed ZIP download
# skips the files before its range without reading them again.
zip_crcs = Table(
    "zip_crcs",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("crc32", BigInteger, nullable=False),
)
