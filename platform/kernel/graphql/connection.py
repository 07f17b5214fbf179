"""Relay-style connections paged with keyset cursors, and totals that do not scan.

An offset page costs as much as every row before it; a keyset page seeks straight to the
cursor through the sort index, so page 1,000 of a million tickets is as fast as page 1.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import enum
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import strawberry
from openitsm.kernel.errors import BadUserInput
from sqlalchemy import Select, and_, false, func, or_, select, true
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.elements import ColumnElement

NodeT = TypeVar("NodeT")


@strawberry.enum
class SortDirection(enum.Enum):
    ASC = "asc"
    DESC = "desc"


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type(description="A row count; above the cap it reads '1000+' unless exact.")
class TotalCount:
    value: int = strawberry.field(description="The count, or the cap when capped.")
    capped: bool = strawberry.field(description="True when there are more rows than `value`.")

    @strawberry.field(description="For display: '37', or '1000+' when capped.")
    def display(self) -> str:
        return f"{self.value}+" if self.capped else str(self.value)


@strawberry.type
class Edge(Generic[NodeT]):
    cursor: str
    node: NodeT


@strawberry.type
class Connection(Generic[NodeT]):
    edges: list[Edge[NodeT]]
    page_info: PageInfo
    _counter: strawberry.Private[Callable[[bool], TotalCount]]

    @strawberry.field(description="The nodes of `edges`, for clients that need no cursors.")
    def nodes(self) -> list[NodeT]:
        return [edge.node for edge in self.edges]

    @strawberry.field(
        description="Rows matching the filter. Counted only when asked; capped unless exact."
    )
    def total_count(self, exact: bool = False) -> TotalCount:
        return self._counter(exact)


@dataclass(frozen=True)
class SortKey:
    """One ORDER BY term; the primary key is always appended last to make the order total."""

    column: InstrumentedAttribute[Any] | ColumnElement[Any]
    descending: bool = False
    nullable: bool = False


@dataclass(frozen=True)
class PageRequest:
    first: int | None = None
    after: str | None = None
    last: int | None = None
    before: str | None = None


def page_size(request: PageRequest, default: int, maximum: int) -> tuple[int, bool]:
    """The page size and whether we page backwards; refuses sizes outside 0..maximum."""
    if request.first is not None and request.last is not None:
        raise BadUserInput("Pass either first or last, not both.", field="first")
    backwards = request.last is not None
    size = request.last if backwards else request.first
    if size is None:
        size = default
    name = "last" if backwards else "first"
    if size < 0 or size > maximum:
        raise BadUserInput(f"{name} must be between 0 and {maximum} (got {size}).", field=name)
    return size, backwards


def encode_cursor(values: Sequence[Any]) -> str:
    raw = json.dumps([_encode_value(v) for v in values], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(values, list) or len(values) != arity:
            raise ValueError("wrong shape")
        return [_decode_value(v) for v in values]
    except (ValueError, TypeError, json.JSONDecodeError):
        raise BadUserInput(
            "That cursor is not valid for this list; start again without after/before.",
            field="after",
        ) from None


def _encode_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return {"dt": value.isoformat()}
    if isinstance(value, dt.date):
        return {"d": value.isoformat()}
    if isinstance(value, decimal.Decimal):
        return {"n": str(value)}
    if isinstance(value, enum.Enum):
        return value.value
    return value


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict):
        if "dt" in value:
            return dt.datetime.fromisoformat(value["dt"])
        if "d" in value:
            return dt.date.fromisoformat(value["d"])
        if "n" in value:
            return decimal.Decimal(value["n"])
        raise ValueError("unknown cursor value")
    return value


def _after(keys: Sequence[SortKey], values: Sequence[Any], backwards: bool) -> ColumnElement[bool]:
    """Rows strictly after `values` in the order `keys` (strictly before when backwards).

    NULL sorts as the largest value: last ascending, first descending, on every backend.
    """
    key, rest = keys[0], keys[1:]
    value = values[0]
    column = key.column
    rising = key.descending == backwards  # walking towards larger values
    if value is None:
        beyond = column.isnot(None) if not rising else false()
        tie = column.is_(None)
    else:
        beyond = column > value if rising else column < value
        if key.nullable and rising:
            beyond = or_(beyond, column.is_(None))
        tie = column == value
    if not rest:
        return beyond
    return or_(beyond, and_(tie, _after(rest, values[1:], backwards)))


def _order(keys: Sequence[SortKey], backwards: bool) -> list[ColumnElement[Any]]:
    terms = []
    for key in keys:
        descending = key.descending != backwards
        term = key.column.desc() if descending else key.column.asc()
        if key.nullable:
            # NULLs after values ascending, before them descending (as PostgreSQL does).
            term = term.nulls_first() if descending else term.nulls_last()
        terms.append(term)
    return terms


def _value_of(row: Any, key: SortKey) -> Any:
    column = key.column
    name = getattr(column, "key", None) or getattr(column, "name", None)
    return getattr(row, name)  # type: ignore[arg-type]


def paginate(
    session: Any,
    statement: Select[Any],
    *,
    keys: Sequence[SortKey],
    tiebreak: InstrumentedAttribute[Any],
    request: PageRequest,
    default_size: int = 50,
    max_size: int = 200,
    count_cap: int = 1000,
    wrap: Callable[[Any], Any] = lambda row: row,
) -> Connection[Any]:
    """Run one page of `statement` (a `select(Model)` with its filters) as a Connection."""
    size, backwards = page_size(request, default_size, max_size)
    keys = [*keys, SortKey(tiebreak)]
    cursor = request.before if backwards else request.after
    page = statement.order_by(None).order_by(*_order(keys, backwards))
    if cursor:
        page = page.where(_after(keys, decode_cursor(cursor, len(keys)), backwards))
    rows = list(session.scalars(page.limit(size + 1))) if size else []
    more = len(rows) > size
    rows = rows[:size]
    if backwards:
        rows.reverse()
    edges = [
        Edge(cursor=encode_cursor([_value_of(row, k) for k in keys]), node=wrap(row))
        for row in rows
    ]
    info = PageInfo(
        has_next_page=more if not backwards else bool(request.before),
        has_previous_page=more if backwards else bool(request.after),
        start_cursor=edges[0].cursor if edges else None,
        end_cursor=edges[-1].cursor if edges else None,
    )
    base = statement.order_by(None)

    def count(exact: bool) -> TotalCount:
        if exact:
            total = session.scalar(select(func.count()).select_from(base.subquery()))
            return TotalCount(value=total or 0, capped=False)
        limited = (
            base.with_only_columns(true().label("one"), maintain_column_froms=True)
            .limit(count_cap + 1)
            .subquery()
        )
        total = session.scalar(select(func.count()).select_from(limited)) or 0
        return TotalCount(value=min(total, count_cap), capped=total > count_cap)

    return Connection(edges=edges, page_info=info, _counter=count)
