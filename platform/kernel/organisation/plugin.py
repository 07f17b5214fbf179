"""The kernel's organisation: departments, roles, service units and the kernel's actions."""

from __future__ import annotations

from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import select

from openitsm.kernel.access import KERNEL_ACTIONS, ActionSpec
from openitsm.kernel.access.models import FieldRule, RoleScope
from openitsm.kernel.graphql.contribution import GraphQLContribution
from openitsm.kernel.hookspecs import hookimpl
from openitsm.kernel.organisation.delegation_models import Delegation
from openitsm.kernel.organisation.duty_models import DutyRota, DutyShift
from openitsm.kernel.organisation.models import (
    Department,
    GrantsVersion,
    Role,
    RoleAction,
    ServiceUnit,
    ServiceUnitContact,
    UserRole,
    UserServiceUnit,
)
from openitsm.kernel.references import RecordKind

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from openitsm.kernel.app import Kernel


@hookimpl
def register_models() -> list[type]:
    return [
        Department,
        Role,
        RoleAction,
        UserRole,
        ServiceUnit,
        ServiceUnitContact,
        UserServiceUnit,
        GrantsVersion,
        Delegation,
        DutyRota,
        DutyShift,
        RoleScope,
        FieldRule,
    ]


@hookimpl
def register_actions() -> list[ActionSpec]:
    return list(KERNEL_ACTIONS)


@hookimpl
def register_record_kinds() -> list[RecordKind]:
    return [
        RecordKind(
            "department",
            Department,
            labels={"zh-CN": "部门", "en": "Department"},
            describe=lambda d: {"title": d.name, "status": "active" if d.active else "inactive"},
            shows=("name", "active"),
            url="/admin/departments/{id}",
            searched=("name", "code"),
            search_number="code",
            search_order=("name",),
            search_action="org.read",
        ),
        RecordKind(
            "role",
            Role,
            labels={"zh-CN": "角色", "en": "Role"},
            describe=lambda r: {"title": r.label("en")},
            extra_fields=("actions", "scopes", "field_rules"),
            link_rows={
                "role_action": "actions",
                "role_scope": "scopes",
                "field_rule": "field_rules",
            },
            shows=("labels",),
        ),
        RecordKind(
            "service_unit",
            ServiceUnit,
            labels={"zh-CN": "服务单位", "en": "Service unit"},
            describe=lambda u: {"title": u.name, "status": "active" if u.active else "inactive"},
            shows=("name", "active"),
            url="/admin/service-units/{id}",
            searched=("name", "code"),
            search_number="code",
            search_order=("code",),
            search_action="org.read",
            list_url="/admin/service-units?q={q}",
        ),
        RecordKind(
            "service_unit_contact",
            ServiceUnitContact,
            labels={"zh-CN": "服务单位联系人", "en": "Service unit contact"},
            describe=lambda c: {"title": c.name},
            shows=("name",),
        ),
    ]


@hookimpl
def register_graphql() -> GraphQLContribution:
    import strawberry

    from openitsm.kernel.organisation import delegation_schema, duty_schema
    from openitsm.kernel.organisation.schema import (
        TYPES,
        OrganisationMutation,
        OrganisationQuery,
    )

    @strawberry.type
    class Query(OrganisationQuery, delegation_schema.DelegationQuery, duty_schema.DutyQuery):
        pass

    @strawberry.type
    class Mutation(
        OrganisationMutation, delegation_schema.DelegationMutation, duty_schema.DutyMutation
    ):
        pass

    return GraphQLContribution(
        query=Query,
        mutation=Mutation,
        types=[*TYPES, *delegation_schema.TYPES, *duty_schema.TYPES],
    )


DEMO_DEPARTMENTS = (
    ("it", "信息技术部 IT", None),
    ("it-desk", "服务台 Service desk", "it"),
    ("it-ops", "运维组 Operations", "it"),
    ("business", "业务部 Business", None),
)
DEMO_UNITS = (("acme", "Acme 制造 Acme Manufacturing"), ("globex", "Globex 物流 Globex Logistics"))
# (login, department code, role codes, service unit codes) for the demo users.
DEMO_MEMBERS = (
    ("admin", "it", ("administrator",), ()),
    ("agent", "it-desk", ("service_desk_agent",), ("acme", "globex")),
    ("engineer", "it-ops", ("second_line_engineer", "configuration_manager"), ("acme",)),
    ("manager", "it", ("supervisor", "change_manager", "problem_manager"), ("acme", "globex")),
    ("enduser", "business", ("end_user",), ("acme",)),
)

DEMO_TIME_ZONE = ZoneInfo("Asia/Shanghai")
# Heads of department, whom processes ask first (the sample approval goes to the head).
DEMO_HEADS = (("it", "admin"), ("business", "manager"))


@hookimpl
def load_demo_data(session: Session, kernel: Kernel) -> None:
    from openitsm.kernel.identity.models import User
    from openitsm.kernel.organisation import service

    service.sync_kernel_roles(session, kernel)
    departments = {d.code: d for d in session.scalars(select(Department))}
    for code, name, parent in DEMO_DEPARTMENTS:
        if code not in departments:
            departments[code] = service.create_department(
                session,
                code=code,
                name=name,
                parent_id=departments[parent].id if parent else None,
            )
    units = {u.code: u for u in session.scalars(select(ServiceUnit))}
    for code, name in DEMO_UNITS:
        if code not in units:
            units[code] = service.create_service_unit(session, code=code, name=name)
    roles = {r.code: r for r in session.scalars(select(Role))}
    for login, department, role_codes, unit_codes in DEMO_MEMBERS:
        user = session.scalar(select(User).where(User.login == login))
        if user is None or user.department_id is not None:
            continue  # already placed once: leave what an administrator changed since
        service.update_user(
            session,
            user.id,
            user.version,
            {
                "department_id": departments[department].id,
                "role_ids": [roles[code].id for code in role_codes if code in roles],
                "service_unit_ids": [units[code].id for code in unit_codes],
            },
        )
    logins: dict[str, int] = {
        login: uid for login, uid in session.execute(select(User.login, User.id))
    }
    for code, login in DEMO_HEADS:
        department = departments[code]
        if department.head_user_id is None and login in logins:
            service.update_department(
                session, department.id, department.version, {"head_user_id": logins[login]}
            )
    _demo_duty(session, departments["it-desk"].id)


def _demo_duty(session: Session, desk_department_id: int) -> None:
    """The `desk` rota: the service desk's agents take turns, day and night, this week."""
    import datetime as dt

    from openitsm.kernel.actors import SYSTEM
    from openitsm.kernel.identity.models import User
    from openitsm.kernel.organisation import duty

    if session.scalar(select(DutyRota.id).where(DutyRota.key == "desk")) is not None:
        return
    agents = list(
        session.scalars(
            select(User.id)
            .outerjoin(UserRole, UserRole.user_id == User.id)
            .outerjoin(Role, Role.id == UserRole.role_id)
            .where(
                User.active.is_(True),
                (User.department_id == desk_department_id) | (Role.code == "service_desk_agent"),
            )
            .order_by(User.id)
            .distinct()
        )
    )
    rota = duty.create_rota(
        session,
        SYSTEM,
        key="desk",
        name="服务台值班 Service desk duty",
        department_id=desk_department_id,
    )
    if not agents:
        return
    today = dt.datetime.now(DEMO_TIME_ZONE).date()
    monday = today - dt.timedelta(days=today.weekday())
    sunday = monday + dt.timedelta(days=6)
    # Days 08:30–18:00, nights 18:00–08:30 (from the Sunday before, so Monday's early
    # hours are covered too): someone is on duty at any time this week.
    for first, starts, ends, people in (
        (monday, dt.time(8, 30), dt.time(18, 0), agents),
        (monday - dt.timedelta(days=1), dt.time(18, 0), dt.time(8, 30), agents[1:] + agents[:1]),
    ):
        duty.add_shift_series(
            session, SYSTEM, rota.id, people, first, sunday, starts, ends, DEMO_TIME_ZONE.key
        )
