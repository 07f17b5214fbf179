"""The organisation in GraphQL: thin resolvers over `service`, each guarded by its action."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any, ClassVar

import strawberry
from sqlalchemy import or_, select
from strawberry import relay
from strawberry.scalars import JSON
from strawberry.types import Info

from openitsm.kernel.access import action_registry, require
from openitsm.kernel.access.fields import field_access, set_field_rule
from openitsm.kernel.access.models import FieldRule, RoleScope
from openitsm.kernel.access.scope import set_role_scope
from openitsm.kernel.customfields import service as customfields
from openitsm.kernel.customfields.schema import custom_fields_field
from openitsm.kernel.customfields.service import resource_fields
from openitsm.kernel.graphql.connection import Connection, SortKey
from openitsm.kernel.graphql.context import Context
from openitsm.kernel.graphql.nodes import (
    Fields,
    ModelNode,
    active_children,
    children_loader,
    decode_id,
    link,
    prefetched,
    readable_order,
    shows_inactive,
)
from openitsm.kernel.identity.models import User
from openitsm.kernel.labels import pick_label
from openitsm.kernel.organisation import service
from openitsm.kernel.organisation.models import (
    Department,
    Role,
    RoleAction,
    ServiceUnit,
    ServiceUnitContact,
    UserRole,
    UserServiceUnit,
)

DEPARTMENT_ORDER = (Department.sort_order, Department.id)
# A user search looks in these fields, less those hidden from the searcher.
USER_SEARCH_FIELDS = ("login", "name", "employee_id", "phone", "email")


def _can_read(info: Info[Context, Any]) -> None:
    require(info.context.require_actor(), "org.read")


def _linked_loader(
    context: Context, link: Any, owner_column: str, target: Any, target_column: str, order: Any
) -> Any:
    """Rows of `target` linked to each key through the table `link`, in one query per tick."""
    owner = getattr(link, owner_column)

    def load(keys: Sequence[int]) -> list[list[Any]]:
        grouped: dict[int, list[Any]] = {key: [] for key in keys}
        rows = context.session.execute(
            select(owner, target)
            .join(link, getattr(link, target_column) == target.id)
            .where(owner.in_(keys))
            .order_by(*readable_order(context, target, order))
        )
        for key, row in rows:
            grouped[key].append(row)
        return [grouped[key] for key in keys]

    return context.loader(("linked", link, owner_column), load)


@strawberry.type(name="Action", description="Something a role may allow.")
class ActionType:
    name: str
    labels: JSON
    description: str
    owner: str = strawberry.field(description="The plugin that declares it.")

    @strawberry.field
    def label(self, info: Info[Context, Any], locale: str | None = None) -> str:
        return pick_label(self.labels, locale or info.context.locale, self.name)  # type: ignore[arg-type]


@strawberry.enum(description="Which rows of a resource a role's holders see.")
class DataScope(enum.Enum):
    OWN = "own"
    DEPARTMENT = "department"
    DEPARTMENT_SUBTREE = "department_subtree"
    SERVICE_UNITS = "service_units"
    ALL = "all"


@strawberry.type
class ResourceScope:
    resource: str
    scope: DataScope


@strawberry.enum(description="What a role's holders may do with one field.")
class FieldAccessLevel(enum.Enum):
    HIDDEN = "hidden"
    READ_ONLY = "read_only"
    READ_WRITE = "read_write"


@strawberry.type(name="FieldRule", description="A role's rule on one field of a resource.")
class FieldRuleType:
    resource: str
    field: str
    access: FieldAccessLevel


@strawberry.type(
    name="Resource", description="A kind of record that data scopes and field rules apply to."
)
class ResourceType:
    name: str
    labels: JSON
    fields: list[str] = strawberry.field(description="What field rules may name.")
    scoped: bool = strawberry.field(description="Whether roles grant a data scope on it.")


@strawberry.type(description="What the viewer may do with a resource's fields.")
class ResourceFieldAccess:
    resource: str
    hidden: list[str]
    read_only: list[str]


@strawberry.type(name="Role")
class RoleType(ModelNode):
    __model__ = Role
    __fields__: ClassVar[Fields] = {"label": "labels"}

    code: str
    labels: JSON
    builtin: bool = strawberry.field(description="Shipped with OpenITSM (still editable).")
    description: str
    version: int

    @strawberry.field
    def label(
        self, root: strawberry.Parent[Role], info: Info[Context, Any], locale: str | None = None
    ) -> str:
        return root.label(locale or info.context.locale)

    @strawberry.field(description="The names of the actions this role grants.")
    async def actions(self, root: strawberry.Parent[Role], info: Info[Context, Any]) -> list[str]:
        rows = await children_loader(
            info.context, RoleAction, "role_id", (RoleAction.action,)
        ).load(root.id)
        return [row.action for row in rows]

    @strawberry.field(description="The data scope this role grants per resource.")
    async def scopes(
        self, root: strawberry.Parent[Role], info: Info[Context, Any]
    ) -> list[ResourceScope]:
        rows = await children_loader(
            info.context, RoleScope, "role_id", (RoleScope.resource,)
        ).load(root.id)
        return [ResourceScope(resource=row.resource, scope=DataScope(row.scope)) for row in rows]

    @strawberry.field(description="The field rules of this role, by resource and field.")
    async def field_rules(
        self, root: strawberry.Parent[Role], info: Info[Context, Any]
    ) -> list[FieldRuleType]:
        rows = await children_loader(
            info.context, FieldRule, "role_id", (FieldRule.resource, FieldRule.field)
        ).load(root.id)
        return [
            FieldRuleType(resource=r.resource, field=r.field, access=FieldAccessLevel(r.access))
            for r in rows
        ]


@strawberry.type(name="ServiceUnitContact")
class ServiceUnitContactType(ModelNode):
    __model__ = ServiceUnitContact

    name: str
    phone: str | None
    email: str | None
    position: str | None
    version: int

    user: UserType | None = link(User, "user_id")


@strawberry.type(name="ServiceUnit", description="A customer company (服务单位).")
class ServiceUnitType(ModelNode):
    __model__ = ServiceUnit
    __fields__: ClassVar[Fields] = {"contacts": None, "members": None, "custom_fields": None}

    code: str
    name: str
    active: bool
    version: int
    custom_fields: JSON = custom_fields_field()

    @strawberry.field
    async def contacts(
        self, root: strawberry.Parent[ServiceUnit], info: Info[Context, Any]
    ) -> list[ServiceUnitContactType]:
        return await children_loader(
            info.context, ServiceUnitContact, "service_unit_id", (ServiceUnitContact.id,)
        ).load(root.id)

    @strawberry.field
    async def members(
        self, root: strawberry.Parent[ServiceUnit], info: Info[Context, Any]
    ) -> list[UserType]:
        return await _linked_loader(
            info.context, UserServiceUnit, "service_unit_id", User, "user_id", (User.login,)
        ).load(root.id)


@strawberry.type(name="Department")
class DepartmentType(ModelNode):
    __model__ = Department
    __fields__: ClassVar[Fields] = {
        "children": None,
        "members": None,
        "custom_fields": None,
        "head": "head_user_id",
        "admin": "admin_user_id",
    }

    code: str
    name: str
    sort_order: int
    active: bool
    version: int
    custom_fields: JSON = custom_fields_field()

    parent: DepartmentType | None = link(Department, "parent_id")

    @strawberry.field
    async def children(
        self,
        root: strawberry.Parent[Department],
        info: Info[Context, Any],
        include_inactive: bool = False,
    ) -> list[DepartmentType]:
        return await active_children(
            info.context, Department, root.id, DEPARTMENT_ORDER, include_inactive
        )

    @strawberry.field
    async def members(
        self, root: strawberry.Parent[Department], info: Info[Context, Any]
    ) -> list[UserType]:
        return await children_loader(info.context, User, "department_id", (User.login,)).load(
            root.id
        )

    head: UserType | None = link(User, "head_user_id")

    admin: UserType | None = link(User, "admin_user_id")


@strawberry.type(name="User")
class UserType(ModelNode):
    __model__ = User
    __fields__: ClassVar[Fields] = {"custom_fields": None}

    login: str
    name: str
    email: str | None
    employee_id: str | None
    phone: str | None
    active: bool
    locale: str | None
    time_zone: str
    is_superuser: bool
    version: int
    custom_fields: JSON = custom_fields_field()

    department: DepartmentType | None = link(Department, "department_id")

    manager: UserType | None = link(User, "manager_id")

    @strawberry.field
    async def roles(
        self, root: strawberry.Parent[User], info: Info[Context, Any]
    ) -> list[RoleType]:
        return await _linked_loader(
            info.context, UserRole, "user_id", Role, "role_id", (Role.code,)
        ).load(root.id)

    @strawberry.field
    async def service_units(
        self, root: strawberry.Parent[User], info: Info[Context, Any]
    ) -> list[ServiceUnitType]:
        return await _linked_loader(
            info.context,
            UserServiceUnit,
            "user_id",
            ServiceUnit,
            "service_unit_id",
            (ServiceUnit.code,),
        ).load(root.id)


@strawberry.input
class UserFilter:
    search: str | None = strawberry.field(
        default=None, description="Part of the login, name, employee id, phone or email."
    )
    department: relay.GlobalID | None = None
    active: bool | None = None
    custom_fields: JSON | None = strawberry.field(
        default=None, description='Custom field values to match, e.g. {"cf_region": "north"}.'
    )


@strawberry.type
class OrganisationQuery:
    @strawberry.field(description="Top-level departments; descend with `children`.")
    def departments(
        self, info: Info[Context, Any], include_inactive: bool = False
    ) -> list[DepartmentType]:
        _can_read(info)
        context = info.context
        statement = select(Department).where(Department.parent_id.is_(None))
        if not shows_inactive(context, Department, include_inactive):
            statement = statement.where(Department.active.is_(True))
        order = readable_order(context, Department, DEPARTMENT_ORDER)
        return list(context.session.scalars(statement.order_by(*order)))  # type: ignore[arg-type]

    @strawberry.field
    def department(self, info: Info[Context, Any], id: relay.GlobalID) -> DepartmentType | None:
        _can_read(info)
        return info.context.session.get(Department, decode_id(id, DepartmentType))  # type: ignore[return-value]

    @strawberry.field
    def users(
        self,
        info: Info[Context, Any],
        filter: UserFilter | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[UserType]:
        _can_read(info)
        statement = select(User)
        if filter is not None:
            access = field_access(info.context.actor, "user")
            if filter.search:
                pattern = f"%{filter.search.strip()}%"
                searched = access.readable_only(
                    {name: getattr(User, name) for name in USER_SEARCH_FIELDS}
                )
                statement = statement.where(or_(*(column.ilike(pattern) for column in searched)))
            if filter.department is not None:
                access.check_read(["department_id"])
                department_id = decode_id(filter.department, DepartmentType, "department")
                statement = statement.where(User.department_id == department_id)
            if filter.active is not None:
                access.check_read(["active"])
                statement = statement.where(User.active.is_(filter.active))
            if filter.custom_fields:
                statement = customfields.where_values(
                    info.context.session, statement, User, "user", filter.custom_fields
                )
        # By login, unless the login is hidden from the reader: then by id, which shows nothing.
        by_login = field_access(info.context.actor, "user").readable("login")
        return prefetched(
            info,
            UserType,
            info.context.paginate(
                statement,
                keys=[SortKey(User.login)] if by_login else [],
                tiebreak=User.id,
                first=first,
                after=after,
                resource="user",
            ),
        )

    @strawberry.field(description="A user; everyone signed in may read their own record.")
    def user(self, info: Info[Context, Any], id: relay.GlobalID) -> UserType | None:
        actor = info.context.require_actor()
        user_id = decode_id(id, UserType)
        if user_id != actor.user_id:
            require(actor, "org.read")
        return info.context.session.get(User, user_id)  # type: ignore[return-value]

    @strawberry.field
    def roles(self, info: Info[Context, Any]) -> list[RoleType]:
        _can_read(info)
        order = readable_order(info.context, Role, (Role.code,))
        return list(info.context.session.scalars(select(Role).order_by(*order)))  # type: ignore[arg-type]

    @strawberry.field
    def service_units(
        self, info: Info[Context, Any], include_inactive: bool = False
    ) -> list[ServiceUnitType]:
        _can_read(info)
        context = info.context
        order = readable_order(context, ServiceUnit, (ServiceUnit.code,))
        statement = select(ServiceUnit).order_by(*order)
        if not shows_inactive(context, ServiceUnit, include_inactive):
            statement = statement.where(ServiceUnit.active.is_(True))
        return list(context.session.scalars(statement))  # type: ignore[arg-type]

    @strawberry.field(description="The resources field rules and data scopes apply to.")
    def resources(self, info: Info[Context, Any]) -> list[ResourceType]:
        _can_read(info)
        return [
            ResourceType(
                name=kind.name,
                labels=dict(kind.labels),  # type: ignore[arg-type]
                fields=sorted(resource_fields(info.context.session, kind)),
                scoped=kind.scope is not None,
            )
            for _, kind in sorted(info.context.kernel.record_kinds.kinds.items())
        ]

    @strawberry.field(description="Which fields of a resource the viewer may not see or change.")
    def field_access(self, info: Info[Context, Any], resource: str) -> ResourceFieldAccess:
        actor = info.context.require_actor()
        info.context.kernel.record_kinds.get(resource)
        access = field_access(actor, resource)
        return ResourceFieldAccess(
            resource=resource, hidden=sorted(access.hidden), read_only=sorted(access.read_only)
        )

    @strawberry.field(description="Every action roles may grant, declared by the plugins.")
    def actions(self, info: Info[Context, Any]) -> list[ActionType]:
        info.context.require_actor()
        registry = action_registry(info.context.kernel)
        return [
            ActionType(
                name=spec.name,
                labels=dict(spec.labels),  # type: ignore[arg-type]
                description=spec.description,
                owner=registry.owners[spec.name],
            )
            for spec in registry
        ]


# --- mutations ------------------------------------------------------------------------


@strawberry.input
class CreateDepartmentInput:
    code: str
    name: str
    parent: relay.GlobalID | None = None
    sort_order: int | None = None
    head: relay.GlobalID | None = None
    admin: relay.GlobalID | None = None
    custom_fields: JSON | None = strawberry.field(
        default=None, description="Custom field values by name; null clears one."
    )


@strawberry.input
class UpdateDepartmentInput:
    code: str | None = None
    name: str | None = None
    sort_order: int | None = None
    active: bool | None = None
    head: relay.GlobalID | None = strawberry.UNSET
    admin: relay.GlobalID | None = strawberry.UNSET
    custom_fields: JSON | None = strawberry.field(
        default=None, description="Custom field values by name; null clears one."
    )


@strawberry.input
class CreateUserInput:
    login: str
    name: str
    password: str | None = None
    email: str | None = None
    employee_id: str | None = None
    phone: str | None = None
    locale: str | None = None
    time_zone: str | None = None
    department: relay.GlobalID | None = None
    manager: relay.GlobalID | None = None
    roles: list[relay.GlobalID] | None = None
    service_units: list[relay.GlobalID] | None = None
    custom_fields: JSON | None = strawberry.field(
        default=None, description="Custom field values by name; null clears one."
    )


@strawberry.input
class UpdateUserInput:
    name: str | None = None
    email: str | None = None
    employee_id: str | None = None
    phone: str | None = None
    locale: str | None = None
    time_zone: str | None = None
    active: bool | None = None
    department: relay.GlobalID | None = strawberry.UNSET
    manager: relay.GlobalID | None = strawberry.UNSET
    roles: list[relay.GlobalID] | None = strawberry.field(
        default=None, description="The complete list of roles (replaces the current ones)."
    )
    service_units: list[relay.GlobalID] | None = strawberry.field(
        default=None, description="The complete list of service units."
    )
    custom_fields: JSON | None = strawberry.field(
        default=None, description="Custom field values by name; null clears one."
    )


@strawberry.input
class CreateRoleInput:
    code: str
    labels: JSON
    description: str = ""
    actions: list[str] = strawberry.field(default_factory=list)


@strawberry.input
class UpdateRoleInput:
    labels: JSON | None = None
    description: str | None = None
    actions: list[str] | None = strawberry.field(
        default=None, description="The complete list of granted actions."
    )


@strawberry.input
class ServiceUnitInput:
    code: str | None = None
    name: str | None = None
    active: bool | None = None
    custom_fields: JSON | None = strawberry.field(
        default=None, description="Custom field values by name; null clears one."
    )


@strawberry.input
class ServiceUnitContactInput:
    name: str
    phone: str | None = None
    email: str | None = None
    position: str | None = None
    user: relay.GlobalID | None = None


@strawberry.type
class DepartmentPayload:
    department: DepartmentType


@strawberry.type
class UserPayload:
    user: UserType


@strawberry.type
class RolePayload:
    role: RoleType


@strawberry.type
class ServiceUnitPayload:
    service_unit: ServiceUnitType


@strawberry.type
class ServiceUnitContactPayload:
    contact: ServiceUnitContactType


def _manage(info: Info[Context, Any], action: str = "org.manage") -> Any:
    require(info.context.require_actor(), action)
    return info.context.session


def _optional_id(value: Any, node_type: type[ModelNode], field: str) -> int | None:
    return decode_id(value, node_type, field) if value is not None else None


def _ids(values: list[relay.GlobalID] | None, node_type: type[ModelNode], field: str) -> Any:
    return None if values is None else [decode_id(v, node_type, field) for v in values]


def _user_links(input: Any, changes: dict[str, Any]) -> dict[str, Any]:
    if input.department is not strawberry.UNSET:
        changes["department_id"] = _optional_id(input.department, DepartmentType, "department")
    if input.manager is not strawberry.UNSET:
        changes["manager_id"] = _optional_id(input.manager, UserType, "manager")
    changes["role_ids"] = _ids(input.roles, RoleType, "roles")
    changes["service_unit_ids"] = _ids(input.service_units, ServiceUnitType, "serviceUnits")
    return changes


@strawberry.type
class OrganisationMutation:
    @strawberry.mutation
    def create_department(
        self, info: Info[Context, Any], input: CreateDepartmentInput
    ) -> DepartmentPayload:
        department = service.create_department(
            _manage(info),
            code=input.code,
            name=input.name,
            parent_id=_optional_id(input.parent, DepartmentType, "parent"),
            sort_order=input.sort_order,
            head_user_id=_optional_id(input.head, UserType, "head"),
            admin_user_id=_optional_id(input.admin, UserType, "admin"),
            custom_fields=input.custom_fields,
        )
        return DepartmentPayload(department=department)  # type: ignore[arg-type]

    @strawberry.mutation
    def update_department(
        self,
        info: Info[Context, Any],
        id: relay.GlobalID,
        version: int,
        input: UpdateDepartmentInput,
    ) -> DepartmentPayload:
        session = _manage(info)
        changes: dict[str, Any] = {
            "code": input.code,
            "name": input.name,
            "sort_order": input.sort_order,
            "active": input.active,
            "custom_fields": input.custom_fields,
        }
        if input.head is not strawberry.UNSET:
            changes["head_user_id"] = _optional_id(input.head, UserType, "head")
        if input.admin is not strawberry.UNSET:
            changes["admin_user_id"] = _optional_id(input.admin, UserType, "admin")
        department = service.update_department(
            session, decode_id(id, DepartmentType), version, changes
        )
        return DepartmentPayload(department=department)  # type: ignore[arg-type]

    @strawberry.mutation(description="Move under another department, or to the top (no parent).")
    def move_department(
        self,
        info: Info[Context, Any],
        id: relay.GlobalID,
        version: int,
        parent: relay.GlobalID | None = None,
        sort_order: int | None = None,
    ) -> DepartmentPayload:
        department = service.move_department(
            _manage(info),
            decode_id(id, DepartmentType),
            version,
            _optional_id(parent, DepartmentType, "parent"),
            sort_order,
        )
        return DepartmentPayload(department=department)  # type: ignore[arg-type]

    @strawberry.mutation
    def create_user(self, info: Info[Context, Any], input: CreateUserInput) -> UserPayload:
        session = _manage(info)
        changes = _user_links(
            input,
            {
                "email": input.email,
                "employee_id": input.employee_id,
                "phone": input.phone,
                "locale": input.locale,
                "time_zone": input.time_zone,
                "custom_fields": input.custom_fields,
            },
        )
        if changes["role_ids"]:
            require(info.context.actor, "role.manage")
        user = service.create_user(
            session, login=input.login, name=input.name, password=input.password, **changes
        )
        return UserPayload(user=user)  # type: ignore[arg-type]

    @strawberry.mutation(description="Change a user; `roles` also needs role.manage.")
    def update_user(
        self, info: Info[Context, Any], id: relay.GlobalID, version: int, input: UpdateUserInput
    ) -> UserPayload:
        session = _manage(info)
        changes = _user_links(
            input,
            {
                "name": input.name,
                "email": input.email,
                "employee_id": input.employee_id,
                "phone": input.phone,
                "locale": input.locale,
                "time_zone": input.time_zone,
                "active": input.active,
                "custom_fields": input.custom_fields,
            },
        )
        if changes["role_ids"] is not None:
            require(info.context.actor, "role.manage")
        user = service.update_user(session, decode_id(id, UserType), version, changes)
        return UserPayload(user=user)  # type: ignore[arg-type]

    @strawberry.mutation(description="Deactivate (never delete) a user; their sessions stop.")
    def deactivate_user(self, info: Info[Context, Any], id: relay.GlobalID) -> UserPayload:
        user = service.deactivate_user(_manage(info), decode_id(id, UserType))
        return UserPayload(user=user)  # type: ignore[arg-type]

    @strawberry.mutation
    def create_role(self, info: Info[Context, Any], input: CreateRoleInput) -> RolePayload:
        session = _manage(info, "role.manage")
        role = service.create_role(
            session,
            action_registry(info.context.kernel),
            code=input.code,
            labels=input.labels,  # type: ignore[arg-type]
            description=input.description,
            actions=input.actions,
        )
        return RolePayload(role=role)  # type: ignore[arg-type]

    @strawberry.mutation
    def update_role(
        self, info: Info[Context, Any], id: relay.GlobalID, version: int, input: UpdateRoleInput
    ) -> RolePayload:
        session = _manage(info, "role.manage")
        role = service.update_role(
            session,
            action_registry(info.context.kernel),
            decode_id(id, RoleType),
            version,
            {"labels": input.labels, "description": input.description, "actions": input.actions},
        )
        return RolePayload(role=role)  # type: ignore[arg-type]

    @strawberry.mutation(description="Grant a data scope on a resource; no scope revokes it.")
    def set_role_scope(
        self,
        info: Info[Context, Any],
        role: relay.GlobalID,
        resource: str,
        scope: DataScope | None = None,
    ) -> RolePayload:
        session = _manage(info, "role.manage")
        role_id = decode_id(role, RoleType, "role")
        found = service.get_role(session, role_id, "role")
        set_role_scope(session, role_id, resource, scope.value if scope else None)
        return RolePayload(role=found)  # type: ignore[arg-type]

    @strawberry.mutation(
        description="Set a role's rule on one field of a resource; no access removes the rule."
    )
    def set_field_rule(
        self,
        info: Info[Context, Any],
        role: relay.GlobalID,
        resource: str,
        field: str,
        access: FieldAccessLevel | None = None,
    ) -> RolePayload:
        session = _manage(info, "role.manage")
        role_id = decode_id(role, RoleType, "role")
        found = service.get_role(session, role_id, "role")
        set_field_rule(
            session,
            info.context.kernel.record_kinds,
            role_id,
            resource,
            field,
            access.value if access else None,
        )
        return RolePayload(role=found)  # type: ignore[arg-type]

    @strawberry.mutation
    def grant_role(
        self, info: Info[Context, Any], user: relay.GlobalID, role: relay.GlobalID
    ) -> UserPayload:
        session = _manage(info, "role.manage")
        user_id = decode_id(user, UserType, "user")
        service.grant_role(session, user_id, decode_id(role, RoleType, "role"))
        return UserPayload(user=service.get_user(session, user_id))  # type: ignore[arg-type]

    @strawberry.mutation
    def revoke_role(
        self, info: Info[Context, Any], user: relay.GlobalID, role: relay.GlobalID
    ) -> UserPayload:
        session = _manage(info, "role.manage")
        user_id = decode_id(user, UserType, "user")
        service.revoke_role(session, user_id, decode_id(role, RoleType, "role"))
        return UserPayload(user=service.get_user(session, user_id))  # type: ignore[arg-type]

    @strawberry.mutation
    def create_service_unit(
        self,
        info: Info[Context, Any],
        code: str,
        name: str,
        custom_fields: JSON | None = None,
    ) -> ServiceUnitPayload:
        unit = service.create_service_unit(
            _manage(info), code=code, name=name, custom_fields=custom_fields
        )
        return ServiceUnitPayload(service_unit=unit)  # type: ignore[arg-type]

    @strawberry.mutation
    def update_service_unit(
        self,
        info: Info[Context, Any],
        id: relay.GlobalID,
        version: int,
        input: ServiceUnitInput,
    ) -> ServiceUnitPayload:
        unit = service.update_service_unit(
            _manage(info),
            decode_id(id, ServiceUnitType),
            version,
            {
                "code": input.code,
                "name": input.name,
                "active": input.active,
                "custom_fields": input.custom_fields,
            },
        )
        return ServiceUnitPayload(service_unit=unit)  # type: ignore[arg-type]

    @strawberry.mutation
    def add_service_unit_contact(
        self,
        info: Info[Context, Any],
        service_unit: relay.GlobalID,
        input: ServiceUnitContactInput,
    ) -> ServiceUnitContactPayload:
        contact = service.add_contact(
            _manage(info),
            decode_id(service_unit, ServiceUnitType, "serviceUnit"),
            name=input.name,
            phone=input.phone,
            email=input.email,
            position=input.position,
            user_id=_optional_id(input.user, UserType, "user"),
        )
        return ServiceUnitContactPayload(contact=contact)  # type: ignore[arg-type]

    @strawberry.mutation
    def add_service_unit_member(
        self, info: Info[Context, Any], service_unit: relay.GlobalID, user: relay.GlobalID
    ) -> ServiceUnitPayload:
        session = _manage(info)
        unit_id = decode_id(service_unit, ServiceUnitType, "serviceUnit")
        service.add_service_unit_member(session, unit_id, decode_id(user, UserType, "user"))
        return ServiceUnitPayload(service_unit=service.get_service_unit(session, unit_id))  # type: ignore[arg-type]

    @strawberry.mutation
    def remove_service_unit_member(
        self, info: Info[Context, Any], service_unit: relay.GlobalID, user: relay.GlobalID
    ) -> ServiceUnitPayload:
        session = _manage(info)
        unit_id = decode_id(service_unit, ServiceUnitType, "serviceUnit")
        service.remove_service_unit_member(session, unit_id, decode_id(user, UserType, "user"))
        return ServiceUnitPayload(service_unit=service.get_service_unit(session, unit_id))  # type: ignore[arg-type]


TYPES = [
    ActionType,
    FieldRuleType,
    ResourceFieldAccess,
    ResourceType,
    DepartmentType,
    RoleType,
    ServiceUnitContactType,
    ServiceUnitType,
    UserType,
]
