"""Yearly record numbers from a module's counter table (`openitsm.kernel.numbering`)."""

from __future__ import annotations

import datetime as dt
import threading
from zoneinfo import ZoneInfo

from sqlalchemy import Column, Integer, MetaData, Table, select

from openitsm.kernel import Kernel
from openitsm.kernel.numbering import next_number

SHANGHAI = ZoneInfo("Asia/Shanghai")


def counter_table(kernel: Kernel) -> Table:
    """A counter table of the shape modules declare (`year` key, `value`), made for the test."""
    table = Table(
        "test_numbering_counter",
        MetaData(),
        Column("year", Integer, primary_key=True, autoincrement=False),
        Column("value", Integer, nullable=False, default=0),
    )
    table.create(kernel.engine)
    return table


def test_numbers_count_per_year_in_the_zone_and_are_padded(kernel: Kernel) -> None:
    table = counter_table(kernel)
    spring = dt.datetime(2031, 3, 1, tzinfo=dt.UTC)
    with kernel.session() as session:
        assert next_number(session, table, "TST", zone=SHANGHAI, when=spring) == "TST-2031-000001"
        assert next_number(session, table, "TST", zone=SHANGHAI, when=spring) == "TST-2031-000002"
        # 17:00 UTC on New Year's Eve is already the next year in Shanghai, not in UTC
        eve = dt.datetime(2031, 12, 31, 17, tzinfo=dt.UTC)
        assert next_number(session, table, "TST", zone=SHANGHAI, when=eve) == "TST-2032-000001"
        assert next_number(session, table, "X", zone=ZoneInfo("UTC"), when=eve, width=3) == (
            "X-2031-003"
        )
    with kernel.session() as session:
        rows = session.execute(select(table.c.year, table.c.value).order_by(table.c.year)).all()
    assert [tuple(row) for row in rows] == [(2031, 3), (2032, 1)]


def test_concurrent_calls_never_share_a_number(kernel: Kernel) -> None:
    table = counter_table(kernel)
    when = dt.datetime(2031, 6, 1, tzinfo=dt.UTC)
    numbers: list[str] = []
    failures: list[BaseException] = []
    workers = 6
    start = threading.Barrier(workers)

    def draw() -> None:
        try:
            start.wait()
            for _ in range(5):
                with kernel.session() as session:
                    numbers.append(next_number(session, table, "TST", zone=SHANGHAI, when=when))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=draw) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert sorted(numbers) == [f"TST-2031-{n:06d}" for n in range(1, workers * 5 + 1)]
