"""SLA clocks: response and resolution targets in business time, derived from history.

The clock of a record is never stored and never updated step by step: it is computed from
the record's SLA-relevant events (`compute_clock`), so a change of calendar, level or status
rules is applied by recomputing, and the answer is the same whenever it is computed.

    from openitsm.kernel.sla import Level, Opened, LevelSet, Policy, compute_clock

    p2 = Level.of("P2", response="PT1H", resolution="P1D", warning_share=0.8)
    clock = compute_clock([Opened(t0), LevelSet(t0, p2)], calendar, now,
                          Policy(pause_statuses=frozenset({"waiting_for_customer"})))
    clock.resolution.state, clock.resolution.due_at, clock.fire

The rules (docs/sla.md has them with examples):

- The clock counts working time on the calendar only, and only while the record is open,
  the SLA is on, the status does not pause it and the target has not stopped.
- A pause stops the clock; a resume continues from where it stopped. Paused working time is
  reported (`paused`) and never counted; no breach can happen while paused, so a due time
  inside a pause moves by the pause.
- A level change re-bases: the elapsed time is kept and measured against the new level's
  targets (due when the elapsed time reaches the new target). If it already has, the target
  is breached at the change (or, during a pause, when the pause ends).
- Resolving (or closing) stops both clocks; the resolution target is met when resolved at or
  before its due time, else breached at the due instant. The response target is met by the
  first response, or by the resolution if there was none.
- Reopening resumes the resolution clock with the elapsed time it had when resolved: the time
  in between does not count, so a reopen breaches at once only if the target was already used
  up. With `Policy(restart_on_reopen=True)` it starts again from zero, as a fresh target.
- Switching the SLA off stops everything: both targets are `off`, with no due time and
  nothing to fire. Switching it on continues where it stopped.
- Breaches and warnings are facts of history: a later level change or resolution does not
  take them back.

`compute_clock` returns the moments the engine must schedule (`Clock.fire`): the warning and
the breach of every running target. `pick_level` picks a level from the SLA matrix.

The service around it (levels, the matrix, records' stored clocks, the timer scan) is in
`openitsm.kernel.sla.service` and `openitsm.kernel.sla.clocks`; modules declare a record
kind's SLA with an `SlaSubject` from `register_sla_subjects`.
"""

from openitsm.kernel.sla.clock import (
    RESOLUTION,
    RESPONSE,
    CalendarChanged,
    Clock,
    Closed,
    Event,
    Firing,
    Level,
    LevelSet,
    Opened,
    Policy,
    Reopened,
    Resolved,
    Responded,
    SlaOff,
    SlaOn,
    State,
    StatusChanged,
    TargetClock,
    compute_clock,
)
from openitsm.kernel.sla.matrix import ANY, DIMENSIONS, LevelRule, pick_level
from openitsm.kernel.sla.subjects import SlaEvent, SlaSubject, sla_subjects
from openitsm.kernel.sla.timeline import BusinessTime, business_time

__all__ = [
    "ANY",
    "DIMENSIONS",
    "RESOLUTION",
    "RESPONSE",
    "BusinessTime",
    "CalendarChanged",
    "Clock",
    "Closed",
    "Event",
    "Firing",
    "Level",
    "LevelRule",
    "LevelSet",
    "Opened",
    "Policy",
    "Reopened",
    "Resolved",
    "Responded",
    "SlaEvent",
    "SlaOff",
    "SlaOn",
    "SlaSubject",
    "State",
    "StatusChanged",
    "TargetClock",
    "business_time",
    "compute_clock",
    "pick_level",
    "sla_subjects",
]
