"""The complaint table and its yearly number counter."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from openitsm.kernel import Audited, Base, IdMixin, Timestamped, UTCDateTime, Versioned, utcnow
from openitsm.kernel.customfields.models import HasCustomFields

# The states a complaint moves through; `OPEN` ones still need work.
NEW = "new"
ROUTED = "routed"
IN_PROGRESS = "in_progress"
FEEDBACK_GIVEN = "feedback_given"
CLOSED = "closed"
CANCELLED = "cancelled"
STATUSES = (NEW, ROUTED, IN_PROGRESS, FEEDBACK_GIVEN, CLOSED, CANCELLED)
OPEN = (NEW, ROUTED, IN_PROGRESS)
ANSWERED = (FEEDBACK_GIVEN, CLOSED)  # feedback given: it may be rated, reopened, archived

SEVERITIES = ("minor", "major", "serious")


class Complaint(IdMixin, Timestamped, Versioned, Audited, HasCustomFields, Base):
    """One complaint (投诉). Channel, category and nature are item codes of the kernel's
    dictionaries `complaint_source`, `complaint_type` and `complaint_nature`, so a renamed
    item keeps its complaints. What caused it and the knowledge draft it was archived to are
    no columns: they are the kernel's record links `caused_by` and `archived_to` from the
    complaint (see `service.COMPLAINT.link_fields`), one store that both records show."""

    __tablename__ = "complaint"
    __record_kind__ = "complaint"
    __table_args__ = (
        Index("ix_complaint_status_opened_at", "status", "opened_at"),
        Index("ix_complaint_severity_opened_at", "severity", "opened_at"),
    )

    number: Mapped[str] = mapped_column(String(30), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    complainant_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    contact_phone: Mapped[str | None] = mapped_column(String(50))
    channel: Mapped[str | None] = mapped_column(String(100), index=True)
    category: Mapped[str | None] = mapped_column(String(100), index=True)
    nature: Mapped[str | None] = mapped_column(String(100), index=True)
    severity: Mapped[str] = mapped_column(String(30), default="minor")
    status: Mapped[str] = mapped_column(String(30), default=NEW)
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("department.id", ondelete="SET NULL"), index=True
    )
    assignee_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    service_unit_id: Mapped[int | None] = mapped_column(
        ForeignKey("service_unit.id", ondelete="SET NULL"), index=True
    )
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    routed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    responded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    feedback_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    feedback: Mapped[str | None] = mapped_column(Text)
    satisfaction: Mapped[int | None] = mapped_column(Integer)
    satisfaction_comment: Mapped[str | None] = mapped_column(String(1000))


class ComplaintCounter(Base):
    """The last number given out per year; numbers come from one atomic upsert of this row."""

    __tablename__ = "complaint_counter"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    value: Mapped[int] = mapped_column(Integer, default=0)
