"""The incident module's entry point: the hooks through which the kernel finds it.

Named by the `incident` entry point of the `openitsm.plugins` group; `[plugins.incident]`
in openitsm.toml (or OPENITSM_PLUGINS_INCIDENT_*) holds its settings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import Field
from sqlalchemy.orm import Session
from strawberry.tools import merge_types

from openitsm.kernel import (
    ActionSpec,
    DictionarySpec,
    GraphQLContribution,
    ItemSpec,
    Kernel,
    MigrationBranch,
    PluginSettings,
    RecordKind,
    hookimpl,
)
from openitsm.plugins.incident import incident_templates, service
from openitsm.plugins.incident.mail_intake import record_from_mail  # noqa: F401 (the hook)

HERE = Path(__file__).parent
MIGRATIONS = HERE / "migrations" / "versions"

DESK = "service_desk_agent"
SECOND = "second_line_engineer"
THIRD = "third_line_expert"
SUPERVISOR = "supervisor"
END_USER = "end_user"
VENDOR = "vendor"
ADMIN = "administrator"


class Settings(PluginSettings):
    """The `[plugins.incident]` table."""

    reopen_days: int = Field(
        default=14,
        ge=0,
        le=365,
        description="How many days after resolution an incident may be reopened.",
    )
    process: str = Field(
        default="incident",
        max_length=100,
        description="The process started for each new incident (empty: none).",
    )
    time_zone: str = Field(
        default="Asia/Shanghai", description="The time zone whose calendar year numbers incidents."
    )
    portal_impact: str = Field(
        default="minor",
        max_length=100,
        description="The impact (an incident_impact item) of incidents reported on the portal.",
    )
    portal_urgency: str = Field(
        default="medium",
        max_length=100,
        description="The urgency (an incident_urgency item) of incidents reported on the portal.",
    )


ACTIONS = (
    ActionSpec(
        service.READ,
        {"zh-CN": "查看事件", "en": "View incidents"},
        "See the incidents of one's data scope, their history and the list.",
        roles=(DESK, SECOND, THIRD, SUPERVISOR, END_USER, VENDOR, ADMIN),
    ),
    ActionSpec(
        service.CREATE,
        {"zh-CN": "登记事件", "en": "Register incidents"},
        "Register a new incident for a caller.",
        roles=(DESK, END_USER, ADMIN),
    ),
    ActionSpec(
        service.UPDATE,
        {"zh-CN": "处理事件", "en": "Work on incidents"},
        "Edit an open incident, start work on it, link parent and child incidents.",
        roles=(DESK, SECOND, THIRD, ADMIN),
    ),
    ActionSpec(
        service.ASSIGN,
        {"zh-CN": "分派事件", "en": "Assign incidents"},
        "Give an incident to a person or a group (调度).",
        roles=(DESK, SECOND, SUPERVISOR, ADMIN),
    ),
    ActionSpec(
        service.RESOLVE,
        {"zh-CN": "解决事件", "en": "Resolve incidents"},
        "Record the resolution, cost and work hours.",
        roles=(DESK, SECOND, THIRD, ADMIN),
    ),
    ActionSpec(
        service.CLOSE,
        {"zh-CN": "关闭事件", "en": "Close incidents"},
        "Close a resolved incident after the caller confirmed it.",
        roles=(DESK, SUPERVISOR, ADMIN),
    ),
    ActionSpec(
        service.REOPEN,
        {"zh-CN": "重新打开事件", "en": "Reopen incidents"},
        "Reopen a resolved or closed incident within the allowed period.",
        roles=(DESK, SUPERVISOR, ADMIN),
    ),
    ActionSpec(
        service.CANCEL,
        {"zh-CN": "取消事件", "en": "Cancel incidents"},
        "Cancel an incident registered by mistake.",
        roles=(DESK, SUPERVISOR, ADMIN),
    ),
    ActionSpec(
        service.RATE,
        {"zh-CN": "评价满意度", "en": "Rate satisfaction"},
        "Give the satisfaction of a resolved incident (the caller, or the desk's call-back).",
        roles=(DESK, END_USER, ADMIN),
    ),
    ActionSpec(
        service.ESCALATE_PROBLEM,
        {"zh-CN": "升级为问题", "en": "Escalate incidents to problems"},
        "Open a problem from an incident (when a problem module is enabled) and link the two.",
        roles=(DESK, SECOND, THIRD, ADMIN),
    ),
    ActionSpec(
        service.ARCHIVE_KNOWLEDGE,
        {"zh-CN": "归档知识库", "en": "Archive incidents to knowledge"},
        "Start a knowledge draft from a resolved incident (when a knowledge module is enabled).",
        roles=(DESK, SECOND, THIRD, ADMIN),
    ),
    ActionSpec(
        incident_templates.MANAGE,
        {"zh-CN": "管理事件模板", "en": "Manage incident templates"},
        "Create, change and deactivate the templates incidents are registered from.",
        roles=(DESK, ADMIN),
    ),
)

LEVEL_DICTIONARY = DictionarySpec(
    "incident_level",
    {"zh-CN": "事件级别", "en": "Incident level"},
    items=(
        ItemSpec("p1", {"zh-CN": "一级（紧急）", "en": "P1 (critical)"}),
        ItemSpec("p2", {"zh-CN": "二级（高）", "en": "P2 (high)"}),
        ItemSpec("p3", {"zh-CN": "三级（中）", "en": "P3 (medium)"}),
        ItemSpec("p4", {"zh-CN": "四级（低）", "en": "P4 (low)"}),
    ),
    description="Incident levels; impact × urgency gives one, people may override it.",
)


@hookimpl
def register_models() -> Iterable[type]:
    from openitsm.plugins.incident.models import Incident, IncidentCounter, IncidentTemplate

    return [Incident, IncidentCounter, IncidentTemplate]


@hookimpl
def register_migrations() -> MigrationBranch:
    return MigrationBranch("incident", MIGRATIONS)


@hookimpl
def register_record_kinds() -> Iterable[RecordKind]:
    return [service.INCIDENT]


@hookimpl
def register_sla_subjects() -> list[Any]:
    """Incidents run on the SLA: waiting for the customer pauses the clock, resolving stops
    it and reopening resumes it; the first response is when work starts."""
    from openitsm.kernel.sla import SlaSubject
    from openitsm.plugins.incident import models

    return [
        SlaSubject(
            kind=service.INCIDENT.name,
            level_field="level",
            status_field="status",
            service_unit_field="service_unit_id",
            pause_statuses=frozenset({models.WAITING}),
            resolved_statuses=frozenset({models.RESOLVED}),
            closed_statuses=frozenset({models.CLOSED, models.CANCELLED}),
            responded_field="responded_at",
            fact_fields={
                "category": "category",
                "impact": "impact",
                "urgency": "urgency",
                "service_unit": "service_unit_id",
            },
        )
    ]


@hookimpl
def register_actions() -> Iterable[ActionSpec]:
    return list(ACTIONS)


@hookimpl
def register_dictionaries() -> Iterable[DictionarySpec]:
    return [LEVEL_DICTIONARY]


@hookimpl
def register_notification_events() -> Iterable[Any]:
    from openitsm.plugins.incident.notifications import notification_events

    return notification_events()


@hookimpl
def register_tasks() -> Iterable[Any]:
    from openitsm.plugins.incident.notifications import tasks

    return tasks()


@hookimpl
def on_sla_event(event: Any, kernel: Kernel) -> None:
    """An incident's SLA warning or breach: its people are told by the queue."""
    from openitsm.plugins.incident.notifications import queue_sla_event

    queue_sla_event(kernel, event)


@hookimpl
def on_record_changed(event: Any, kernel: Kernel) -> None:
    """An incident became resolved: its caller is told (and asked to rate) by the queue."""
    from openitsm.plugins.incident.notifications import queue_resolved

    queue_resolved(kernel, event)


@hookimpl
def register_processes() -> Iterable[Any]:
    from openitsm.kernel.workflow.service import ProcessSpec

    return [ProcessSpec(HERE / "processes" / "incident.bpmn")]


@hookimpl
def register_graphql() -> GraphQLContribution:
    from openitsm.plugins.incident.satisfaction_schema import SatisfactionQuery
    from openitsm.plugins.incident.schema import (
        IncidentMutation,
        IncidentQuery,
        IncidentSubscription,
        IncidentType,
    )
    from openitsm.plugins.incident.template_schema import (
        IncidentTemplateType,
        TemplateMutation,
        TemplateQuery,
    )

    return GraphQLContribution(
        query=merge_types("IncidentQuery", (IncidentQuery, TemplateQuery, SatisfactionQuery)),
        mutation=merge_types("IncidentMutation", (IncidentMutation, TemplateMutation)),
        subscription=IncidentSubscription,
        types=[IncidentType, IncidentTemplateType],
    )


@hookimpl
def register_routes() -> Iterable[Any]:
    from openitsm.plugins.incident.desk import ROUTES as DESK_ROUTES
    from openitsm.plugins.incident.pages import ROUTES
    from openitsm.plugins.incident.portal import ROUTES as PORTAL_ROUTES
    from openitsm.plugins.incident.template_pages import ROUTES as TEMPLATE_ROUTES
    from openitsm.plugins.incident.vendor_portal import ROUTES as VENDOR_ROUTES

    return [*TEMPLATE_ROUTES, *DESK_ROUTES, *ROUTES, *PORTAL_ROUTES, *VENDOR_ROUTES]


@hookimpl
def register_menus() -> Iterable[Any]:
    from openitsm.plugins.incident.pages import MENUS
    from openitsm.plugins.incident.portal import MENUS as PORTAL_MENUS
    from openitsm.plugins.incident.template_pages import MENUS as TEMPLATE_MENUS

    return [*MENUS, *PORTAL_MENUS, *TEMPLATE_MENUS]


@hookimpl
def register_widgets() -> Iterable[Any]:
    from openitsm.plugins.incident.pages import WIDGETS
    from openitsm.plugins.incident.widgets import WIDGETS as MORE_WIDGETS

    return [*WIDGETS, *MORE_WIDGETS]


@hookimpl
def portal_requests(
    kernel: Kernel, session: Session, actor: Any, locale: str, limit: int
) -> Iterable[Any]:
    """The incidents the person reported, and their service units' where their data scope
    reaches them, for the portal's home page; for a vendor, also those dispatched to them."""
    from openitsm.plugins.incident.portal import requests_for

    return requests_for(session, actor, locale, limit, kernel)


@hookimpl
def workflow_record(session: Session, kind: str, record_id: int) -> Mapping[str, Any] | None:
    """What process rules read as `record`: the incident's codes, its people and group."""
    if kind != service.INCIDENT.name:
        return None
    from openitsm.kernel.workflow.participants import RecordView, department_view, user_view
    from openitsm.plugins.incident.models import Incident

    incident = session.get(Incident, record_id)
    if incident is None:
        return None
    caller_id, assignee_id, group_id = incident.caller_id, incident.assignee_id, incident.group_id
    return RecordView(
        {
            "id": incident.id,
            "number": incident.number,
            "title": incident.title,
            "status": incident.status,
            "category": incident.category,
            "nature": incident.nature,
            "impact": incident.impact,
            "urgency": incident.urgency,
            "level": incident.level,
            "service_unit_id": incident.service_unit_id,
        },
        {
            "caller": lambda: user_view(session, caller_id),
            "assignee": lambda: user_view(session, assignee_id),
            "group": lambda: department_view(session, group_id),
        },
    )


@hookimpl
def load_demo_data(session: Session, kernel: Kernel) -> None:
    from openitsm.plugins.incident.demo import load

    load(session, kernel)


@hookimpl
def seed_bench_data(site: Any, scale: Any) -> None:
    from openitsm.plugins.incident.bench_seed import seed

    seed(site, scale)
