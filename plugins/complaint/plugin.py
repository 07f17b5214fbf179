"""The complaint module's entry point: the hooks through which the kernel finds it.

Named by the `complaint` entry point of the `openitsm.plugins` group; `[plugins.complaint]`
in openitsm.toml (or OPENITSM_PLUGINS_COMPLAINT_*) holds its settings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import Field
from sqlalchemy.orm import Session

from openitsm.kernel import (
    ActionSpec,
    GraphQLContribution,
    Kernel,
    MigrationBranch,
    PluginSettings,
    RecordKind,
    hookimpl,
)
from openitsm.plugins.complaint import service

HERE = Path(__file__).parent
MIGRATIONS = HERE / "migrations" / "versions"
NOTIFICATIONS = HERE / "templates" / "notifications"

DESK = "service_desk_agent"
SECOND = "second_line_engineer"
THIRD = "third_line_expert"
SUPERVISOR = "supervisor"
END_USER = "end_user"
ADMIN = "administrator"


class Settings(PluginSettings):
    """The `[plugins.complaint]` table."""

    reopen_days: int = Field(
        default=14,
        ge=0,
        le=365,
        description="How many days after its feedback a complaint may be reopened.",
    )
    process: str = Field(
        default="complaint",
        max_length=100,
        description="The process started for each new complaint (empty: none).",
    )
    time_zone: str = Field(
        default="Asia/Shanghai", description="The time zone whose calendar year numbers complaints."
    )
    category_departments: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "Complaint category code -> the code of the department responsible for it: a new "
            "complaint of that category is routed there (the rest go to the service desk)."
        ),
    )


ACTIONS = (
    ActionSpec(
        service.READ,
        {"zh-CN": "查看投诉", "en": "View complaints"},
        "See the complaints of one's data scope, their history and the list.",
        roles=(DESK, SECOND, THIRD, SUPERVISOR, END_USER, ADMIN),
    ),
    ActionSpec(
        service.CREATE,
        {"zh-CN": "登记投诉", "en": "Register complaints"},
        "Register a complaint for a complainant.",
        roles=(DESK, END_USER, ADMIN),
    ),
    ActionSpec(
        service.UPDATE,
        {"zh-CN": "处理投诉", "en": "Work on complaints"},
        "Edit an open complaint, start work on it, archive it to knowledge.",
        roles=(DESK, SECOND, THIRD, ADMIN),
    ),
    ActionSpec(
        service.ASSIGN,
        {"zh-CN": "转办投诉", "en": "Route complaints"},
        "Route a complaint to the responsible department or a person.",
        roles=(DESK, SUPERVISOR, ADMIN),
    ),
    ActionSpec(
        service.FEEDBACK,
        {"zh-CN": "反馈投诉处理结果", "en": "Give complaint feedback"},
        "Record what was done about a complaint and its result.",
        roles=(DESK, SECOND, THIRD, ADMIN),
    ),
    ActionSpec(
        service.CLOSE,
        {"zh-CN": "办结投诉", "en": "Close complaints"},
        "Close a complaint after reviewing its feedback and calling the complainant back.",
        roles=(DESK, SUPERVISOR, ADMIN),
    ),
    ActionSpec(
        service.REOPEN,
        {"zh-CN": "重新打开投诉", "en": "Reopen complaints"},
        "Reopen a complaint with feedback, or a closed one, within the allowed period.",
        roles=(DESK, SUPERVISOR, ADMIN),
    ),
    ActionSpec(
        service.CANCEL,
        {"zh-CN": "取消投诉", "en": "Cancel complaints"},
        "Cancel a complaint registered by mistake.",
        roles=(DESK, SUPERVISOR, ADMIN),
    ),
    ActionSpec(
        service.RATE,
        {"zh-CN": "评价投诉处理满意度", "en": "Rate complaint handling"},
        "Give the satisfaction with a complaint's handling (the complainant, or the desk's "
        "call-back).",
        roles=(DESK, END_USER, ADMIN),
    ),
)


@hookimpl
def register_models() -> Iterable[type]:
    from openitsm.plugins.complaint.models import Complaint, ComplaintCounter

    return [Complaint, ComplaintCounter]


@hookimpl
def register_migrations() -> MigrationBranch:
    return MigrationBranch("complaint", MIGRATIONS)


@hookimpl
def register_record_kinds() -> Iterable[RecordKind]:
    return [service.COMPLAINT]


@hookimpl
def register_actions() -> Iterable[ActionSpec]:
    return list(ACTIONS)


@hookimpl
def register_processes() -> Iterable[Any]:
    from openitsm.kernel.workflow.service import ProcessSpec

    return [ProcessSpec(HERE / "processes" / "complaint.bpmn")]


@hookimpl
def register_notification_events() -> Iterable[Any]:
    from openitsm.kernel.notifications import NotificationEvent, templates_from

    return [
        NotificationEvent(
            service.FEEDBACK_EVENT,
            {"zh-CN": "我的投诉有了处理反馈", "en": "Feedback on my complaint"},
            templates_from(NOTIFICATIONS, service.FEEDBACK_EVENT),
            description="The complainant hears what was done, with a link to rate it.",
        )
    ]


@hookimpl
def register_graphql() -> GraphQLContribution:
    from openitsm.plugins.complaint.schema import (
        ComplaintMutation,
        ComplaintQuery,
        ComplaintType,
    )

    return GraphQLContribution(
        query=ComplaintQuery, mutation=ComplaintMutation, types=[ComplaintType]
    )


@hookimpl
def register_routes() -> Iterable[Any]:
    from openitsm.plugins.complaint.pages import ROUTES
    from openitsm.plugins.complaint.portal import ROUTES as PORTAL_ROUTES

    return [*ROUTES, *PORTAL_ROUTES]


@hookimpl
def register_menus() -> Iterable[Any]:
    from openitsm.plugins.complaint.pages import MENUS
    from openitsm.plugins.complaint.portal import MENUS as PORTAL_MENUS

    return [*MENUS, *PORTAL_MENUS]


@hookimpl
def register_widgets() -> Iterable[Any]:
    from openitsm.plugins.complaint.pages import WIDGETS

    return list(WIDGETS)


@hookimpl
def portal_requests(session: Session, actor: Any, locale: str, limit: int) -> Iterable[Any]:
    """The complaints the person made, for the self-service portal's home page."""
    from openitsm.plugins.complaint.portal import requests_for

    return requests_for(session, actor, locale, limit)


@hookimpl
def workflow_record(session: Session, kind: str, record_id: int) -> Mapping[str, Any] | None:
    """What process rules read as `record`: the complaint's codes, its people, its cause
    (`incident:42`) and its responsible department, which an assignee rule may give to offer
    the step to the whole department (`record.assignee or record.department`)."""
    if kind != service.COMPLAINT.name:
        return None
    from openitsm.kernel.workflow.participants import department_view, user_view
    from openitsm.plugins.complaint.models import Complaint

    complaint = session.get(Complaint, record_id)
    if complaint is None:
        return None
    cause = service.cause_of(session, complaint.id)
    return {
        "id": complaint.id,
        "number": complaint.number,
        "title": complaint.title,
        "status": complaint.status,
        "channel": complaint.channel,
        "category": complaint.category,
        "nature": complaint.nature,
        "severity": complaint.severity,
        "caused_by": str(cause) if cause is not None else None,
        "complainant": user_view(session, complaint.complainant_id),
        "assignee": user_view(session, complaint.assignee_id),
        "department": department_view(session, complaint.department_id),
        "service_unit_id": complaint.service_unit_id,
    }


@hookimpl(trylast=True)
def load_demo_data(session: Session, kernel: Kernel) -> None:
    """Last, so that the incidents a sample complaint points at are there already."""
    from openitsm.plugins.complaint.demo import load

    load(session, kernel)
