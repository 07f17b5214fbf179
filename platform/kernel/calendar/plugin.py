"""Stored business calendars, registered like any plugin's part of the kernel."""

from __future__ import annotations

from openitsm.kernel.calendar.models import CalendarDay, CalendarRecord
from openitsm.kernel.hookspecs import hookimpl


@hookimpl
def register_models() -> list[type]:
    return [CalendarRecord, CalendarDay]
