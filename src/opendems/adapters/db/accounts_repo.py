"""Users and API tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from opendems.adapters.db.tables import api_tokens, users
from opendems.domain.access import Role
from opendems.domain.accounts import TokenRecord, UserRecord


def _user(row: Any) -> UserRecord:
    data = dict(row._mapping)
    data["role"] = Role(data["role"])
    return UserRecord(**data)


def _token(row: Any) -> TokenRecord:
    data = dict(row._mapping)
    data.pop("token_hash", None)
    return TokenRecord(**data)


class AccountRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add_user(
        self,
        *,
        username: str,
        display_name: str,
        role: Role,
        password_hash: str | None,
        created_at: datetime,
        must_change_password: bool = False,
        is_builtin: bool = False,
    ) -> UserRecord:
        result = self._conn.execute(
            insert(users).values(
                username=username,
                display_name=display_name,
                role=role.value,
                password_hash=password_hash,
                must_change_password=must_change_password,
                is_builtin=is_builtin,
                status="active",
                created_at=created_at,
            )
        )
        user = self.user_by_id(int(result.inserted_primary_key[0]))  # type: ignore[index]
        assert user is not None
        return user

    def user_by_name(self, username: str) -> UserRecord | None:
        row = self._conn.execute(select(users).where(users.c.username == username)).first()
        return _user(row) if row else None

    def user_by_id(self, user_id: int) -> UserRecord | None:
        row = self._conn.execute(select(users).where(users.c.id == user_id)).first()
        return _user(row) if row else None

    def count_role(self, role: Role, *, include_builtin: bool = False) -> int:
        query = select(func.count()).select_from(users).where(users.c.role == role.value)
        if not include_builtin:
            query = query.where(users.c.is_builtin.is_(False))
        return int(self._conn.execute(query).scalar_one())

    def add_token(
        self,
        *,
        user_id: int,
        name: str,
        token_hash: str,
        prefix: str,
        created_at: datetime,
        expires_at: datetime | None,
    ) -> TokenRecord:
        result = self._conn.execute(
            insert(api_tokens).values(
                user_id=user_id,
                name=name,
                token_hash=token_hash,
                prefix=prefix,
                created_at=created_at,
                expires_at=expires_at,
            )
        )
        token_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        row = self._conn.execute(select(api_tokens).where(api_tokens.c.id == token_id)).one()
        return _token(row)

    def token_by_hash(self, token_hash: str) -> TokenRecord | None:
        row = self._conn.execute(select(api_tokens).where(api_tokens.c.token_hash == token_hash)).first()
        return _token(row) if row else None

    def touch_token(self, token_id: int, when: datetime) -> None:
        self._conn.execute(update(api_tokens).where(api_tokens.c.id == token_id).values(last_used_at=when))
