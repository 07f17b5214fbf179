"""Service units (`/admin/service-units`): the customer companies served (服务单位), their
contacts and member users, built on `lists`, the kernel forms and the record timeline."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, or_, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from openitsm.kernel.access.fields import FieldAccess, field_access
from openitsm.kernel.customfields.service import nested
from openitsm.kernel.errors import BadUserInput, Conflict
from openitsm.kernel.forms import (
    Form,
    FormField,
    FormSection,
    Submission,
    changed,
    form_values,
    visible_fields,
)
from openitsm.kernel.identity.models import User
from openitsm.kernel.organisation import service as organisation
from openitsm.kernel.organisation.models import ServiceUnit, ServiceUnitContact, UserServiceUnit
from openitsm.web import lists, pickers
from openitsm.web.customfields import custom_form, refusal
from openitsm.web.lists import Column, Filter, ListView
from openitsm.web.menus import MenuItem
from openitsm.web.pages import PageContext, check_csrf, explained, page_context, read_post
from openitsm.web.records import active_header
from openitsm.web.timeline import record_timeline

BASE = "/admin/service-units"
YES_NO = (("1", {"zh-CN": "是", "en": "Yes"}), ("0", {"zh-CN": "否", "en": "No"}))
CODE = {"zh-CN": "编码", "en": "Code"}
NAME = {"zh-CN": "名称", "en": "Name"}
ACTIVE = {"zh-CN": "启用", "en": "Active"}


def _search(statement: Select[Any], text: str, access: FieldAccess) -> Select[Any]:
    pattern = f"%{text.strip()}%"
    columns = access.readable_only({"code": ServiceUnit.code, "name": ServiceUnit.name})
    return statement.where(or_(*(column.ilike(pattern) for column in columns)))


def _active(statement: Select[Any], value: str, access: FieldAccess) -> Select[Any]:
    return statement.where(ServiceUnit.active.is_(value == "1"))


SERVICE_UNITS = ListView(
    "service_units",
    "service_unit",
    {"zh-CN": "服务单位", "en": "Service units"},
    columns=(
        Column("code", CODE, sort=ServiceUnit.code, link=True),
        Column("name", NAME, sort=ServiceUnit.sort_name),
        Column("active", ACTIVE, kind="bool"),
    ),
    filters=(
        Filter(
            "q",
            "name",
            {"zh-CN": "搜索服务单位", "en": "Search service units"},
            _search,
            type="search",
        ),
        Filter("active", "active", ACTIVE, _active, choices=YES_NO),
    ),
    default_sort="code",
    detail_url=BASE + "/{id}",
)

UNIT_FORM = Form(
    "service_unit",
    "service_unit",
    {"zh-CN": "服务单位", "en": "Service unit"},
    (
        FormSection(
            "unit",
            {"zh-CN": "服务单位", "en": "Service unit"},
            (
                FormField("code", CODE, required=True, max_length=100),
                FormField("name", NAME, required=True, max_length=200),
                FormField("active", ACTIVE, type="bool"),
            ),
        ),
    ),
)
NEW_UNIT_FORM = Form(
    "new_service_unit",
    "service_unit",
    {"zh-CN": "新建服务单位", "en": "New service unit"},
    (
        FormSection(
            "unit", {"zh-CN": "新建服务单位", "en": "New service unit"}, UNIT_FORM.fields[:2]
        ),
    ),
)
CONTACT_FORM = Form(
    "service_unit_contact",
    "service_unit_contact",
    {"zh-CN": "联系人", "en": "Contact"},
    (
        FormSection(
            "contact",
            {"zh-CN": "新增联系人", "en": "New contact"},
            (
                FormField("name", {"zh-CN": "姓名", "en": "Name"}, required=True, max_length=200),
                FormField("phone", {"zh-CN": "电话", "en": "Phone"}, max_length=50),
                FormField(
                    "email", {"zh-CN": "电子邮件", "en": "Email"}, type="email", max_length=254
                ),
                FormField("position", {"zh-CN": "职务", "en": "Position"}, max_length=200),
            ),
        ),
    ),
)


def _viewer(request: Request, action: str = "org.read") -> PageContext | Response:
    return page_context(request, "org.read", action)


# --- the list -------------------------------------------------------------------------


def _list_page(
    page: PageContext, params: dict[str, str], status: int = 200, **extra: Any
) -> Response:
    body = lists.render_list(page, SERVICE_UNITS, params)
    may_manage = page.actor.can("org.manage")
    access = field_access(page.actor, "service_unit")
    values = extra.pop("values", {})
    with page.kernel.session() as session:
        form = custom_form(session, NEW_UNIT_FORM)
        choices = pickers.prepare(session, form, values, page.actor, page.locale)
    return page.respond(
        "admin/service_units.html",
        status=status,
        body=body,
        may_manage=may_manage,
        form=form,
        sections=visible_fields(form, access),
        choices=choices,
        access=access,
        values=values,
        errors=extra.pop("errors", {}),
        message=extra.pop("message", ""),
    )


@explained
async def service_units_page(request: Request) -> Response:
    page = _viewer(request)
    if not isinstance(page, PageContext):
        return page
    return await run_in_threadpool(_list_page, page, lists.query_params(request))


@explained
async def create_service_unit(request: Request) -> Response:
    page = _viewer(request, "org.manage")
    if not isinstance(page, PageContext):
        return page
    posted, _ = await read_post(request)

    def save() -> tuple[Submission, int | None]:
        with page.kernel.unit_of_work(actor=page.actor) as session:
            form = custom_form(session, NEW_UNIT_FORM)
            submission = page.check(form, posted, pickers.lookups(session))
            if not submission.valid:
                return submission, None
            unit = organisation.create_service_unit(session, **nested(submission.values))
            return submission, unit.id

    try:
        submission, unit_id = await run_in_threadpool(save)
    except BadUserInput as error:
        errors, message = refusal(page, error)
        return await run_in_threadpool(
            _list_page, page, {}, 400, values=dict(posted), errors=errors, message=message
        )
    if unit_id is None:
        return await run_in_threadpool(
            _list_page, page, {}, 400, values=submission.raw, errors=submission.errors
        )
    return RedirectResponse(f"{BASE}/{unit_id}", status_code=303)


# --- one unit -------------------------------------------------------------------------


def _detail(page: PageContext, unit_id: int, status: int = 200, **extra: Any) -> Response:
    """The unit, its contacts and members, the forms the viewer may use and the timeline."""
    unit_access = field_access(page.actor, "service_unit")
    contact_access = field_access(page.actor, "service_unit_contact")
    may_manage = page.actor.can("org.manage")
    with page.kernel.session() as session:
        unit = organisation.get_service_unit(session, unit_id)
        contacts = list(
            session.scalars(
                select(ServiceUnitContact)
                .where(ServiceUnitContact.service_unit_id == unit_id)
                .order_by(ServiceUnitContact.name, ServiceUnitContact.id)
            )
        )
        members = list(
            session.scalars(
                select(User)
                .join(UserServiceUnit, UserServiceUnit.user_id == User.id)
                .where(UserServiceUnit.service_unit_id == unit_id)
                .order_by(User.login)
            )
        )
        unit_form = custom_form(session, UNIT_FORM)
        values = extra.pop("values", None) or form_values(unit_form, unit, unit_access)
        version = extra.pop("version", unit.version)
        stored = form_values(unit_form, unit, unit_access)
        choices = pickers.prepare(session, unit_form, values, page.actor, page.locale)
    contact_columns = [f for f in CONTACT_FORM.fields if contact_access.readable(f.name)]
    labels = {f.name: f.label(page.locale) for f in unit_form.fields}
    timeline = record_timeline(page, "service_unit", unit_id, labels, comments=True)
    header = active_header(page, unit.name, unit_access, unit.active, unit.code)
    return page.respond(
        "admin/service_unit.html",
        status=status,
        unit=unit,
        unit_form=unit_form,
        unit_sections=visible_fields(unit_form, unit_access),
        choices=choices,
        unit_access=unit_access,
        values=values,
        version=version,
        stored=stored,
        contacts=contacts,
        contact_columns=contact_columns,
        contact_form=CONTACT_FORM,
        contact_sections=visible_fields(CONTACT_FORM, contact_access),
        contact_access=contact_access,
        contact_values=extra.pop("contact_values", {}),
        members=members,
        may_manage=may_manage,
        timeline=timeline,
        header=header,
        errors=extra.pop("errors", {}),
        contact_errors=extra.pop("contact_errors", {}),
        conflict=extra.pop("conflict", False),
        message=extra.pop("message", ""),
        done=extra.pop("done", ""),
    )


DONE = ("saved", "contact", "member", "removed")


@explained
async def service_unit_page(request: Request) -> Response:
    page = _viewer(request)
    if not isinstance(page, PageContext):
        return page
    unit_id = int(request.path_params["unit_id"])
    done = request.query_params.get("done", "")
    return await run_in_threadpool(_detail, page, unit_id, done=done if done in DONE else "")


@explained
async def save_service_unit(request: Request) -> Response:
    page = _viewer(request, "org.manage")
    if not isinstance(page, PageContext):
        return page
    unit_id = int(request.path_params["unit_id"])
    posted, version = await read_post(request)

    def save() -> Submission:
        with page.kernel.unit_of_work(actor=page.actor) as session:
            unit = organisation.get_service_unit(session, unit_id)
            form = custom_form(session, UNIT_FORM)
            current = form_values(form, unit, field_access(page.actor, "service_unit"))
            submission = page.check(form, posted, pickers.lookups(session, current))
            if submission.valid:
                organisation.update_service_unit(
                    session, unit_id, version, nested(changed(submission.values, unit))
                )
            return submission

    try:
        submission = await run_in_threadpool(save)
    except Conflict:
        with page.kernel.session() as session:
            current = organisation.get_service_unit(session, unit_id).version
        return await run_in_threadpool(
            _detail, page, unit_id, 409, values=dict(posted), version=current, conflict=True
        )
    except BadUserInput as error:
        errors, message = refusal(page, error)
        return await run_in_threadpool(
            _detail,
            page,
            unit_id,
            400,
            values=dict(posted),
            version=version,
            errors=errors,
            message=message,
        )
    if not submission.valid:
        return await run_in_threadpool(
            _detail,
            page,
            unit_id,
            400,
            values=submission.raw,
            version=version,
            errors=submission.errors,
        )
    return RedirectResponse(f"{BASE}/{unit_id}?done=saved", status_code=303)


@explained
async def add_contact(request: Request) -> Response:
    page = _viewer(request, "org.manage")
    if not isinstance(page, PageContext):
        return page
    unit_id = int(request.path_params["unit_id"])
    posted, _ = await read_post(request)
    submission = page.check(CONTACT_FORM, posted)
    if not submission.valid:
        return await run_in_threadpool(
            _detail,
            page,
            unit_id,
            400,
            contact_values=submission.raw,
            contact_errors=submission.errors,
        )

    def save() -> None:
        with page.kernel.unit_of_work(actor=page.actor) as session:
            organisation.add_contact(session, unit_id, **_given(submission))

    await run_in_threadpool(save)
    return RedirectResponse(f"{BASE}/{unit_id}?done=contact", status_code=303)


def _given(submission: Submission) -> dict[str, Any]:
    """The filled-in values only: an empty field is not written (it may be read-only)."""
    return {name: value for name, value in submission.values.items() if value is not None}


@explained
async def add_member(request: Request) -> Response:
    page = _viewer(request, "org.manage")
    if not isinstance(page, PageContext):
        return page
    form = await request.form()
    check_csrf(request, form)
    unit_id = int(request.path_params["unit_id"])
    login = str(form.get("login", "")).strip()

    def save() -> bool:
        with page.kernel.unit_of_work(actor=page.actor) as session:
            user_id = session.scalar(select(User.id).where(User.login == login))
            if user_id is None:
                return False
            organisation.add_service_unit_member(session, unit_id, user_id)
            return True

    if not await run_in_threadpool(save):
        message = page.gettext("There is no user with the login %(login)s.", login=login)
        return await run_in_threadpool(_detail, page, unit_id, 400, message=message)
    return RedirectResponse(f"{BASE}/{unit_id}?done=member", status_code=303)


@explained
async def remove_member(request: Request) -> Response:
    page = _viewer(request, "org.manage")
    if not isinstance(page, PageContext):
        return page
    form = await request.form()
    check_csrf(request, form)
    unit_id = int(request.path_params["unit_id"])
    user_id = int(request.path_params["user_id"])

    def save() -> None:
        with page.kernel.unit_of_work(actor=page.actor) as session:
            organisation.remove_service_unit_member(session, unit_id, user_id)

    await run_in_threadpool(save)
    return RedirectResponse(f"{BASE}/{unit_id}?done=removed", status_code=303)


ROUTES = [
    Route(BASE, service_units_page, methods=["GET"]),
    Route(BASE, create_service_unit, methods=["POST"]),
    *lists.ListRoutes(SERVICE_UNITS, BASE, "org.read").routes(),
    Route(BASE + "/{unit_id:int}", service_unit_page, methods=["GET"]),
    Route(BASE + "/{unit_id:int}", save_service_unit, methods=["POST"]),
    Route(BASE + "/{unit_id:int}/contacts", add_contact, methods=["POST"]),
    Route(BASE + "/{unit_id:int}/members", add_member, methods=["POST"]),
    Route(BASE + "/{unit_id:int}/members/{user_id:int}/remove", remove_member, methods=["POST"]),
]
MENUS = [
    MenuItem(
        "admin.service_units",
        {"zh-CN": "服务单位", "en": "Service units"},
        BASE,
        "admin",
        "org.read",
        30,
    ),
]
