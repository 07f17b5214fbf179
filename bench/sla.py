"""Cost of the SLA clock: one record's clock from 20 events, and 100,000 of them.

Targets (pure computation, CPU time of this process, no database):
- computing the clock of a typical record with 20 events costs well under 1 ms;
- recomputing 100,000 open records after a calendar change (a new calendar object, so the
  working-time index starts empty) takes < 60 s.

    python -m bench.sla [--records 100000] [--events 20] [--rounds 2000] [--profile]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import time
from typing import Any

from bench import _common as c

ONE_TARGET_MS = 1.0
ALL_TARGET_S = 60.0
WAITING = "waiting_for_customer"


def calendar() -> Any:
    """The standard office week with a year of Chinese public holidays and make-up days."""
    from openitsm.kernel.calendar import BusinessCalendar

    holidays = [dt.date(2027, 1, 1), *(dt.date(2027, 2, d) for d in range(8, 13))]
    holidays += [dt.date(2027, 4, 5), *(dt.date(2027, 5, d) for d in range(3, 6))]
    holidays += [dt.date(2027, 6, 14), dt.date(2027, 9, 15)]
    holidays += [dt.date(2027, 10, d) for d in range(1, 8) if dt.date(2027, 10, d).weekday() < 5]
    workdays = [dt.date(2027, 2, 6), dt.date(2027, 2, 20), dt.date(2027, 4, 25)]
    workdays += [dt.date(2027, 9, 26), dt.date(2027, 10, 9)]
    return BusinessCalendar.standard(holidays=holidays, workdays=workdays)


def record(rng: random.Random, count: int) -> tuple[list[Any], dt.datetime]:
    """A record's history of `count` events over a few days to weeks of 2027, and a `now`
    after it: opened with a level, a response, pauses for the customer, a level change,
    comments that change no SLA state, a resolution, a reopen, a second resolution."""
    from openitsm.kernel.sla import (
        Level,
        LevelSet,
        Opened,
        Reopened,
        Resolved,
        Responded,
        StatusChanged,
    )

    levels = [
        Level.of("P1", "PT30M", "PT4H", warning_share=0.75),
        Level.of("P2", "PT1H", "PT8H", warning_share=0.8),
        Level.of("P3", "PT4H", "P3D", warning_lead="PT2H"),
    ]
    at = dt.datetime(2027, 1, 4, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=rng.randrange(525_000))

    def later(most_minutes: int) -> dt.datetime:
        nonlocal at
        at += dt.timedelta(minutes=rng.randrange(1, most_minutes))
        return at

    events: list[Any] = [Opened(at), LevelSet(at, rng.choice(levels)), Responded(later(90))]
    middle = count - len(events) - 4
    for n in range(middle):
        if n == middle // 2:
            events.append(LevelSet(later(240), rng.choice(levels)))
        else:
            status = WAITING if n % 2 == 0 else "in_progress"
            events.append(StatusChanged(later(600), status))
    events += [Resolved(later(600)), Reopened(later(2000)), Resolved(later(600))]
    events.append(StatusChanged(later(60), "resolved"))
    return events, later(3000)


def measure_one(records: list[tuple[list[Any], dt.datetime]], rounds: int) -> float:
    """Median CPU time of one computation, in ms, over batches of the same records."""
    from openitsm.kernel.sla import Policy, compute_clock

    policy = Policy(pause_statuses=frozenset({WAITING}))
    cal = calendar()
    for events, now in records:  # index the year once, as a long-running worker would
        compute_clock(events, cal, now, policy)
    batches = []
    for _ in range(max(1, rounds // len(records))):
        began = time.process_time()
        for events, now in records:
            compute_clock(events, cal, now, policy)
        batches.append((time.process_time() - began) / len(records))
    return statistics.median(batches) * 1000


def measure_all(records: list[tuple[list[Any], dt.datetime]]) -> tuple[float, float, int]:
    """(CPU s, wall s, breached) for every record on a calendar nobody has indexed yet."""
    from openitsm.kernel.sla import Policy, compute_clock

    policy = Policy(pause_statuses=frozenset({WAITING}))
    cal = calendar()  # a new object: what `calendar_for` hands out after a change
    breached = 0
    cpu, wall = time.process_time(), time.perf_counter()
    for events, now in records:
        if compute_clock(events, cal, now, policy).resolution.state == "breached":
            breached += 1
    return time.process_time() - cpu, time.perf_counter() - wall, breached


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000, help="Records recomputed.")
    parser.add_argument("--events", type=int, default=20, help="Events per record.")
    parser.add_argument("--rounds", type=int, default=20_000, help="Computations timed one by one.")
    parser.add_argument("--profile", action="store_true", help="cProfile 2,000 computations.")
    args = parser.parse_args(argv)
    print(f"machine: {c.machine()}")
    if note := c.busy_note():
        print(note)
    rng = random.Random(20270101)
    records = [record(rng, args.events) for _ in range(args.records)]
    if args.profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.enable()
        measure_one(records[:200], 2_000)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    one_ms = measure_one(records[:1_000], args.rounds)
    all_cpu, all_wall, breached = measure_all(records)
    print(f"one clock, {args.events} events: {one_ms * 1000:7.1f} µs CPU (median of batches)")
    print(
        f"{args.records} clocks recomputed on a fresh calendar: {all_cpu:6.2f} s CPU  "
        f"{all_wall:6.2f} s wall  ({breached} resolution targets breached)"
    )
    met = {
        "one clock well under 1 ms": one_ms < ONE_TARGET_MS / 4,
        f"{args.records:,} recomputed < 60 s": all_wall < ALL_TARGET_S,
    }
    for name, ok in met.items():
        print(f"  {name}: {'met' if ok else 'MISSED'}")
    return 0 if all(met.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
