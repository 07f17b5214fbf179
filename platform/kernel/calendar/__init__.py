"""Business time: working hours, public holidays and make-up working days (调休).

Deadlines of process steps (and SLA targets) count working time, not clock time: a step due
in `PT8H` given at 17:00 on a Friday is due at 17:00 on Monday when the working day is
09:00–12:00 and 13:00–18:00. Holidays take whole days out; make-up days put a weekend day
back in (the Saturday Chinese companies work to bridge a holiday). Durations in days count
working days of the calendar's length (`P1D` is one full working day), weeks five of them.

    calendar = BusinessCalendar.standard()
    calendar.add(start, parse_duration("P1DT4H"))
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from zoneinfo import ZoneInfo

from openitsm.kernel.errors import BadUserInput, _t

# A stored calendar's key, as processes name it (`itsm:calendar="standard"`).
CALENDAR_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
DURATION = re.compile(r"^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")
Interval = tuple[dt.time, dt.time]
# Monday to Friday, with a lunch break: the common office day of the sites we serve.
STANDARD_DAY: tuple[Interval, ...] = ((dt.time(9), dt.time(12)), (dt.time(13), dt.time(18)))
MAX_DAYS_SCANNED = 3_660  # ten years of calendar days: a calendar with no working time ends


@dataclass(frozen=True)
class Duration:
    """An ISO 8601 duration split into working days and working seconds."""

    days: int = 0
    seconds: int = 0

    def clock(self) -> dt.timedelta:
        return dt.timedelta(days=self.days, seconds=self.seconds)

    def in_seconds(self, day_seconds: int) -> int:
        return self.days * day_seconds + self.seconds


def parse_duration(text: str) -> Duration:
    match = DURATION.match(text.strip())
    if match is None or not any(match.groups()):
        raise BadUserInput(
            _t("'{text}' is not a duration like PT4H, P2D or P1DT12H."), params={"text": text}
        )
    weeks, days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return Duration(weeks * 5 + days, hours * 3600 + minutes * 60 + seconds)


@dataclass(frozen=True)
class BusinessCalendar:
    time_zone: str = "Asia/Shanghai"
    # Working intervals by weekday (Monday is 0); a weekday missing has no working time.
    week: Mapping[int, Sequence[Interval]] = field(
        default_factory=lambda: {day: STANDARD_DAY for day in range(5)}
    )
    holidays: frozenset[dt.date] = frozenset()
    # Make-up working days, and the weekday whose hours they keep (default Monday's).
    workdays: frozenset[dt.date] = frozenset()

    @classmethod
    def standard(
        cls,
        time_zone: str = "Asia/Shanghai",
        holidays: Iterable[dt.date] = (),
        workdays: Iterable[dt.date] = (),
    ) -> BusinessCalendar:
        return cls(time_zone=time_zone, holidays=frozenset(holidays), workdays=frozenset(workdays))

    @cached_property
    def day_seconds(self) -> int:
        """The length of a full working day: the longest in the week."""
        return max(
            (sum(_seconds(start, end) for start, end in hours) for hours in self.week.values()),
            default=0,
        )

    def hours_on(self, day: dt.date) -> Sequence[Interval]:
        if day in self.holidays:
            return ()
        if day in self.workdays:
            return self.week.get(day.weekday()) or self.week.get(0) or STANDARD_DAY
        return self.week.get(day.weekday(), ())

    def add(self, start: dt.datetime, duration: Duration) -> dt.datetime:
        """The moment `duration` of working time after `start` (an aware UTC datetime)."""
        remaining = duration.in_seconds(self.day_seconds)
        zone = ZoneInfo(self.time_zone)
        local = start.astimezone(zone)
        day = local.date()
        for _ in range(MAX_DAYS_SCANNED):
            for begin, end in self.hours_on(day):
                opens = dt.datetime.combine(day, begin, zone)
                closes = dt.datetime.combine(day, end, zone)
                if closes <= local:
                    continue
                opens = max(opens, local)
                available = (closes - opens).total_seconds()
                if remaining <= available and (remaining > 0 or available > 0):
                    return (opens + dt.timedelta(seconds=remaining)).astimezone(dt.UTC)
                remaining -= int(available)
            day += dt.timedelta(days=1)
            local = dt.datetime.combine(day, dt.time(0), zone)
        raise BadUserInput(_t("The business calendar has no working time left."))

    def between(self, start: dt.datetime, end: dt.datetime) -> int:
        """Working seconds from `start` to `end` (aware datetimes), negative when `end` is
        before `start`: the inverse of `add`. Walks the working intervals day by day; the SLA
        clock uses an index over the same intervals instead (`openitsm.kernel.sla.timeline`)."""
        if end < start:
            return -self.between(end, start)
        zone = ZoneInfo(self.time_zone)
        first, last = start.timestamp(), end.timestamp()
        day, final = start.astimezone(zone).date(), end.astimezone(zone).date()
        total = 0.0
        while day <= final:
            for begin, finish in self.hours_on(day):
                opens = dt.datetime.combine(day, begin, zone).timestamp()
                closes = dt.datetime.combine(day, finish, zone).timestamp()
                total += max(0.0, min(closes, last) - max(opens, first))
            day += dt.timedelta(days=1)
        return int(total)


def _seconds(start: dt.time, end: dt.time) -> int:
    return (end.hour * 3600 + end.minute * 60) - (start.hour * 3600 + start.minute * 60)
