"""Working time as a running total, so that SLA clocks never walk a calendar minute by minute.

`BusinessTime` numbers every second of working time on one calendar: `worked(t)` is the
working time from an arbitrary origin up to the instant `t` (epoch seconds), so the working
time between two instants is one subtraction, and `reach(t, seconds)` (the earliest instant at
which `seconds` more working time has passed since `t`) is one bisection. Days are indexed
lazily as clocks ask for them, in blocks, and kept: after a calendar change 100,000 records
are recomputed against one index that spans the few hundred days their histories cover.

`business_time(calendar)` hands out one index per calendar object; a calendar changed in the
database is a new object (`calendar_for` rebuilds it), so it gets a fresh index.
"""

from __future__ import annotations

import bisect
import datetime as dt
import threading
from collections import OrderedDict
from zoneinfo import ZoneInfo

from openitsm.kernel.calendar import MAX_DAYS_SCANNED, BusinessCalendar
from openitsm.kernel.errors import BadUserInput, _t

BLOCK_DAYS = 64  # days indexed at a time
CACHED_CALENDARS = 32
Span = tuple[int, int]  # a working interval as epoch seconds [start, end)


class _Index:
    """An immutable snapshot: days `first` … `first + len(spans) - 1` (proleptic ordinals)."""

    __slots__ = ("first", "midnights", "spans", "totals")

    def __init__(
        self, first: int, midnights: list[int], totals: list[int], spans: list[tuple[Span, ...]]
    ) -> None:
        self.first = first
        self.midnights = midnights  # local midnight of each day, and of the day after the last
        self.totals = totals  # working seconds before each day, and after the last
        self.spans = spans


class BusinessTime:
    """Working time on `calendar` as a running total; shared by threads, extended on demand."""

    def __init__(self, calendar: BusinessCalendar) -> None:
        self.calendar = calendar
        self.day_seconds = calendar.day_seconds
        self._zone = ZoneInfo(calendar.time_zone)
        self._lock = threading.Lock()
        self._index: _Index | None = None

    # --- queries ------------------------------------------------------------------------

    def worked(self, at: int) -> int:
        """Working seconds from the index's origin (a fixed, arbitrary instant) to `at`
        (epoch seconds); only differences mean anything, and they stay valid as the index
        grows."""
        return _worked(self._covering(at), at)

    def between(self, start: int, end: int) -> int:
        return self.worked(end) - self.worked(start)

    def reach(self, at: int, seconds: int) -> int:
        """The earliest instant by which `seconds` of working time have passed since `at`
        (`at` itself when `seconds` is 0 or less): where a clock at `at` with that much time
        left runs out. An interval's end counts, so PT3H from 09:00 is 12:00, not 13:00."""
        if seconds <= 0:
            return at
        index = self._covering(at)
        wanted = _worked(index, at) + seconds
        if index.totals[-1] < wanted:
            index = self._reaching(at, wanted)
        # The day during which the running total reaches `wanted`.
        day = bisect.bisect_left(index.totals, wanted) - 1
        total = index.totals[day]
        for start, end in index.spans[day]:
            if total + (end - start) >= wanted:
                return start + (wanted - total)
            total += end - start
        raise AssertionError("the running total reached no interval")  # pragma: no cover

    # --- the index ----------------------------------------------------------------------

    def _covering(self, at: int) -> _Index:
        index = self._index
        if index is not None and index.midnights[0] <= at < index.midnights[-1]:
            return index
        day = dt.datetime.fromtimestamp(at, self._zone).date().toordinal()
        return self._extend(day - BLOCK_DAYS // 4, day + BLOCK_DAYS)

    def _reaching(self, at: int, wanted: int) -> _Index:
        """Index forward until the running total reaches `wanted`, or say there is no
        working time left within `MAX_DAYS_SCANNED` days."""
        limit = dt.datetime.fromtimestamp(at, self._zone).date().toordinal() + MAX_DAYS_SCANNED
        index = self._covering(at)
        while index.totals[-1] < wanted:
            last = index.first + len(index.spans) - 1
            if last >= limit:
                raise BadUserInput(_t("The business calendar has no working time left."))
            span = max(BLOCK_DAYS, len(index.spans))  # doubling keeps long searches cheap
            index = self._extend(index.first, min(limit, last + span))
        return index

    def _extend(self, first: int, last: int) -> _Index:
        """A snapshot covering at least days `first` … `last`, built without disturbing
        readers of the current one (they keep theirs; the new one is swapped in whole). The
        running total keeps its origin, so totals read from an older snapshot stay valid."""
        with self._lock:
            old = self._index
            if old is not None:
                old_last = old.first + len(old.spans) - 1
                if old.first <= first and last <= old_last:
                    return old
                first, last = min(first, old.first), max(last, old_last)
            midnights: list[int] = []
            spans: list[tuple[Span, ...]] = []
            for ordinal in range(first, last + 1):
                if old is not None and old.first <= ordinal < old.first + len(old.spans):
                    spans.append(old.spans[ordinal - old.first])
                    midnights.append(old.midnights[ordinal - old.first])
                else:
                    day = dt.date.fromordinal(ordinal)
                    spans.append(self._spans(day))
                    midnights.append(self._midnight(day))
            midnights.append(self._midnight(dt.date.fromordinal(last + 1)))
            totals = [0]
            for day_spans in spans:
                totals.append(totals[-1] + sum(end - start for start, end in day_spans))
            if old is not None:
                shift = old.totals[0] - totals[old.first - first]
                totals = [total + shift for total in totals]
            index = _Index(first, midnights, totals, spans)
            self._index = index
            return index

    def _midnight(self, day: dt.date) -> int:
        return int(dt.datetime.combine(day, dt.time(0), self._zone).timestamp())

    def _spans(self, day: dt.date) -> tuple[Span, ...]:
        return tuple(
            (
                int(dt.datetime.combine(day, begin, self._zone).timestamp()),
                int(dt.datetime.combine(day, end, self._zone).timestamp()),
            )
            for begin, end in self.calendar.hours_on(day)
        )


def _worked(index: _Index, at: int) -> int:
    day = bisect.bisect_right(index.midnights, at) - 1
    total = index.totals[day]
    for start, end in index.spans[day]:
        if at <= start:
            break
        total += (end if at > end else at) - start
    return total


_cache: OrderedDict[int, BusinessTime] = OrderedDict()
_cache_lock = threading.Lock()


def business_time(calendar: BusinessCalendar) -> BusinessTime:
    """The shared index of `calendar` (kept for the last few calendar objects asked for)."""
    with _cache_lock:
        found = _cache.get(id(calendar))
        if found is not None and found.calendar is calendar:
            _cache.move_to_end(id(calendar))
            return found
        found = BusinessTime(calendar)
        _cache[id(calendar)] = found
        while len(_cache) > CACHED_CALENDARS:
            _cache.popitem(last=False)
        return found
