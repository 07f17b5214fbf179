"""How custom field values are kept in a record's JSON column and read back typed.

Kept apart from the service so forms can read and compare them without importing it.
"""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

PREFIX = "cf_"


def is_custom(name: str) -> bool:
    return name.startswith(PREFIX)


def stored(value: Any) -> Any:
    """A typed value as kept in the JSON column: exact, and ordered like the value."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    return value


def typed(type: str, value: Any) -> Any:
    """A kept value as the field's type (None when absent or no longer readable as one)."""
    if value is None:
        return None
    try:
        if type == "date":
            return dt.date.fromisoformat(value)
        if type == "datetime":
            return dt.datetime.fromisoformat(value)
        if type == "money":
            return decimal.Decimal(str(value))
        if type in ("number", "dictionary", "user", "department"):
            return int(value)
        if type == "bool":
            return bool(value)
    except (TypeError, ValueError, decimal.InvalidOperation):
        return None
    return value


def read(record: Any, name: str, type: str) -> Any:
    """The record's value of the custom field `name`, typed."""
    return typed(type, (getattr(record, "custom_fields", None) or {}).get(name))
