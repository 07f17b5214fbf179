"""A record's SLA clock for its page header: the `Deadline`s `openitsm.web.records` draws.

header = RecordHeader(..., deadline=sla_deadline(session, RecordRef("incident", 42),
                                                 page.gettext))
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from openitsm.kernel.db import utcnow
from openitsm.kernel.errors import _t
from openitsm.kernel.references import RecordRef
from openitsm.kernel.sla.models import SlaClock
from openitsm.web.records import Deadline

LABELS = {"response": _t("Respond by"), "resolution": _t("Resolve by")}
SHOWN = ("running", "paused", "breached")
# A record's clock, built once (see `openitsm.web.statements`).
_CLOCK = select(SlaClock).where(
    SlaClock.record_kind == bindparam("record_kind"), SlaClock.record_id == bindparam("record_id")
)


def deadlines_of(
    row: SlaClock | None,
    gettext: Callable[[str], str] = str,
    now: dt.datetime | None = None,
) -> list[Deadline]:
    """The targets of a stored clock still worth showing (running, paused or breached), in
    order; met and switched-off ones are left out. A paused target shows what was left."""
    if row is None:
        return []
    now = now or utcnow()
    found = []
    for name in ("response", "resolution"):
        state = getattr(row, f"{name}_state")
        if state not in SHOWN:
            continue
        due = getattr(row, f"{name}_due_at")
        warning = getattr(row, f"{name}_warning_at")
        remaining = getattr(row, f"{name}_remaining")
        paused = state == "paused"
        if paused:
            # No due time while paused: show what is left, frozen.
            due = now + dt.timedelta(seconds=remaining or 0)
        if due is None:
            continue
        lead = due - warning if warning is not None and warning <= due else dt.timedelta(hours=1)
        found.append(
            Deadline(
                due_at=due,
                label=gettext(LABELS[name]),
                paused=paused,
                breached_at=getattr(row, f"{name}_breached_at"),
                warning_before=lead,
                paused_at=now if paused else None,
            )
        )
    return found


def sla_deadlines(
    session: Session, ref: RecordRef, gettext: Callable[[str], str] = str
) -> list[Deadline]:
    """The `Deadline`s of a record's stored SLA clock; none when it has no clock. The caller
    has already checked that the viewer may see the record."""
    row = session.scalar(_CLOCK, {"record_kind": ref.kind, "record_id": ref.id})
    return deadlines_of(row, gettext)


def sla_deadline(
    session: Session, ref: RecordRef, gettext: Callable[[str], str] = str
) -> Deadline | None:
    """The most pressing target of a record's SLA clock (the one due first), for
    `RecordHeader.deadline`; None when nothing is running, paused or breached."""
    found = sla_deadlines(session, ref, gettext)
    return min(found, key=lambda deadline: deadline.due_at) if found else None
