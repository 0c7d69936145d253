"""Shares, the objects they name, their watermarked copies and link recipients' visits."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, or_, select, update

from opendems.adapters.db.tables import share_copies, share_objects, share_visits, shares, users, zip_crcs
from opendems.domain.sharing import (
    RecipientKind,
    Share,
    ShareAccess,
    ShareContent,
    ShareCopy,
    SharedObject,
    ShareTerms,
)

_creator = users.alias("creator")  # Core aliases: the ORM is never imported
_revoker = users.alias("revoker")
_SELECT = (
    select(
        shares,
        _creator.c.username.label("created_by_name"),
        _revoker.c.username.label("revoked_by_name"),
    )
    .select_from(shares)
    .join(_creator, _creator.c.id == shares.c.created_by)
    .outerjoin(_revoker, _revoker.c.id == shares.c.revoked_by)
)


class ShareRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, share: Share, *, token_hash: str | None, code_hash: str | None) -> None:
        t = share.terms
        assert t.expires_at is not None
        self._conn.execute(
            insert(shares).values(
                id=share.id,
                token_hash=token_hash,
                code_hash=code_hash,
                created_by=share.created_by,
                created_at=share.created_at,
                recipient_kind=share.recipient_kind.value,
                recipient_user_id=share.recipient_user_id,
                recipient_name=share.recipient_name,
                recipient_email=share.recipient_email,
                case_number=share.case_number,
                note=share.note,
                access=t.access.value,
                content=t.content.value,
                expires_at=t.expires_at,
                max_downloads=t.max_downloads,
                watermark=t.watermark,
                reshare=t.reshare,
                downloads=0,
                code_failures=0,
                parent_id=share.parent_id,
            )
        )
        if share.objects:
            self._conn.execute(
                insert(share_objects),
                [
                    {
                        "share_id": share.id,
                        "object_type": o.object_type,
                        "object_id": o.object_id,
                        "position": i,
                    }
                    for i, o in enumerate(share.objects)
                ],
            )

    def get(self, share_id: str) -> Share | None:
        row = self._conn.execute(_SELECT.where(shares.c.id == share_id)).first()
        return self._load(row) if row is not None else None

    def by_token(self, token_hash: str) -> Share | None:
        row = self._conn.execute(_SELECT.where(shares.c.token_hash == token_hash)).first()
        return self._load(row) if row is not None else None

    def code_hash(self, share_id: str) -> str | None:
        got = self._conn.execute(select(shares.c.code_hash).where(shares.c.id == share_id)).scalar()
        return str(got) if got else None

    def listing(
        self, *, created_by: int | None = None, recipient: int | None = None, limit: int = 200
    ) -> list[Share]:
        """Shares made by ``created_by`` or else received by ``recipient`` (all of them when
        neither is given), newest first."""
        query = _SELECT.order_by(shares.c.created_at.desc(), shares.c.id).limit(limit)
        if created_by is not None:
            query = query.where(shares.c.created_by == created_by)
        elif recipient is not None:
            query = query.where(shares.c.recipient_user_id == recipient)
        return self._load_all(list(self._conn.execute(query)))

    def children(self, share_id: str) -> list[str]:
        return [
            str(r[0]) for r in self._conn.execute(select(shares.c.id).where(shares.c.parent_id == share_id))
        ]

    def revoke(self, share_id: str, by: int, reason: str, now: datetime) -> bool:
        done = self._conn.execute(
            update(shares)
            .where(shares.c.id == share_id, shares.c.revoked_at.is_(None))
            .values(revoked_at=now, revoked_by=by, revoke_reason=reason)
        )
        return done.rowcount == 1

    def count_download(self, share_id: str) -> bool:
        """Take one download from the share's allowance; False when none is left."""
        done = self._conn.execute(
            update(shares)
            .where(
                shares.c.id == share_id,
                or_(shares.c.max_downloads.is_(None), shares.c.downloads < shares.c.max_downloads),
            )
            .values(downloads=shares.c.downloads + 1)
        )
        return done.rowcount == 1

    def code_failed(self, share_id: str, now: datetime, lock_after: int) -> int:
        """Count a wrong access code; lock the share at ``lock_after``. Returns the count."""
        self._conn.execute(
            update(shares).where(shares.c.id == share_id).values(code_failures=shares.c.code_failures + 1)
        )
        failures = int(
            self._conn.execute(select(shares.c.code_failures).where(shares.c.id == share_id)).scalar_one()
        )
        if failures >= lock_after:
            self._conn.execute(
                update(shares)
                .where(shares.c.id == share_id, shares.c.locked_at.is_(None))
                .values(locked_at=now)
            )
        return failures

    def code_passed(self, share_id: str) -> None:
        self._conn.execute(update(shares).where(shares.c.id == share_id).values(code_failures=0))

    def new_code(self, share_id: str, code_hash: str) -> None:
        """A new access code: the old one stops working, the lock is lifted, and every open
        visit ends."""
        self._conn.execute(
            update(shares)
            .where(shares.c.id == share_id)
            .values(code_hash=code_hash, code_failures=0, locked_at=None)
        )
        self._conn.execute(delete(share_visits).where(share_visits.c.share_id == share_id))

    # Visits (link recipients, after the access code)
    def add_visit(
        self, token_hash: str, share_id: str, now: datetime, expires: datetime, client: str | None
    ) -> None:
        self._conn.execute(
            insert(share_visits).values(
                token_hash=token_hash,
                share_id=share_id,
                created_at=now,
                expires_at=expires,
                client_address=client,
            )
        )

    def visit(self, token_hash: str, now: datetime) -> str | None:
        """The share an unexpired visit is for."""
        got = self._conn.execute(
            select(share_visits.c.share_id).where(
                share_visits.c.token_hash == token_hash, share_visits.c.expires_at > now
            )
        ).scalar()
        return str(got) if got else None

    # Watermarked copies
    def add_copy(self, copy: ShareCopy) -> None:
        self._conn.execute(insert(share_copies).values(**vars(copy)))

    def copy(self, share_id: str, evidence_id: str) -> ShareCopy | None:
        row = self._conn.execute(
            select(share_copies).where(
                share_copies.c.share_id == share_id, share_copies.c.evidence_id == evidence_id
            )
        ).first()
        return ShareCopy(**row._mapping) if row is not None else None

    # CRC-32 cache for streamed ZIPs
    def crc32s(self, digests: list[str]) -> dict[str, int]:
        if not digests:
            return {}
        rows = self._conn.execute(select(zip_crcs).where(zip_crcs.c.sha256.in_(digests)))
        return {str(r.sha256): int(r.crc32) for r in rows}

    def remember_crc32(self, sha256: str, crc: int) -> None:
        if self._conn.execute(select(zip_crcs.c.sha256).where(zip_crcs.c.sha256 == sha256)).first() is None:
            self._conn.execute(insert(zip_crcs).values(sha256=sha256, crc32=crc))

    def _load(self, row: Row[Any]) -> Share:
        return self._load_all([row])[0]

    def _load_all(self, rows: list[Row[Any]]) -> list[Share]:
        """Shares with their objects, read for all of them in one query."""
        objects: dict[str, list[SharedObject]] = {r._mapping["id"]: [] for r in rows}
        if objects:
            query = (
                select(share_objects.c.share_id, share_objects.c.object_type, share_objects.c.object_id)
                .where(share_objects.c.share_id.in_(list(objects)))
                .order_by(share_objects.c.share_id, share_objects.c.position)
            )
            for r in self._conn.execute(query):
                objects[r.share_id].append(SharedObject(str(r.object_type), str(r.object_id)))
        return [self._share(r, objects[r._mapping["id"]]) for r in rows]

    def _share(self, row: Row[Any], objects: list[SharedObject]) -> Share:
        m = row._mapping
        return Share(
            id=m["id"],
            created_by=m["created_by"],
            created_by_name=m["created_by_name"],
            created_at=m["created_at"],
            recipient_kind=RecipientKind(m["recipient_kind"]),
            recipient_user_id=m["recipient_user_id"],
            recipient_name=m["recipient_name"],
            recipient_email=m["recipient_email"],
            terms=ShareTerms(
                access=ShareAccess(m["access"]),
                content=ShareContent(m["content"]),
                expires_at=m["expires_at"],
                max_downloads=m["max_downloads"],
                watermark=bool(m["watermark"]),
                reshare=bool(m["reshare"]),
            ),
            objects=objects,
            case_number=m["case_number"],
            note=m["note"] or "",
            downloads=m["downloads"],
            code_failures=m["code_failures"],
            locked_at=m["locked_at"],
            revoked_at=m["revoked_at"],
            revoked_by_name=m["revoked_by_name"],
            revoke_reason=m["revoke_reason"],
            parent_id=m["parent_id"],
        )
