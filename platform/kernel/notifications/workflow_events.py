"""The workflow engine's events, told to people through the notification service.

`on_workflow_event` arrives after the step committed and queues the event; the queued task
works out who is meant (the users named, the holders of the roles, the members of the
departments) and calls `notify` for the process instance, which each recipient sees only
if the instance's visibility admits them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from openitsm.kernel.identity.models import User
from openitsm.kernel.notifications.service import notify
from openitsm.kernel.notifications.spec import NotificationEvent, Templates
from openitsm.kernel.organisation.models import Role, UserRole
from openitsm.kernel.references import RecordRef

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from openitsm.kernel.app import Kernel
    from openitsm.kernel.workflow.engine import WorkflowEvent

# event name: (labels, subject by locale, first line by locale)
_EVENTS: dict[str, tuple[dict[str, str], dict[str, str], dict[str, str]]] = {
    "workflow.assigned": (
        {"zh-CN": "步骤交给我", "en": "A step is assigned to me"},
        {
            "zh-CN": "待办：{{ values.step[locale] }} — {{ record_label }}",
            "en": "To do: {{ values.step[locale] }} — {{ record_label }}",
        },
        {
            "zh-CN": "{{ values.actor }} 将步骤“{{ values.step[locale] }}”交给了您。",
            "en": '{{ values.actor }} gave you the step "{{ values.step[locale] }}".',
        },
    ),
    "workflow.offered": (
        {"zh-CN": "步骤可由我认领", "en": "A step is offered to me"},
        {
            "zh-CN": "待认领：{{ values.step[locale] }} — {{ record_label }}",
            "en": "To claim: {{ values.step[locale] }} — {{ record_label }}",
        },
        {
            "zh-CN": "步骤“{{ values.step[locale] }}”可由您或您的同事认领。",
            "en": 'The step "{{ values.step[locale] }}" is waiting for you '
            "or a colleague to claim it.",
        },
    ),
    "workflow.urged": (
        {"zh-CN": "步骤被督办", "en": "A step of mine is urged"},
        {
            "zh-CN": "督办：{{ values.step[locale] }} — {{ record_label }}",
            "en": "Urged: {{ values.step[locale] }} — {{ record_label }}",
        },
        {
            "zh-CN": "{{ values.actor }} 督办了步骤“{{ values.step[locale] }}”。",
            "en": '{{ values.actor }} urges the step "{{ values.step[locale] }}".',
        },
    ),
    "workflow.reminded": (
        {"zh-CN": "步骤即将到期", "en": "A step of mine is nearly due"},
        {
            "zh-CN": "即将到期：{{ values.step[locale] }} — {{ record_label }}",
            "en": "Due soon: {{ values.step[locale] }} — {{ record_label }}",
        },
        {
            "zh-CN": "步骤“{{ values.step[locale] }}”即将到期。",
            "en": 'The step "{{ values.step[locale] }}" is nearly due.',
        },
    ),
    "workflow.escalated": (
        {"zh-CN": "步骤已超期升级", "en": "A step is escalated"},
        {
            "zh-CN": "已超期：{{ values.step[locale] }} — {{ record_label }}",
            "en": "Overdue: {{ values.step[locale] }} — {{ record_label }}",
        },
        {
            "zh-CN": "步骤“{{ values.step[locale] }}”已超过期限，已升级。",
            "en": 'The step "{{ values.step[locale] }}" is past its deadline and was escalated.',
        },
    ),
    "workflow.fallback": (
        {"zh-CN": "步骤找不到处理人", "en": "A step found nobody"},
        {
            "zh-CN": "无人处理：{{ values.step[locale] }} — {{ record_label }}",
            "en": "Nobody found: {{ values.step[locale] }} — {{ record_label }}",
        },
        {
            "zh-CN": "步骤“{{ values.step[locale] }}”的处理人规则没有找到任何人，已转给您的角色。",
            "en": 'The assignee rule of the step "{{ values.step[locale] }}" found nobody; '
            "it went to your role.",
        },
    ),
}

_TEXT = {
    "zh-CN": """{{ recipient.name }}，您好：

{headline}

流程：{{ record_label }}
步骤：{{ values.step[locale] }}
{% if values.due_at %}期限：{{ localtime(values.due_at) }}
{% endif %}{% if values.comment %}说明：{{ values.comment }}
{% endif %}
查看并处理：{{ url }}
""",
    "en": """Hello {{ recipient.name }},

{headline}

Process: {{ record_label }}
Step: {{ values.step[locale] }}
{% if values.due_at %}Due: {{ localtime(values.due_at) }}
{% endif %}{% if values.comment %}Note: {{ values.comment }}
{% endif %}
Open it: {{ url }}
""",
}

_HTML = {
    "zh-CN": """<p>{{ recipient.name }}，您好：</p>
<p>{headline}</p>
<table>
<tr><th align="left">流程</th><td>{{ record_label }}</td></tr>
<tr><th align="left">步骤</th><td>{{ values.step[locale] }}</td></tr>
{% if values.due_at %}
<tr><th align="left">期限</th><td>{{ localtime(values.due_at) }}</td></tr>
{% endif %}
{% if values.comment %}<tr><th align="left">说明</th><td>{{ values.comment }}</td></tr>{% endif %}
</table>
<p><a href="{{ url }}">查看并处理</a></p>
""",
    "en": """<p>Hello {{ recipient.name }},</p>
<p>{headline}</p>
<table>
<tr><th align="left">Process</th><td>{{ record_label }}</td></tr>
<tr><th align="left">Step</th><td>{{ values.step[locale] }}</td></tr>
{% if values.due_at %}
<tr><th align="left">Due</th><td>{{ localtime(values.due_at) }}</td></tr>
{% endif %}
{% if values.comment %}<tr><th align="left">Note</th><td>{{ values.comment }}</td></tr>{% endif %}
</table>
<p><a href="{{ url }}">Open it</a></p>
""",
}


def notification_events() -> list[NotificationEvent]:
    events = []
    for name, (labels, subjects, headlines) in _EVENTS.items():
        templates = {
            locale: Templates(
                subjects[locale],
                _TEXT[locale].replace("{headline}", headlines[locale]),
                _HTML[locale].replace("{headline}", headlines[locale]),
            )
            for locale in ("zh-CN", "en")
        }
        events.append(NotificationEvent(name, labels, templates))
    return events


def _holders(session: Session, role_codes: Iterable[str]) -> set[int]:
    codes = sorted(set(role_codes))
    if not codes:
        return set()
    return set(
        session.scalars(
            select(UserRole.user_id)
            .join(Role, Role.id == UserRole.role_id)
            .where(Role.code.in_(codes))
        )
    )


def _members(session: Session, department_ids: Iterable[int]) -> set[int]:
    ids = sorted(set(department_ids))
    if not ids:
        return set()
    return set(session.scalars(select(User.id).where(User.department_id.in_(ids))))


def recipients(session: Session, event: WorkflowEvent) -> set[int]:
    """Everyone the event names: the users, the roles' holders, the departments' members."""
    return (
        set(event.user_ids)
        | _holders(session, event.role_codes)
        | _members(session, event.department_ids)
    )


def event_name(event: WorkflowEvent) -> str | None:
    if event.kind == "assigned":
        personal = event.user_ids and not (event.role_codes or event.department_ids)
        return "workflow.assigned" if personal and len(event.user_ids) == 1 else "workflow.offered"
    if event.kind in ("urged", "reminded", "escalated", "fallback"):
        return f"workflow.{event.kind}"
    return None


def _step(session: Session, event: WorkflowEvent) -> tuple[dict[str, str], Any]:
    """The step's name in each language, and the open item's deadline."""
    from openitsm.kernel.workflow.engine import definition_of
    from openitsm.kernel.workflow.models import OPEN, ProcessInstance, WorkItem

    names = {"zh-CN": event.node_id or "", "en": event.node_id or ""}
    due_at = None
    instance = session.get(ProcessInstance, event.instance_id)
    if instance is not None and event.node_id:
        definition = definition_of(session, instance.process_version_id)
        names = {locale: definition.node_label(event.node_id, locale) for locale in names}
    item = None
    if event.work_item_id is not None:
        item = session.get(WorkItem, event.work_item_id)
    elif event.node_id:
        item = session.scalar(
            select(WorkItem)
            .where(
                WorkItem.instance_id == event.instance_id,
                WorkItem.node_id == event.node_id,
                WorkItem.state == OPEN,
            )
            .order_by(WorkItem.id.desc())
            .limit(1)
        )
    if item is not None:
        due_at = item.due_at
    return names, due_at


def tell(session: Session, kernel: Kernel, event: WorkflowEvent) -> int:
    """Notify the people a workflow event names; returns how many were told."""
    from openitsm.kernel.workflow.runtime import INSTANCE_KIND

    name = event_name(event)
    if name is None or INSTANCE_KIND not in kernel.record_kinds:
        return 0
    people = recipients(session, event)
    if not people:
        return 0
    step, due_at = _step(session, event)
    told = notify(
        session,
        name,
        people,
        record=RecordRef(INSTANCE_KIND, event.instance_id),
        values={
            "step": step,
            "actor": event.actor_label,
            "comment": event.comment,
            "due_at": due_at,
            "process_key": event.process_key,
        },
    )
    return len(told)
