"""Notifications, registered like any plugin's part of the kernel: its tables, the in-app
channel, the workflow's events, the delivery tasks, GraphQL and the administrators' action."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from openitsm.kernel.access.actions import ActionSpec
from openitsm.kernel.graphql.contribution import GraphQLContribution
from openitsm.kernel.hookspecs import hookimpl
from openitsm.kernel.notifications import digest, service
from openitsm.kernel.notifications.models import (
    DigestPreference,
    Notification,
    NotificationDelivery,
    NotificationPreference,
    QuietHours,
)
from openitsm.kernel.notifications.spec import IN_APP_CHANNEL, Channel, NotificationEvent
from openitsm.kernel.queue import crontab, periodic_task, task

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from openitsm.kernel.app import Kernel
    from openitsm.kernel.workflow.engine import WorkflowEvent

TELL_TASK = "kernel.notifications.tell_workflow_event"


@task()
def deliver_notification(session: Session, delivery_id: int) -> str:
    """Send one delivery; idempotent (a sent or claimed delivery is left alone)."""
    return service.deliver(session, delivery_id).state


@task(retries=3, retry_delay=30)
def tell_workflow_event(session: Session, event: dict[str, Any]) -> int:
    """Tell the people a workflow event names, after the step committed: working out who
    they are and rendering each one's message is the queue's work, not the step's."""
    from openitsm.kernel.notifications.workflow_events import tell
    from openitsm.kernel.workflow.engine import WorkflowEvent

    return tell(session, session.info["kernel"], WorkflowEvent(**event))


@periodic_task(crontab())
def dispatch_notifications(session: Session) -> int:
    """Every minute: queue retries that are due and mail whose quiet hours have ended."""
    return service.dispatch_due(session)


@periodic_task(crontab())
def gather_digests(session: Session) -> int:
    """Every minute: one message per user and channel whose digest slot has come."""
    return len(digest.gather_due(session))


@hookimpl
def register_models() -> list[type]:
    return [
        Notification,
        NotificationDelivery,
        NotificationPreference,
        DigestPreference,
        QuietHours,
    ]


@hookimpl
def register_tasks() -> list[Any]:
    return [deliver_notification, tell_workflow_event, dispatch_notifications, gather_digests]


@hookimpl
def register_actions() -> list[ActionSpec]:
    return [
        ActionSpec(
            service.MANAGE,
            {"zh-CN": "管理通知发送", "en": "Manage notification delivery"},
            "See failed and waiting deliveries and send them again.",
        )
    ]


@hookimpl
def register_notification_channels() -> list[Channel]:
    return [IN_APP_CHANNEL]


@hookimpl
def register_notification_events() -> list[NotificationEvent]:
    from openitsm.kernel.notifications.workflow_events import notification_events

    return notification_events()


@hookimpl
def register_graphql() -> GraphQLContribution:
    from openitsm.kernel.notifications.schema import (
        NotificationMutation,
        NotificationQuery,
        NotificationType,
    )

    return GraphQLContribution(
        query=NotificationQuery, mutation=NotificationMutation, types=[NotificationType]
    )


@hookimpl
def on_workflow_event(event: WorkflowEvent, kernel: Kernel) -> None:
    """Work-item events reach the assignee, the candidates, or the owner roles, through the
    queue, keyed by the event so that a repeated relay tells people once. A failure to
    queue propagates: the outbox keeps the event and relays it again."""
    import dataclasses
    import uuid

    from openitsm.kernel.queue.outbox import event_key

    key = event_key("workflow", event.event_id) if event.event_id else uuid.uuid4().hex
    kernel.tasks[TELL_TASK].enqueue(dataclasses.asdict(event), key=key)
