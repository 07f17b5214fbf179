"""SLA tables: levels, the matrix, service units' calendars, and each record's computed clock.

Levels, rules and calendars are what administrators edit (versioned and audited, so a
change re-bases the clocks through `on_record_changed`). `sla_clock` is derived data: the
last computation of a record's clock, kept for lists ("breaching soon"), the record's header
and the timer scan; it can be dropped and recomputed from history at any time.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from openitsm.kernel.audit import Audited
from openitsm.kernel.db import Base, IdMixin, Timestamped, Versioned, utcnow
from openitsm.kernel.labels import pick_label


class SlaLevel(IdMixin, Timestamped, Versioned, Audited, Base):
    """An SLA level: response and resolution targets in ISO 8601 business time (`PT4H`,
    `P1D`), and where the warning falls (`warning_share` of the target, or `warning_lead`
    before its end; with both, the earlier). `position` orders the levels in lists."""

    __tablename__ = "sla_level"
    __record_kind__ = "sla_level"

    key: Mapped[str] = mapped_column(String(64), unique=True)
    labels: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    response: Mapped[str | None] = mapped_column(String(32))
    resolution: Mapped[str | None] = mapped_column(String(32))
    warning_share: Mapped[float | None] = mapped_column(Float)
    warning_lead: Mapped[str | None] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)

    def label(self, locale: str) -> str:
        return pick_label(self.labels, locale, self.key)


class SlaRule(IdMixin, Timestamped, Versioned, Audited, Base):
    """One row of a record kind's SLA matrix: the level for records matching every fixed
    dimension (None: any). The most specific matching rule wins, then the lowest position
    (see `openitsm.kernel.sla.matrix`). `service_unit` holds a service unit's code."""

    __tablename__ = "sla_rule"
    __record_kind__ = "sla_rule"
    __table_args__ = (Index("ix_sla_rule_kind", "kind", "position"),)

    kind: Mapped[str] = mapped_column(String(64))  # the record kind (`record_kind` is Audited's)
    level: Mapped[str] = mapped_column(String(64))
    category: Mapped[str | None] = mapped_column(String(100))
    impact: Mapped[str | None] = mapped_column(String(100))
    urgency: Mapped[str | None] = mapped_column(String(100))
    service_unit: Mapped[str | None] = mapped_column(String(100))
    ci_importance: Mapped[str | None] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(Integer, default=0)


class SlaServiceUnitCalendar(IdMixin, Audited, Base):
    """The business calendar a service unit's SLA clocks count on (the default calendar for
    units without a row). Kept here rather than on `service_unit`: the organisation knows
    nothing of the SLA, and a site without SLA work carries no column for it."""

    __tablename__ = "sla_service_unit_calendar"
    __record_kind__ = "sla_service_unit_calendar"

    service_unit_id: Mapped[int] = mapped_column(
        ForeignKey("service_unit.id", ondelete="CASCADE"), unique=True
    )
    calendar_key: Mapped[str] = mapped_column(String(64))


class SlaClock(IdMixin, Base):
    """The last computed clock of one record, per target (`response_*`, `resolution_*`):

    `state` running, paused, met, breached or off; `due_at` when it falls (fell) due (None
    while paused or off); `warning_at` when the warning was crossed, or falls while running;
    `breached_at` when the target was missed; `remaining` business seconds left (negative
    once overdue). `*_warning_sent` / `*_breach_sent` say `on_sla_event` was called for the
    crossing, so each is told once. `next_fire_at` is when the timer scan must look again.
    """

    __tablename__ = "sla_clock"
    __table_args__ = (
        UniqueConstraint("record_kind", "record_id"),
        Index("ix_sla_clock_response_due", "response_state", "response_due_at"),
        Index("ix_sla_clock_resolution_due", "resolution_state", "resolution_due_at"),
    )

    record_kind: Mapped[str] = mapped_column(String(64))
    record_id: Mapped[int]
    level: Mapped[str | None] = mapped_column(String(64))
    response_state: Mapped[str] = mapped_column(String(10), default="off")
    response_due_at: Mapped[dt.datetime | None]
    response_warning_at: Mapped[dt.datetime | None]
    response_breached_at: Mapped[dt.datetime | None]
    response_remaining: Mapped[int | None] = mapped_column(Integer)
    response_warning_sent: Mapped[bool] = mapped_column(Boolean, default=False)
    response_breach_sent: Mapped[bool] = mapped_column(Boolean, default=False)
    resolution_state: Mapped[str] = mapped_column(String(10), default="off")
    resolution_due_at: Mapped[dt.datetime | None]
    resolution_warning_at: Mapped[dt.datetime | None]
    resolution_breached_at: Mapped[dt.datetime | None]
    resolution_remaining: Mapped[int | None] = mapped_column(Integer)
    resolution_warning_sent: Mapped[bool] = mapped_column(Boolean, default=False)
    resolution_breach_sent: Mapped[bool] = mapped_column(Boolean, default=False)
    next_fire_at: Mapped[dt.datetime | None] = mapped_column(index=True)
    computed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
