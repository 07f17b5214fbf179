"""The WAL checkpointer a server process runs: pages reach the database file from its
thread, while commits no longer checkpoint until the backstop."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from openitsm.kernel.db import create_engine_for
from openitsm.kernel.db.checkpoint import BACKSTOP_PAGES, WalCheckpointer


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "site.db"


@pytest.fixture
def engine(path: Path) -> Iterator[Engine]:
    """A SQLite site with a `note` table, its log empty (the table is in the file)."""
    engine = create_engine_for(f"sqlite:///{path}")
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE note (id INTEGER PRIMARY KEY, body TEXT)")
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    yield engine
    engine.dispose()


def _rows_in_database_file(path: Path) -> int:
    """Rows as the main file holds them, ignoring the write-ahead log."""
    connection = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        return int(connection.execute("SELECT count(*) FROM note").fetchone()[0])
    finally:
        connection.close()


def _rows_reaching_the_file(path: Path, count: int) -> int:
    """The rows in the main file once `count` are there, or after 10 s."""
    deadline = time.monotonic() + 10
    while _rows_in_database_file(path) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return _rows_in_database_file(path)


def _write(engine: Engine, count: int) -> None:
    with engine.begin() as connection:
        for n in range(count):
            connection.exec_driver_sql("INSERT INTO note (body) VALUES (?)", (f"note {n}",))


def _autocheckpoint(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() or 0)


def test_written_pages_reach_the_database_file_from_the_thread(path: Path, engine: Engine) -> None:
    checkpointer = WalCheckpointer(engine, interval=0.05).start()
    try:
        assert _autocheckpoint(engine) == BACKSTOP_PAGES
        _write(engine, 50)
        assert _rows_reaching_the_file(path, 50) == 50
        assert checkpointer.checkpoints > 0
    finally:
        checkpointer.stop()


def test_without_it_the_pages_wait_in_the_log_until_the_backstop(
    path: Path, engine: Engine
) -> None:
    """The same writes with the backstop set and no thread stay in the log: the thread above
    is what moved them."""
    checkpointer = WalCheckpointer(engine, interval=3600).start()
    try:
        _write(engine, 50)
        time.sleep(0.3)
        assert _rows_in_database_file(path) == 0
    finally:
        checkpointer.stop()
    engine.dispose()  # stopped: new connections checkpoint as SQLite does
    assert _autocheckpoint(engine) == 1000


def test_it_runs_again_when_started_after_a_stop(path: Path, engine: Engine) -> None:
    checkpointer = WalCheckpointer(engine, interval=0.05)
    checkpointer.start().stop()
    checkpointer.start()
    try:
        _write(engine, 10)
        assert _rows_reaching_the_file(path, 10) == 10
    finally:
        checkpointer.stop()


def test_two_on_one_engine_each_remove_their_own_listener(engine: Engine) -> None:
    first = WalCheckpointer(engine, interval=3600).start()
    second = WalCheckpointer(engine, interval=3600).start()
    first.stop()
    engine.dispose()
    try:
        assert _autocheckpoint(engine) == BACKSTOP_PAGES  # the second's backstop still applies
    finally:
        second.stop()


def test_only_a_sqlite_file_gets_one() -> None:
    for url in ("sqlite://", "postgresql+psycopg://nobody@127.0.0.1:1/none"):
        engine = create_engine_for(url)
        checkpointer = WalCheckpointer(engine).start()
        assert checkpointer._thread is None
        checkpointer.stop()
        engine.dispose()
