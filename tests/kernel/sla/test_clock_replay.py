"""A year of random records replayed against an independent reference.

The reference steps through each record's life in 15-minute slots (every event falls on a
slot boundary, every working interval of the test calendars starts and ends on one) and
counts working time slot by slot while the clock runs. It shares nothing with the engine but
the calendars' raw definition (week, holidays, make-up days, time zone): its "is this slot
working time" test reads that definition itself, and it parses the levels' ISO 8601 texts
itself. Targets and warnings that are not multiples of 15 minutes are crossed inside a slot,
at the exact second.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from openitsm.kernel.calendar import BusinessCalendar
from openitsm.kernel.sla import (
    Closed,
    Event,
    Level,
    LevelSet,
    Opened,
    Policy,
    Reopened,
    Resolved,
    Responded,
    SlaOff,
    SlaOn,
    StatusChanged,
    compute_clock,
)

SLOT = 900
RECORDS = 2000
SEED = 20270101
YEAR_START = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
PAUSING = ("waiting_for_customer", "pending_vendor")
WORKING = ("in_progress", "assigned")


@dataclass(frozen=True)
class RawCalendar:
    """A calendar as an administrator types it."""

    time_zone: str
    week: dict[int, list[tuple[str, str]]]
    holidays: frozenset[dt.date] = frozenset()
    workdays: frozenset[dt.date] = frozenset()

    def build(self) -> BusinessCalendar:
        return BusinessCalendar(
            time_zone=self.time_zone,
            week={
                day: tuple((dt.time.fromisoformat(a), dt.time.fromisoformat(b)) for a, b in hours)
                for day, hours in self.week.items()
            },
            holidays=self.holidays,
            workdays=self.workdays,
        )


def days(*texts: str) -> frozenset[dt.date]:
    return frozenset(dt.date.fromisoformat(text) for text in texts)


OFFICE = [("09:00", "12:00"), ("13:00", "18:00")]
CALENDARS = [
    RawCalendar(
        "Asia/Shanghai",
        {day: OFFICE for day in range(5)},
        holidays=days(
            "2027-02-08", "2027-02-09", "2027-02-10", "2027-02-11", "2027-02-12",
            "2027-05-03", "2027-05-04", "2027-05-05",
            "2027-10-01", "2027-10-04", "2027-10-05", "2027-10-06", "2027-10-07",
        ),
        workdays=days("2027-02-06", "2027-02-20", "2027-04-25", "2027-09-26", "2027-10-09"),
    ),
    # Odd hours, a working Saturday morning, and a time zone with summer time.
    RawCalendar(
        "Europe/Berlin",
        {**{day: [("08:30", "11:45"), ("13:15", "17:30")] for day in range(5)},
         5: [("09:00", "12:00")]},
        holidays=days("2027-04-02", "2027-04-05", "2027-10-01", "2027-12-24"),
        workdays=days("2027-10-10"),
    ),
]  # fmt: skip

# key, response, resolution, warning share, warning lead
LEVELS = [
    ("P1", "PT15M", "PT4H", 0.75, None),
    ("P2", "PT30M", "PT8H", None, "PT1H"),
    ("P3", "PT1H", "P1D", 0.8, None),
    ("P4", "PT2H", "P3D", 0.5, "PT2H"),
    ("odd", "PT50M", "PT10H25M", 0.9, None),
    ("slow", None, "P2DT3H", None, None),
]


# --- the reference ---------------------------------------------------------------------------

ISO = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?$")


def reference_seconds(text: str | None, raw: RawCalendar) -> int | None:
    """An ISO duration in working seconds; a day is the calendar's longest working day."""
    if text is None:
        return None
    match = ISO.match(text)
    assert match, text
    day_minutes = max(
        sum(_minutes(b) - _minutes(a) for a, b in hours) for hours in raw.week.values()
    )
    d, h, m = (int(part or 0) for part in match.groups())
    return d * day_minutes * 60 + h * 3600 + m * 60


def _minutes(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


class Slots:
    """Whether the 15 minutes starting at an instant are working time, read from the raw data."""

    def __init__(self, raw: RawCalendar) -> None:
        self.raw = raw
        self.zone = ZoneInfo(raw.time_zone)
        self.known: dict[int, bool] = {}

    def working(self, start: int) -> bool:
        found = self.known.get(start)
        if found is None:
            local = dt.datetime.fromtimestamp(start, self.zone)
            day = local.date()
            if day in self.raw.holidays:
                hours: list[tuple[str, str]] = []
            elif day in self.raw.workdays:
                hours = self.raw.week.get(day.weekday()) or self.raw.week.get(0) or OFFICE
            else:
                hours = self.raw.week.get(day.weekday(), [])
            minute = local.hour * 60 + local.minute
            found = any(_minutes(a) <= minute and minute + 15 <= _minutes(b) for a, b in hours)
            self.known[start] = found
        return found

    def reach(self, start: int, seconds: int) -> int:
        """Step forward slot by slot until `seconds` of working time have passed."""
        if seconds <= 0:
            return start
        at = start
        while True:
            if self.working(at):
                if seconds <= SLOT:
                    return at + seconds
                seconds -= SLOT
            at += SLOT


@dataclass
class RefTarget:
    name: str
    limit: int | None = None
    warn: int | None = None
    elapsed: int = 0
    paused: int = 0
    stopped: int | None = None
    breached: int | None = None
    warned: int | None = None
    met: int | None = None
    met_due: int | None = None


@dataclass
class Reference:
    raw: RawCalendar
    slots: Slots
    policy: Policy
    opened: bool = False
    on: bool = True
    pausing: bool = False
    level: tuple | None = None
    targets: list[RefTarget] = field(
        default_factory=lambda: [RefTarget("response"), RefTarget("resolution")]
    )

    def set_level(self, level: tuple | None) -> None:
        self.level = level
        for position, target in enumerate(self.targets):
            text = None if level is None else level[1 + position]
            target.limit = reference_seconds(text, self.raw)
            target.warn = None
            if target.limit is not None:
                candidates = []
                if level[3] is not None:  # type: ignore[index]
                    candidates.append(int(target.limit * level[3]))  # type: ignore[index]
                if level[4] is not None:  # type: ignore[index]
                    lead = reference_seconds(level[4], self.raw)  # type: ignore[index]
                    candidates.append(max(0, target.limit - lead))  # type: ignore[operator]
                target.warn = min(candidates) if candidates else None

    def stop(self, target: RefTarget, at: int) -> None:
        if target.stopped is not None:
            return
        target.stopped = at
        used_up = target.limit is not None and target.elapsed > target.limit
        if target.breached is None and used_up:
            target.breached = at
        if target.breached is None:
            target.met = at
            if target.limit is not None:
                target.met_due = self.slots.reach(at, target.limit - target.elapsed)

    def apply(self, kind: str, value: object, at: int) -> None:
        response, resolution = self.targets
        if kind == "opened":
            self.opened = True
        elif kind == "level":
            self.set_level(value)  # type: ignore[arg-type]
        elif kind == "status":
            self.pausing = value in self.policy.pause_statuses
        elif kind == "responded":
            self.stop(response, at)
        elif kind in ("resolved", "closed"):
            self.stop(response, at)
            self.stop(resolution, at)
        elif kind == "reopened" and resolution.stopped is not None:
            if self.policy.restart_on_reopen:
                fresh = RefTarget("resolution", resolution.limit, resolution.warn)
                self.targets[1] = fresh
            else:
                resolution.stopped = resolution.met = resolution.met_due = None
        elif kind == "off":
            self.on = False
        elif kind == "on":
            self.on = True

    def running(self) -> bool:
        return self.opened and self.on and not self.pausing

    def check(self, at: int) -> None:
        if not self.running():
            return
        for target in self.targets:
            if target.stopped is None and target.limit is not None:
                if (
                    target.warn is not None
                    and target.warned is None
                    and target.elapsed >= target.warn
                ):
                    target.warned = at
                if target.breached is None and target.elapsed >= target.limit:
                    target.breached = at

    def slot(self, at: int) -> None:
        if not (self.opened and self.on and self.slots.working(at)):
            return
        for target in self.targets:
            if target.stopped is not None:
                continue
            if self.pausing:
                target.paused += SLOT
                continue
            # Crossed strictly inside this slot; at its end, `check` decides after the events.
            before, after = target.elapsed, target.elapsed + SLOT
            if target.warn is not None and target.warned is None and before < target.warn < after:
                target.warned = at + target.warn - before
            if (
                target.limit is not None
                and target.breached is None
                and before < target.limit < after
            ):
                target.breached = at + target.limit - before
            target.elapsed += SLOT

    def snapshot(self, now: int) -> dict:
        seen: dict = {"fire": []}
        for target in self.targets:
            due = None
            if not (self.opened and self.on) or target.limit is None:
                state = "off"
            elif target.breached is not None:
                state, due = "breached", target.breached
            elif target.stopped is not None:
                state, due = "met", target.met_due
            elif self.pausing:
                state = "paused"
            else:
                state = "running"
                due = self.slots.reach(now, target.limit - target.elapsed)
                if target.warn is not None and target.warned is None:
                    warn_at = self.slots.reach(now, target.warn - target.elapsed)
                    seen["fire"].append((warn_at, target.name, "warning"))
                seen["fire"].append((due, target.name, "breach"))
            seen[target.name] = (
                state, due, target.elapsed, target.paused, target.breached, target.warned,
                target.met, target.stopped,
            )  # fmt: skip
        seen["fire"].sort(key=lambda item: item[0])
        return seen


def reference_run(
    raw: RawCalendar, slots: Slots, policy: Policy, events: list[tuple[int, str, object]],
    nows: list[int],
) -> dict[int, dict]:  # fmt: skip
    reference = Reference(raw, slots, policy)
    seen: dict[int, dict] = {}
    at, next_event, next_now = events[0][0], 0, 0
    while next_now < len(nows):
        while next_event < len(events) and events[next_event][0] == at:
            _, kind, value = events[next_event]
            reference.apply(kind, value, at)
            next_event += 1
        reference.check(at)
        while next_now < len(nows) and nows[next_now] == at:
            seen[at] = reference.snapshot(at)
            next_now += 1
        reference.slot(at)
        at += SLOT
    return seen


# --- the engine's view of the same record ----------------------------------------------------


def engine_event(at: int, kind: str, value: object) -> Event:
    moment = dt.datetime.fromtimestamp(at, dt.UTC)
    if kind == "level":
        level = value
        return LevelSet(moment, None if level is None else Level.of(*level))  # type: ignore[misc]
    if kind == "status":
        return StatusChanged(moment, value)  # type: ignore[arg-type]
    simple = {"opened": Opened, "responded": Responded, "resolved": Resolved,
              "reopened": Reopened, "closed": Closed, "off": SlaOff, "on": SlaOn}  # fmt: skip
    return simple[kind](moment)  # type: ignore[abstract]


def epoch(moment: dt.datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp())


def engine_view(clock: object) -> dict:
    seen: dict = {
        "fire": [(epoch(f.at), f.target, f.kind) for f in clock.fire]  # type: ignore[attr-defined]
    }
    for target in clock.targets:  # type: ignore[attr-defined]
        seen[target.name] = (
            target.state, epoch(target.due_at), target.elapsed, target.paused,
            epoch(target.breached_at), epoch(target.warning_at), epoch(target.met_at),
            epoch(target.stopped_at),
        )  # fmt: skip
    return seen


# --- random records --------------------------------------------------------------------------

KINDS = ["status"] * 6 + ["level"] * 2 + ["responded"] * 2 + ["resolved"] * 2
KINDS += ["reopened"] * 2 + ["closed", "off", "on"]
GAPS = [0, 0, 1, 1, 2, 3, 4, 6, 8, 12, 16, 24, 40, 64, 96, 200, 400]


def random_record(rng: random.Random) -> tuple[list[tuple[int, str, object]], list[int]]:
    start = int(YEAR_START.timestamp()) + rng.randrange(0, 350 * 96) * SLOT
    events: list[tuple[int, str, object]] = [(start, "opened", None)]
    if rng.random() < 0.85:
        events.append((start + rng.choice([0, 0, 0, 1, 4]) * SLOT, "level", rng.choice(LEVELS)))
    at = events[-1][0]
    for _ in range(rng.randrange(3, 24)):
        at += rng.choice(GAPS) * SLOT
        kind = rng.choice(KINDS)
        value: object = None
        if kind == "status":
            value = rng.choice(PAUSING + WORKING + WORKING)
        elif kind == "level":
            value = rng.choice([*LEVELS, None]) if rng.random() < 0.9 else None
        events.append((at, kind, value))
    end = at + rng.choice([1, 8, 96, 400]) * SLOT
    nows = sorted(
        {start + rng.randrange(0, (end - start) // SLOT + 1) * SLOT for _ in range(14)}
        | {rng.choice(events)[0] for _ in range(4)}
        | {end}
    )
    return events, nows


def test_a_year_of_random_records_matches_the_reference() -> None:
    rng = random.Random(SEED)
    built = [(raw, raw.build(), Slots(raw)) for raw in CALENDARS]
    compared = mismatches = 0
    states: set[str] = set()
    first_problem = None
    for record in range(RECORDS):
        raw, calendar, slots = built[record % len(built)]
        policy = Policy(
            pause_statuses=frozenset(rng.sample(PAUSING, rng.choice([1, 2]))),
            restart_on_reopen=rng.random() < 0.3,
        )
        events, nows = random_record(rng)
        expected = reference_run(raw, slots, policy, events, nows)
        history = [engine_event(*event) for event in events]
        for now in nows:
            got = engine_view(
                compute_clock(history, calendar, dt.datetime.fromtimestamp(now, dt.UTC), policy)
            )
            compared += 1
            states.update(got[name][0] for name in ("response", "resolution"))
            if got != expected[now]:
                mismatches += 1
                if first_problem is None:
                    first_problem = (record, raw.time_zone, policy, events, now, got, expected[now])
    assert first_problem is None, f"{mismatches} of {compared} differ; first: {first_problem}"
    assert states == {"running", "paused", "met", "breached", "off"}
    assert compared > 30_000
