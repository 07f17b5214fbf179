"""One SLA state per incident, from the kernel's stored clock (`sla_clock`), for lists,
filters and GraphQL.

A clock has two targets (response, resolution); people filtering a list want one word per
incident, the most pressing: breached (a target missed, or running past its due time the
scan has not recomputed yet), warning (running past its warning time), running, paused,
met. The same rules exist twice — as SQL conditions for filters (an EXISTS on the clock's
unique `(record_kind, record_id)` index) and in Python for rows already loaded — and the
tests check that they agree.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, exists, false, not_, or_, select
from sqlalchemy.orm import Session

from openitsm.kernel.db import utcnow
from openitsm.kernel.sla.models import SlaClock
from openitsm.plugins.incident.models import Incident

KIND = "incident"
TARGETS = ("response", "resolution")
# Most pressing first: an incident is in the first state whose condition holds.
STATES = ("breached", "warning", "running", "paused", "met")
RANKS = {"breached": 0, "paused": 3, "met": 4}  # a running target ranks by its times
# The field an SLA state reveals (it follows the status); hidden status, no SLA.
FIELD = "status"


def _breached(target: str, now: dt.datetime) -> ColumnElement[bool]:
    state = getattr(SlaClock, f"{target}_state")
    due = getattr(SlaClock, f"{target}_due_at")
    return or_(state == "breached", and_(state == "running", due.is_not(None), due <= now))


def _warned(target: str, now: dt.datetime) -> ColumnElement[bool]:
    state = getattr(SlaClock, f"{target}_state")
    warning = getattr(SlaClock, f"{target}_warning_at")
    return and_(state == "running", warning.is_not(None), warning <= now)


def _any_state(value: str) -> ColumnElement[bool]:
    return or_(*(getattr(SlaClock, f"{target}_state") == value for target in TARGETS))


def clock_condition(state: str, now: dt.datetime) -> ColumnElement[bool]:
    """The condition on `sla_clock` under which an incident's SLA state is `state`."""
    found = {
        "breached": or_(*(_breached(t, now) for t in TARGETS)),
        "warning": or_(*(_warned(t, now) for t in TARGETS)),
        "running": _any_state("running"),
        "paused": _any_state("paused"),
        "met": _any_state("met"),
    }
    condition: ColumnElement[bool] = found[state]
    for earlier in STATES[: STATES.index(state)]:
        condition = and_(condition, not_(found[earlier]))
    return condition


def incident_condition(
    states: Iterable[str], now: dt.datetime | None = None
) -> ColumnElement[bool]:
    """Incidents whose SLA state is one of `states`: an EXISTS on their stored clock."""
    now = now or utcnow()
    wanted = [s for s in STATES if s in set(states)]
    if not wanted:
        return false()
    return exists().where(
        SlaClock.record_kind == KIND,
        SlaClock.record_id == Incident.id,
        or_(*(clock_condition(s, now) for s in wanted)),
    )


@dataclass(frozen=True)
class SlaSummary:
    """An incident's SLA in one word, with the due time of the target that decided it
    (`remaining` business seconds for a paused one, which has no due time)."""

    state: str
    target: str
    due_at: dt.datetime | None
    remaining: int | None


def summarise(row: SlaClock | None, now: dt.datetime | None = None) -> SlaSummary | None:
    """The SLA state of a stored clock, by the rules of `clock_condition`; None for no
    clock or one with both targets off."""
    if row is None:
        return None
    now = now or utcnow()
    best: tuple[int, bool, dt.datetime, int] | None = None
    for order, target in enumerate(TARGETS):
        state = getattr(row, f"{target}_state")
        due = getattr(row, f"{target}_due_at")
        if state == "running":
            warning = getattr(row, f"{target}_warning_at")
            if due is not None and due <= now:
                rank = 0  # breached
            elif warning is not None and warning <= now:
                rank = 1  # warning
            else:
                rank = 2
        elif state in RANKS:
            rank = RANKS[state]
        else:
            continue
        # The most pressing state first; of the targets in it, the one due first.
        candidate = (rank, due is None, due or now, order)
        if best is None or candidate < best:
            best = candidate
    if best is None:
        return None
    target = TARGETS[best[3]]
    return SlaSummary(
        STATES[best[0]],
        target,
        getattr(row, f"{target}_due_at"),
        getattr(row, f"{target}_remaining"),
    )
    now = now or utcnow()

    def value(target: str, name: str) -> object:
        return getattr(row, f"{target}_{name}")

    def breached(target: str) -> bool:
        state, due = value(target, "state"), value(target, "due_at")
        return state == "breached" or (state == "running" and due is not None and due <= now)  # type: ignore[operator]

    def warned(target: str) -> bool:
        warning = value(target, "warning_at")
        return value(target, "state") == "running" and warning is not None and warning <= now  # type: ignore[operator]

    tests = {
        "breached": breached,
        "warning": warned,
        "running": lambda t: value(t, "state") == "running",
        "paused": lambda t: value(t, "state") == "paused",
        "met": lambda t: value(t, "state") == "met",
    }
    for state in STATES:
        hits = [t for t in TARGETS if tests[state](t)]
        if hits:
            # Of the targets in this state, the one due first decides what is shown.
            target = min(
                hits,
                key=lambda t: (value(t, "due_at") is None, value(t, "due_at") or now),  # type: ignore[arg-type, return-value]
            )
            return SlaSummary(
                state,
                target,
                value(target, "due_at"),  # type: ignore[arg-type]
                value(target, "remaining"),  # type: ignore[arg-type]
            )
    return None


def clocks_of(session: Session, incident_ids: Iterable[int]) -> dict[int, SlaClock]:
    """The stored clocks of some incidents by id: one query, whatever their number."""
    ids = sorted(set(incident_ids))
    if not ids:
        return {}
    rows = session.scalars(
        select(SlaClock).where(SlaClock.record_kind == KIND, SlaClock.record_id.in_(ids))
    )
    return {row.record_id: row for row in rows}


SUMMARY_COLUMNS = tuple(
    getattr(SlaClock, f"{target}_{name}")
    for target in TARGETS
    for name in ("state", "due_at", "warning_at", "remaining")
)


def summaries_of(
    session: Session, incident_ids: Iterable[int], now: dt.datetime | None = None
) -> dict[int, SlaSummary | None]:
    """`summarise` for some incidents by id, reading only the columns it needs (a list
    shows a page of them; whole clock rows cost several times as much to load)."""
    ids = sorted(set(incident_ids))
    if not ids:
        return {}
    now = now or utcnow()
    rows = session.execute(
        select(SlaClock.record_id, *SUMMARY_COLUMNS).where(
            SlaClock.record_kind == KIND, SlaClock.record_id.in_(ids)
        )
    )
    return {row.record_id: summarise(row, now) for row in rows}  # type: ignore[arg-type]
