"""Users, roles and API tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, or_, select, update

from opendems.adapters.db.tables import api_tokens, roles, users
from opendems.domain.access import Permission
from opendems.domain.accounts import RoleRecord, TokenRecord, UserRecord


def _user(row: Any) -> UserRecord:
    return UserRecord(**dict(row._mapping))


def _token(row: Any) -> TokenRecord:
    data = dict(row._mapping)
    data.pop("token_hash", None)
    return TokenRecord(**data)


def _role(row: Any) -> RoleRecord:
    data = dict(row._mapping)
    known = {p.value for p in Permission}
    data["permissions"] = frozenset(Permission(p) for p in data["permissions"] or [] if p in known)
    return RoleRecord(**data)


class AccountRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    # -- users ---------------------------------------------------------------------------

    def add_user(
        self,
        *,
        username: str,
        display_name: str,
        role: str,
        password_hash: str | None,
        created_at: datetime,
        must_change_password: bool = False,
        is_builtin: bool = False,
        **extra: Any,
    ) -> UserRecord:
        result = self._conn.execute(
            insert(users).values(
                username=username,
                display_name=display_name,
                role=role,
                password_hash=password_hash,
                must_change_password=must_change_password,
                is_builtin=is_builtin,
                status="active",
                created_at=created_at,
                password_changed_at=created_at if password_hash else None,
                failed_logins=0,
                auth_source=extra.pop("auth_source", "local"),
                **extra,
            )
        )
        user = self.user_by_id(int(result.inserted_primary_key[0]))  # type: ignore[index]
        assert user is not None
        return user

    def update_user(self, user_id: int, **values: Any) -> None:
        self._conn.execute(update(users).where(users.c.id == user_id).values(**values))

    def user_by_name(self, username: str) -> UserRecord | None:
        row = self._conn.execute(select(users).where(users.c.username == username)).first()
        return _user(row) if row else None

    def user_by_id(self, user_id: int) -> UserRecord | None:
        row = self._conn.execute(select(users).where(users.c.id == user_id)).first()
        return _user(row) if row else None

    def user_by_subject(self, subject: str) -> UserRecord | None:
        row = self._conn.execute(select(users).where(users.c.external_subject == subject)).first()
        return _user(row) if row else None

    def list_users(self) -> list[UserRecord]:
        return [_user(r) for r in self._conn.execute(select(users).order_by(users.c.username))]

    def count_role(self, role: str, *, include_builtin: bool = False) -> int:
        query = select(func.count()).select_from(users).where(users.c.role == role)
        if not include_builtin:
            query = query.where(users.c.is_builtin.is_(False))
        return int(self._conn.execute(query).scalar_one())

    def count_active_with_role(self, role: str) -> int:
        query = (
            select(func.count())
            .select_from(users)
            .where(users.c.role == role, users.c.status == "active", users.c.is_builtin.is_(False))
        )
        return int(self._conn.execute(query).scalar_one())

    def inactive_since(self, cutoff: datetime) -> list[UserRecord]:
        """Active, non-built-in accounts with no sign-in and no token use since ``cutoff``."""
        token_use = (
            select(func.max(api_tokens.c.last_used_at))
            .where(api_tokens.c.user_id == users.c.id)
            .scalar_subquery()
        )
        query = select(users).where(
            users.c.status == "active",
            users.c.is_builtin.is_(False),
            func.coalesce(users.c.last_login_at, users.c.created_at) < cutoff,
            or_(token_use.is_(None), token_use < cutoff),
        )
        return [_user(r) for r in self._conn.execute(query)]

    def expired_temporary(self, now: datetime) -> list[UserRecord]:
        query = select(users).where(
            users.c.status == "active", users.c.expires_at.is_not(None), users.c.expires_at <= now
        )
        return [_user(r) for r in self._conn.execute(query)]

    # -- roles ---------------------------------------------------------------------------

    def roles(self) -> list[RoleRecord]:
        return [_role(r) for r in self._conn.execute(select(roles).order_by(roles.c.name))]

    def role(self, name: str) -> RoleRecord | None:
        row = self._conn.execute(select(roles).where(roles.c.name == name)).first()
        return _role(row) if row else None

    def add_role(
        self,
        name: str,
        description: str,
        permissions: frozenset[Permission],
        *,
        builtin: bool,
        when: datetime,
    ) -> None:
        self._conn.execute(
            insert(roles).values(
                name=name,
                description=description,
                permissions=sorted(p.value for p in permissions),
                builtin=builtin,
                updated_at=when,
            )
        )

    def set_role_permissions(self, name: str, permissions: frozenset[Permission], when: datetime) -> None:
        self._conn.execute(
            update(roles)
            .where(roles.c.name == name)
            .values(permissions=sorted(p.value for p in permissions), updated_at=when)
        )

    # -- tokens --------------------------------------------------------------------------

    def add_token(
        self,
        *,
        user_id: int,
        name: str,
        token_hash: str,
        prefix: str,
        created_at: datetime,
        expires_at: datetime | None,
        scopes: list[str] | None = None,
    ) -> TokenRecord:
        result = self._conn.execute(
            insert(api_tokens).values(
                user_id=user_id,
                name=name,
                token_hash=token_hash,
                prefix=prefix,
                created_at=created_at,
                expires_at=expires_at,
                scopes=scopes,
            )
        )
        token_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        found = self.token_by_id(token_id)
        assert found is not None
        return found

    def token_by_id(self, token_id: int) -> TokenRecord | None:
        row = self._conn.execute(select(api_tokens).where(api_tokens.c.id == token_id)).first()
        return _token(row) if row else None

    def token_by_hash(self, token_hash: str) -> TokenRecord | None:
        row = self._conn.execute(select(api_tokens).where(api_tokens.c.token_hash == token_hash)).first()
        return _token(row) if row else None

    def tokens_of(self, user_id: int) -> list[TokenRecord]:
        query = select(api_tokens).where(api_tokens.c.user_id == user_id).order_by(api_tokens.c.id)
        return [_token(r) for r in self._conn.execute(query)]

    def revoke_token(self, token_id: int, when: datetime) -> None:
        self._conn.execute(update(api_tokens).where(api_tokens.c.id == token_id).values(revoked_at=when))

    def touch_token(self, token_id: int, when: datetime) -> None:
        self._conn.execute(update(api_tokens).where(api_tokens.c.id == token_id).values(last_used_at=when))
