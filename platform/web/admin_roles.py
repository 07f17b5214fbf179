"""Roles administration (`/admin/roles`): the action matrix, data scopes and field rules.

Everyone with `org.read` may look; only `role.manage` changes anything, and every POST checks
that action itself, whatever the page showed. Writes go through the kernel services, which
check versions, field rules on roles, and record history.

Data scopes and field rules are saved as differences: each form posts, next to the chosen
value, the value it showed (`was-…`), and only what the user changed is written, so two
administrators editing different fields of the same role do not undo each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from openitsm.kernel.access import ActionSpec, action_registry, require
from openitsm.kernel.access.fields import rules_of_roles, set_field_rule
from openitsm.kernel.access.models import FIELD_ACCESS, SCOPES, RoleScope
from openitsm.kernel.access.scope import set_role_scope
from openitsm.kernel.collation import sort_key
from openitsm.kernel.customfields.service import resource_fields
from openitsm.kernel.errors import BadUserInput, Conflict
from openitsm.kernel.organisation import service as organisation
from openitsm.kernel.organisation.models import Role, RoleAction, UserRole
from openitsm.web.menus import MenuItem
from openitsm.web.pages import PageContext, check_csrf, explained, page_context

READ = "org.read"
MANAGE = "role.manage"


@dataclass
class ActionGroup:
    """The actions of one module (`org`, `incident`, …), as the matrix shows them."""

    prefix: str
    label: str
    actions: list[ActionSpec] = field(default_factory=list)


@dataclass
class ResourceRules:
    """One resource of the field-rule editor: its fields and the role's rule on each."""

    name: str
    label: str
    fields: list[str]
    rules: dict[str, str]


# --- reading ------------------------------------------------------------------------------


def _groups(page: PageContext) -> list[ActionGroup]:
    """Declared actions grouped by module prefix, in declaration order (kernel first)."""
    kinds = page.kernel.record_kinds.kinds
    groups: dict[str, ActionGroup] = {}
    for spec in action_registry(page.kernel):
        prefix = spec.name.split(".", 1)[0]
        group = groups.get(prefix)
        if group is None:
            kind = kinds.get(prefix)
            label = kind.label(page.locale) if kind is not None else prefix
            group = groups[prefix] = ActionGroup(prefix, label)
        group.actions.append(spec)
    return list(groups.values())


def _scoped_resources(page: PageContext) -> list[tuple[str, str]]:
    """(name, label) of every record kind that declares scope columns."""
    kinds = page.kernel.record_kinds.kinds
    return sorted(
        ((name, kind.label(page.locale)) for name, kind in kinds.items() if kind.scope is not None),
        key=lambda pair: sort_key(pair[1]),
    )


def _list_values(page: PageContext) -> dict[str, Any]:
    with page.kernel.session() as session:
        roles = list(session.scalars(select(Role).order_by(Role.builtin.desc(), Role.code)))
        holders = dict(
            session.execute(
                select(UserRole.role_id, func.count(UserRole.id)).group_by(UserRole.role_id)
            ).all()
        )
        granted = dict(
            session.execute(
                select(RoleAction.role_id, func.count(RoleAction.id)).group_by(RoleAction.role_id)
            ).all()
        )
        rows = [
            {
                "id": role.id,
                "code": role.code,
                "label": role.label(page.locale),
                "builtin": role.builtin,
                "users": holders.get(role.id, 0),
                "actions": granted.get(role.id, 0),
            }
            for role in roles
        ]
    return {"roles": rows}


def _role_values(page: PageContext, role_id: int) -> dict[str, Any]:
    """Everything the role page shows, read in one session."""
    with page.kernel.session() as session:
        role = organisation.get_role(session, role_id)
        actions = organisation.role_actions(session, role_id)
        scopes = dict(
            session.execute(
                select(RoleScope.resource, RoleScope.scope).where(RoleScope.role_id == role_id)
            ).all()
        )
        rules = rules_of_roles(session, [role_id])[role_id]
        kinds = page.kernel.record_kinds.kinds
        fields = {name: sorted(resource_fields(session, kind)) for name, kind in kinds.items()}
        summary = {
            "id": role.id,
            "code": role.code,
            "label": role.label(page.locale),
            "labels": dict(role.labels),
            "description": role.description,
            "builtin": role.builtin,
            "version": role.version,
        }
    by_resource: dict[str, dict[str, str]] = {}
    for rule in rules:
        by_resource.setdefault(rule.resource, {})[rule.field] = rule.access
    resources = sorted(
        (
            ResourceRules(
                name,
                kind.label(page.locale),
                fields[name],
                by_resource.get(name, {}),
            )
            for name, kind in kinds.items()
        ),
        key=lambda resource: sort_key(resource.label),
    )
    registry = action_registry(page.kernel)
    return {
        "role": summary,
        "granted": set(actions),
        "undeclared": [name for name in actions if name not in registry],
        "groups": _groups(page),
        "scoped": _scoped_resources(page),
        "scopes": scopes,
        "scope_choices": SCOPES,
        "resources": resources,
        "access_choices": tuple(reversed(FIELD_ACCESS)),
        "may_manage": page.actor.can(MANAGE),
    }


def _role_id(request: Request) -> int:
    return int(request.path_params["role_id"])


# --- pages --------------------------------------------------------------------------------


@explained
async def list_roles(request: Request) -> Response:
    page = page_context(request, READ)
    if not isinstance(page, PageContext):
        return page
    values = await run_in_threadpool(_list_values, page)
    return page.respond(
        "admin/roles.html", may_manage=page.actor.can(MANAGE), typed={}, error=None, **values
    )


@explained
async def create_role(request: Request) -> Response:
    page = page_context(request)
    if not isinstance(page, PageContext):
        return page
    form = await request.form()
    check_csrf(request, form)
    require(page.actor, MANAGE)
    typed = {
        name: str(form.get(name, "")).strip() for name in ("code", "zh-CN", "en", "description")
    }
    labels = {locale: typed[locale] for locale in ("zh-CN", "en") if typed[locale]}

    def create() -> int:
        with page.kernel.unit_of_work(actor=page.actor) as session:
            role = organisation.create_role(
                session,
                action_registry(page.kernel),
                code=typed["code"],
                labels=labels,
                description=typed["description"],
            )
            return role.id

    try:
        role_id = await run_in_threadpool(create)
    except BadUserInput as error:
        values = await run_in_threadpool(_list_values, page)
        return page.respond(
            "admin/roles.html",
            status=400,
            may_manage=True,
            typed=typed,
            error=page.explain(error),
            **values,
        )
    return RedirectResponse(f"/admin/roles/{role_id}?saved=1", status_code=303)


@explained
async def show_role(request: Request) -> Response:
    page = page_context(request, READ)
    if not isinstance(page, PageContext):
        return page
    values = await run_in_threadpool(_role_values, page, _role_id(request))
    return page.respond(
        "admin/roles_detail.html",
        saved=request.query_params.get("saved") == "1",
        opened=request.query_params.get("open", ""),
        conflict=None,
        **values,
    )


@explained
async def save_actions(request: Request) -> Response:
    """The whole list of ticked actions replaces the role's, if nobody changed it meanwhile."""
    page = page_context(request)
    if not isinstance(page, PageContext):
        return page
    form = await request.form()
    check_csrf(request, form)
    require(page.actor, MANAGE)
    role_id = _role_id(request)
    ticked = [str(value) for value in form.getlist("action")]
    version_text = str(form.get("version", ""))
    if not version_text.isdigit():
        raise BadUserInput("The form lacks the role's version; reload the page.", field="version")

    def save() -> None:
        with page.kernel.unit_of_work(actor=page.actor) as session:
            organisation.update_role(
                session,
                action_registry(page.kernel),
                role_id,
                int(version_text),
                {"actions": ticked},
            )

    try:
        await run_in_threadpool(save)
    except Conflict:
        values = await run_in_threadpool(_role_values, page, role_id)
        current = sorted(values["granted"])
        values["granted"] = set(ticked)  # the user's ticks, kept to compare and save again
        return page.respond(
            "admin/roles_detail.html",
            status=409,
            saved=False,
            opened="",
            conflict=current,
            **values,
        )
    return RedirectResponse(f"/admin/roles/{role_id}?saved=1#actions", status_code=303)


def _changes(form: Mapping[str, Any], prefix: str) -> dict[str, str | None]:
    """{name: new value or None} for each `<prefix>name` whose value differs from the one
    the form showed (`was-<prefix>name`); without that, the value counts as changed. An empty
    value means none: no scope, or no field rule."""
    changed: dict[str, str | None] = {}
    for key, value in form.items():
        if not key.startswith(prefix):
            continue
        name = key[len(prefix) :]
        chosen = str(value)
        shown = form.get(f"was-{key}")
        if shown is None or chosen != str(shown):
            changed[name] = chosen or None
    return changed


@explained
async def save_scopes(request: Request) -> Response:
    page = page_context(request)
    if not isinstance(page, PageContext):
        return page
    form = await request.form()
    check_csrf(request, form)
    require(page.actor, MANAGE)
    role_id = _role_id(request)
    changes = _changes(form, "scope-")

    def save() -> None:
        with page.kernel.unit_of_work(actor=page.actor) as session:
            organisation.get_role(session, role_id)
            for resource, scope in changes.items():
                set_role_scope(session, role_id, resource, scope)

    await run_in_threadpool(save)
    return RedirectResponse(f"/admin/roles/{role_id}?saved=1#scopes", status_code=303)


@explained
async def save_field_rules(request: Request) -> Response:
    page = page_context(request)
    if not isinstance(page, PageContext):
        return page
    form = await request.form()
    check_csrf(request, form)
    require(page.actor, MANAGE)
    role_id = _role_id(request)
    resource = str(request.path_params["resource"])
    kinds = page.kernel.record_kinds
    kinds.get(resource)  # an unknown resource is refused before anything is written
    changes = _changes(form, "field-")

    def save() -> None:
        with page.kernel.unit_of_work(actor=page.actor) as session:
            organisation.get_role(session, role_id)
            for name, access in changes.items():
                set_field_rule(session, kinds, role_id, resource, name, access)

    await run_in_threadpool(save)
    target = f"/admin/roles/{role_id}?saved=1&open={resource}#fields-{resource}"
    return RedirectResponse(target, status_code=303)


ROUTES = [
    Route("/admin/roles", list_roles, methods=["GET"]),
    Route("/admin/roles", create_role, methods=["POST"]),
    Route("/admin/roles/{role_id:int}", show_role, methods=["GET"]),
    Route("/admin/roles/{role_id:int}/actions", save_actions, methods=["POST"]),
    Route("/admin/roles/{role_id:int}/scopes", save_scopes, methods=["POST"]),
    Route("/admin/roles/{role_id:int}/fields/{resource}", save_field_rules, methods=["POST"]),
]

MENUS = [
    MenuItem(
        "roles",
        {"zh-CN": "角色与权限", "en": "Roles"},
        "/admin/roles",
        section="admin",
        action=READ,
        order=30,
    ),
]
