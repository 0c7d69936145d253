"""shares (with their objects, watermarked copies and link visits), court exports, and a
cache of CRC-32s for streamed ZIPs

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26 11:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from opendems.adapters.db.tables import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "shares",
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        sa.Column("code_hash", sa.Text(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("recipient_kind", sa.String(length=8), nullable=False),
        sa.Column("recipient_user_id", sa.Integer(), nullable=True),
        sa.Column("recipient_name", sa.String(length=200), nullable=False),
        sa.Column("recipient_email", sa.String(length=320), nullable=True),
        sa.Column("case_number", sa.String(length=64), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("access", sa.String(length=16), nullable=False),
        sa.Column("content", sa.String(length=16), nullable=False),
        sa.Column("expires_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("max_downloads", sa.Integer(), nullable=True),
        sa.Column("watermark", sa.Boolean(), nullable=False),
        sa.Column("reshare", sa.Boolean(), nullable=False),
        sa.Column("downloads", sa.Integer(), nullable=False),
        sa.Column("code_failures", sa.Integer(), nullable=False),
        sa.Column("locked_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.Integer(), nullable=True),
        sa.Column("revoke_reason", sa.Text(), nullable=True),
        sa.Column("parent_id", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], name=op.f("fk_shares_created_by_users")),
        sa.ForeignKeyConstraint(
            ["recipient_user_id"], ["users.id"], name=op.f("fk_shares_recipient_user_id_users")
        ),
        sa.ForeignKeyConstraint(["revoked_by"], ["users.id"], name=op.f("fk_shares_revoked_by_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shares")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_shares_token_hash")),
    )
    op.create_index(op.f("ix_shares_created_by"), "shares", ["created_by"])
    op.create_index(op.f("ix_shares_recipient_user_id"), "shares", ["recipient_user_id"])
    op.create_index(op.f("ix_shares_parent_id"), "shares", ["parent_id"])
    op.create_table(
        "share_objects",
        sa.Column("share_id", sa.String(length=16), nullable=False),
        sa.Column("object_type", sa.String(length=16), nullable=False),
        sa.Column("object_id", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["share_id"], ["shares.id"], name=op.f("fk_share_objects_share_id_shares")),
        sa.PrimaryKeyConstraint("share_id", "object_type", "object_id", name=op.f("pk_share_objects")),
    )
    op.create_index("ix_share_objects_object", "share_objects", ["object_type", "object_id"])
    op.create_table(
        "share_copies",
        sa.Column("share_id", sa.String(length=16), nullable=False),
        sa.Column("evidence_id", sa.String(length=32), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("mime_type", sa.String(length=200), nullable=False),
        sa.Column("blob_key", sa.String(length=100), nullable=False),
        sa.Column("source_sha256", sa.String(length=64), nullable=False),
        sa.Column("tool", sa.String(length=100), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["share_id"], ["shares.id"], name=op.f("fk_share_copies_share_id_shares")),
        sa.ForeignKeyConstraint(
            ["evidence_id"], ["evidence.id"], name=op.f("fk_share_copies_evidence_id_evidence")
        ),
        sa.PrimaryKeyConstraint("share_id", "evidence_id", name=op.f("pk_share_copies")),
    )
    op.create_table(
        "share_visits",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("share_id", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("client_address", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["share_id"], ["shares.id"], name=op.f("fk_share_visits_share_id_shares")),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_share_visits")),
    )
    op.create_index(op.f("ix_share_visits_share_id"), "share_visits", ["share_id"])
    op.create_table(
        "exports",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("case_number", sa.String(length=64), nullable=True),
        sa.Column("content", sa.String(length=16), nullable=False),
        sa.Column("evidence_ids", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("files", sa.JSON(), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("finished_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], name=op.f("fk_exports_created_by_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exports")),
    )
    op.create_index(op.f("ix_exports_created_by"), "exports", ["created_by"])
    op.create_table(
        "zip_crcs",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("crc32", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_zip_crcs")),
    )


def downgrade() -> None:
    op.drop_table("zip_crcs")
    op.drop_index(op.f("ix_exports_created_by"), table_name="exports")
    op.drop_table("exports")
    op.drop_index(op.f("ix_share_visits_share_id"), table_name="share_visits")
    op.drop_table("share_visits")
    op.drop_table("share_copies")
    op.drop_index("ix_share_objects_object", table_name="share_objects")
    op.drop_table("share_objects")
    op.drop_index(op.f("ix_shares_parent_id"), table_name="shares")
    op.drop_index(op.f("ix_shares_recipient_user_id"), table_name="shares")
    op.drop_index(op.f("ix_shares_created_by"), table_name="shares")
    op.drop_table("shares")
