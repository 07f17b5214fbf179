"""Users (`/admin/users`): the list of the organisation's people, built on `lists`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from openitsm.kernel.access.fields import FieldAccess, field_access
from openitsm.kernel.customfields import service as customfields
from openitsm.kernel.identity.models import User
from openitsm.kernel.labels import pick_label
from openitsm.kernel.organisation import service as organisation
from openitsm.kernel.organisation.models import Department
from openitsm.kernel.references import RecordRef
from openitsm.web import lists
from openitsm.web.customfields import summary_rows
from openitsm.web.lists import BulkAction, Column, Filter, ListView
from openitsm.web.menus import MenuItem
from openitsm.web.pages import PageContext, explained
from openitsm.web.records import active_header
from openitsm.web.timeline import record_timeline

SEARCHED = ("login", "name", "employee_id", "phone", "email")
YES_NO = (("1", {"zh-CN": "是", "en": "Yes"}), ("0", {"zh-CN": "否", "en": "No"}))


def _search(statement: Select[Any], text: str, access: FieldAccess) -> Select[Any]:
    pattern = f"%{text.strip()}%"
    columns = access.readable_only({name: getattr(User, name) for name in SEARCHED})
    return statement.where(or_(*(column.ilike(pattern) for column in columns)))


def _active(statement: Select[Any], value: str, access: FieldAccess) -> Select[Any]:
    return statement.where(User.active.is_(value == "1"))


def _department_names(session: Session) -> Mapping[str, Any]:
    return {"departments": dict(session.execute(select(Department.id, Department.name)).all())}


def _deactivate(session: Session, ids: list[int], page: PageContext) -> int:
    done = 0
    for user_id in ids:
        user = organisation.get_user(session, user_id)
        if user.active and user.id != page.actor.user_id:
            organisation.deactivate_user(session, user_id)
            done += 1
    return done


USERS = ListView(
    "users",
    "user",
    {"zh-CN": "用户", "en": "Users"},
    columns=(
        Column("login", {"zh-CN": "登录名", "en": "Login"}, sort=User.login, link=True),
        Column("name", {"zh-CN": "姓名", "en": "Name"}, sort=User.sort_name),
        Column("employee_id", {"zh-CN": "工号", "en": "Employee id"}, sort=User.employee_id),
        Column(
            "department_id",
            {"zh-CN": "部门", "en": "Department"},
            show=lambda user, extra: extra["departments"].get(user.department_id),
        ),
        Column("email", {"zh-CN": "电子邮件", "en": "Email"}),
        Column("phone", {"zh-CN": "电话", "en": "Phone"}, default=False),
        Column("active", {"zh-CN": "启用", "en": "Active"}, kind="bool"),
    ),
    filters=(
        Filter("q", "name", {"zh-CN": "搜索用户", "en": "Search users"}, _search, type="search"),
        Filter("active", "active", {"zh-CN": "启用", "en": "Active"}, _active, choices=YES_NO),
    ),
    default_sort="login",
    detail_url="/admin/users/{id}",
    bulk_actions=(
        BulkAction("deactivate", {"zh-CN": "停用", "en": "Deactivate"}, "org.manage", _deactivate),
    ),
    prepare=_department_names,
)


LIST = lists.ListRoutes(USERS, "/admin/users", "org.read")
_viewer = LIST.viewer


@explained
async def users_page(request: Request) -> Response:
    page = _viewer(request)
    if not isinstance(page, PageContext):
        return page
    body = await run_in_threadpool(lists.render_list, page, USERS, lists.query_params(request))
    return page.respond("admin/users.html", body=body)


SUMMARY = (
    ("login", {"zh-CN": "登录名", "en": "Login"}),
    ("employee_id", {"zh-CN": "工号", "en": "Employee id"}),
    ("email", {"zh-CN": "电子邮件", "en": "Email"}),
    ("phone", {"zh-CN": "电话", "en": "Phone"}),
    ("department_id", {"zh-CN": "部门", "en": "Department"}),
    ("manager_id", {"zh-CN": "上级", "en": "Manager"}),
    ("locale", {"zh-CN": "语言", "en": "Language"}),
    ("time_zone", {"zh-CN": "时区", "en": "Time zone"}),
)
LINKS = {"department_id": "department", "manager_id": "user"}


@explained
async def user_page(request: Request) -> Response:
    """One person: what the viewer may see of them, and their history."""
    page = _viewer(request)
    if not isinstance(page, PageContext):
        return page
    user_id = int(request.path_params["user_id"])
    access = field_access(page.actor, "user")

    def load() -> tuple[Any, list[tuple[str, Any]], Any]:
        with page.kernel.session() as session:
            user = organisation.get_user(session, user_id)
            refs = [
                RecordRef(kind, getattr(user, name))
                for name, kind in LINKS.items()
                if getattr(user, name) is not None and access.readable(name)
            ]
            names = page.kernel.record_kinds.describe(session, refs, page.actor)
            custom = summary_rows(session, user, "user", access, page.locale, page.time_zone)
            custom_labels = {
                spec.name: spec.label(page.locale)
                for spec in customfields.definitions(session, "user", retired=True)
            }
        summary = []
        for name, labels in SUMMARY:
            if not access.readable(name):
                continue
            value = getattr(user, name)
            if name in LINKS and value is not None:
                found = names.get(RecordRef(LINKS[name], value))
                value = found.title if found else f"#{value}"
            summary.append((pick_label(labels, page.locale, name), value))
        summary.extend(custom)
        labels = {name: pick_label(text, page.locale, name) for name, text in SUMMARY}
        labels.update(custom_labels)
        labels["name"] = pick_label({"zh-CN": "姓名", "en": "Name"}, page.locale, "name")
        labels["active"] = pick_label({"zh-CN": "启用", "en": "Active"}, page.locale, "active")
        timeline = record_timeline(page, "user", user_id, labels, LINKS, comments=True)
        return user, summary, timeline

    user, summary, timeline = await run_in_threadpool(load)
    header = active_header(page, user.name, access, user.active)
    return page.respond(
        "admin/user.html",
        user=user,
        summary=summary,
        timeline=timeline,
        access=access,
        header=header,
    )


ROUTES = [
    Route("/admin/users", users_page, methods=["GET"]),
    Route("/admin/users/{user_id:int}", user_page, methods=["GET"]),
    *LIST.routes(),
]
MENUS = [
    MenuItem(
        "admin.users", {"zh-CN": "用户", "en": "Users"}, "/admin/users", "admin", "org.read", 10
    ),
]
