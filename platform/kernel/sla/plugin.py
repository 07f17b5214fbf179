"""The SLA service, registered like any plugin's part of the kernel: its tables, its queue
work, its GraphQL, and the listener that keeps clocks up to date as records change."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from openitsm.kernel.graphql.contribution import GraphQLContribution
from openitsm.kernel.hookspecs import hookimpl
from openitsm.kernel.sla.models import SlaClock, SlaLevel, SlaRule, SlaServiceUnitCalendar

if TYPE_CHECKING:
    from openitsm.kernel.app import Kernel
    from openitsm.kernel.audit import RecordEventData

# Changes that move every running clock: its calendars, its levels' targets. A matrix rule
# does not: the level a record has is the module's field, and its changes are the record's.
RECOMPUTE_ALL_ON = frozenset(
    {"business_calendar", "business_calendar_day", "sla_level", "sla_service_unit_calendar"}
)


@hookimpl
def register_models() -> list[type]:
    return [SlaLevel, SlaRule, SlaServiceUnitCalendar, SlaClock]


@hookimpl
def register_tasks() -> list[Any]:
    from openitsm.kernel.sla.tasks import recompute_clocks, recompute_record, scan_sla

    return [recompute_record, recompute_clocks, scan_sla]


@hookimpl
def register_graphql() -> GraphQLContribution:
    from openitsm.kernel.sla.schema import (
        SlaClockType,
        SlaLevelType,
        SlaMutation,
        SlaQuery,
        SlaRuleType,
    )

    return GraphQLContribution(
        query=SlaQuery, mutation=SlaMutation, types=[SlaClockType, SlaLevelType, SlaRuleType]
    )


@hookimpl
def on_record_changed(event: RecordEventData, kernel: Kernel) -> None:
    """A record on the SLA changed a field its clock reads: recompute it in the queue. A
    calendar or a level changed: recompute every running clock in the queue."""
    from openitsm.kernel.sla.clocks import recompute_all
    from openitsm.kernel.sla.subjects import sla_subjects

    subjects = sla_subjects(kernel)
    subject = subjects.get(event.record_kind)
    if subject is not None:
        tracked = subject.tracked_fields
        if event.action != "update" or any(change.field in tracked for change in event.changes):
            task = kernel.tasks["kernel.sla.recompute_record"]
            task.enqueue(event.record_kind, event.record_id, key=f"sla:{event.id}")
    elif event.record_kind in RECOMPUTE_ALL_ON and subjects:
        if event.record_kind == "sla_level" and event.action == "create":
            return  # no clock counts on a level that did not exist
        # One run per transaction: the events of one flush share their instant.
        recompute_all(kernel, key=f"sla-all:{event.at.isoformat()}")
