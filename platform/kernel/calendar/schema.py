"""Business calendars on GraphQL: read them (any signed-in user), preview a deadline, and
change them (`calendar.manage`). Refusals carry `extensions.code` and `field`."""

from __future__ import annotations

import datetime as dt
from typing import Any

import strawberry
from strawberry.types import Info

from openitsm.kernel.calendar import service
from openitsm.kernel.calendar.models import CalendarDay, CalendarRecord
from openitsm.kernel.db import utcnow
from openitsm.kernel.graphql.context import Context

WEEKDAYS = range(7)


@strawberry.type(description="One weekday's working hours (weekday 0 is Monday).")
class WorkingDay:
    weekday: int
    hours: list[str] = strawberry.field(description='Intervals like "09:00-12:00".')


@strawberry.type(name="BusinessCalendarDay", description="A holiday or a make-up working day.")
class BusinessCalendarDayType:
    day: dt.date
    kind: str = strawberry.field(description="holiday or workday (调休).")
    name: str

    @classmethod
    def of(cls, row: CalendarDay) -> BusinessCalendarDayType:
        return cls(day=row.day, kind=row.kind, name=row.name)


@strawberry.type(name="BusinessCalendar")
class BusinessCalendarType:
    key: str
    name: str
    time_zone: str
    is_default: bool
    version: int = strawberry.field(description="For optimistic locking of updates.")
    week: list[WorkingDay] = strawberry.field(
        description="Every weekday, Monday first; a day off has no hours."
    )

    @classmethod
    def of(cls, row: CalendarRecord) -> BusinessCalendarType:
        week = row.week or {}
        return cls(
            key=row.key,
            name=row.name,
            time_zone=row.time_zone,
            is_default=row.is_default,
            version=row.version,
            week=[
                WorkingDay(weekday=d, hours=[f"{a}-{b}" for a, b in week.get(str(d), ())])
                for d in WEEKDAYS
            ],
        )

    @strawberry.field(
        description="Its holidays and make-up working days from `start` to `end` (included)."
    )
    def days(
        self,
        info: Info[Context, Any],
        start: dt.date | None = None,
        end: dt.date | None = None,
    ) -> list[BusinessCalendarDayType]:
        context = info.context
        rows = service.days_of(context.session, context.require_actor(), self.key, start, end)
        return [BusinessCalendarDayType.of(row) for row in rows]


@strawberry.input(description="One weekday's working hours; no hours: a day off.")
class WorkingDayInput:
    weekday: int
    hours: list[str] = strawberry.field(description='Intervals like "09:00-12:00", in order.')


def _week(days: list[WorkingDayInput] | None) -> dict[str, list[str]] | None:
    if days is None:
        return None
    week: dict[str, list[str]] = {}
    for day in days:
        week.setdefault(str(day.weekday), []).extend(day.hours)
    return week


@strawberry.input
class CreateBusinessCalendarInput:
    key: str
    name: str
    time_zone: str = "Asia/Shanghai"
    week: list[WorkingDayInput] | None = strawberry.field(
        default=None, description="The standard office week when left out."
    )
    is_default: bool = False


@strawberry.input
class UpdateBusinessCalendarInput:
    key: str
    version: int
    name: str | None = None
    time_zone: str | None = None
    week: list[WorkingDayInput] | None = strawberry.field(
        default=None, description="The whole week: weekdays left out become days off."
    )


@strawberry.type
class CalendarQuery:
    @strawberry.field(description="Every business calendar, the default first.")
    def business_calendars(self, info: Info[Context, Any]) -> list[BusinessCalendarType]:
        context = info.context
        rows = service.list_calendars(context.session, context.require_actor())
        return [BusinessCalendarType.of(row) for row in rows]

    @strawberry.field(description="One business calendar by its key.")
    def business_calendar(self, info: Info[Context, Any], key: str) -> BusinessCalendarType:
        context = info.context
        return BusinessCalendarType.of(
            service.get_calendar(context.session, context.require_actor(), key)
        )

    @strawberry.field(
        description=(
            "When `duration` (ISO 8601 business time: PT8H, P2D) after `start` (now when "
            "left out) ends on `calendar` (the default when left out): a deadline's preview."
        )
    )
    def business_time_add(
        self,
        info: Info[Context, Any],
        duration: str,
        calendar: str | None = None,
        start: dt.datetime | None = None,
    ) -> dt.datetime:
        context = info.context
        context.require_actor()
        return service.business_time_add(context.session, calendar, start or utcnow(), duration)


@strawberry.type
class CalendarMutation:
    @strawberry.mutation(description="A new business calendar.")
    def create_business_calendar(
        self, info: Info[Context, Any], input: CreateBusinessCalendarInput
    ) -> BusinessCalendarType:
        context = info.context
        row = service.create_calendar(
            context.session,
            context.require_actor(),
            key=input.key,
            name=input.name,
            time_zone=input.time_zone,
            week=_week(input.week),
            is_default=input.is_default,
        )
        return BusinessCalendarType.of(row)

    @strawberry.mutation(description="Change a calendar's name, time zone or week.")
    def update_business_calendar(
        self, info: Info[Context, Any], input: UpdateBusinessCalendarInput
    ) -> BusinessCalendarType:
        context = info.context
        row = service.update_calendar(
            context.session,
            context.require_actor(),
            input.key,
            input.version,
            name=input.name,
            time_zone=input.time_zone,
            week=_week(input.week),
        )
        return BusinessCalendarType.of(row)

    @strawberry.mutation(description="Make a calendar the site's default (the only one).")
    def set_default_business_calendar(
        self, info: Info[Context, Any], key: str, version: int | None = None
    ) -> BusinessCalendarType:
        context = info.context
        row = service.set_default(context.session, context.require_actor(), key, version)
        return BusinessCalendarType.of(row)

    @strawberry.mutation(description="Add a holiday or workday, or change the one on that date.")
    def set_business_calendar_day(
        self, info: Info[Context, Any], key: str, day: dt.date, kind: str, name: str = ""
    ) -> BusinessCalendarDayType:
        context = info.context
        row = service.set_day(context.session, context.require_actor(), key, day, kind, name)
        return BusinessCalendarDayType.of(row)

    @strawberry.mutation(
        description=(
            "Add or change days from pasted lines like `2027-02-10 holiday 春节`; nothing is "
            "saved when a line is bad (BAD_USER_INPUT with extensions.problems: [{line, "
            "reason}]). Returns the days imported."
        )
    )
    def import_business_calendar_days(
        self, info: Info[Context, Any], key: str, lines: str
    ) -> list[BusinessCalendarDayType]:
        context = info.context
        rows = service.import_days(context.session, context.require_actor(), key, lines)
        return [BusinessCalendarDayType.of(row) for row in rows]

    @strawberry.mutation(description="Remove a holiday or workday; returns the date removed.")
    def remove_business_calendar_day(
        self, info: Info[Context, Any], key: str, day: dt.date
    ) -> dt.date:
        context = info.context
        service.remove_day(context.session, context.require_actor(), key, day)
        return day
