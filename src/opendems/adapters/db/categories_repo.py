"""The agency's evidence categories."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from opendems.adapters.db.tables import categories, users
from opendems.domain.categories import Category, name_key

_creator = users.alias("creator")
_updater = users.alias("updater")
_SELECT = (
    select(
        categories.c.id,
        categories.c.name,
        categories.c.description,
        categories.c.retention_days,
        categories.c.active,
        categories.c.created_at,
        _creator.c.username.label("created_by"),
        categories.c.updated_at,
        _updater.c.username.label("updated_by"),
    )
    .select_from(
        categories.join(_creator, _creator.c.id == categories.c.created_by).join(
            _updater, _updater.c.id == categories.c.updated_by
        )
    )
    .order_by(categories.c.name_key)
)


def _category(row: Any) -> Category:
    data = dict(row._mapping)
    data["active"] = bool(data["active"])
    return Category(**data)


class CategoryRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def all(self, *, active_only: bool = False) -> list[Category]:
        query = _SELECT.where(categories.c.active.is_(True)) if active_only else _SELECT
        return [_category(r) for r in self._conn.execute(query)]

    def get(self, category_id: int) -> Category | None:
        row = self._conn.execute(_SELECT.where(categories.c.id == category_id)).first()
        return _category(row) if row else None

    def by_name(self, name: str) -> Category | None:
        row = self._conn.execute(_SELECT.where(categories.c.name_key == name_key(name))).first()
        return _category(row) if row else None

    def add(self, name: str, description: str, retention_days: int | None, *, by: int, when: datetime) -> int:
        result = self._conn.execute(
            insert(categories).values(
                name=name,
                name_key=name_key(name),
                description=description,
                retention_days=retention_days,
                active=True,
                created_at=when,
                created_by=by,
                updated_at=when,
                updated_by=by,
            )
        )
        return int(result.inserted_primary_key[0])  # type: ignore[index]

    def update(self, category_id: int, values: dict[str, Any], *, by: int, when: datetime) -> None:
        row = dict(values)
        if "name" in row:
            row["name_key"] = name_key(row["name"])
        self._conn.execute(
            update(categories)
            .where(categories.c.id == category_id)
            .values(**row, updated_at=when, updated_by=by)
        )
