"""Yearly record numbers (`INC-2026-000123`) from a module's own counter table.

A module keeps one row per year in its own table (`year` primary key, `value`) and asks here
for the next number. The row is bumped by one atomic INSERT … ON CONFLICT DO UPDATE …
RETURNING — a row lock on PostgreSQL, the write lock on SQLite — so concurrent registrations
never share a number and no max()+1 race exists.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Table, bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from openitsm.kernel.db import utcnow

__all__ = ["next_number"]


def next_number(
    session: Session,
    counter: Any,
    prefix: str,
    *,
    zone: ZoneInfo,
    when: dt.datetime | None = None,
    width: int = 6,
) -> str:
    """The next number of the year `when` falls in (now by default) in `zone`, e.g.
    `INC-2026-000123`. `counter` is the module's counter model or table (columns `year`,
    `value`); the first call of a year starts at 1."""
    table: Table = getattr(counter, "__table__", counter)
    year = (when or utcnow()).astimezone(zone).year
    statement = _bump(table, session.get_bind().dialect.name)
    value = session.execute(statement, {"year": year}).scalar_one()
    return f"{prefix}-{year}-{value:0{width}d}"


@functools.cache
def _bump(table: Table, dialect: str) -> Any:
    """The counter's upsert, built once per table and dialect: every registration runs it,
    and building it cost more than running it."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert(table)
        .values(year=bindparam("year"), value=1)
        .on_conflict_do_update(index_elements=[table.c.year], set_={"value": table.c.value + 1})
        .returning(table.c.value)
    )
