"""Relay-style connections paged with keyset cursors, and totals that do not scan.

An offset page costs as much as every row before it; a keyset page seeks straight to the
cursor through the sort index, so page 1,000 of a million tickets is as fast as page 1.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import enum
import functools
import hashlib
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import strawberry
from sqlalchemy import Select, and_, false, func, or_, select, true
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.elements import ColumnElement

from openitsm.kernel.errors import BadUserInput

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
    """One ORDER BY term; the primary key is always appended last to make the order total.

    `nullable` defaults to the column's declaration; NULL sorts as the largest value. An
    expression that is not a column (a value inside a JSON column) names itself with `key`
    and says with `read` how to compute its value from a row, for the cursors.
    """

    column: InstrumentedAttribute[Any] | ColumnElement[Any]
    descending: bool = False
    nullable: bool | None = None
    key: str | None = None
    read: Callable[[Any], Any] | None = field(default=None, compare=False)

    @property
    def allows_null(self) -> bool:
        if self.nullable is not None:
            return self.nullable
        expression = getattr(self.column, "expression", self.column)
        return bool(getattr(expression, "nullable", True))

    @property
    def name(self) -> str:
        if self.key is not None:
            return self.key
        return getattr(self.column, "key", None) or str(getattr(self.column, "name", ""))


@dataclass(frozen=True)
class PageRequest:
    first: int | None = None
    after: str | None = None
    last: int | None = None
    before: str | None = None


def page_size(request: PageRequest, default: int, maximum: int) -> tuple[int, bool]:
    """The page size and whether we page backwards; refuses sizes outside 0..maximum.

    `last` pages backwards, and so does a bare `before` (the page just before the cursor).
    """
    if request.first is not None and request.last is not None:
        raise BadUserInput("Pass either first or last, not both.", field="first")
    backwards = request.last is not None or (
        request.first is None and request.before is not None and request.after is None
    )
    size = request.last if backwards else request.first
    if size is None:
        size = default
    name = "last" if backwards else "first"
    if size < 0 or size > maximum:
        raise BadUserInput(f"{name} must be between 0 and {maximum} (got {size}).", field=name)
    return size, backwards


def _fingerprint(keys: Sequence[SortKey]) -> str:
    """Ties a cursor to one ordering, so a cursor of another list or order is refused."""
    return _fingerprint_of("|".join(f"{k.name}:{'d' if k.descending else 'a'}" for k in keys))


@functools.lru_cache(maxsize=256)
def _fingerprint_of(spec: str) -> str:
    return hashlib.blake2s(spec.encode(), digest_size=4).hexdigest()


def encode_cursor(
    values: Sequence[Any], keys: Sequence[SortKey], fingerprint: str | None = None
) -> str:
    items = [fingerprint or _fingerprint(keys), *(_encode_value(v) for v in values)]
    raw = json.dumps(items, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, keys: Sequence[SortKey], field: str = "after") -> list[Any]:
    """The key values inside a cursor, checked against the list's order and column types."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        items = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(items, list) or len(items) != len(keys) + 1:
            raise ValueError("wrong shape")
        if items[0] != _fingerprint(keys):
            raise ValueError("cursor of another list or order")
        values = [_decode_value(v) for v in items[1:]]
        return [_checked(key, value) for key, value in zip(keys, values, strict=True)]
    except (ValueError, TypeError, json.JSONDecodeError):
        raise BadUserInput(
            f"That cursor is not valid for this list; start again without {field}.",
            field=field,
        ) from None


def _checked(key: SortKey, value: Any) -> Any:
    """Refuse values the column cannot hold, so a forged cursor never reaches the database."""
    if value is None:
        if not key.allows_null:
            raise ValueError("null for a column without nulls")
        return None
    try:
        expected = getattr(key.column, "type").python_type  # noqa: B009
    except (AttributeError, NotImplementedError):
        return value
    if issubclass(expected, enum.Enum):
        return expected(value)
    if expected is bool:
        ok = isinstance(value, bool)
    elif expected is int:
        ok = isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**63
    elif expected is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif expected is decimal.Decimal:
        ok = isinstance(value, (decimal.Decimal, int)) and not isinstance(value, bool)
    elif expected is dt.date:
        ok = isinstance(value, dt.date) and not isinstance(value, dt.datetime)
    else:
        ok = isinstance(value, expected)
    if not ok:
        raise ValueError("value of the wrong type")
    return value


def _encode_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return {"dt": value.isoformat()}
    if isinstance(value, dt.date):
        return {"d": value.isoformat()}
    if isinstance(value, decimal.Decimal):
        return {"n": str(value)}
    if isinstance(value, uuid.UUID):
        return {"u": str(value)}
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
        if "u" in value:
            return uuid.UUID(value["u"])
        raise ValueError("unknown cursor value")
    return value


def rows_after(
    keys: Sequence[SortKey], values: Sequence[Any], backwards: bool
) -> ColumnElement[bool]:
    """Rows strictly after `values` in the order `keys` (strictly before when backwards).

    NULL sorts as the largest value: last ascending, first descending, on every backend.
    """
    beyond = _beyond(keys, values, backwards)
    bound = _leading_bound(keys[0], values[0], backwards) if len(keys) > 1 else None
    return beyond if bound is None else and_(bound, beyond)


def _beyond(keys: Sequence[SortKey], values: Sequence[Any], backwards: bool) -> ColumnElement[bool]:
    key, rest = keys[0], keys[1:]
    value = values[0]
    column = key.column
    rising = key.descending == backwards  # walking towards larger values
    beyond: ColumnElement[bool]
    if value is None:
        beyond = column.isnot(None) if not rising else false()
        tie = column.is_(None)
    else:
        beyond = column > value if rising else column < value
        if key.allows_null and rising:
            beyond = or_(beyond, column.is_(None))
        tie = column == value
    if not rest:
        return beyond
    return or_(beyond, and_(tie, _beyond(rest, values[1:], backwards)))


def _leading_bound(key: SortKey, value: Any, backwards: bool) -> ColumnElement[bool] | None:
    """The range of the first sort key that `rows_after` implies, as a condition an index
    can start from. The OR of `rows_after` is only a filter to the planners: PostgreSQL
    walked an index from the first row and threw away 41,000 rows to reach page 100 of a
    list, and deeper pages cost more. None when the key bounds nothing (every row)."""
    column = key.column
    rising = key.descending == backwards
    if value is None:
        return column.is_(None) if rising else None
    if not rising:
        return column <= value  # NULL, the largest, was passed already
    bound = column >= value
    return or_(bound, column.is_(None)) if key.allows_null else bound


def keyset_order(keys: Sequence[SortKey], backwards: bool) -> list[ColumnElement[Any]]:
    terms: list[ColumnElement[Any]] = []
    for key in keys:
        descending = key.descending != backwards
        term = key.column.desc() if descending else key.column.asc()
        if key.allows_null:
            # NULLs after values ascending, before them descending (as PostgreSQL does).
            term = term.nulls_first() if descending else term.nulls_last()
        terms.append(term)
    return terms


def _value_of(row: Any, key: SortKey) -> Any:
    return key.read(row) if key.read is not None else getattr(row, key.name)


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
    """Run one page of `statement` (a `select(Model)` with its filters) as a Connection.

    `after` and `before` may be combined (the rows between them); `first` takes the page
    from the start of that window, `last` from its end.
    """
    size, backwards = page_size(request, default_size, max_size)
    keys = [*keys, SortKey(tiebreak, nullable=False)]
    page = statement.order_by(None).order_by(*keyset_order(keys, backwards))
    if request.after:
        page = page.where(rows_after(keys, decode_cursor(request.after, keys, "after"), False))
    if request.before:
        page = page.where(rows_after(keys, decode_cursor(request.before, keys, "before"), True))
    rows = list(session.scalars(page.limit(size + 1)))
    more = len(rows) > size
    rows = rows[:size]
    if backwards:
        rows.reverse()
    fingerprint = _fingerprint(keys)
    edges = [
        Edge(
            cursor=encode_cursor([_value_of(row, k) for k in keys], keys, fingerprint),
            node=wrap(row),
        )
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
