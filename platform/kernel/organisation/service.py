"""Organisation operations: the only code that writes departments, roles and service units.

Every function checks all of its input before it writes anything, so a refused call leaves
nothing partly applied. Changes to who holds which role, action or service unit bump the
grants counter (`access.grants.bump`), so every process sees them on its next request.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from openitsm.kernel.access import ActionRegistry
from openitsm.kernel.access import grants as grants_module
from openitsm.kernel.access.fields import check_write, written_fields
from openitsm.kernel.customfields import service as customfields
from openitsm.kernel.db import check_version, tree
from openitsm.kernel.db.session import flush
from openitsm.kernel.dictionaries.spec import LOCALES
from openitsm.kernel.errors import BadUserInput, NotFound, _t
from openitsm.kernel.identity import service as identity
from openitsm.kernel.identity.models import User
from openitsm.kernel.organisation.models import (
    Department,
    Role,
    RoleAction,
    ServiceUnit,
    ServiceUnitContact,
    UserRole,
    UserServiceUnit,
)

PREDEFINED_ROLES = Path(__file__).parent / "roles.toml"
MAX_CODE = 100


# Service arguments that write a resource field of another name.
FIELD_OF_ARGUMENT = {"role_ids": "roles", "service_unit_ids": "service_units"}


# --- checks ---------------------------------------------------------------------------


def _guard(
    session: Session, resource: str, values: Mapping[str, Any], links: Iterable[str] = ()
) -> None:
    """Refuse the call when it writes a field the session's actor may not change (custom
    fields are checked one by one when they are applied)."""
    own = {key: value for key, value in values.items() if key != "custom_fields"}
    check_write(session, resource, written_fields(own, links, FIELD_OF_ARGUMENT))


def _set_custom(
    session: Session,
    record: Any,
    resource: str,
    values: Mapping[str, Any] | None,
    *,
    creating: bool = False,
) -> None:
    """Check and write the custom field values a call carries (`custom_fields`)."""
    if values is None:
        return
    checked = customfields.check_values(session, resource, values, creating=creating)
    customfields.apply_values(session, record, resource, checked)


def _code(code: str, field: str = "code") -> str:
    code = (code or "").strip()
    if not code or len(code) > MAX_CODE or not all(c.isalnum() or c in "_-." for c in code):
        raise BadUserInput(_t("Codes are 1 to 100 letters, digits, '_', '-' or '.'."), field=field)
    return code


def _name(name: str, field: str = "name", limit: int = 200) -> str:
    name = (name or "").strip()
    if not name or len(name) > limit:
        raise BadUserInput(
            _t("A name is 1 to {limit} characters."), field=field, params={"limit": limit}
        )
    return name


def _optional(value: str | None, field: str, limit: int) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if len(value) > limit:
        raise BadUserInput(
            _t("{field} is limited to {limit} characters."), field=field, params={"limit": limit}
        )
    return value or None


def _labels(labels: Mapping[str, str]) -> dict[str, str]:
    if not isinstance(labels, Mapping) or not all(isinstance(v, str) for v in labels.values()):
        raise BadUserInput('labels must look like {"zh-CN": "…", "en": "…"}.', field="labels")
    unknown = [locale for locale in labels if locale not in LOCALES]
    if unknown:
        raise BadUserInput(
            f"Unknown locale {unknown[0]!r}; use {' or '.join(LOCALES)}.", field="labels"
        )
    cleaned = {locale: text.strip() for locale, text in labels.items()}
    if not any(cleaned.values()) or any(len(text) > 200 for text in cleaned.values()):
        raise BadUserInput(_t("Give a name of 1 to 200 characters in a language."), field="labels")
    return cleaned


def _unique(session: Session, model: Any, column: str, value: Any, own_id: int | None) -> None:
    found = session.scalar(select(model.id).where(getattr(model, column) == value))
    if found is not None and found != own_id:
        raise BadUserInput(
            _t("The {what} '{value}' is taken."),
            field=column,
            params={"what": column.replace("_", " "), "value": value},
        )


def _get(session: Session, model: Any, record_id: int, what: str, field: str = "id") -> Any:
    record = session.get(model, record_id)
    if record is None:
        raise NotFound(
            _t("No {what} with id {id}."), field=field, params={"what": what, "id": record_id}
        )
    return record


def _named_changes(session: Session, record: Any, changes: Mapping[str, Any]) -> dict[str, Any]:
    """Checked `code`, `name` and `active` changes for a coded, named record (a department or
    service unit); codes stay unique among records of its kind."""
    values: dict[str, Any] = {}
    if changes.get("code") is not None:
        values["code"] = _code(changes["code"])
        _unique(session, type(record), "code", values["code"], record.id)
    if changes.get("name") is not None:
        values["name"] = _name(changes["name"])
    if changes.get("active") is not None:
        values["active"] = bool(changes["active"])
    return values


def get_department(session: Session, department_id: int, field: str = "id") -> Department:
    return _get(session, Department, department_id, "department", field)


def get_user(session: Session, user_id: int, field: str = "id") -> User:
    return _get(session, User, user_id, "user", field)


def get_role(session: Session, role_id: int, field: str = "id") -> Role:
    return _get(session, Role, role_id, "role", field)


def get_service_unit(session: Session, unit_id: int, field: str = "id") -> ServiceUnit:
    return _get(session, ServiceUnit, unit_id, "service unit", field)


# --- departments ----------------------------------------------------------------------


def _check_parent(session: Session, parent_id: int | None, moving: int | None = None) -> None:
    """The parent exists and is not the moved department or one of its descendants."""
    if parent_id is None:
        return
    parent = get_department(session, parent_id, "parentId")
    if moving is not None and tree.is_within(session, Department, parent, moving):
        raise BadUserInput(
            _t("A department cannot be moved under itself or one of its sub-departments."),
            field="parentId",
        )


def _next_position(session: Session, parent_id: int | None) -> int:
    return tree.next_position(session, Department, parent_id)


def create_department(
    session: Session,
    *,
    code: str,
    name: str,
    parent_id: int | None = None,
    sort_order: int | None = None,
    head_user_id: int | None = None,
    admin_user_id: int | None = None,
    custom_fields: Mapping[str, Any] | None = None,
) -> Department:
    _guard(
        session,
        "department",
        {
            "code": code,
            "name": name,
            "parent_id": parent_id,
            "sort_order": sort_order,
            "head_user_id": head_user_id,
            "admin_user_id": admin_user_id,
        },
    )
    code = _code(code)
    name = _name(name)
    _unique(session, Department, "code", code, None)
    _check_parent(session, parent_id)
    for user_id, field_name in ((head_user_id, "headId"), (admin_user_id, "adminId")):
        if user_id is not None:
            get_user(session, user_id, field_name)
    department = Department(
        code=code,
        name=name,
        parent_id=parent_id,
        sort_order=sort_order if sort_order is not None else _next_position(session, parent_id),
        head_user_id=head_user_id,
        admin_user_id=admin_user_id,
    )
    session.add(department)
    _set_custom(session, department, "department", custom_fields, creating=True)
    flush(session)
    return department


def update_department(
    session: Session, department_id: int, version: int, changes: Mapping[str, Any]
) -> Department:
    """Change code, name, order, head, administrator or active state (not the parent)."""
    _guard(session, "department", changes, links=("head_user_id", "admin_user_id"))
    department = get_department(session, department_id)
    check_version(department, version, "department")
    values = _named_changes(session, department, changes)
    if changes.get("sort_order") is not None:
        values["sort_order"] = int(changes["sort_order"])
    for key, field_name in (("head_user_id", "headId"), ("admin_user_id", "adminId")):
        if key in changes:
            if changes[key] is not None:
                get_user(session, changes[key], field_name)
            values[key] = changes[key]
    for key, value in values.items():
        setattr(department, key, value)
    _set_custom(session, department, "department", changes.get("custom_fields"))
    flush(session)
    return department


def move_department(
    session: Session,
    department_id: int,
    version: int,
    parent_id: int | None,
    sort_order: int | None = None,
) -> Department:
    _guard(
        session,
        "department",
        {"parent_id": parent_id, "sort_order": sort_order},
        links=("parent_id",),
    )
    department = get_department(session, department_id)
    check_version(department, version, "department")
    _check_parent(session, parent_id, moving=department.id)
    position = sort_order if sort_order is not None else _next_position(session, parent_id)
    department.parent_id = parent_id  # both set before the flush: one new version
    department.sort_order = position
    flush(session)
    return department


# --- roles ----------------------------------------------------------------------------


def _set_role_actions(session: Session, role: Role, actions: Sequence[str]) -> None:
    current = set(session.scalars(select(RoleAction.action).where(RoleAction.role_id == role.id)))
    wanted = set(actions)
    if current == wanted:
        return
    removed = current - wanted
    for row in session.scalars(
        select(RoleAction).where(RoleAction.role_id == role.id, RoleAction.action.in_(removed))
    ):
        session.delete(row)
    for action in actions:
        if action not in current:
            session.add(RoleAction(role_id=role.id, action=action))
    flush(session)
    grants_module.bump(session)


def role_actions(session: Session, role_id: int) -> list[str]:
    return list(
        session.scalars(
            select(RoleAction.action)
            .where(RoleAction.role_id == role_id)
            .order_by(RoleAction.action)
        )
    )


def create_role(
    session: Session,
    registry: ActionRegistry,
    *,
    code: str,
    labels: Mapping[str, str],
    description: str = "",
    actions: Iterable[str] = (),
    builtin: bool = False,
) -> Role:
    actions = list(actions)
    _guard(
        session,
        "role",
        {"code": code, "labels": labels, "description": description or None, "actions": actions},
    )
    code = _code(code)
    cleaned = _labels(labels)
    checked = registry.check(actions)
    description = _optional(description, "description", 500) or ""
    _unique(session, Role, "code", code, None)
    role = Role(code=code, labels=cleaned, description=description, builtin=builtin)
    session.add(role)
    flush(session)
    _set_role_actions(session, role, checked)
    return role


def update_role(
    session: Session,
    registry: ActionRegistry,
    role_id: int,
    version: int,
    changes: Mapping[str, Any],
) -> Role:
    """Change labels, description or the granted actions (the whole list)."""
    _guard(session, "role", changes)
    role = get_role(session, role_id)
    check_version(role, version, "role")
    labels = _labels(changes["labels"]) if changes.get("labels") is not None else None
    actions = registry.check(changes["actions"]) if changes.get("actions") is not None else None
    description = _optional(changes.get("description"), "description", 500)
    if labels is not None:
        role.labels = {**role.labels, **labels}
    if changes.get("description") is not None:
        role.description = description or ""
    if actions is not None:
        _set_role_actions(session, role, actions)
        flag_modified(role, "updated_at")  # new actions are a new version of the role
    flush(session)
    return role


def _set_user_roles(session: Session, user_id: int, role_ids: Sequence[int]) -> None:
    current = set(session.scalars(select(UserRole.role_id).where(UserRole.user_id == user_id)))
    wanted = set(role_ids)
    if current == wanted:
        return
    for row in session.scalars(
        select(UserRole).where(UserRole.user_id == user_id, UserRole.role_id.in_(current - wanted))
    ):
        session.delete(row)
    for role_id in role_ids:
        if role_id not in current:
            session.add(UserRole(user_id=user_id, role_id=role_id))
    flush(session)
    grants_module.bump(session)


def grant_role(session: Session, user_id: int, role_id: int) -> None:
    check_write(session, "user", ["roles"])
    get_user(session, user_id, "user")
    get_role(session, role_id, "role")
    held = set(session.scalars(select(UserRole.role_id).where(UserRole.user_id == user_id)))
    _set_user_roles(session, user_id, [*held, role_id])


def revoke_role(session: Session, user_id: int, role_id: int) -> None:
    check_write(session, "user", ["roles"])
    get_user(session, user_id, "user")
    get_role(session, role_id, "role")
    held = set(session.scalars(select(UserRole.role_id).where(UserRole.user_id == user_id)))
    _set_user_roles(session, user_id, [r for r in held if r != role_id])


def role_by_code(session: Session, code: str) -> Role:
    role = session.scalar(select(Role).where(Role.code == code))
    if role is None:
        raise NotFound(f"No role with code '{code}'.", field="role")
    return role


# --- predefined roles -----------------------------------------------------------------


@dataclass(frozen=True)
class RoleSpec:
    code: str
    labels: dict[str, str]
    description: str = ""
    actions: tuple[str, ...] = field(default=())


def load_role_specs(path: Path = PREDEFINED_ROLES) -> list[RoleSpec]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return [
        RoleSpec(
            entry["code"],
            dict(entry["labels"]),
            entry.get("description", ""),
            tuple(entry.get("actions", ())),
        )
        for entry in data.get("role", [])
    ]


def sync_roles(
    session: Session, registry: ActionRegistry, specs: Iterable[RoleSpec] | None = None
) -> int:
    """Add the predefined roles that are missing, with their actions; never overwrite edits.

    Returns how many roles were added. Safe to run on every migrate.
    """
    added = 0
    existing = set(session.scalars(select(Role.code)))
    for spec in load_role_specs() if specs is None else specs:
        if spec.code in existing:
            continue
        create_role(
            session,
            registry,
            code=spec.code,
            labels=spec.labels,
            description=spec.description,
            actions=spec.actions,
            builtin=True,
        )
        existing.add(spec.code)
        added += 1
    return added


def sync_kernel_roles(session: Session, kernel: Any) -> int:
    """`sync_roles` with the kernel's declared actions (what migrate and demo run), then
    the modules' default grants to the predefined roles (`grant_declared_defaults`)."""
    from openitsm.kernel.access import action_registry

    registry = action_registry(kernel)
    added = sync_roles(session, registry)
    grant_declared_defaults(session, registry, kernel.record_kinds.kinds.values())
    return added


def grant_declared_defaults(
    session: Session, registry: ActionRegistry, kinds: Iterable[Any]
) -> int:
    """Give the predefined roles what modules declare for them: each `ActionSpec.roles` and
    each `RecordKind.default_scopes`.

    Each default is given once, when its module (or the version declaring it) is first
    installed, and recorded; what an administrator later takes away stays taken away. A
    site from before the record counts a default as given when some role holds the action
    (or has a scope on the kind), which is how they were given then. Returns how many
    grants were added.
    """
    from openitsm.kernel.access.models import DeclaredGrant, RoleScope

    roles = {role.code: role.id for role in session.scalars(select(Role))}
    held = {(r, a) for r, a in session.execute(select(RoleAction.role_id, RoleAction.action))}
    scoped = {(r, k) for r, k in session.execute(select(RoleScope.role_id, RoleScope.resource))}
    declared = [
        (f"action:{code}:{spec.name}", code, spec.name, None)
        for spec in registry
        for code in spec.roles
    ] + [
        (f"scope:{code}:{kind.name}", code, kind.name, scope)
        for kind in kinds
        if kind.scope is not None
        for code, scope in kind.default_scopes.items()
    ]
    given = set(session.scalars(select(DeclaredGrant.key)))
    if not given:
        actions = {action for _, action in held}
        resources = {resource for _, resource in scoped}
        given = {
            key
            for key, _, name, scope in declared
            if (name in resources if scope is not None else name in actions)
        }
        session.add_all(DeclaredGrant(key=key) for key in given)
    added = 0
    for key, code, name, scope in declared:
        if key in given or code not in roles:
            continue
        given.add(key)
        session.add(DeclaredGrant(key=key))
        role_id = roles[code]
        if scope is None and (role_id, name) not in held:
            session.add(RoleAction(role_id=role_id, action=name))
            added += 1
        elif scope is not None and (role_id, name) not in scoped:
            session.add(RoleScope(role_id=role_id, resource=name, scope=scope))
            added += 1
    if added:
        flush(session)
        grants_module.bump(session)
    return added


# --- users ----------------------------------------------------------------------------

USER_TEXT_FIELDS = {
    "name": 200,
    "email": 254,
    "phone": 50,
    "locale": 10,
    "time_zone": 64,
    "employee_id": 64,
}


def _check_user_links(
    session: Session, user_id: int | None, changes: Mapping[str, Any]
) -> dict[str, Any]:
    """Validate department, manager, roles and service units; return what to apply."""
    links: dict[str, Any] = {}
    if "department_id" in changes:
        if changes["department_id"] is not None:
            get_department(session, changes["department_id"], "departmentId")
        links["department_id"] = changes["department_id"]
    if "manager_id" in changes:
        manager_id = changes["manager_id"]
        if manager_id is not None:
            if manager_id == user_id:
                raise BadUserInput(_t("A user cannot be their own manager."), field="managerId")
            node = get_user(session, manager_id, "managerId")
            seen: set[int] = set()
            while node is not None and node.manager_id is not None and node.id not in seen:
                seen.add(node.id)
                if node.manager_id == user_id:
                    raise BadUserInput(
                        _t("This manager reports to the user already (a cycle)."),
                        field="managerId",
                    )
                node = session.get(User, node.manager_id)
        links["manager_id"] = manager_id
    if changes.get("role_ids") is not None:
        role_ids = list(dict.fromkeys(changes["role_ids"]))
        found = set(session.scalars(select(Role.id).where(Role.id.in_(role_ids))))
        missing = [r for r in role_ids if r not in found]
        if missing:
            raise NotFound(f"No role with id {missing[0]}.", field="roles")
        links["role_ids"] = role_ids
    if changes.get("service_unit_ids") is not None:
        unit_ids = list(dict.fromkeys(changes["service_unit_ids"]))
        found = set(session.scalars(select(ServiceUnit.id).where(ServiceUnit.id.in_(unit_ids))))
        missing = [u for u in unit_ids if u not in found]
        if missing:
            raise NotFound(f"No service unit with id {missing[0]}.", field="serviceUnits")
        links["service_unit_ids"] = unit_ids
    return links


def _check_user_fields(
    session: Session, user_id: int | None, changes: Mapping[str, Any]
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, limit in USER_TEXT_FIELDS.items():
        if key in changes and changes[key] is not None:
            values[key] = (
                _name(changes[key], key, limit)
                if key == "name"
                else _optional(changes[key], key, limit)
            )
    if values.get("employee_id"):
        _unique(session, User, "employee_id", values["employee_id"], user_id)
    if changes.get("active") is not None:
        values["active"] = bool(changes["active"])
    return values


def _apply_user(
    session: Session, user: User, values: dict[str, Any], links: dict[str, Any]
) -> None:
    for key, value in values.items():
        setattr(user, key, value)
    for key in ("department_id", "manager_id"):
        if key in links:
            setattr(user, key, links[key])
    flush(session)
    if "role_ids" in links:
        _set_user_roles(session, user.id, links["role_ids"])
    if "service_unit_ids" in links:
        _set_user_service_units(session, user.id, links["service_unit_ids"])
    if "role_ids" in links or "service_unit_ids" in links:
        flag_modified(user, "updated_at")  # new roles or units are a new version of the user
        flush(session)


def create_user(
    session: Session,
    *,
    login: str,
    name: str,
    password: str | None = None,
    superuser: bool = False,
    **changes: Any,
) -> User:
    """A user with their organisation details, roles and service units."""
    _guard(
        session,
        "user",
        {**changes, "login": login, "name": name, "is_superuser": superuser or None},
    )
    values = _check_user_fields(session, None, {**changes, "name": name})
    links = _check_user_links(session, None, changes)
    user = identity.create_user(
        session, login, values.pop("name"), password=password, superuser=superuser
    )
    _set_custom(session, user, "user", changes.get("custom_fields"), creating=True)
    _apply_user(session, user, values, links)
    return user


def update_user(session: Session, user_id: int, version: int, changes: Mapping[str, Any]) -> User:
    _guard(session, "user", changes, links=("department_id", "manager_id"))
    user = get_user(session, user_id)
    check_version(user, version, "user")
    values = _check_user_fields(session, user.id, changes)
    links = _check_user_links(session, user.id, changes)
    _set_custom(session, user, "user", changes.get("custom_fields"))
    _apply_user(session, user, values, links)
    return user


def deactivate_user(session: Session, user_id: int) -> User:
    """Deactivate (never delete): sign-in and running sessions stop working at once."""
    check_write(session, "user", ["active"])
    user = get_user(session, user_id)
    user.active = False
    flush(session)
    return user


def user_role_ids(session: Session, user_ids: Sequence[int]) -> dict[int, list[int]]:
    grouped: dict[int, list[int]] = {user_id: [] for user_id in user_ids}
    for user_id, role_id in session.execute(
        select(UserRole.user_id, UserRole.role_id).where(UserRole.user_id.in_(user_ids))
    ):
        grouped[user_id].append(role_id)
    return grouped


# --- service units --------------------------------------------------------------------


def create_service_unit(
    session: Session,
    *,
    code: str,
    name: str,
    custom_fields: Mapping[str, Any] | None = None,
) -> ServiceUnit:
    _guard(session, "service_unit", {"code": code, "name": name})
    code = _code(code)
    name = _name(name)
    _unique(session, ServiceUnit, "code", code, None)
    unit = ServiceUnit(code=code, name=name)
    session.add(unit)
    _set_custom(session, unit, "service_unit", custom_fields, creating=True)
    flush(session)
    return unit


def update_service_unit(
    session: Session, unit_id: int, version: int, changes: Mapping[str, Any]
) -> ServiceUnit:
    _guard(session, "service_unit", changes)
    unit = get_service_unit(session, unit_id)
    check_version(unit, version, "service unit")
    for key, value in _named_changes(session, unit, changes).items():
        setattr(unit, key, value)
    _set_custom(session, unit, "service_unit", changes.get("custom_fields"))
    flush(session)
    return unit


def add_contact(
    session: Session,
    unit_id: int,
    *,
    name: str,
    phone: str | None = None,
    email: str | None = None,
    position: str | None = None,
    user_id: int | None = None,
) -> ServiceUnitContact:
    _guard(
        session,
        "service_unit_contact",
        {"name": name, "phone": phone, "email": email, "position": position, "user_id": user_id},
    )
    get_service_unit(session, unit_id, "serviceUnit")
    if user_id is not None:
        get_user(session, user_id, "user")
    contact = ServiceUnitContact(
        service_unit_id=unit_id,
        name=_name(name),
        phone=_optional(phone, "phone", 50),
        email=_optional(email, "email", 254),
        position=_optional(position, "position", 200),
        user_id=user_id,
    )
    session.add(contact)
    flush(session)
    return contact


def _set_user_service_units(session: Session, user_id: int, unit_ids: Sequence[int]) -> None:
    current = set(
        session.scalars(
            select(UserServiceUnit.service_unit_id).where(UserServiceUnit.user_id == user_id)
        )
    )
    wanted = set(unit_ids)
    if current == wanted:
        return
    for row in session.scalars(
        select(UserServiceUnit).where(
            UserServiceUnit.user_id == user_id,
            UserServiceUnit.service_unit_id.in_(current - wanted),
        )
    ):
        session.delete(row)
    for unit_id in unit_ids:
        if unit_id not in current:
            session.add(UserServiceUnit(user_id=user_id, service_unit_id=unit_id))
    flush(session)
    grants_module.bump(session)


def add_service_unit_member(session: Session, unit_id: int, user_id: int) -> None:
    check_write(session, "user", ["service_units"])
    get_service_unit(session, unit_id, "serviceUnit")
    get_user(session, user_id, "user")
    held = set(
        session.scalars(
            select(UserServiceUnit.service_unit_id).where(UserServiceUnit.user_id == user_id)
        )
    )
    _set_user_service_units(session, user_id, [*held, unit_id])


def remove_service_unit_member(session: Session, unit_id: int, user_id: int) -> None:
    check_write(session, "user", ["service_units"])
    get_service_unit(session, unit_id, "serviceUnit")
    get_user(session, user_id, "user")
    held = session.scalars(
        select(UserServiceUnit.service_unit_id).where(UserServiceUnit.user_id == user_id)
    )
    _set_user_service_units(session, user_id, [u for u in held if u != unit_id])
