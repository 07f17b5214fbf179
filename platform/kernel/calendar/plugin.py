"""Stored business calendars, registered like any plugin's part of the kernel."""

from __future__ import annotations

import datetime as dt
from typing import Any

from openitsm.kernel.calendar.models import CalendarDay, CalendarRecord
from openitsm.kernel.graphql.contribution import GraphQLContribution
from openitsm.kernel.hookspecs import hookimpl

# A few days of the demo's default calendar: the 2027 Spring Festival and its make-up days.
DEMO_DAYS = """\
2027-02-06 holiday 春节 Spring Festival
2027-02-07 workday 春节调休 Spring Festival make-up day
2027-02-08 holiday 春节 Spring Festival
2027-02-09 holiday 春节 Spring Festival
2027-02-10 holiday 春节 Spring Festival
2027-02-11 holiday 春节 Spring Festival
2027-02-12 holiday 春节 Spring Festival
2027-02-20 workday 春节调休 Spring Festival make-up day
2027-10-01 holiday 国庆节 National Day
"""


@hookimpl
def register_models() -> list[type]:
    return [CalendarRecord, CalendarDay]


@hookimpl
def register_graphql() -> GraphQLContribution:
    from openitsm.kernel.calendar.schema import (
        BusinessCalendarDayType,
        CalendarMutation,
        CalendarQuery,
    )

    return GraphQLContribution(
        query=CalendarQuery, mutation=CalendarMutation, types=[BusinessCalendarDayType]
    )


@hookimpl
def load_demo_data(session: Any, kernel: Any) -> None:
    """The standard calendar with the 2027 Spring Festival and National Day, while it has
    no days of 2027 yet (an administrator's own list is left alone)."""
    from sqlalchemy import select

    from openitsm.kernel.actors import SYSTEM
    from openitsm.kernel.calendar import service

    service.ensure_standard(session)
    default = session.scalar(select(CalendarRecord.key).where(CalendarRecord.is_default))
    if default is None:
        return
    if service.days_of(session, SYSTEM, default, dt.date(2027, 1, 1), dt.date(2027, 12, 31)):
        return
    service.import_days(session, SYSTEM, default, DEMO_DAYS)
