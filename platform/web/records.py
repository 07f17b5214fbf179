"""What a record page's header shows: title, number, state, badges and the SLA clock.

A module fills a `RecordHeader` in its handler and draws it with `record_header` from
`records/macros.html`. The clock's remaining time is computed here, at render, from the
`Deadline` the SLA engine gives (its `due_at` is already in business terms: working hours
and holidays are the engine's business); `static/records.js` keeps counting it down.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from openitsm.kernel.access.fields import FieldAccess
from openitsm.kernel.actors import Actor
from openitsm.kernel.db.base import utcnow
from openitsm.kernel.references import RecordKinds, RecordRef, RecordSummary
from openitsm.web.pages import PageContext

TONES = ("neutral", "info", "success", "warning", "danger")


@dataclass(frozen=True)
class Deadline:
    """A target the record must meet (respond by, resolve by).

    `paused` freezes the clock (waiting for the customer): it then shows the time that was
    left when it stopped (`due_at - paused_at`), or, without `paused_at`, what is left now.
    `breached_at` marks a target already missed, whatever `due_at` says now.
    """

    due_at: dt.datetime
    label: str = ""
    paused: bool = False
    breached_at: dt.datetime | None = None
    warning_before: dt.timedelta = dt.timedelta(hours=1)
    paused_at: dt.datetime | None = None

    def clock(self, now: dt.datetime | None = None) -> Clock:
        now = now or utcnow()
        if self.paused:
            left = self.due_at - (self.paused_at or now)
            state = "paused"
        else:
            left = self.due_at - now
            if self.breached_at is not None or left <= dt.timedelta(0):
                state = "breached"
            elif left <= self.warning_before:
                state = "warning"
            else:
                state = "ok"
        return Clock(
            state=state,
            due_at=self.due_at,
            seconds=int(abs(left.total_seconds())),
            overdue=left < dt.timedelta(0),
            paused=self.paused,
            warning_seconds=int(self.warning_before.total_seconds()),
            label=self.label,
        )


@dataclass(frozen=True)
class Clock:
    """A deadline as drawn: `state` is ok, warning, breached or paused; `seconds` how far
    from the due time (left, or past when `overdue`)."""

    state: str
    due_at: dt.datetime
    seconds: int
    overdue: bool
    paused: bool
    warning_seconds: int
    label: str = ""


@dataclass(frozen=True)
class RecordHeader:
    """The top of a record page. `state_tone` is one of `TONES`."""

    title: str
    number: str | None = None
    state_label: str | None = None
    state_tone: str = "neutral"
    deadline: Deadline | None = None
    badges: Sequence[str] = field(default_factory=tuple)

    def clock(self, now: dt.datetime | None = None) -> Clock | None:
        return self.deadline.clock(now) if self.deadline is not None else None


def related_groups(
    session: Session,
    kinds: RecordKinds,
    groups: Mapping[str, Iterable[RecordRef]],
    actor: Actor,
) -> list[tuple[str, list[RecordSummary]]]:
    """Labelled groups of related records as the viewer may see them, for `related`: one
    query per kind for all groups; records the viewer may not see are left out."""
    listed = {label: list(refs) for label, refs in groups.items()}
    wanted = {ref for refs in listed.values() for ref in refs}
    found = kinds.describe(session, wanted, actor) if wanted else {}
    return [(label, [found[ref] for ref in refs if ref in found]) for label, refs in listed.items()]


def active_header(
    page: PageContext, title: str, access: FieldAccess, active: bool, number: str | None = None
) -> RecordHeader:
    """The header of a record whose state is only active or inactive (organisation
    records); the state and number are left out when their fields are hidden."""
    state = None
    if access.readable("active"):
        state = page.gettext("active") if active else page.gettext("inactive")
    return RecordHeader(
        title=title,
        number=number if number is not None and access.readable("code") else None,
        state_label=state,
        state_tone="success" if active else "neutral",
    )
