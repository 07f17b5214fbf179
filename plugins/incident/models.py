"""The incident table and its yearly number counter."""

from __future__ import annotations

import datetime as dt
import decimal

from sqlalchemy import ForeignKey, Index, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from openitsm.kernel import Audited, Base, IdMixin, Timestamped, UTCDateTime, Versioned, utcnow
from openitsm.kernel.customfields.models import HasCustomFields

# The states an incident moves through; `OPEN` ones still need work.
NEW = "new"
ASSIGNED = "assigned"
IN_PROGRESS = "in_progress"
WAITING = "waiting_for_customer"
RESOLVED = "resolved"
CLOSED = "closed"
CANCELLED = "cancelled"
STATUSES = (NEW, ASSIGNED, IN_PROGRESS, WAITING, RESOLVED, CLOSED, CANCELLED)
OPEN = (NEW, ASSIGNED, IN_PROGRESS, WAITING)
FINISHED = (RESOLVED, CLOSED, CANCELLED)


class Incident(IdMixin, Timestamped, Versioned, Audited, HasCustomFields, Base):
    """One incident (事件). Dictionary values are stored as item codes, so a renamed item
    keeps its incidents and an export reads the same on every site."""

    __tablename__ = "incident"
    __record_kind__ = "incident"
    __table_args__ = (
        Index("ix_incident_status_opened_at", "status", "opened_at"),
        Index("ix_incident_level_opened_at", "level", "opened_at"),
    )

    number: Mapped[str] = mapped_column(String(30), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    caller_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    contact_phone: Mapped[str | None] = mapped_column(String(50))
    category: Mapped[str | None] = mapped_column(String(100), index=True)
    nature: Mapped[str | None] = mapped_column(String(100))
    impact: Mapped[str | None] = mapped_column(String(100))
    urgency: Mapped[str | None] = mapped_column(String(100))
    level: Mapped[str | None] = mapped_column(String(30))
    level_reason: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(30), default=NEW)
    assignee_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    group_id: Mapped[int | None] = mapped_column(
        ForeignKey("department.id", ondelete="SET NULL"), index=True
    )
    service_unit_id: Mapped[int | None] = mapped_column(
        ForeignKey("service_unit.id", ondelete="SET NULL"), index=True
    )
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("incident.id", ondelete="SET NULL"), index=True
    )
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    responded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    resolution: Mapped[str | None] = mapped_column(Text)
    cost: Mapped[decimal.Decimal | None] = mapped_column(Numeric(12, 2))
    work_hours: Mapped[decimal.Decimal | None] = mapped_column(Numeric(8, 2))
    satisfaction: Mapped[int | None] = mapped_column(Integer)
    satisfaction_comment: Mapped[str | None] = mapped_column(String(1000))


class IncidentCounter(Base):
    """The last number given out per year; numbers come from one atomic upsert of this row."""

    __tablename__ = "incident_counter"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    value: Mapped[int] = mapped_column(Integer, default=0)


class IncidentTemplate(IdMixin, Timestamped, Versioned, Audited, Base):
    """A registration template (事件模板): the title, description and codes a new incident
    starts from. Its dictionary values and group are checked again each time it is used,
    since items and departments may have been retired since it was saved."""

    __tablename__ = "incident_template"
    __record_kind__ = "incident_template"

    name: Mapped[str] = mapped_column(String(100))
    title: Mapped[str | None] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text, doc="Sanitised HTML.")
    category: Mapped[str | None] = mapped_column(String(100))
    nature: Mapped[str | None] = mapped_column(String(100))
    impact: Mapped[str | None] = mapped_column(String(100))
    urgency: Mapped[str | None] = mapped_column(String(100))
    group_id: Mapped[int | None] = mapped_column(
        ForeignKey("department.id", ondelete="SET NULL"), index=True
    )
    active: Mapped[bool] = mapped_column(default=True)
