"""Duty rotas (`/admin/duty`, 值班): the rotas, one rota's week as a grid of days and people,
who is on duty now, adding one shift or a series of turns, removing shifts; and the
workbench box "On duty now". The rules are the service's (`openitsm.kernel.organisation.duty`):
these pages only draw what it allows and show its refusals next to the field."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from openitsm.kernel.access.fields import field_access
from openitsm.kernel.db import utcnow
from openitsm.kernel.errors import BadUserInput, Conflict, NotFound, OpenITSMError, _t
from openitsm.kernel.forms import FieldError, Form, FormField, FormSection, Submission
from openitsm.kernel.organisation import duty
from openitsm.kernel.organisation.duty_models import DutyRota, DutyShift
from openitsm.web import pickers
from openitsm.web.menus import MenuItem
from openitsm.web.pages import PageContext, explained, page_context, read_post
from openitsm.web.widgets import Widget
from openitsm.web.workbench import user_names

BASE = "/admin/duty"
PEOPLE_IN_SERIES = 6
DONE = ("created", "saved", "shift", "series", "removed")

ROTA_FORM = Form(
    "duty_rota",
    "duty_rota",
    {"zh-CN": "值班表", "en": "Duty rota"},
    (
        FormSection(
            "rota",
            {"zh-CN": "新建值班表", "en": "New duty rota"},
            (
                FormField(
                    "key",
                    {"zh-CN": "标识", "en": "Key"},
                    required=True,
                    max_length=64,
                    help={
                        "zh-CN": "小写字母、数字或 _；流程以 duty.<标识> 引用，创建后不可更改。",
                        "en": "Lower-case letters, digits or _; processes name it as "
                        "duty.<key>, and it never changes.",
                    },
                ),
                FormField("name", {"zh-CN": "名称", "en": "Name"}, required=True, max_length=200),
            ),
        ),
    ),
)
EDIT_FORM = Form(
    "duty_rota_edit",
    "duty_rota",
    {"zh-CN": "值班表", "en": "Duty rota"},
    (
        FormSection(
            "rota",
            {"zh-CN": "值班表", "en": "Duty rota"},
            (
                FormField("name", {"zh-CN": "名称", "en": "Name"}, required=True, max_length=200),
                FormField("active", {"zh-CN": "启用", "en": "Active"}, type="bool"),
            ),
        ),
    ),
)
SHIFT_FORM = Form(
    "duty_shift",
    "duty_shift",
    {"zh-CN": "排班", "en": "Shift"},
    (
        FormSection(
            "shift",
            {"zh-CN": "添加一个班次", "en": "Add one shift"},
            (
                FormField("user", {"zh-CN": "值班人", "en": "Person"}, type="user", required=True),
                FormField(
                    "startsAt", {"zh-CN": "开始", "en": "Starts"}, type="datetime", required=True
                ),
                FormField(
                    "endsAt", {"zh-CN": "结束", "en": "Ends"}, type="datetime", required=True
                ),
            ),
        ),
    ),
)
SERIES_FORM = Form(
    "duty_series",
    "duty_shift",
    {"zh-CN": "轮班", "en": "Series"},
    (
        FormSection(
            "series",
            {"zh-CN": "按天轮流排班", "en": "Take turns day by day"},
            (
                FormField(
                    "firstDay", {"zh-CN": "第一天", "en": "First day"}, type="date", required=True
                ),
                FormField(
                    "lastDay", {"zh-CN": "最后一天", "en": "Last day"}, type="date", required=True
                ),
                FormField(
                    "starts",
                    {"zh-CN": "每天开始时间", "en": "Daily start"},
                    required=True,
                    max_length=5,
                    help={"zh-CN": "如 18:00", "en": "e.g. 18:00"},
                ),
                FormField(
                    "ends",
                    {"zh-CN": "结束时间", "en": "Ends at"},
                    required=True,
                    max_length=5,
                    help={
                        "zh-CN": "不晚于开始时间即为次日结束（如 18:00–08:30 夜班）。",
                        "en": "At or before the start means the next day (18:00–08:30 is a "
                        "night shift).",
                    },
                ),
                *(
                    FormField(
                        f"person{n}",
                        {"zh-CN": f"第 {n} 位", "en": f"Person {n}"},
                        type="user",
                        required=n == 1,
                    )
                    for n in range(1, PEOPLE_IN_SERIES + 1)
                ),
            ),
        ),
    ),
)
# Where the service's refusals go in the series form (the others keep their names).
SERIES_FIELDS = {"people": "person1", "timeZone": "starts"}


@dataclass
class Posted:
    """A form drawn again after a refusal: what was typed and the errors by field (a
    `FieldError` of the typing, or the service's message in the viewer's language)."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, FieldError | str] = field(default_factory=dict)
    message: str = ""


def _refused(
    page: PageContext, error: OpenITSMError, form: Form, renamed: Mapping[str, str] = {}
) -> tuple[dict[str, FieldError | str], str]:
    """The refusal next to its field when the form has it, else above the form."""
    name = str(error.extensions.get("field", ""))
    name = renamed.get(name, name)
    if name in {spec.name for spec in form.fields}:
        return {name: page.explain(error)}, ""
    return {}, page.explain(error)


def _typed(submission: Submission) -> Posted:
    return Posted(dict(submission.raw), dict(submission.errors))


# --- the list -------------------------------------------------------------------------


def _list_page(page: PageContext, status: int = 200, posted: Posted | None = None) -> Response:
    posted = posted or Posted()
    with page.kernel.session() as session:
        rotas = duty.list_rotas(session, page.actor)
        on_now = duty.on_duty_by_rota(session, [r.id for r in rotas if r.active])
    return page.respond(
        "admin/duty.html",
        status=status,
        rotas=rotas,
        on_now=on_now,
        may_manage=page.actor.can(duty.MANAGE),
        form=ROTA_FORM,
        access=field_access(page.actor, ROTA_FORM.resource),
        posted=posted,
        done=page.request.query_params.get("done", ""),
    )


@explained
async def rotas_page(request: Request) -> Response:
    page = page_context(request)
    if not isinstance(page, PageContext):
        return page
    return await run_in_threadpool(_list_page, page)


@explained
async def create_rota(request: Request) -> Response:
    page = page_context(request, duty.MANAGE)
    if not isinstance(page, PageContext):
        return page
    posted, _ = await read_post(request)
    submission = page.check(ROTA_FORM, posted)
    if not submission.valid:
        return await run_in_threadpool(_list_page, page, 400, _typed(submission))

    def save() -> str:
        with page.kernel.unit_of_work(actor=page.actor) as session:
            values = submission.values
            return duty.create_rota(session, page.actor, key=values["key"], name=values["name"]).key

    try:
        key = await run_in_threadpool(save)
    except BadUserInput as error:
        errors, message = _refused(page, error, ROTA_FORM)
        return await run_in_threadpool(
            _list_page, page, 400, Posted(dict(submission.raw), errors, message)
        )
    return RedirectResponse(f"{BASE}/{quote(key)}?done=created", status_code=303)


# --- one rota -------------------------------------------------------------------------


def _monday(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def _week_of(page: PageContext) -> dt.date:
    zone = ZoneInfo(page.time_zone)
    try:
        day = dt.date.fromisoformat(page.request.query_params.get("week", ""))
    except ValueError:
        day = utcnow().astimezone(zone).date()
    return _monday(day)


@dataclass
class Week:
    """A rota's week in the viewer's time zone: its days and one row per person on duty in
    it, with their shifts under the day each starts."""

    monday: dt.date
    days: list[dt.date]
    rows: list[tuple[int, str, list[list[DutyShift]]]]

    @property
    def previous(self) -> str:
        return (self.monday - dt.timedelta(days=7)).isoformat()

    @property
    def next(self) -> str:
        return (self.monday + dt.timedelta(days=7)).isoformat()


def _week(page: PageContext, session: Any, rota: DutyRota, monday: dt.date) -> Week:
    zone = ZoneInfo(page.time_zone)
    start = dt.datetime.combine(monday, dt.time(0), tzinfo=zone)
    end = dt.datetime.combine(monday + dt.timedelta(days=7), dt.time(0), tzinfo=zone)
    shifts = duty.shifts_between(session, rota.id, start, end)
    names = user_names(session, {s.user_id for s in shifts})
    days = [monday + dt.timedelta(days=n) for n in range(7)]
    by_person: dict[int, list[list[DutyShift]]] = {}
    for shift in shifts:
        cells = by_person.setdefault(shift.user_id, [[] for _ in days])
        index = (shift.starts_at.astimezone(zone).date() - monday).days
        cells[min(max(index, 0), 6)].append(shift)  # one that began last week shows on Monday
    ordered = sorted(by_person, key=lambda uid: (names.get(uid, ""), uid))
    return Week(monday, days, [(uid, names.get(uid, f"#{uid}"), by_person[uid]) for uid in ordered])


def _detail(
    page: PageContext,
    key: str,
    status: int = 200,
    *,
    edit: Posted | None = None,
    shift: Posted | None = None,
    series: Posted | None = None,
    message: str = "",
) -> Response:
    may_manage = page.actor.can(duty.MANAGE)
    monday = _week_of(page)
    with page.kernel.session() as session:
        rota = duty.get_rota(session, page.actor, key)
        week = _week(page, session, rota, monday)
        now = duty.on_duty_by_rota(session, [rota.id])[rota.id] if rota.active else []
        shift = shift or Posted()
        series = series or Posted()
        choices = {
            **pickers.prepare(session, SHIFT_FORM, shift.values, page.actor, page.locale),
            **pickers.prepare(session, SERIES_FORM, series.values, page.actor, page.locale),
        }
        version = rota.version
        session.expunge(rota)
    if edit is None:
        edit = Posted({"name": rota.name, "active": "on" if rota.active else ""})
    return page.respond(
        "admin/duty_rota.html",
        status=status,
        rota=rota,
        version=version,
        week=week,
        on_now=now,
        may_manage=may_manage,
        edit_form=EDIT_FORM,
        shift_form=SHIFT_FORM,
        series_form=SERIES_FORM,
        access=field_access(page.actor, SHIFT_FORM.resource),
        edit=edit,
        shift=shift,
        series=series,
        choices=choices,
        message=message,
        done=page.request.query_params.get("done", ""),
        today=utcnow().astimezone(ZoneInfo(page.time_zone)).date(),
    )


@explained
async def rota_page(request: Request) -> Response:
    page = page_context(request)
    if not isinstance(page, PageContext):
        return page
    return await run_in_threadpool(_detail, page, request.path_params["key"])


def _rota_id(page: PageContext, key: str) -> int:
    with page.kernel.session() as session:
        return duty.get_rota(session, page.actor, key).id


def _back(key: str, done: str, week: str = "") -> RedirectResponse:
    target = f"{BASE}/{quote(key)}?done={done}"
    if week:
        target += f"&week={quote(week)}"
    return RedirectResponse(target, status_code=303)


@explained
async def save_rota(request: Request) -> Response:
    page = page_context(request, duty.MANAGE)
    if not isinstance(page, PageContext):
        return page
    key = request.path_params["key"]
    posted, version = await read_post(request)
    submission = page.check(EDIT_FORM, posted)
    if not submission.valid:
        return await run_in_threadpool(_detail, page, key, 400, edit=_typed(submission))

    def save() -> None:
        rota_id = _rota_id(page, key)
        with page.kernel.unit_of_work(actor=page.actor) as session:
            values = submission.values
            duty.update_rota(
                session,
                page.actor,
                rota_id,
                version,
                {"name": values["name"], "active": bool(values.get("active"))},
            )

    try:
        await run_in_threadpool(save)
    except Conflict as error:
        edit = Posted(dict(submission.raw), {}, page.explain(error))
        return await run_in_threadpool(_detail, page, key, 409, edit=edit)
    except BadUserInput as error:
        errors, message = _refused(page, error, EDIT_FORM)
        edit = Posted(dict(submission.raw), errors, message)
        return await run_in_threadpool(_detail, page, key, 400, edit=edit)
    return _back(key, "saved")


@explained
async def add_shift(request: Request) -> Response:
    page = page_context(request, duty.MANAGE)
    if not isinstance(page, PageContext):
        return page
    key = request.path_params["key"]
    posted, _ = await read_post(request)

    def save() -> Submission:
        rota_id = _rota_id(page, key)
        with page.kernel.unit_of_work(actor=page.actor) as session:
            submission = page.check(SHIFT_FORM, posted, pickers.lookups(session))
            if submission.valid:
                values = submission.values
                duty.add_shift(
                    session,
                    page.actor,
                    rota_id,
                    values["user"],
                    values["startsAt"],
                    values["endsAt"],
                )
            return submission

    try:
        submission = await run_in_threadpool(save)
    except BadUserInput as error:
        errors, message = _refused(page, error, SHIFT_FORM)
        typed = Posted(dict(posted), errors, message)
        return await run_in_threadpool(_detail, page, key, 400, shift=typed)
    if not submission.valid:
        return await run_in_threadpool(_detail, page, key, 400, shift=_typed(submission))
    started = submission.values["startsAt"].astimezone(ZoneInfo(page.time_zone)).date()
    return _back(key, "shift", _monday(started).isoformat())


def _time(text: str) -> dt.time | None:
    try:
        return dt.time.fromisoformat(text.strip())
    except ValueError:
        return None


@explained
async def add_series(request: Request) -> Response:
    page = page_context(request, duty.MANAGE)
    if not isinstance(page, PageContext):
        return page
    key = request.path_params["key"]
    posted, _ = await read_post(request)

    def save() -> Submission:
        rota_id = _rota_id(page, key)
        with page.kernel.unit_of_work(actor=page.actor) as session:
            submission = page.check(SERIES_FORM, posted, pickers.lookups(session))
            times = {}
            for name in ("starts", "ends"):
                raw = submission.raw.get(name, "")
                times[name] = _time(raw)
                if raw and times[name] is None and name not in submission.errors:
                    submission.errors[name] = FieldError("not_a_time")
            if submission.valid:
                values = submission.values
                people = [
                    values[f"person{n}"]
                    for n in range(1, PEOPLE_IN_SERIES + 1)
                    if values.get(f"person{n}") is not None
                ]
                duty.add_shift_series(
                    session,
                    page.actor,
                    rota_id,
                    people,
                    values["firstDay"],
                    values["lastDay"],
                    times["starts"],  # type: ignore[arg-type]
                    times["ends"],  # type: ignore[arg-type]
                    page.time_zone,
                )
            return submission

    try:
        submission = await run_in_threadpool(save)
    except BadUserInput as error:
        errors, message = _refused(page, error, SERIES_FORM, SERIES_FIELDS)
        typed = Posted(dict(posted), errors, message)
        return await run_in_threadpool(_detail, page, key, 400, series=typed)
    if not submission.valid:
        return await run_in_threadpool(_detail, page, key, 400, series=_typed(submission))
    return _back(key, "series", _monday(submission.values["firstDay"]).isoformat())


@explained
async def remove_shift(request: Request) -> Response:
    page = page_context(request, duty.MANAGE)
    if not isinstance(page, PageContext):
        return page
    key = request.path_params["key"]
    shift_id = int(request.path_params["shift_id"])
    posted, _ = await read_post(request)

    def save() -> None:
        rota_id = _rota_id(page, key)
        with page.kernel.unit_of_work(actor=page.actor) as session:
            shift = session.get(DutyShift, shift_id)
            if shift is None or shift.rota_id != rota_id:
                raise NotFound(
                    _t("No duty shift with id {id}."), field="id", params={"id": shift_id}
                )
            duty.remove_shift(session, page.actor, shift_id)

    await run_in_threadpool(save)
    return _back(key, "removed", posted.get("week", ""))


# --- the workbench box ----------------------------------------------------------------


def on_duty_now(page: PageContext) -> Markup:
    """Who is on duty now on each active rota the viewer may read; nothing (no box) when
    there is no such rota."""
    with page.kernel.session() as session:
        rotas = duty.list_rotas(session, page.actor, include_inactive=False)
        if not rotas:
            return Markup("")
        on_now = duty.on_duty_by_rota(session, [r.id for r in rotas])
    return page.render("widgets/on_duty.html", rotas=rotas, on_now=on_now)


ROUTES = [
    Route(BASE, rotas_page, methods=["GET"]),
    Route(BASE, create_rota, methods=["POST"]),
    Route(BASE + "/{key}", rota_page, methods=["GET"]),
    Route(BASE + "/{key}", save_rota, methods=["POST"]),
    Route(BASE + "/{key}/shifts", add_shift, methods=["POST"]),
    Route(BASE + "/{key}/series", add_series, methods=["POST"]),
    Route(BASE + "/{key}/shifts/{shift_id:int}/remove", remove_shift, methods=["POST"]),
]
MENUS = [
    MenuItem("admin.duty", {"zh-CN": "值班表", "en": "Duty rotas"}, BASE, "admin", "org.read", 35)
]
WIDGETS = [
    Widget("on_duty", {"zh-CN": "当前值班", "en": "On duty now"}, on_duty_now, width=1, order=25)
]
