"""Step deadlines from the SLA: `itsm:deadline="sla:response"` or `"sla:resolution"`.

Such a step is due when the SLA clock of the record its instance drives says the target is
due (`sla_clock`), and its assignee is reminded when the clock's warning falls. While the
record has no clock, or the target is met, paused or off (no due time), the step counts on
`itsm:deadlineFallback` from when it opened, else it has no deadline.

The clock changes after the step opened (a level change, a pause, a resume, a new calendar),
so every recompute of clocks ends with `follow_clocks`: one UPDATE moving the due and
reminder times of the open SLA steps of the recomputed records. Only steps that use an SLA
deadline ever read `sla_clock`; a fixed deadline costs what it always did.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, and_, bindparam, case, func, select, update
from sqlalchemy.orm import Session

from openitsm.kernel.sla.models import SlaClock
from openitsm.kernel.workflow.models import OPEN, ProcessInstance, WorkItem

# Target states whose `due_at` is a deadline: running, or breached (the step is late too).
# Met (its due time is only "when it would have been"), paused and off have none.
DUE_STATES = ("running", "breached")


def opening_times(
    session: Session,
    instance: ProcessInstance,
    target: str,
    fallback: tuple[dt.datetime | None, dt.datetime | None],
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """(due, remind) for an SLA step opening now: the clock's due time and warning for
    `target`, else `fallback` (the fallback duration's times, or none)."""
    if instance.record_kind is None or instance.record_id is None:
        return fallback
    row = session.execute(
        _target_times(target), {"kind": instance.record_kind, "id": instance.record_id}
    ).first()
    if row is None or row[0] not in DUE_STATES or row[1] is None:
        return fallback
    return row[1], (row[2] if row[0] == "running" else None)


@functools.cache
def _target_times(target: str) -> Select[Any]:
    """A record's clock's state, due time and warning for `target`, built once per target:
    every SLA step that opens reads it."""
    return select(
        getattr(SlaClock, f"{target}_state"),
        getattr(SlaClock, f"{target}_due_at"),
        getattr(SlaClock, f"{target}_warning_at"),
    ).where(SlaClock.record_kind == bindparam("kind"), SlaClock.record_id == bindparam("id"))


def _clock_value(name: str) -> Any:
    """The open item's SLA target's `name` (`due_at` / `warning_at`) from its record's clock,
    as a correlated subquery; NULL without a clock or while the target has no due time (a
    warning only while it runs)."""
    states = DUE_STATES if name == "due_at" else ("running",)

    def of(target: str) -> Any:
        return case(
            (
                getattr(SlaClock, f"{target}_state").in_(states),
                getattr(SlaClock, f"{target}_{name}"),
            )
        )

    value = case((WorkItem.sla_target == "response", of("response")), else_=of("resolution"))
    return (
        select(value)
        .where(
            ProcessInstance.id == WorkItem.instance_id,
            SlaClock.record_kind == ProcessInstance.record_kind,
            SlaClock.record_id == ProcessInstance.record_id,
        )
        .correlate(WorkItem)
        .scalar_subquery()
    )


def follow_clocks(session: Session, kind: str, record_ids: Iterable[int]) -> int:
    """Move the due and reminder times of the open SLA steps of records `kind`/`record_ids`
    to their (just recomputed) clocks, with one UPDATE; returns how many items it touched.

    Idempotent: it sets the times from the stored clock, whatever they were. A reminder
    already sent (no `remind_at` left while a due time is set) is not sent again; an
    escalation already made stays made."""
    wanted = sorted(set(record_ids))
    if not wanted:
        return 0
    clock_due = _clock_value("due_at")
    clock_warning = _clock_value("warning_at")
    reminded = and_(WorkItem.remind_at.is_(None), WorkItem.due_at.is_not(None))
    instances = select(ProcessInstance.id).where(
        ProcessInstance.record_kind == kind, ProcessInstance.record_id.in_(wanted)
    )
    result = session.execute(
        update(WorkItem)
        .where(
            WorkItem.state == OPEN,
            WorkItem.sla_target.is_not(None),
            WorkItem.instance_id.in_(instances.scalar_subquery()),
        )
        .values(
            due_at=func.coalesce(clock_due, WorkItem.fallback_due_at),
            remind_at=case(
                (reminded, None),
                (clock_due.is_not(None), clock_warning),
                else_=WorkItem.fallback_remind_at,
            ),
        )
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
