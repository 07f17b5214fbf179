"""SLA clocks for seeded records.

A running record's clock (`RunningClocks`) is computed exactly as the SLA service computes
it, from history the module hands over in memory instead of reading it back from
`audit_event`. A record that stopped long ago gets its final clock from `FinishedClocks`: the
business time between opening and response or resolution on its calendar, against its
level's targets, ignoring pauses (replaying every finished record's history would cost more
than the rest of the seed; their clocks never run again, and a recompute skips them).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session

from openitsm.kernel.benchseed.site import BenchSite
from openitsm.kernel.sla.clock import Policy, compute_clock
from openitsm.kernel.sla.clocks import SENT, HistoryRow, _Calendars, _values, events_of
from openitsm.kernel.sla.models import SlaClock
from openitsm.kernel.sla.service import levels_by_key
from openitsm.kernel.sla.subjects import sla_subjects
from openitsm.kernel.sla.timeline import BusinessTime, business_time

__all__ = ["FinishedClocks", "HistoryRow", "RunningClocks", "write_clocks"]

TARGETS = ("response", "resolution")
COLUMNS = (
    "record_kind",
    "record_id",
    "level",
    *(
        f"{target}_{name}"
        for target in TARGETS
        for name in (
            "state",
            "due_at",
            "warning_at",
            "breached_at",
            "remaining",
            "warning_sent",
            "breach_sent",
        )
    ),
    "next_fire_at",
    "computed_at",
)


def write_clocks(site: BenchSite, kind: str, histories: Mapping[int, Sequence[HistoryRow]]) -> int:
    """Compute and write the `sla_clock` rows of running records `kind` (see
    `RunningClocks`); returns the number of clocks written."""
    if not histories:
        return 0
    return RunningClocks(site, kind).write(histories)


class RunningClocks:
    """`sla_clock` rows of records of `kind` whose clocks still run: `rows` computes them
    from the records' SLA history (creation and the changes of tracked fields, in order, as
    `HistoryRow`s), `write` writes them. Levels and calendars are read once, when it is
    made, so `rows` needs no database and may run in another process.

    A warning or breach already behind `site.now` counts as told, as it would have been on
    a live site, so the first SLA scan after the seed does not announce years of them at
    once."""

    def __init__(self, site: BenchSite, kind: str) -> None:
        self.site, self.kind = site, kind
        self.subject = sla_subjects(site.kernel).get(kind)
        self.levels: dict[str, Any] = {}
        self.keys: dict[int, str] = {}
        self.calendars: dict[str | None, Any] = {}
        if self.subject is None:
            return
        if not site.connection.in_transaction():
            site.connection.begin()
        with Session(bind=site.connection) as session:
            self.levels = levels_by_key(session)
            known = _Calendars(session, fresh=True)
            known.key_of(0)  # reads the calendar key of every unit that has one
            self.keys = dict(known.keys or {})
            for key in (None, *sorted(set(self.keys.values()))):
                self.calendars[key] = known.get(key)
        self.policy = Policy(self.subject.pause_statuses, self.subject.restart_on_reopen)
        self.computed = site.timestamp(site.epoch(site.now))
        self.stamp = site.timestamp_function()

    def calendar_of(self, unit_id: Any) -> tuple[str | None, Any]:
        """The calendar key and calendar of a service unit, as `_Calendars` gives them."""
        key = None
        if unit_id is not None:
            try:
                key = self.keys.get(int(unit_id))
            except (TypeError, ValueError):
                key = None
        return key, self.calendars[key]

    def rows(self, histories: Mapping[int, Sequence[HistoryRow]]) -> list[tuple[Any, ...]]:
        subject = self.subject
        if subject is None:
            return []
        now = self.site.now
        rows = []
        for record_id, history in histories.items():
            built = events_of(subject, history, self.levels, self.calendar_of)
            if built is None:
                continue
            clock = compute_clock(built[1], built[0], now, self.policy)
            sent = {}
            for target in clock.targets:
                warned = target.warning_at is not None and target.warning_at <= now
                sent[f"{target.name}_warning_sent"] = warned or target.breached_at is not None
                sent[f"{target.name}_breach_sent"] = target.breached_at is not None
            values = {**sent, **_values(clock, sent)}
            rows.append(_row(self.site, self.stamp, self.kind, record_id, values, self.computed))
        return rows

    def write(self, histories: Mapping[int, Sequence[HistoryRow]]) -> int:
        rows = self.rows(histories)
        self.site.insert(SlaClock.__table__, COLUMNS, rows)  # type: ignore[arg-type]
        return len(rows)


def _row(
    site: BenchSite,
    stamp: Callable[[float], Any],
    kind: str,
    record_id: int,
    values: Mapping[str, Any],
    computed: Any,
) -> tuple[Any, ...]:
    row: list[Any] = [kind, record_id]
    for name in COLUMNS[2:-1]:
        value = values.get(name)
        if isinstance(value, dt.datetime):
            value = stamp(site.epoch(value))
        elif name in SENT:
            value = site.flag(bool(value))
        row.append(value)
    row.append(computed)
    return tuple(row)


class FinishedClocks:
    """Final `sla_clock` rows of records of `kind` that were resolved or closed: `row` for
    each, `write` for a batch of them."""

    def __init__(self, site: BenchSite, kind: str) -> None:
        self.site, self.kind = site, kind
        self.enabled = kind in sla_subjects(site.kernel)
        if not site.connection.in_transaction():
            site.connection.begin()
        with Session(bind=site.connection) as session:
            known = _Calendars(session, fresh=True)
            self.times: dict[int | None, BusinessTime] = {}
            default = business_time(known.get(None))
            self.default = default
            for unit in site.service_units:
                self.times[unit] = business_time(known.get(known.key_of(unit)))
            day = default.day_seconds
            self.targets: dict[str | None, tuple[tuple[int | None, int | None], ...]] = {}
            for key, level in levels_by_key(session).items():
                pairs: list[tuple[int | None, int | None]] = []
                for target in TARGETS:
                    duration = getattr(level, target)
                    if duration is None:
                        pairs.append((None, None))
                        continue
                    breach = duration.in_seconds(day)
                    warns: list[int] = []
                    if level.warning_share is not None:
                        warns.append(int(breach * level.warning_share))
                    if level.warning_lead is not None:
                        warns.append(max(0, breach - level.warning_lead.in_seconds(day)))
                    pairs.append((breach, min(warns) if warns else None))
                self.targets[key] = tuple(pairs)
        self.computed = site.timestamp(site.epoch(site.now))
        self.stamp = site.timestamp_function()
        self.true, self.false = site.flag(True), site.flag(False)

    def row(
        self,
        record_id: int,
        level: str | None,
        unit: int | None,
        opened: float,
        responded: float | None,
        resolved: float,
    ) -> tuple[Any, ...] | None:
        """The clock of a record opened at `opened` (epoch seconds), first responded to at
        `responded` (None: never, the clock stopped at `resolved`) and resolved or closed at
        `resolved`; None when its kind is not on the SLA."""
        if not self.enabled:
            return None
        time = self.times.get(unit, self.default)
        start = int(opened)
        begun = time.worked(start)
        row: list[Any] = [self.kind, record_id, level]
        targets = self.targets.get(level, ((None, None), (None, None)))
        for (breach, warn), stop in zip(targets, (responded or resolved, resolved), strict=True):
            if breach is None:
                row += ["off", None, None, None, None, self.false, self.false]
                continue
            elapsed = time.worked(int(stop)) - begun
            due = self.stamp(time.reach(start, breach))
            breached = elapsed > breach
            # When the warning fell is left out: nobody reads it on a stopped clock.
            warned = breached or (warn is not None and elapsed >= warn)
            row += [
                "breached" if breached else "met",
                due,
                None,
                due if breached else None,
                breach - elapsed,
                self.true if warned else self.false,
                self.true if breached else self.false,
            ]
        row += [None, self.computed]
        return tuple(row)

    def write(self, rows: Sequence[tuple[Any, ...] | None]) -> int:
        found = [row for row in rows if row is not None]
        self.site.insert(SlaClock.__table__, COLUMNS, found)  # type: ignore[arg-type]
        return len(found)
