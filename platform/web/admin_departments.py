"""Administration of the department tree (`/admin/departments`): the tree, drag to move,
create and edit with a kernel form.

Every write goes through `openitsm.kernel.organisation.service`, which checks versions,
field rules and cycles and records history; a refused move redraws the tree as stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from openitsm.kernel.access.fields import FieldAccess, field_access
from openitsm.kernel.customfields.service import nested
from openitsm.kernel.db import utcnow
from openitsm.kernel.errors import BadUserInput, Conflict, Forbidden, NotFound, OpenITSMError
from openitsm.kernel.forms import (
    FieldError,
    Form,
    FormField,
    FormSection,
    Submission,
    changed,
    check_submission,
    form_values,
    visible_fields,
)
from openitsm.kernel.identity.models import User
from openitsm.kernel.organisation import service as organisation
from openitsm.kernel.organisation.models import Department
from openitsm.web import pickers
from openitsm.web.customfields import custom_form, refusal
from openitsm.web.menus import MenuItem
from openitsm.web.pages import PageContext, check_csrf, explained, page_context, read_post

READ = "org.read"
MANAGE = "org.manage"
STEP = 10  # sort orders are spaced so a move usually changes only the moved department

CODE = FormField("code", {"zh-CN": "编码", "en": "Code"}, required=True, max_length=100)
NAME = FormField("name", {"zh-CN": "名称", "en": "Name"}, required=True, max_length=200)
PARENT = FormField("parent_id", {"zh-CN": "上级部门", "en": "Parent department"}, "department")
HEAD = FormField("head_user_id", {"zh-CN": "负责人", "en": "Head"}, type="user")
ADMIN = FormField("admin_user_id", {"zh-CN": "管理员", "en": "Administrator"}, type="user")
ACTIVE = FormField("active", {"zh-CN": "启用", "en": "Active"}, type="bool")
SECTION_LABELS = {"zh-CN": "部门", "en": "Department"}

NEW_DEPARTMENT = Form(
    "department_new",
    "department",
    {"zh-CN": "新建部门", "en": "New department"},
    (FormSection("department", SECTION_LABELS, (CODE, NAME, PARENT, HEAD, ADMIN)),),
)
# The parent is changed by dragging in the tree, not in this form.
DEPARTMENT = Form(
    "department",
    "department",
    {"zh-CN": "部门", "en": "Department"},
    (FormSection("department", SECTION_LABELS, (CODE, NAME, HEAD, ADMIN, ACTIVE)),),
)
# Fields the organisation service names differently in its refusals.
SERVICE_FIELDS = {
    "code": "code",
    "name": "name",
    "parentId": "parent_id",
    "headId": "head_user_id",
    "adminId": "admin_user_id",
}


# --- the tree -------------------------------------------------------------------------


@dataclass
class Node:
    id: int
    version: int
    code: str
    name: str
    active: bool
    head: str
    children: list[Node] = field(default_factory=list)


def load_tree(session: Session, page: PageContext) -> list[Node]:
    """The whole tree with each head's name, in one query, as the viewer may read it."""
    access = field_access(page.actor, "department")
    users = field_access(page.actor, "user")
    head = aliased(User)
    show_head = access.readable("head_user_id") and users.readable("name")
    rows = session.execute(
        select(
            Department.id,
            Department.parent_id,
            Department.sort_order,
            Department.version,
            Department.code,
            Department.name,
            Department.active,
            head.name.label("head_name"),
        ).outerjoin(head, head.id == Department.head_user_id)
    ).all()
    by_order = access.readable("sort_order")
    ordered = pickers.tree_order(
        rows, key=(lambda r: (r.sort_order, r.id)) if by_order else lambda r: r.id
    )
    nodes: dict[int, Node] = {}
    roots: list[Node] = []
    for row, depth in ordered:
        node = Node(
            row.id,
            row.version,
            row.code if access.readable("code") else "",
            row.name if access.readable("name") else f"#{row.id}",
            row.active if access.readable("active") else True,
            (row.head_name or "") if show_head else "",
        )
        nodes[row.id] = node
        parent = nodes.get(row.parent_id) if depth else None
        (parent.children if parent is not None else roots).append(node)
    return roots


def _tree_values(page: PageContext) -> dict[str, Any]:
    with page.kernel.session() as session:
        tree = load_tree(session, page)
    return {"tree": tree, "can_manage": page.actor.can(MANAGE)}


@explained
async def show_tree(request: Request) -> Response:
    page = page_context(request, READ)
    if not isinstance(page, PageContext):
        return page
    values = await run_in_threadpool(_tree_values, page)
    return page.respond("admin/departments.html", **values)


def _sort_order(session: Session, department_id: int, parent_id: int | None, index: int) -> int:
    """The sort order putting a department at `index` among its new siblings; when there is
    no room between two of them, the siblings are spaced out again first (same transaction)."""
    parent = (
        Department.parent_id.is_(None) if parent_id is None else Department.parent_id == parent_id
    )
    siblings = list(
        session.scalars(
            select(Department)
            .where(parent, Department.id != department_id)
            .order_by(Department.sort_order, Department.id)
        )
    )
    index = min(max(index, 0), len(siblings))
    before = siblings[index - 1].sort_order if index > 0 else None
    after = siblings[index].sort_order if index < len(siblings) else None
    if before is None and after is None:
        return STEP
    if before is None:
        return after - STEP  # type: ignore[operator]
    if after is None:
        return before + STEP
    if after - before >= 2:
        return (before + after) // 2
    for position, sibling in enumerate(siblings):
        spaced = (position + 1 + (position >= index)) * STEP
        if sibling.sort_order != spaced:
            organisation.update_department(
                session, sibling.id, sibling.version, {"sort_order": spaced}
            )
    return (index + 1) * STEP


def _number(text: str, what: str) -> int:
    if not text.strip().lstrip("-").isdigit():
        raise BadUserInput(f"The {what} of the move could not be read.", field=what)
    return int(text)


@explained
async def move(request: Request) -> Response:
    """A department dropped in the tree (htmx): saved, or refused; the tree comes back as
    stored either way, with what happened."""
    page = page_context(request, MANAGE)
    if not isinstance(page, PageContext):
        return page
    form = await request.form()
    check_csrf(request, form)
    department_id = int(request.path_params["department_id"])
    raw_parent = str(form.get("parent_id", "")).strip()

    def save() -> None:
        parent_id = _number(raw_parent, "parent") if raw_parent else None
        index = _number(str(form.get("position", "")), "position")
        version = _number(str(form.get("version", "")), "version")
        with page.kernel.unit_of_work(actor=page.actor) as session:
            order = _sort_order(session, department_id, parent_id, index)
            organisation.move_department(session, department_id, version, parent_id, order)

    status, problem = 200, ""
    try:
        await run_in_threadpool(save)
    except Conflict:
        status = 409
        problem = page.gettext(
            "Someone else changed this department in the meantime; the tree is shown as "
            "stored now. Move it again if you still want to."
        )
    except BadUserInput as error:
        status = 400
        cycle = error.extensions.get("field") == "parentId"
        problem = (
            page.gettext("A department cannot be moved under itself or one of its sub-departments.")
            if cycle
            else page.explain(error)
        )
    except NotFound:
        status = 404
        problem = page.gettext("That department no longer exists; the tree is shown as stored now.")
    except Forbidden as error:
        status, problem = 403, page.explain(error)
    values = await run_in_threadpool(_tree_values, page)
    return page.respond(
        "admin/departments_tree.html",
        status=status,
        problem=problem,
        moved=department_id if status == 200 else None,
        **values,
    )


# --- create and edit ------------------------------------------------------------------


def _access(page: PageContext, may_edit: bool, form: Form) -> FieldAccess:
    """The viewer's field rules; every field read-only for someone who may only read."""
    access = field_access(page.actor, "department")
    if may_edit:
        return access
    everything = frozenset(f.name for f in form.fields)
    return FieldAccess("department", access.hidden, access.read_only | everything)


def _show(
    page: PageContext,
    form: Form,
    values: Mapping[str, Any],
    *,
    department_id: int | None,
    version: int = 0,
    status: int = 200,
    may_edit: bool = True,
    **extra: Any,
) -> Response:
    with page.kernel.session() as session:
        form = custom_form(session, form)
        choices = pickers.prepare(session, form, values, page.actor, page.locale)
    access = _access(page, may_edit, form)
    return page.respond(
        "admin/departments_form.html",
        status=status,
        form=form,
        sections=visible_fields(form, access),
        access=access,
        values=values,
        choices=choices,
        department_id=department_id,
        version=version,
        may_edit=may_edit,
        opened_at=extra.pop("opened_at", utcnow().isoformat()),
        errors=extra.pop("errors", {}),
        problem=extra.pop("problem", ""),
        conflict=extra.pop("conflict", False),
        saved=extra.pop("saved", False),
    )


def _refusal(page: PageContext, error: OpenITSMError) -> tuple[dict[str, FieldError], str]:
    """A service refusal as an error next to its field, or as a message over the form."""
    name = SERVICE_FIELDS.get(str(error.extensions.get("field", "")))
    if name == "code":
        code = "taken" if "taken" in error.message else "not_a_code"
        return {name: FieldError(code)}, ""
    if name in ("head_user_id", "admin_user_id"):
        return {name: FieldError("unknown_user")}, ""
    if name == "parent_id":
        return {name: FieldError("unknown_department")}, ""
    if name == "name":
        return {name: FieldError("too_long", {"max": 200})}, ""
    return refusal(page, error)  # a custom field's next to it, anything else over the form


@explained
async def new_department(request: Request) -> Response:
    page = page_context(request, MANAGE)
    if not isinstance(page, PageContext):
        return page
    parent = request.query_params.get("parent", "")
    values = {"parent_id": int(parent)} if parent.isdigit() else {}
    return await run_in_threadpool(lambda: _show(page, NEW_DEPARTMENT, values, department_id=None))


@explained
async def create_department(request: Request) -> Response:
    page = page_context(request, MANAGE)
    if not isinstance(page, PageContext):
        return page
    posted, _ = await read_post(request)
    access = field_access(page.actor, "department")

    def save() -> tuple[Submission, int | None]:
        with page.kernel.unit_of_work(actor=page.actor) as session:
            submission = check_submission(
                custom_form(session, NEW_DEPARTMENT),
                posted,
                access,
                time_zone=page.time_zone,
                lookups=pickers.lookups(session),
            )
            if not submission.valid:
                return submission, None
            department = organisation.create_department(session, **nested(submission.values))
            return submission, department.id

    try:
        submission, created = await run_in_threadpool(save)
    except (BadUserInput, NotFound) as error:
        errors, problem = _refusal(page, error)
        raw = dict(posted)
        return await run_in_threadpool(
            lambda: _show(
                page,
                NEW_DEPARTMENT,
                raw,
                department_id=None,
                status=400,
                errors=errors,
                problem=problem,
            )
        )
    if created is None:
        return await run_in_threadpool(
            lambda: _show(
                page,
                NEW_DEPARTMENT,
                submission.raw,
                department_id=None,
                status=400,
                errors=submission.errors,
            )
        )
    return RedirectResponse(f"/admin/departments/{created}?saved=1", status_code=303)


@explained
async def edit_department(request: Request) -> Response:
    page = page_context(request, READ)
    if not isinstance(page, PageContext):
        return page
    department_id = int(request.path_params["department_id"])
    may_edit = page.actor.can(MANAGE)

    def show() -> Response:
        with page.kernel.session() as session:
            department = organisation.get_department(session, department_id)
            form = custom_form(session, DEPARTMENT)
            values = form_values(form, department, field_access(page.actor, "department"))
            version = department.version
        return _show(
            page,
            DEPARTMENT,
            values,
            department_id=department_id,
            version=version,
            may_edit=may_edit,
            saved=request.query_params.get("saved") == "1",
        )

    return await run_in_threadpool(show)


@explained
async def save_department(request: Request) -> Response:
    page = page_context(request, MANAGE)
    if not isinstance(page, PageContext):
        return page
    department_id = int(request.path_params["department_id"])
    posted, version = await read_post(request)
    access = field_access(page.actor, "department")

    def save() -> Submission:
        with page.kernel.unit_of_work(actor=page.actor) as session:
            department = organisation.get_department(session, department_id)
            form = custom_form(session, DEPARTMENT)
            current = form_values(form, department, access)
            submission = check_submission(
                form,
                posted,
                access,
                time_zone=page.time_zone,
                lookups=pickers.lookups(session, current),
            )
            if submission.valid:
                organisation.update_department(
                    session, department_id, version, nested(changed(submission.values, department))
                )
            return submission

    def again(status: int, **extra: Any) -> Response:
        """The form as typed (what the viewer may not change as stored), with the refusal."""
        with page.kernel.session() as session:
            department = organisation.get_department(session, department_id)
            form = custom_form(session, DEPARTMENT)
            stored, values = department.version, form_values(form, department, access)
        for spec in form.fields:
            if access.writable(spec.name):
                values[spec.name] = posted.get(spec.name, "")  # an unticked box is not posted
        return _show(
            page,
            DEPARTMENT,
            values,
            department_id=department_id,
            version=stored if status == 409 else version,
            status=status,
            opened_at=posted.get("opened_at") or utcnow().isoformat(),
            **extra,
        )

    try:
        submission = await run_in_threadpool(save)
    except Conflict:
        return await run_in_threadpool(lambda: again(409, conflict=True))
    except BadUserInput as error:
        errors, problem = _refusal(page, error)
        return await run_in_threadpool(lambda: again(400, errors=errors, problem=problem))
    if not submission.valid:
        return await run_in_threadpool(lambda: again(400, errors=submission.errors))
    return RedirectResponse(f"/admin/departments/{department_id}?saved=1", status_code=303)


ROUTES = [
    Route("/admin/departments", show_tree, methods=["GET"]),
    Route("/admin/departments/new", new_department, methods=["GET"]),
    Route("/admin/departments/new", create_department, methods=["POST"]),
    Route("/admin/departments/{department_id:int}", edit_department, methods=["GET"]),
    Route("/admin/departments/{department_id:int}", save_department, methods=["POST"]),
    Route("/admin/departments/{department_id:int}/move", move, methods=["POST"]),
]
MENUS = [
    MenuItem(
        "departments",
        {"zh-CN": "部门", "en": "Departments"},
        "/admin/departments",
        section="admin",
        action=READ,
        order=20,
    ),
]
