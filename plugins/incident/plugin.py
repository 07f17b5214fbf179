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
from openitsm.plugins.incident import service

HERE = Path(__file__).parent
MIGRATIONS = HERE / "migrations" / "versions"

DESK = "service_desk_agent"
SECOND = "second_line_engineer"
THIRD = "third_line_expert"
SUPERVISOR = "supervisor"
END_USER = "end_user"
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


ACTIONS = (
    ActionSpec(
        service.READ,
        {"zh-CN": "查看事件", "en": "View incidents"},
        "See the incidents of one's data scope, their history and the list.",
        roles=(DESK, SECOND, THIRD, SUPERVISOR, END_USER, ADMIN),
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
    from openitsm.plugins.incident.models import Incident, IncidentCounter

    return [Incident, IncidentCounter]


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
def register_processes() -> Iterable[Any]:
    from openitsm.kernel.workflow.service import ProcessSpec

    return [ProcessSpec(HERE / "processes" / "incident.bpmn")]


@hookimpl
def register_graphql() -> GraphQLContribution:
    from openitsm.plugins.incident.schema import IncidentMutation, IncidentQuery, IncidentType

    return GraphQLContribution(query=IncidentQuery, mutation=IncidentMutation, types=[IncidentType])


@hookimpl
def register_routes() -> Iterable[Any]:
    from openitsm.plugins.incident.pages import ROUTES

    return list(ROUTES)


@hookimpl
def register_menus() -> Iterable[Any]:
    from openitsm.plugins.incident.pages import MENUS

    return list(MENUS)


@hookimpl
def register_widgets() -> Iterable[Any]:
    from openitsm.plugins.incident.pages import WIDGETS

    return list(WIDGETS)


@hookimpl
def workflow_record(session: Session, kind: str, record_id: int) -> Mapping[str, Any] | None:
    """What process rules read as `record`: the incident's codes, its people and group."""
    if kind != service.INCIDENT.name:
        return None
    from openitsm.kernel.workflow.participants import department_view, user_view
    from openitsm.plugins.incident.models import Incident

    incident = session.get(Incident, record_id)
    if incident is None:
        return None
    return {
        "id": incident.id,
        "number": incident.number,
        "title": incident.title,
        "status": incident.status,
        "category": incident.category,
        "nature": incident.nature,
        "impact": incident.impact,
        "urgency": incident.urgency,
        "level": incident.level,
        "caller": user_view(session, incident.caller_id),
        "assignee": user_view(session, incident.assignee_id),
        "group": department_view(session, incident.group_id),
        "service_unit_id": incident.service_unit_id,
    }


@hookimpl
def load_demo_data(session: Session, kernel: Kernel) -> None:
    from openitsm.plugins.incident.demo import load

    load(session, kernel)
