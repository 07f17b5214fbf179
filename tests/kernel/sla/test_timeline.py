"""Working time between two instants: `BusinessCalendar.between` (walks the days) and the
SLA clock's index `BusinessTime` (a running total) agree with each other and with `add`."""

from __future__ import annotations

import datetime as dt
import random
from zoneinfo import ZoneInfo

import pytest

from openitsm.kernel.calendar import BusinessCalendar, Duration
from openitsm.kernel.errors import BadUserInput
from openitsm.kernel.sla import BusinessTime, business_time

SHANGHAI = ZoneInfo("Asia/Shanghai")
CALENDAR = BusinessCalendar.standard(
    holidays=[dt.date(2027, 10, 1)], workdays=[dt.date(2027, 10, 9)]
)
HOUR = 3600


def t(month: int, day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2027, month, day, hour, minute, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("start", "end", "seconds"),
    [
        (t(9, 27, 9), t(9, 27, 18), 8 * HOUR),  # Monday, lunch left out
        (t(9, 27, 11, 30), t(9, 27, 13, 30), HOUR),
        (t(9, 27, 19), t(9, 28, 8), 0),  # a night
        (t(9, 30, 17), t(10, 4, 10), 2 * HOUR),  # Thursday 17–18, holiday, weekend, Monday
        (t(10, 8, 17), t(10, 9, 10), 2 * HOUR),  # into the make-up Saturday
        (t(9, 27, 10), t(9, 27, 10), 0),
        (t(9, 27, 18), t(9, 27, 9), -8 * HOUR),
    ],
)
def test_between_counts_working_seconds(start: dt.datetime, end: dt.datetime, seconds: int) -> None:
    assert CALENDAR.between(start, end) == seconds
    index = BusinessTime(CALENDAR)
    assert index.between(int(start.timestamp()), int(end.timestamp())) == seconds


def test_between_is_the_inverse_of_add_and_the_index_agrees_everywhere() -> None:
    rng = random.Random(7)
    index = BusinessTime(CALENDAR)
    origin = t(1, 1, 0)
    for _ in range(400):
        start = origin + dt.timedelta(minutes=rng.randrange(0, 365 * 24 * 60))
        seconds = rng.randrange(1, 40 * HOUR)
        due = CALENDAR.add(start, Duration(0, seconds))
        assert CALENDAR.between(start, due) == seconds
        assert index.reach(int(start.timestamp()), seconds) == int(due.timestamp())
        end = start + dt.timedelta(minutes=rng.randrange(0, 30 * 24 * 60))
        assert index.between(int(start.timestamp()), int(end.timestamp())) == CALENDAR.between(
            start, end
        )


def test_the_index_grows_both_ways_without_moving_its_origin() -> None:
    index = BusinessTime(CALENDAR)
    monday = int(t(9, 27, 9).timestamp())
    before = index.worked(monday)
    far_back = int(t(1, 4, 9).timestamp())  # extends the index backwards
    far_ahead = index.reach(monday, 200 * 8 * HOUR)  # and forwards, past the indexed days
    assert index.worked(monday) == before
    assert index.between(far_back, monday) == CALENDAR.between(t(1, 4, 9), t(9, 27, 9))
    assert index.between(monday, far_ahead) == 200 * 8 * HOUR
    assert index.reach(monday, 0) == monday


def test_a_calendar_without_working_time_says_so() -> None:
    idle = BusinessCalendar(week={})
    with pytest.raises(BadUserInput):
        BusinessTime(idle).reach(int(t(9, 27, 9).timestamp()), 1)
    assert idle.between(t(9, 27, 9), t(10, 27, 9)) == 0


def test_one_index_per_calendar_object() -> None:
    assert business_time(CALENDAR) is business_time(CALENDAR)
    assert business_time(BusinessCalendar.standard()) is not business_time(CALENDAR)
