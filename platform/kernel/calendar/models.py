"""Stored business calendars: a working week, and the days that break it.

A site keeps one default calendar and may add others (a service unit abroad, a desk that
works weekends). Holidays and make-up working days (调休) are rows of their own, so a new
year's official list is added without touching the week.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from openitsm.kernel.audit import Audited
from openitsm.kernel.db import Base, IdMixin, Timestamped, Versioned

HOLIDAY, WORKDAY = "holiday", "workday"


class CalendarRecord(IdMixin, Timestamped, Versioned, Audited, Base):
    """One business calendar. `week` maps a weekday ("0" is Monday) to its working
    intervals, `[["09:00", "12:00"], ["13:00", "18:00"]]`; a weekday missing is a day off."""

    __tablename__ = "business_calendar"
    __record_kind__ = "business_calendar"

    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    time_zone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    week: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)


class CalendarDay(IdMixin, Audited, Base):
    """A holiday (no working time) or a make-up working day on one calendar."""

    __tablename__ = "business_calendar_day"
    __record_kind__ = "business_calendar_day"
    __table_args__ = (UniqueConstraint("calendar_id", "day"),)

    calendar_id: Mapped[int] = mapped_column(ForeignKey("business_calendar.id", ondelete="CASCADE"))
    day: Mapped[dt.date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(10), default=HOLIDAY)
    name: Mapped[str] = mapped_column(String(100), default="")
