"""Selects compiled once and run straight on the DB-API, for per-request hot paths.

Looking up the signed-in session runs on every request. Through a SQLAlchemy connection
it costs ~140 µs on SQLite; compiled once and run on a DB-API connection it costs ~6 µs,
with column types still converted by the columns' own SQLAlchemy types. The connection is
one per engine, kept outside the pool in autocommit mode (checking one out of the pool and
back costs more than the query), and replaced when it fails.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, Select


class PreparedSelect:
    """One SELECT whose compiled form and result converters are cached per dialect."""

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement
        self.names = [str(column.key) for column in statement.selected_columns]
        self._by_dialect: dict[str, tuple[str, tuple[str, ...] | None, list[Any]]] = {}

    def _prepare(self, engine: Engine) -> tuple[str, tuple[str, ...] | None, list[Any]]:
        dialect = engine.dialect
        prepared = self._by_dialect.get(dialect.name)
        if prepared is None:
            compiled = self.statement.compile(dialect=dialect)
            order = tuple(compiled.positiontup or ()) if compiled.positional else None
            converters: list[Callable[[Any], Any] | None] = [
                column.type.dialect_impl(dialect).result_processor(dialect, None)
                for column in self.statement.selected_columns
            ]
            prepared = self._by_dialect[dialect.name] = (compiled.string, order, converters)
        return prepared

    def first(self, engine: Engine, **params: Any) -> dict[str, Any] | None:
        sql, order, converters = self._prepare(engine)
        arguments: Any = tuple(params[name] for name in order) if order is not None else params
        row = _ReadConnection.of(engine).fetchone(sql, arguments)
        if row is None:
            return None
        return {
            name: convert(value) if convert is not None else value
            for name, convert, value in zip(self.names, converters, row, strict=True)
        }


class _ReadConnection:
    """A long-lived autocommit DB-API connection for prepared reads, one per engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.lock = threading.Lock()
        self.connection: Any = None

    @classmethod
    def of(cls, engine: Engine) -> _ReadConnection:
        found = _READ_CONNECTIONS.get(engine)
        if found is None:
            with _REGISTRY_LOCK:
                found = _READ_CONNECTIONS.setdefault(engine, cls(engine))
        return found

    def fetchone(self, sql: str, arguments: Any) -> Any:
        with self.lock:
            for attempt in (1, 2):
                if self.connection is None:
                    self.connection = self._connect()
                try:
                    cursor = self.connection.cursor()
                    cursor.execute(sql, arguments)
                    row = cursor.fetchone()
                    cursor.close()
                    return row
                except self.engine.dialect.loaded_dbapi.Error:
                    self.close()  # a dropped connection: the second attempt opens a new one
                    if attempt == 2:
                        raise
        return None

    def _connect(self) -> Any:
        pooled = self.engine.raw_connection()  # runs the engine's connect hooks (pragmas)
        pooled.detach()
        connection = pooled.dbapi_connection
        if self.engine.dialect.name == "postgresql":
            connection.autocommit = True  # type: ignore[union-attr]
        return connection

    def close(self) -> None:
        if self.connection is not None:
            connection, self.connection = self.connection, None
            with contextlib.suppress(Exception):  # already broken: nothing left to release
                connection.close()

    def __del__(self) -> None:
        self.close()


_READ_CONNECTIONS: weakref.WeakKeyDictionary[Engine, _ReadConnection] = weakref.WeakKeyDictionary()
_REGISTRY_LOCK = threading.Lock()


def release_read_connection(engine: Engine) -> None:
    """Close the engine's prepared-read connection (the kernel calls this on close)."""
    found = _READ_CONNECTIONS.pop(engine, None)
    if found is not None:
        found.close()
