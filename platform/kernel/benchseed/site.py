"""A benchmark site while it is being seeded: what the kernel made, a seeded random generator
and a writer fast enough for millions of rows.

Modules receive a `BenchSite` in `seed_bench_data`. Rows go in as plain tuples, in large
batches and without the ORM: no flush, no audit capture, no `on_record_changed`. A module
therefore writes the history rows (`audit_event`, `audit_change`) its records would have
had, and takes ids from `reserve`, so a record and the rows that name it are written in the
same pass.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import json
import random
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Table, func, select, text

if TYPE_CHECKING:
    from openitsm.kernel.app import Kernel

EPOCH = dt.datetime(1970, 1, 1)
EPOCH_UTC = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# SQLite: rows of at most NARROW columns go ROWS_PER_STATEMENT to an INSERT (see
# `BenchSite._insert_sqlite`).
NARROW = 8
ROWS_PER_STATEMENT = 100
# The kernel's history table: every module's seed writes millions of its rows, by record,
# with actors and times in no order. On an empty SQLite database its indexes are built once
# at the end, in less time than keeping them up row by row (see `BenchSite.build_indexes`).
INDEXED_AT_THE_END = frozenset({"audit_event"})
VARIABLE_LIMIT = sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER


@dataclass(frozen=True)
class BenchScale:
    """How big a site `openitsm bench seed` makes. Modules scale their own records from
    `incidents` (a change module might write one change per 20 incidents)."""

    incidents: int = 1_000_000
    agents: int = 2_000
    years: int = 3
    open_share: float = 0.15
    seed: int = 42
    callers: int | None = None  # default: ten per agent

    @property
    def caller_count(self) -> int:
        return self.callers if self.callers is not None else self.agents * 10


@dataclass(frozen=True, slots=True)
class Person:
    """A seeded person: an agent (with one role) or a caller (role None)."""

    id: int
    name: str
    department_id: int | None
    role: str | None
    service_unit_ids: tuple[int, ...] = ()
    phone: str | None = None


@dataclass
class BenchSite:
    """What the kernel seeded, and the tools to add more.

    `agents` maps role codes (`service_desk_agent`, `second_line_engineer`,
    `third_line_expert`, `supervisor`) to the people holding them; `groups` maps the same
    codes to the departments those people sit in; `callers` are the people who report
    things (each in one business department and one service unit). `rng` is seeded from
    `--seed`: the same command, run within the same hour, writes the same site. Times are
    UTC; `now` is a whole hour and `start` is `years` before it.
    """

    kernel: Kernel
    scale: BenchScale
    connection: Connection
    rng: random.Random
    now: dt.datetime
    start: dt.datetime
    departments: dict[str, int] = field(default_factory=dict)
    department_parent: dict[int, int | None] = field(default_factory=dict)
    department_head: dict[int, int] = field(default_factory=dict)
    agents: dict[str, list[Person]] = field(default_factory=dict)
    groups: dict[str, list[int]] = field(default_factory=dict)
    callers: list[Person] = field(default_factory=list)
    service_units: list[int] = field(default_factory=list)
    people: dict[int, Person] = field(default_factory=dict)
    reported: dict[str, int] = field(default_factory=dict)
    echo: Callable[[str], None] = lambda message: None
    _next_id: dict[str, int] = field(default_factory=dict)
    _statements: dict[tuple[str, tuple[str, ...]], str] = field(default_factory=dict)
    _statements_of_many: dict[str, str] = field(default_factory=dict)
    _written: set[str] = field(default_factory=set)
    # Set by the command on a database that holds nothing but shipped data.
    build_indexes_at_the_end: bool = False
    _dropped_indexes: dict[str, list[str]] = field(default_factory=dict)

    # --- values as the driver takes them ------------------------------------------------

    @property
    def dialect(self) -> str:
        return self.connection.dialect.name

    def timestamp(self, epoch: float | None) -> Any:
        """A UTC instant (seconds since 1970) as the database stores it: the text SQLAlchemy
        writes on SQLite (always with microseconds, so text order is time order), an aware
        datetime on PostgreSQL."""
        if epoch is None:
            return None
        if self.dialect == "sqlite":
            return (EPOCH + dt.timedelta(seconds=epoch)).isoformat(" ", "microseconds")
        return EPOCH_UTC + dt.timedelta(seconds=epoch)

    def timestamp_function(self) -> Callable[[float], Any]:
        """`timestamp` without the None check, as a plain function: for loops over
        millions of values."""
        if self.dialect == "sqlite":
            return sqlite_timestamps()
        return lambda epoch: EPOCH_UTC + dt.timedelta(seconds=epoch)

    def history_time(self, stored: Any) -> str:
        """A stored timestamp (from `timestamp`) as history keeps it in `audit_change`: the
        ISO text the audit capture writes for an aware datetime."""
        if isinstance(stored, dt.datetime):
            return stored.isoformat()
        text = stored.replace(" ", "T", 1)
        if text.endswith(".000000"):
            text = text[:-7]
        return text + "+00:00"

    def epoch(self, moment: dt.datetime) -> float:
        return (moment - EPOCH_UTC).total_seconds()

    def flag(self, value: bool) -> Any:
        return int(value) if self.dialect == "sqlite" else bool(value)

    @staticmethod
    def json(value: Any) -> str:
        """A JSON column's value as text (how SQLAlchemy serialises it)."""
        return json.dumps(value)

    # --- ids and rows ---------------------------------------------------------------------

    def reserve(self, table: Table, count: int) -> int:
        """The first of `count` consecutive new ids of `table` (its `id` column)."""
        name = table.name
        if name not in self._next_id:
            highest = self.connection.scalar(select(func.max(table.c.id)))
            self._next_id[name] = int(highest or 0) + 1
        first = self._next_id[name]
        self._next_id[name] = first + count
        return first

    def insert(self, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Write `rows` (tuples in the order of `columns`, values as `timestamp`, `flag` and
        `json` give them) into `table`: up to a hundred rows per statement on SQLite (see
        `_insert_sqlite`), COPY on PostgreSQL."""
        if not rows:
            return
        key = (table.name, tuple(columns))
        statement = self._statements.get(key)
        if statement is None:
            statement = self._prepare(table, columns)
            self._statements[key] = statement
        if not self.connection.in_transaction():
            self.connection.begin()
        if (
            self.build_indexes_at_the_end
            and table.name in INDEXED_AT_THE_END
            and table.name not in self._dropped_indexes
            and self.dialect == "sqlite"
        ):
            self._drop_indexes(table.name)
        cursor = self.connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            if self.dialect == "postgresql":
                with cursor.copy(statement) as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                self._insert_sqlite(cursor, statement, len(columns), rows)
        finally:
            cursor.close()
        self._written.add(table.name)

    def _insert_sqlite(
        self, cursor: Any, statement: str, width: int, rows: Sequence[Sequence[Any]]
    ) -> None:
        """Narrow rows go up to `ROWS_PER_STATEMENT` to one `INSERT … VALUES (…), (…), …`:
        the driver's executemany spends more on each row it binds and steps than SQLite
        spends storing a row of a few columns, so history changes go in a third faster.
        Wide rows go one at a time: measured, incidents (thirty columns, nine indexes) went
        in slower the other way."""
        per = 1
        if width <= NARROW:
            per = min(ROWS_PER_STATEMENT, cursor.connection.getlimit(VARIABLE_LIMIT) // width)
        whole = len(rows) - len(rows) % per if per > 1 else 0
        if whole:
            many = self._statements_of_many.get(statement)
            if many is None:
                values = statement[statement.index(" VALUES ") + len(" VALUES ") :]
                many = statement + f", {values}" * (per - 1)
                self._statements_of_many[statement] = many
            flat = itertools.chain.from_iterable
            cursor.executemany(many, (tuple(flat(rows[i : i + per])) for i in range(0, whole, per)))
        if whole < len(rows):
            cursor.executemany(statement, rows[whole:])

    def _drop_indexes(self, table: str) -> None:
        """Drop the non-unique indexes of `table` until `build_indexes`."""
        raw: Any = self.connection.connection.driver_connection
        found = raw.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ?"
            " AND sql LIKE 'CREATE INDEX %' ORDER BY name",
            (table,),
        ).fetchall()
        for name, _ in found:
            raw.execute(f'DROP INDEX "{name}"')
        self._dropped_indexes[table] = [statement for _, statement in found]

    def build_indexes(self) -> None:
        """Build the indexes `insert` left out, and commit. Also called after a failed seed
        (after its rollback, which may have brought some of them back)."""
        statements = [s for found in self._dropped_indexes.values() for s in found]
        self._dropped_indexes.clear()
        if not statements:
            return
        if self.connection.in_transaction():
            self.connection.commit()
        raw: Any = self.connection.connection.driver_connection
        for statement in statements:
            # SQLite keeps the statement without IF NOT EXISTS: the schema reads as before.
            raw.execute("CREATE INDEX IF NOT EXISTS " + statement[len("CREATE INDEX ") :])
        raw.commit()

    def _prepare(self, table: Table, columns: Sequence[str]) -> str:
        """The statement for `columns` of `table`, after checking that every column that
        needs a value gets one (the ORM's Python-side defaults do not run here)."""
        unknown = [name for name in columns if name not in table.c]
        if unknown:
            raise ValueError(f"{table.name} has no column(s) {unknown}")
        missing = [
            column.name
            for column in table.c
            if not column.nullable
            and column.server_default is None
            and column.name not in columns
            and not (column.primary_key and column.autoincrement in (True, "auto"))
        ]
        if missing:
            raise ValueError(f"rows for {table.name} need values for {missing}")
        quoted = ", ".join(f'"{name}"' for name in columns)
        if self.dialect == "postgresql":
            return f'COPY "{table.name}" ({quoted}) FROM STDIN'
        marks = ", ".join("?" for _ in columns)
        return f'INSERT INTO "{table.name}" ({quoted}) VALUES ({marks})'

    def checkpoint(self) -> None:
        """Commit what was written so far; call it every few hundred thousand rows, so no
        transaction (or WAL file) grows without end."""
        if self.connection.in_transaction():
            self.connection.commit()

    def report(self, what: str, count: int) -> None:
        """Count `count` more `what` ("incidents") for the command's summary."""
        self.reported[what] = self.reported.get(what, 0) + count

    def finish(self) -> None:
        """Commit, and on PostgreSQL move each written table's id sequence past the ids
        written by hand, so the next ordinary insert does not collide; on SQLite build the
        indexes left out while the rows went in."""
        self.checkpoint()
        if self.dialect != "postgresql":
            self.build_indexes()
            return
        for name in sorted(self._written):
            table = self.kernel_table(name)
            if table is None or "id" not in table.c:
                continue
            self.connection.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('\"{name}\"', 'id'), "
                    f'COALESCE((SELECT max(id) FROM "{name}"), 0) + 1, false)'
                )
            )
        self.checkpoint()

    def kernel_table(self, name: str) -> Table | None:
        from openitsm.kernel.db import Base

        return Base.metadata.tables.get(name)

    # --- choosing -------------------------------------------------------------------------

    def pick(self, people: Sequence[Person]) -> Person:
        return people[int(self.rng.random() * len(people))]


def sqlite_timestamps() -> Callable[[float], str]:
    """A function giving what `EPOCH + timedelta(seconds=epoch)` shows in SQLite's text
    form, in half the time: the day's text is made once per day and the time of day is
    looked up. `timedelta` keeps the whole seconds and rounds the fraction, scaled to
    microseconds, half to even; so does `round`. Before 1970 it falls back on `timedelta`."""
    base, delta = EPOCH, dt.timedelta
    clock = _times_of_day()
    days: dict[int, str] = {}
    first_day = EPOCH.toordinal()

    def stamp(epoch: float) -> str:
        if epoch < 0:
            return (base + delta(seconds=epoch)).isoformat(" ", "microseconds")
        whole = int(epoch)
        micro = round((epoch - whole) * 1e6)
        if micro == 1_000_000:
            whole, micro = whole + 1, 0
        day, second = divmod(whole, 86_400)
        text = days.get(day)
        if text is None:
            text = days[day] = dt.date.fromordinal(first_day + day).isoformat() + " "
        return f"{text}{clock[second]}{micro:06d}"

    return stamp


@functools.cache
def _times_of_day() -> tuple[str, ...]:
    """The text of each second of a day ("HH:MM:SS."), by its number."""
    return tuple(
        f"{h:02d}:{m:02d}:{s:02d}." for h in range(24) for m in range(60) for s in range(60)
    )


def weighted(rng: random.Random, items: Iterable[tuple[Any, float]], count: int) -> list[Any]:
    """`count` choices from (value, weight) pairs."""
    values, weights = zip(*items, strict=True)
    return rng.choices(values, weights=weights, k=count)


class Stopwatch:
    """Seconds since it was made, for the rate the command prints."""

    def __init__(self) -> None:
        self.started = time.perf_counter()

    def seconds(self) -> float:
        return time.perf_counter() - self.started
