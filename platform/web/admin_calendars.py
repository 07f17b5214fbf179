"""Business calendars (`/admin/calendars`): the working week, holidays and make-up working
days (调休) that deadlines count on. Every page and post needs `calendar.manage`; the
service checks it again, and refuses bad input naming the field, shown next to it with
what was typed kept.
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from openitsm.kernel.calendar import service as calendars
from openitsm.kernel.calendar.models import CalendarDay, CalendarRecord
from openitsm.kernel.db import utcnow
from openitsm.kernel.errors import BadUserInput, Conflict, NotFound, OpenITSMError
from openitsm.web.menus import MenuItem
from openitsm.web.pages import PageContext, explained, page_context, read_post

BASE = "/admin/calendars"
MANAGE = calendars.MANAGE
PREVIEW_DURATION = "PT8H"
DONE = ("created", "saved", "default", "day", "removed", "imported")


def _manager(request: Request) -> PageContext | Response:
    return page_context(request, MANAGE)


def _url(key: str, **query: Any) -> str:
    wanted = {k: v for k, v in query.items() if v not in (None, "")}
    tail = f"?{urllib.parse.urlencode(wanted)}" if wanted else ""
    return f"{BASE}/{urllib.parse.quote(key)}{tail}"


def _errors(page: PageContext, error: OpenITSMError) -> tuple[dict[str, str], str]:
    """A refusal next to the field it names; one naming no field of the form above it."""
    name = str(error.extensions.get("field", ""))
    return ({name: page.explain(error)}, "") if name else ({}, page.explain(error))


# --- the list -------------------------------------------------------------------------


def _list_page(page: PageContext, status: int = 200, **extra: Any) -> Response:
    with page.kernel.session() as session:
        rows = calendars.list_calendars(session, page.actor)
    return page.respond(
        "admin/calendars.html",
        status=status,
        calendars=rows,
        typed=extra.pop("typed", {"time_zone": calendars.STANDARD_ZONE}),
        errors=extra.pop("errors", {}),
        message=extra.pop("message", ""),
        done=extra.pop("done", ""),
    )


@explained
async def calendars_page(request: Request) -> Response:
    page = _manager(request)
    if not isinstance(page, PageContext):
        return page
    done = request.query_params.get("done", "")
    return await run_in_threadpool(_list_page, page, done=done if done in DONE else "")


@explained
async def create_calendar(request: Request) -> Response:
    page = _manager(request)
    if not isinstance(page, PageContext):
        return page
    posted, _ = await read_post(request)
    typed = {name: posted.get(name, "") for name in ("key", "name", "time_zone")}

    def save() -> str:
        with page.kernel.unit_of_work(actor=page.actor) as session:
            row = calendars.create_calendar(
                session,
                page.actor,
                key=typed["key"],
                name=typed["name"],
                time_zone=typed["time_zone"],
            )
            return row.key

    try:
        key = await run_in_threadpool(save)
    except BadUserInput as error:
        errors, message = _errors(page, error)
        return await run_in_threadpool(
            _list_page, page, 400, typed=typed, errors=errors, message=message
        )
    return RedirectResponse(_url(key, done="created"), status_code=303)


@explained
async def make_default(request: Request) -> Response:
    page = _manager(request)
    if not isinstance(page, PageContext):
        return page
    await read_post(request)
    key = request.path_params["key"]

    def save() -> None:
        with page.kernel.unit_of_work(actor=page.actor) as session:
            calendars.set_default(session, page.actor, key)

    await run_in_threadpool(save)
    return RedirectResponse(f"{BASE}?done=default", status_code=303)


# --- one calendar ---------------------------------------------------------------------


@dataclass
class Preview:
    duration: str
    due: dt.datetime | None = None
    problem: str = ""


@dataclass
class Detail:
    calendar: CalendarRecord
    days: list[CalendarDay]
    year: int
    preview: Preview
    typed: dict[str, str] = field(default_factory=dict)


def _typed_of(row: CalendarRecord) -> dict[str, str]:
    week = row.week or {}
    typed = {"name": row.name, "time_zone": row.time_zone}
    for weekday in range(7):
        typed[f"week.{weekday}"] = calendars.format_hours(week.get(str(weekday), ()))
    return typed


def _year(page: PageContext, text: str | None) -> int:
    if text and text.isdigit() and 1900 <= int(text) <= 2200:
        return int(text)
    return utcnow().astimezone(ZoneInfo(page.time_zone)).year


def _preview(page: PageContext, session: Any, key: str, duration: str) -> Preview:
    shown = Preview(duration)
    try:
        shown.due = calendars.business_time_add(session, key, utcnow(), duration)
    except BadUserInput as error:
        shown.problem = page.explain(error)
    return shown


def _load(page: PageContext, key: str, year: int, duration: str) -> Detail:
    with page.kernel.session() as session:
        row = calendars.get_calendar(session, page.actor, key)
        days = calendars.days_of(
            session, page.actor, key, dt.date(year, 1, 1), dt.date(year, 12, 31)
        )
        preview = _preview(page, session, key, duration)
    return Detail(row, days, year, preview, _typed_of(row))


def _detail(
    page: PageContext, key: str, status: int = 200, *, year: int | None = None, **extra: Any
) -> Response:
    duration = extra.pop("duration", "") or PREVIEW_DURATION
    detail = _load(page, key, year or _year(page, None), duration)
    return page.respond(
        "admin/calendar.html",
        status=status,
        calendar=detail.calendar,
        days=detail.days,
        year=detail.year,
        preview=detail.preview,
        weekdays=_weekday_names(page),
        typed=extra.pop("typed", None) or detail.typed,
        version=extra.pop("version", detail.calendar.version),
        errors=extra.pop("errors", {}),
        message=extra.pop("message", ""),
        day_typed=extra.pop("day_typed", {"kind": "holiday"}),
        day_errors=extra.pop("day_errors", {}),
        lines=extra.pop("lines", ""),
        import_problems=extra.pop("import_problems", []),
        import_message=extra.pop("import_message", ""),
        conflict=extra.pop("conflict", None),
        done=extra.pop("done", ""),
    )


def _weekday_names(page: PageContext) -> list[tuple[int, str]]:
    names = (
        page.gettext("Monday"),
        page.gettext("Tuesday"),
        page.gettext("Wednesday"),
        page.gettext("Thursday"),
        page.gettext("Friday"),
        page.gettext("Saturday"),
        page.gettext("Sunday"),
    )
    return list(enumerate(names))


@explained
async def calendar_page(request: Request) -> Response:
    page = _manager(request)
    if not isinstance(page, PageContext):
        return page
    key = request.path_params["key"]
    query = request.query_params
    year = _year(page, query.get("year"))
    duration = query.get("duration", "").strip()[:40] or PREVIEW_DURATION
    if request.headers.get("hx-request") and "duration" in query:

        def preview() -> Preview:
            with page.kernel.session() as session:
                calendars.get_calendar(session, page.actor, key)
                return _preview(page, session, key, duration)

        shown = await run_in_threadpool(preview)
        return page.respond("admin/calendar_preview.html", preview=shown)
    done = query.get("done", "")
    return await run_in_threadpool(
        _detail, page, key, year=year, duration=duration, done=done if done in DONE else ""
    )


@explained
async def save_calendar(request: Request) -> Response:
    page = _manager(request)
    if not isinstance(page, PageContext):
        return page
    key = request.path_params["key"]
    posted, version = await read_post(request)
    typed = {name: posted.get(name, "") for name in ("name", "time_zone")}
    typed.update({f"week.{d}": posted.get(f"week.{d}", "") for d in range(7)})
    year = _year(page, posted.get("year"))

    def save() -> None:
        week = {str(d): typed[f"week.{d}"] for d in range(7)}
        with page.kernel.unit_of_work(actor=page.actor) as session:
            calendars.update_calendar(
                session,
                page.actor,
                key,
                version,
                name=typed["name"],
                time_zone=typed["time_zone"],
                week=week,
            )

    try:
        await run_in_threadpool(save)
    except Conflict:
        with page.kernel.session() as session:
            stored = calendars.get_calendar(session, page.actor, key)
            current, conflict = stored.version, _typed_of(stored)
        return await run_in_threadpool(
            _detail, page, key, 409, year=year, typed=typed, version=current, conflict=conflict
        )
    except BadUserInput as error:
        errors, message = _errors(page, error)
        return await run_in_threadpool(
            _detail,
            page,
            key,
            400,
            year=year,
            typed=typed,
            version=version,
            errors=errors,
            message=message,
        )
    return RedirectResponse(_url(key, year=year, done="saved"), status_code=303)


@explained
async def add_day(request: Request) -> Response:
    page = _manager(request)
    if not isinstance(page, PageContext):
        return page
    key = request.path_params["key"]
    posted, _ = await read_post(request)
    day_typed = {name: posted.get(name, "") for name in ("day", "kind", "name")}

    def save() -> int:
        with page.kernel.unit_of_work(actor=page.actor) as session:
            row = calendars.set_day(
                session, page.actor, key, day_typed["day"], day_typed["kind"], day_typed["name"]
            )
            return row.day.year

    try:
        year = await run_in_threadpool(save)
    except BadUserInput as error:
        errors, message = _errors(page, error)
        return await run_in_threadpool(
            _detail,
            page,
            key,
            400,
            year=_year(page, posted.get("year")),
            day_typed=day_typed,
            day_errors=errors,
            message=message,
        )
    return RedirectResponse(_url(key, year=year, done="day"), status_code=303)


@explained
async def remove_day(request: Request) -> Response:
    page = _manager(request)
    if not isinstance(page, PageContext):
        return page
    key, day = request.path_params["key"], request.path_params["day"]
    await read_post(request)

    def save() -> int:
        with page.kernel.unit_of_work(actor=page.actor) as session:
            calendars.remove_day(session, page.actor, key, day)
        return calendars.parse_day(day).year

    try:
        year = await run_in_threadpool(save)
    except NotFound:
        year = None  # removed meanwhile (a second click): the list shows it gone
    return RedirectResponse(_url(key, year=year, done="removed"), status_code=303)


@explained
async def import_days(request: Request) -> Response:
    page = _manager(request)
    if not isinstance(page, PageContext):
        return page
    key = request.path_params["key"]
    posted, _ = await read_post(request)
    lines = posted.get("lines", "")

    def save() -> int | None:
        with page.kernel.unit_of_work(actor=page.actor) as session:
            rows = calendars.import_days(session, page.actor, key, lines)
            return rows[0].day.year if rows else None

    try:
        year = await run_in_threadpool(save)
    except calendars.DaysImportError as error:
        problems = error.translated_problems(page.gettext)
        return await run_in_threadpool(
            _detail,
            page,
            key,
            400,
            year=_year(page, posted.get("year")),
            lines=lines,
            import_problems=problems,
        )
    except BadUserInput as error:
        return await run_in_threadpool(
            _detail,
            page,
            key,
            400,
            year=_year(page, posted.get("year")),
            lines=lines,
            import_message=page.explain(error),
        )
    return RedirectResponse(_url(key, year=year, done="imported"), status_code=303)


ROUTES = [
    Route(BASE, calendars_page, methods=["GET"]),
    Route(BASE, create_calendar, methods=["POST"]),
    Route(BASE + "/{key}", calendar_page, methods=["GET"]),
    Route(BASE + "/{key}", save_calendar, methods=["POST"]),
    Route(BASE + "/{key}/default", make_default, methods=["POST"]),
    Route(BASE + "/{key}/days", add_day, methods=["POST"]),
    Route(BASE + "/{key}/days/{day}/remove", remove_day, methods=["POST"]),
    Route(BASE + "/{key}/import", import_days, methods=["POST"]),
]
MENUS = [
    MenuItem(
        "admin.calendars",
        {"zh-CN": "工作日历", "en": "Business calendars"},
        BASE,
        "admin",
        MANAGE,
        45,
    ),
]
