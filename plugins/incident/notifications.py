"""What the incident module tells people, and whom.

- `incident.sla_warning` / `incident.sla_breach`: an incident's response or resolution
  target is about to fall due, or fell due. The assignee is told; an incident with no
  (active) assignee tells its assignment group's members and head.
- `incident.resolved`: the caller hears that their incident is resolved, with the
  resolution as they may read it.
- `incident.satisfaction_request`: at the same moment, a caller who may rate is asked to,
  with a link to the incident's portal page, where they rate it.

Escalation is not an event of ours: passing an incident to the next line completes a process
step, whose new work item already tells its people (`workflow.assigned` / `workflow.offered`),
and an overdue step is `workflow.escalated`.

The hooks only hand the work to the queue (`tell_sla_event`, `tell_resolved`); the tasks work
out the recipients and call the kernel's `notify`, which drops anyone who may not see the
incident and renders each message through the recipient's field rules. Every notification is
keyed, so a task run twice tells nobody twice.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from openitsm.kernel import RecordRef, task
from openitsm.kernel.access.grants import actor_for_user
from openitsm.kernel.identity.models import User
from openitsm.kernel.notifications import NotificationEvent, notify, templates_from
from openitsm.kernel.organisation.models import Department
from openitsm.plugins.incident import service
from openitsm.plugins.incident.models import CLOSED, RESOLVED, Incident

if TYPE_CHECKING:
    from openitsm.kernel import Kernel
    from openitsm.kernel.audit import RecordEventData
    from openitsm.kernel.sla import SlaEvent

log = logging.getLogger("openitsm.incident")

TEMPLATES = Path(__file__).parent / "templates" / "notifications"
SLA_WARNING = "incident.sla_warning"
SLA_BREACH = "incident.sla_breach"
RESOLVED_EVENT = "incident.resolved"
SATISFACTION_REQUEST = "incident.satisfaction_request"
SLA_TASK = "incident.tell_sla_event"
RESOLVED_TASK = "incident.tell_resolved"
# Where a caller rates an incident: its page on the self-service portal, whose rating form
# shows once it is resolved (`portal.py`).
RATING_URL = "/portal/incidents/{id}#rate-heading"

LABELS = {
    SLA_WARNING: {"zh-CN": "事件 SLA 即将到期", "en": "An incident's SLA target is near"},
    SLA_BREACH: {"zh-CN": "事件 SLA 已超时", "en": "An incident's SLA target was missed"},
    RESOLVED_EVENT: {"zh-CN": "我的事件已解决", "en": "My incident is resolved"},
    SATISFACTION_REQUEST: {
        "zh-CN": "请评价事件处理",
        "en": "Please rate how my incident was handled",
    },
}
DESCRIPTIONS = {
    SLA_WARNING: "To the assignee (else the group's members and head) before a target falls due.",
    SLA_BREACH: "To the assignee (else the group's members and head) once a target is missed.",
    RESOLVED_EVENT: "To the caller, with the resolution, when the incident is resolved.",
    SATISFACTION_REQUEST: "To the caller, with a link to rate, when the incident is resolved.",
}


def notification_events() -> list[NotificationEvent]:
    """The module's events, their templates read from `templates/notifications/<locale>/`."""
    return [
        NotificationEvent(
            name,
            LABELS[name],
            templates_from(TEMPLATES, name),
            description=DESCRIPTIONS[name],
            urgent=name == SLA_BREACH,  # a breach is told at once, never held for a digest
        )
        for name in (SLA_WARNING, SLA_BREACH, RESOLVED_EVENT, SATISFACTION_REQUEST)
    ]


# --- from the hooks to the queue ------------------------------------------------------


def queue_sla_event(kernel: Kernel, event: SlaEvent) -> None:
    """Hand an incident's SLA warning or breach to the queue (the scan already told it once;
    the key keeps a repeated hand-off from running twice)."""
    if event.record.kind != service.INCIDENT.name:
        return
    record_id = event.record.id
    kernel.tasks[SLA_TASK].enqueue(
        record_id,
        event.kind,
        event.target,
        event.due_at,
        key=f"incident-sla:{record_id}:{event.target}:{event.kind}:{event.at.isoformat()}",
    )


def queue_resolved(kernel: Kernel, event: RecordEventData) -> None:
    """An incident just became resolved: tell its caller in the queue."""
    if event.record_kind != service.INCIDENT.name or event.action != "update":
        return
    if not any(c.field == "status" and c.new == RESOLVED for c in event.changes):
        return
    kernel.tasks[RESOLVED_TASK].enqueue(
        event.record_id, event.id, event.actor_id, key=f"incident-resolved:{event.id}"
    )


# --- whom to tell ---------------------------------------------------------------------


def sla_recipients(session: Session, incident: Incident) -> set[int]:
    """The active assignee; without one, the assignment group's active members and head."""
    if incident.assignee_id is not None:
        assignee = session.get(User, incident.assignee_id)
        if assignee is not None and assignee.active:
            return {assignee.id}
    if incident.group_id is None:
        return set()
    people = set(
        session.scalars(
            select(User.id).where(User.department_id == incident.group_id, User.active.is_(True))
        )
    )
    head = session.scalar(select(Department.head_user_id).where(Department.id == incident.group_id))
    if head is not None:
        people.add(head)
    return people


# --- the queued work ------------------------------------------------------------------


@task(retries=3, retry_delay=30)
def tell_sla_event(
    session: Session, incident_id: int, kind: str, target: str, due_at: dt.datetime | None
) -> int:
    """Tell the people working on an incident that a target nears or was missed; returns how
    many were told. A finished incident's clock never fires, so none is checked here."""
    incident = session.get(Incident, incident_id)
    if incident is None:
        return 0
    event = SLA_BREACH if kind == "breach" else SLA_WARNING
    told = notify(
        session,
        event,
        sla_recipients(session, incident),
        record=RecordRef(service.INCIDENT.name, incident.id),
        values={"target": target, "due_at": due_at},
        key=f"incident:{incident.id}:{event}:{target}:{due_at.isoformat() if due_at else ''}",
    )
    return len(told)


def _may_rate(session: Session, user_id: int) -> bool:
    try:
        return actor_for_user(session, user_id).can(service.RATE)
    except LookupError:
        return False


@task(retries=3, retry_delay=30)
def tell_resolved(
    session: Session, incident_id: int, event_id: int, actor_id: int | None = None
) -> int:
    """Tell the caller their incident is resolved and, when they may rate it and have not,
    ask them to; nothing when the caller resolved it themselves or it was reopened since."""
    incident = session.get(Incident, incident_id)
    if incident is None or incident.caller_id is None or incident.caller_id == actor_id:
        return 0
    if incident.status not in (RESOLVED, CLOSED):
        return 0
    record = RecordRef(service.INCIDENT.name, incident.id)
    told = notify(
        session,
        RESOLVED_EVENT,
        [incident.caller_id],
        record=record,
        key=f"incident:{incident.id}:resolved:{event_id}",
    )
    if incident.satisfaction is None and _may_rate(session, incident.caller_id):
        told += notify(
            session,
            SATISFACTION_REQUEST,
            [incident.caller_id],
            record=record,
            url=RATING_URL.format(id=incident.id),
            key=f"incident:{incident.id}:satisfaction:{event_id}",
        )
    return len(told)


def tasks() -> Iterable[Any]:
    return [tell_sla_event, tell_resolved]
