"""Browser sessions, sign-in attempts by address, MFA recovery codes and OIDC states."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from opendems.adapters.db.tables import oidc_states, recovery_codes, sessions, sign_in_attempts
from opendems.domain.accounts import SessionRecord


def _session(row: Any) -> SessionRecord:
    return SessionRecord(**dict(row._mapping))


class SessionRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, record: SessionRecord) -> None:
        self._conn.execute(insert(sessions).values(**record.__dict__))

    def get(self, session_id: str) -> SessionRecord | None:
        row = self._conn.execute(select(sessions).where(sessions.c.id == session_id)).first()
        return _session(row) if row else None

    def update(self, session_id: str, **values: Any) -> None:
        self._conn.execute(update(sessions).where(sessions.c.id == session_id).values(**values))

    def end_all(self, user_id: int, when: datetime, reason: str, *, except_id: str | None = None) -> int:
        query = update(sessions).where(sessions.c.user_id == user_id, sessions.c.ended_at.is_(None))
        if except_id:
            query = query.where(sessions.c.id != except_id)
        return int(self._conn.execute(query.values(ended_at=when, end_reason=reason)).rowcount)

    # -- sign-in attempts per client address (rate limit) -------------------------------

    def note_attempt(self, client_address: str, when: datetime) -> None:
        self._conn.execute(insert(sign_in_attempts).values(client_address=client_address, at=when))

    def attempts_since(self, client_address: str, since: datetime) -> int:
        query = (
            select(func.count())
            .select_from(sign_in_attempts)
            .where(sign_in_attempts.c.client_address == client_address, sign_in_attempts.c.at >= since)
        )
        return int(self._conn.execute(query).scalar_one())

    def forget_attempts_before(self, cutoff: datetime) -> None:
        self._conn.execute(delete(sign_in_attempts).where(sign_in_attempts.c.at < cutoff))

    # -- recovery codes ------------------------------------------------------------------

    def replace_recovery_codes(self, user_id: int, code_hashes: list[str]) -> None:
        self._conn.execute(delete(recovery_codes).where(recovery_codes.c.user_id == user_id))
        for h in code_hashes:
            self._conn.execute(insert(recovery_codes).values(user_id=user_id, code_hash=h))

    def use_recovery_code(self, user_id: int, code_hash: str, when: datetime) -> bool:
        result = self._conn.execute(
            update(recovery_codes)
            .where(
                recovery_codes.c.user_id == user_id,
                recovery_codes.c.code_hash == code_hash,
                recovery_codes.c.used_at.is_(None),
            )
            .values(used_at=when)
        )
        return bool(result.rowcount)

    def recovery_codes_left(self, user_id: int) -> int:
        query = (
            select(func.count())
            .select_from(recovery_codes)
            .where(recovery_codes.c.user_id == user_id, recovery_codes.c.used_at.is_(None))
        )
        return int(self._conn.execute(query).scalar_one())

    # -- OIDC login states ---------------------------------------------------------------

    def add_oidc_state(self, state: str, nonce: str, code_verifier: str, when: datetime) -> None:
        self._conn.execute(
            insert(oidc_states).values(state=state, nonce=nonce, code_verifier=code_verifier, created_at=when)
        )

    def take_oidc_state(self, state: str) -> tuple[str, str, datetime] | None:
        """(nonce, code verifier, created) for ``state``, which is used up."""
        row = self._conn.execute(select(oidc_states).where(oidc_states.c.state == state)).first()
        if row is None:
            return None
        self._conn.execute(delete(oidc_states).where(oidc_states.c.state == state))
        return row.nonce, row.code_verifier, row.created_at

    def forget_oidc_states_before(self, cutoff: datetime) -> None:
        self._conn.execute(delete(oidc_states).where(oidc_states.c.created_at < cutoff))
