"""The SLA clock of one record, derived from its events: pure, no database, nothing stored.

`compute_clock(events, calendar, now, policy)` replays the record's SLA-relevant events and
answers, for the response and the resolution target, where the clock stands at `now` and
when something must fire next. The rules are in the package docstring (`openitsm.kernel.sla`)
and in docs/sla.md; the walk below keeps them in one place:

- between two consecutive event instants the clock either counts working time (opened, SLA
  on, not paused, target not stopped), counts paused working time (the same but paused), or
  counts nothing;
- a threshold (warning, breach) is crossed at the earliest instant the elapsed working time
  reaches it inside such a stretch, or, at an event instant, after all events of that instant
  took effect (so a resolution at the very due instant is met, and a lowered target or a
  resume that finds the time already used up breaches at that instant);
- crossings are sticky: a later level change, pause or resolution never takes them back
  (only a restart on reopen does, for the resolution target).

Instants are counted in whole seconds (fractions are dropped). Working time comes from
`BusinessTime`, an index of the calendar's working intervals, so the cost depends on the
number of events, not on how long the record has been open.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from openitsm.kernel.calendar import BusinessCalendar, Duration, parse_duration
from openitsm.kernel.sla.timeline import BusinessTime, business_time

State = Literal["running", "paused", "met", "breached", "off"]
Kind = Literal["warning", "breach"]
RESPONSE = "response"
RESOLUTION = "resolution"


@dataclass(frozen=True, slots=True)
class Level:
    """An SLA level's targets in business time. The warning falls at `warning_share` of the
    target (0.8: after 80 % of it) or `warning_lead` before its end; with both, the earlier."""

    key: str
    response: Duration | None = None
    resolution: Duration | None = None
    warning_share: float | None = None
    warning_lead: Duration | None = None

    def __post_init__(self) -> None:
        if self.warning_share is not None and not 0 < self.warning_share <= 1:
            raise ValueError(f"warning_share must be in (0, 1], not {self.warning_share}")

    @classmethod
    def of(
        cls,
        key: str,
        response: str | None = None,
        resolution: str | None = None,
        warning_share: float | None = None,
        warning_lead: str | None = None,
    ) -> Level:
        """A level from ISO 8601 durations: `Level.of("P2", "PT1H", "P1D", warning_share=0.8)`."""

        def parsed(text: str | None) -> Duration | None:
            return None if text is None else parse_duration(text)

        return cls(key, parsed(response), parsed(resolution), warning_share, parsed(warning_lead))


# --- events: what the record's history says, in time order ----------------------------------


@dataclass(frozen=True, slots=True)
class Opened:
    at: dt.datetime


@dataclass(frozen=True, slots=True)
class LevelSet:
    """The level was determined or changed (None: the record has no SLA level any more)."""

    at: dt.datetime
    level: Level | None


@dataclass(frozen=True, slots=True)
class StatusChanged:
    at: dt.datetime
    status: str


@dataclass(frozen=True, slots=True)
class Responded:
    at: dt.datetime


@dataclass(frozen=True, slots=True)
class Resolved:
    at: dt.datetime


@dataclass(frozen=True, slots=True)
class Reopened:
    at: dt.datetime


@dataclass(frozen=True, slots=True)
class Closed:
    at: dt.datetime


@dataclass(frozen=True, slots=True)
class SlaOff:
    at: dt.datetime


@dataclass(frozen=True, slots=True)
class SlaOn:
    at: dt.datetime


@dataclass(frozen=True, slots=True)
class CalendarChanged:
    """From `at` on, working time is counted on `calendar` (the record moved to a service unit
    with other hours, say). Time already counted stays counted."""

    at: dt.datetime
    calendar: BusinessCalendar


Event = (
    Opened
    | LevelSet
    | StatusChanged
    | Responded
    | Resolved
    | Reopened
    | Closed
    | SlaOff
    | SlaOn
    | CalendarChanged
)


@dataclass(frozen=True, slots=True)
class Policy:
    """Configuration of the computation: the statuses that pause the clock, and whether a
    reopened record's resolution clock starts again from zero."""

    pause_statuses: frozenset[str] = frozenset()
    restart_on_reopen: bool = False


# --- results -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TargetClock:
    """One target at `now`. Seconds are business seconds; `remaining` is negative once
    overdue. `due_at`: for a running target when it falls due, for a breached one when it
    did, for a met one when it would have; None while paused or off."""

    name: str
    state: State
    target: int | None
    due_at: dt.datetime | None
    elapsed: int
    remaining: int | None
    paused: int
    breached_at: dt.datetime | None
    warning_at: dt.datetime | None
    met_at: dt.datetime | None
    stopped_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class Firing:
    """A future moment at which the engine must act unless the record changes first."""

    at: dt.datetime
    target: str
    kind: Kind


@dataclass(frozen=True, slots=True)
class Clock:
    level: str | None
    response: TargetClock
    resolution: TargetClock
    fire: tuple[Firing, ...]  # in time order; empty unless a target is running

    @property
    def targets(self) -> tuple[TargetClock, TargetClock]:
        return self.response, self.resolution

    @property
    def next_fire(self) -> dt.datetime | None:
        return self.fire[0].at if self.fire else None


# --- the computation ---------------------------------------------------------------------


class _Target:
    __slots__ = (
        "breach",
        "breached",
        "elapsed",
        "met",
        "met_due",
        "name",
        "paused",
        "stopped",
        "warn",
        "warned",
    )

    def __init__(self, name: str) -> None:
        self.name = name
        self.breach: int | None = None  # thresholds in business seconds, from the level
        self.warn: int | None = None
        self.reset()

    def reset(self) -> None:
        self.elapsed = 0
        self.paused = 0
        self.stopped: int | None = None
        self.breached: int | None = None
        self.warned: int | None = None
        self.met: int | None = None
        self.met_due: int | None = None

    def aim(self, level: Level | None, day_seconds: int) -> None:
        duration = None if level is None else getattr(level, self.name)
        if level is None or duration is None:
            self.breach = self.warn = None
            return
        self.breach = duration.in_seconds(day_seconds)
        warn = []
        if level.warning_share is not None:
            warn.append(int(self.breach * level.warning_share))
        if level.warning_lead is not None:
            warn.append(max(0, self.breach - level.warning_lead.in_seconds(day_seconds)))
        self.warn = min(warn) if warn else None

    def stop(self, at: int, time: BusinessTime) -> None:
        if self.stopped is not None:
            return
        self.stopped = at
        if self.breach is not None and self.breached is None and self.elapsed > self.breach:
            # Only a target lowered during a pause gets here: it could not breach while
            # paused, so it breaches when the resolution ends the pause.
            self.breached = at
        if self.breached is None:
            self.met = at
            if self.breach is not None:
                self.met_due = time.reach(at, self.breach - self.elapsed)


def compute_clock(
    events: Iterable[Event],
    calendar: BusinessCalendar,
    now: dt.datetime,
    policy: Policy = Policy(),
) -> Clock:
    """Where the record's SLA clock stands at `now`, replayed from its events.

    Events after `now` are ignored; events at the same instant take effect in the order
    given (they are sorted by time, stably)."""
    until = _epoch(now)
    timed = [(_epoch(event.at), event) for event in events]
    if any(timed[n][0] > timed[n + 1][0] for n in range(len(timed) - 1)):
        timed.sort(key=lambda pair: pair[0])
    pause_statuses = policy.pause_statuses
    time = business_time(calendar)
    response, resolution = _Target(RESPONSE), _Target(RESOLUTION)
    targets = (response, resolution)
    opened = paused = False
    on = True
    level: Level | None = None
    cursor: int | None = None
    worked = 0  # the index's running total at `cursor`

    def advance(to: int) -> None:
        """Count the stretch from `cursor` to `to`, in which nothing happens."""
        nonlocal worked
        assert cursor is not None
        reached = time.worked(to)
        work = reached - worked
        worked = reached
        if not (opened and on) or work == 0:
            return
        for target in targets:
            if target.stopped is not None:
                continue
            if paused:
                target.paused += work
                continue
            elapsed = target.elapsed
            after = elapsed + work
            # A crossing exactly at `to` waits for `settle`, after the events at `to`.
            warn, breach = target.warn, target.breach
            if warn is not None and target.warned is None and elapsed < warn <= after:
                crossed = time.reach(cursor, warn - elapsed)
                if crossed < to:
                    target.warned = crossed
            if breach is not None and target.breached is None and elapsed < breach <= after:
                crossed = time.reach(cursor, breach - elapsed)
                if crossed < to:
                    target.breached = crossed
            target.elapsed = after

    def settle(at: int) -> None:
        """After everything at `at` took effect: thresholds already reached are crossed now."""
        if not (opened and on) or paused:
            return
        for target in targets:
            if target.stopped is not None or target.breach is None:
                continue
            if target.warn is not None and target.warned is None and target.elapsed >= target.warn:
                target.warned = at
            if target.breached is None and target.elapsed >= target.breach:
                target.breached = at

    count = len(timed)
    for position, (at, event) in enumerate(timed):
        if at > until:
            break
        if cursor is None:
            cursor, worked = at, time.worked(at)
        elif at > cursor:
            advance(at)
            cursor = at
        if isinstance(event, StatusChanged):
            paused = event.status in pause_statuses
        elif isinstance(event, LevelSet):
            level = event.level
            for target in targets:
                target.aim(level, time.day_seconds)
        elif isinstance(event, Responded):
            response.stop(at, time)
        elif isinstance(event, Resolved | Closed):
            response.stop(at, time)
            resolution.stop(at, time)
        elif isinstance(event, Reopened):
            if resolution.stopped is not None:
                if policy.restart_on_reopen:
                    resolution.reset()
                else:
                    resolution.stopped = resolution.met = resolution.met_due = None
        elif isinstance(event, Opened):
            opened = True
        elif isinstance(event, SlaOff):
            on = False
        elif isinstance(event, SlaOn):
            on = True
        elif isinstance(event, CalendarChanged):
            time = business_time(event.calendar)
            worked = time.worked(at)
            for target in targets:
                target.aim(level, time.day_seconds)
        if position + 1 == count or timed[position + 1][0] != at:
            settle(at)
    if cursor is not None and until > cursor:
        advance(until)
        cursor = until
        settle(until)

    live = opened and on
    fire: list[Firing] = []
    results = []
    for target in targets:
        state: State
        due: int | None = None
        if not live or target.breach is None:
            state = "off"
        elif target.breached is not None:
            state, due = "breached", target.breached
        elif target.stopped is not None:
            state, due = "met", target.met_due
        elif paused:
            state = "paused"
        else:
            state = "running"
            due = time.reach(until, target.breach - target.elapsed)
            if target.warn is not None and target.warned is None:
                fire.append(
                    Firing(
                        _utc(time.reach(until, target.warn - target.elapsed)),
                        target.name,
                        "warning",
                    )
                )
            fire.append(Firing(_utc(due), target.name, "breach"))
        results.append(
            TargetClock(
                name=target.name,
                state=state,
                target=target.breach,
                due_at=_instant(due),
                elapsed=target.elapsed,
                remaining=None if target.breach is None else target.breach - target.elapsed,
                paused=target.paused,
                breached_at=_instant(target.breached),
                warning_at=_instant(target.warned),
                met_at=_instant(target.met),
                stopped_at=_instant(target.stopped),
            )
        )
    fire.sort(key=lambda firing: firing.at)
    return Clock(
        level=None if level is None else level.key,
        response=results[0],
        resolution=results[1],
        fire=tuple(fire),
    )


def _epoch(moment: dt.datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError(f"{moment!r} has no time zone")
    return int(moment.timestamp())


def _utc(epoch: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.UTC)


def _instant(epoch: int | None) -> dt.datetime | None:
    return None if epoch is None else dt.datetime.fromtimestamp(epoch, dt.UTC)
