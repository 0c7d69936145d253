"""Evidence categories: the agency's own list of what evidence may be filed as.

While an agency has at least one active category, an item's category must be one of them
(matched regardless of case, stored in the category's own spelling). An agency that defines
none keeps free-text categories. Categories are never deleted, only deactivated: items
filed under one keep it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from opendems.domain.errors import Invalid

NAME_RE = re.compile(r"^[\w][\w .:/#&(),'-]*$")
MAX_NAME_CHARS = 100
MAX_DESCRIPTION_CHARS = 2000
MAX_RETENTION_DAYS = 36_500  # a hundred years; "keep forever" is no retention period at all


@dataclass
class Category:
    id: int
    name: str
    description: str
    retention_days: int | None
    active: bool
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str

    def as_details(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "retention_days": self.retention_days,
            "active": self.active,
        }


def check_category_name(value: str) -> str:
    """Trimmed, inner runs of white space made one space; letters, digits and a little
    punctuation; at most 100 characters."""
    name = " ".join(str(value or "").split())
    if not name:
        raise Invalid("a category needs a name")
    if len(name) > MAX_NAME_CHARS:
        raise Invalid(f"a category name may have at most {MAX_NAME_CHARS} characters")
    if not NAME_RE.match(name):
        raise Invalid(
            f"category name {name!r} may hold only letters, digits, spaces and . : / # & ( ) , ' - _"
        )
    return name


def name_key(name: str) -> str:
    """What makes two names the same category: case and spacing do not count."""
    return " ".join(name.split()).casefold()


def check_description(value: str | None) -> str:
    text = (value or "").strip()
    if len(text) > MAX_DESCRIPTION_CHARS:
        raise Invalid(f"a category description may have at most {MAX_DESCRIPTION_CHARS} characters")
    if any(ord(ch) < 32 and ch not in "\t\n\r" for ch in text):
        raise Invalid("the description contains control characters")
    return text


def check_retention(value: int | str | None) -> int | None:
    """Days evidence in the category is kept (recorded for the retention schedule); none: no
    period set."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise Invalid("the retention period must be a whole number of days")
    try:
        days = int(value)
    except (TypeError, ValueError):
        raise Invalid("the retention period must be a whole number of days") from None
    if not 1 <= days <= MAX_RETENTION_DAYS:
        raise Invalid(f"the retention period must be 1-{MAX_RETENTION_DAYS} days, or left empty")
    return days


def resolve(value: str | None, active: list[Category]) -> str | None:
    """The category an item is filed under: any text while the agency defines no active
    category; otherwise one of the active ones, in its own spelling, or ``Invalid``."""
    if value is None or not active:
        return value
    key = name_key(value)
    for category in active:
        if name_key(category.name) == key:
            return category.name
    names = ", ".join(sorted((c.name for c in active), key=str.casefold))
    raise Invalid(f"unknown or inactive category {value!r}; categories: {names}")
