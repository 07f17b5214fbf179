"""Incidents in GraphQL: thin resolvers that translate ids and call the service.

`incident(id:)`, `incidents(filter:, orderBy:, first:, after:)`, `createIncident(input:)`,
`updateIncident(id:, version:, input:)` and the actions `assignIncident`, `startIncident`,
`resolveIncident`, `closeIncident`, `reopenIncident`, `cancelIncident`, `rateIncident`,
`linkParentIncident`, `escalateIncidentToProblem`, `archiveIncidentToKnowledge`, each
returning a payload with the incident; the subscriptions
`incidentChanged(id:)` and `incidentsChanged` (over WebSocket at /graphql).
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
from collections.abc import AsyncGenerator, Sequence
from typing import Any, ClassVar

import strawberry
from sqlalchemy import or_, select
from strawberry import relay
from strawberry.scalars import JSON
from strawberry.types import Info

from openitsm.kernel import (
    Connection,
    Context,
    ModelNode,
    SortDirection,
    SortKey,
    decode_id,
    require,
)
from openitsm.kernel.access.fields import field_access
from openitsm.kernel.access.scope import visible
from openitsm.kernel.customfields.schema import custom_fields_field
from openitsm.kernel.graphql.nodes import Fields, input_values, link, loaded, prefetched, then
from openitsm.kernel.graphql.subscriptions import record_changes
from openitsm.kernel.graphql.types import RecordReference
from openitsm.kernel.identity.models import User
from openitsm.kernel.organisation.models import Department, ServiceUnit
from openitsm.kernel.organisation.schema import DepartmentType, ServiceUnitType, UserType
from openitsm.kernel.sla.schema import SlaClockType
from openitsm.plugins.incident import service, sla_state
from openitsm.plugins.incident.models import Incident


@strawberry.enum(description="Where an incident stands.")
class IncidentStatus(enum.Enum):
    NEW = "new"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    WAITING_FOR_CUSTOMER = "waiting_for_customer"
    RESOLVED = "resolved"
    CLOSED = "closed"
    CANCELLED = "cancelled"


@strawberry.type(name="Incident", description="An incident (事件).")
class IncidentType(ModelNode):
    __model__ = Incident
    __fields__: ClassVar[Fields] = {
        "custom_fields": None,
        "children": "parent_id",
        "sla": sla_state.FIELD,
        "sla_state": sla_state.FIELD,
    }

    number: str = strawberry.field(description="INC-<year>-<sequence>, per site and year.")
    title: str
    description: str | None = strawberry.field(description="Sanitised rich text (HTML).")
    contact_phone: str | None
    category: str | None = strawberry.field(description="An incident_category item code.")
    nature: str | None = strawberry.field(description="An incident_nature item code.")
    impact: str | None = strawberry.field(description="An incident_impact item code.")
    urgency: str | None = strawberry.field(description="An incident_urgency item code.")
    level: str | None = strawberry.field(description="An incident_level item code (p1–p4).")
    level_reason: str | None
    opened_at: dt.datetime
    responded_at: dt.datetime | None
    resolved_at: dt.datetime | None
    closed_at: dt.datetime | None
    resolution: str | None
    cost: decimal.Decimal | None
    work_hours: decimal.Decimal | None
    satisfaction: int | None
    satisfaction_comment: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int = strawberry.field(description="Pass it back to updateIncident.")
    custom_fields: JSON = custom_fields_field()

    @strawberry.field
    def status(self, root: strawberry.Parent[Incident]) -> IncidentStatus:
        return IncidentStatus(root.status)

    caller: UserType | None = link(User, "caller_id")

    assignee: UserType | None = link(User, "assignee_id")

    group: DepartmentType | None = link(
        Department, "group_id", description="The assignment group (a department)."
    )

    service_unit: ServiceUnitType | None = link(ServiceUnit, "service_unit_id")

    parent: IncidentType | None = link(
        Incident, "parent_id", description="The parent incident, when the reader may see it."
    )

    @strawberry.field(description="The child incidents the reader may see.")
    async def children(
        self, root: strawberry.Parent[Incident], info: Info[Context, Any]
    ) -> list[IncidentType]:
        return await _children_loader(info.context).load(root.id)  # type: ignore[no-any-return]

    @strawberry.field(description="The incident's SLA clock as last computed; null without one.")
    def sla(
        self, root: strawberry.Parent[Incident], info: Info[Context, Any]
    ) -> SlaClockType | None:
        return then(  # type: ignore[no-any-return]
            loaded(_sla_loader(info.context), root.id),
            lambda row: None if row is None else SlaClockType.of(row),
        )

    @strawberry.field(
        description="The SLA in one word, the most pressing of its targets; null without a clock."
    )
    def sla_state(
        self, root: strawberry.Parent[Incident], info: Info[Context, Any]
    ) -> SlaStateFilter | None:
        return then(  # type: ignore[no-any-return]
            loaded(_sla_summary_loader(info.context), root.id), _state_of
        )

    @classmethod
    def prefetch(cls, context: Context, rows: Sequence[Any], selected: set[str]) -> None:
        for field, loader in (("sla", _sla_loader), ("slaState", _sla_summary_loader)):
            if field in selected:
                loader(context).prime_keys(row.id for row in rows)


def _state_of(found: sla_state.SlaSummary | None) -> SlaStateFilter | None:
    return None if found is None else _SLA_STATES[found.state]


def _children_loader(context: Context) -> Any:
    """The request's loader of visible child incidents: one IN query per tick, scoped."""

    def load(keys: Sequence[int]) -> list[list[Incident]]:
        statement = visible(
            select(Incident).where(Incident.parent_id.in_(keys)), context.actor, service.INCIDENT
        ).order_by(Incident.id)
        grouped: dict[int, list[Incident]] = {key: [] for key in keys}
        for row in context.session.scalars(statement):
            grouped[row.parent_id].append(row)  # type: ignore[index]
        return [grouped[key] for key in keys]

    return context.loader(("incident-children",), load)


def _sla_loader(context: Context) -> Any:
    """The request's loader of incidents' stored SLA clocks: one IN query per tick (the
    incidents themselves were read under the viewer's scope)."""

    def load(keys: Sequence[int]) -> list[Any]:
        found = sla_state.clocks_of(context.session, keys)
        return [found.get(key) for key in keys]

    return context.loader(("incident-sla",), load)


def _sla_summary_loader(context: Context) -> Any:
    """The request's loader of incidents' SLA summaries (`sla_state.summaries_of`)."""

    def load(keys: Sequence[int]) -> list[Any]:
        found = sla_state.summaries_of(context.session, keys)
        return [found.get(key) for key in keys]

    return context.loader(("incident-sla-summary",), load)


@strawberry.enum(description="An incident's SLA in one word, the most pressing target first.")
class SlaStateFilter(enum.Enum):
    BREACHED = "breached"
    WARNING = "warning"
    RUNNING = "running"
    PAUSED = "paused"
    MET = "met"


_SLA_STATES = {member.value: member for member in SlaStateFilter}


@strawberry.enum
class IncidentSortField(enum.Enum):
    OPENED_AT = "opened_at"
    NUMBER = "number"
    TITLE = "title"
    STATUS = "status"
    LEVEL = "level"
    UPDATED_AT = "updated_at"


@strawberry.input
class IncidentOrder:
    field: IncidentSortField
    direction: SortDirection = SortDirection.DESC


@strawberry.input(description="Every condition given must hold.")
class IncidentFilter:
    text: str | None = strawberry.field(
        default=None, description="Part of the number, title, description, phone or resolution."
    )
    status: list[IncidentStatus] | None = None
    assignee: relay.GlobalID | None = None
    group: relay.GlobalID | None = None
    caller: relay.GlobalID | None = None
    service_unit: relay.GlobalID | None = None
    parent: relay.GlobalID | None = None
    category: str | None = None
    level: str | None = None
    opened_from: dt.datetime | None = None
    opened_until: dt.datetime | None = None
    open_only: bool | None = strawberry.field(
        default=None, description="Only new, assigned, in progress and waiting ones."
    )
    sla_state: list[SlaStateFilter] | None = strawberry.field(
        default=None,
        description="Any of these SLA states: BREACHED (a target missed), WARNING (past "
        "its warning time, not missed), RUNNING (neither), PAUSED, MET.",
    )


def filtered(actor: Any, filter: IncidentFilter | None) -> Any:
    """The incidents the actor may see, narrowed by `filter`; filters on hidden fields are
    refused and the text search leaves hidden fields out."""
    statement = visible(select(Incident), actor, service.INCIDENT)
    if filter is None:
        return statement
    access = field_access(actor, "incident")
    if filter.text and filter.text.strip():
        pattern = f"%{filter.text.strip()}%"
        columns = access.readable_only({n: getattr(Incident, n) for n in service.SEARCHED})
        statement = statement.where(or_(*(column.ilike(pattern) for column in columns)))
    links = {
        "assignee_id": (filter.assignee, UserType, "assignee"),
        "group_id": (filter.group, DepartmentType, "group"),
        "caller_id": (filter.caller, UserType, "caller"),
        "service_unit_id": (filter.service_unit, ServiceUnitType, "serviceUnit"),
        "parent_id": (filter.parent, IncidentType, "parent"),
    }
    for column, (value, node_type, name) in links.items():
        if value is not None:
            access.check_read([column])
            key = decode_id(value, node_type, name)  # type: ignore[arg-type]
            statement = statement.where(getattr(Incident, column) == key)
    if filter.status:
        access.check_read(["status"])
        statement = statement.where(Incident.status.in_([s.value for s in filter.status]))
    if filter.open_only:
        access.check_read(["status"])
        statement = statement.where(Incident.status.in_(service.OPEN))
    for name in ("category", "level"):
        value = getattr(filter, name)
        if value is not None:
            access.check_read([name])
            statement = statement.where(getattr(Incident, name) == value)
    if filter.opened_from is not None or filter.opened_until is not None:
        access.check_read(["opened_at"])
        if filter.opened_from is not None:
            statement = statement.where(Incident.opened_at >= filter.opened_from)
        if filter.opened_until is not None:
            statement = statement.where(Incident.opened_at < filter.opened_until)
    if filter.sla_state:
        access.check_read([sla_state.FIELD])
        states = [s.value for s in filter.sla_state]
        statement = statement.where(sla_state.incident_condition(states))
    return statement


@strawberry.input(
    description="With `template`, the fields given here win over the template's (null "
    "leaves one empty); the template fills in the rest."
)
class CreateIncidentInput:
    template: relay.GlobalID | None = strawberry.field(
        default=strawberry.UNSET, description="An active IncidentTemplate to start from."
    )
    title: str | None = strawberry.field(
        default=strawberry.UNSET, description="Required, unless the template gives one."
    )
    description: str | None = strawberry.UNSET
    caller: relay.GlobalID | None = strawberry.UNSET
    contact_phone: str | None = strawberry.UNSET
    category: str | None = strawberry.UNSET
    nature: str | None = strawberry.UNSET
    impact: str | None = strawberry.UNSET
    urgency: str | None = strawberry.UNSET
    level: str | None = strawberry.UNSET
    level_reason: str | None = strawberry.UNSET
    service_unit: relay.GlobalID | None = strawberry.UNSET
    assignee: relay.GlobalID | None = strawberry.UNSET
    group: relay.GlobalID | None = strawberry.UNSET
    custom_fields: JSON | None = strawberry.UNSET


@strawberry.input(description="Only the fields given change; null clears one.")
class UpdateIncidentInput:
    title: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    caller: relay.GlobalID | None = strawberry.UNSET
    contact_phone: str | None = strawberry.UNSET
    category: str | None = strawberry.UNSET
    nature: str | None = strawberry.UNSET
    impact: str | None = strawberry.UNSET
    urgency: str | None = strawberry.UNSET
    level: str | None = strawberry.UNSET
    level_reason: str | None = strawberry.UNSET
    service_unit: relay.GlobalID | None = strawberry.UNSET
    custom_fields: JSON | None = strawberry.UNSET


PLAIN = (
    "title",
    "description",
    "contact_phone",
    "category",
    "nature",
    "impact",
    "urgency",
    "level",
    "level_reason",
    "custom_fields",
)
LINKS = (
    ("caller", "caller_id", UserType),
    ("service_unit", "service_unit_id", ServiceUnitType),
    ("assignee", "assignee_id", UserType),
    ("group", "group_id", DepartmentType),
)


def _values(input: Any) -> dict[str, Any]:
    """The service's arguments from an input: fields left out (UNSET) are not passed."""
    return input_values(input, PLAIN, LINKS)


def _id(id: relay.GlobalID) -> int:
    return decode_id(id, IncidentType)


@strawberry.type
class IncidentPayload:
    incident: IncidentType


@strawberry.type
class CreateIncidentPayload:
    incident: IncidentType


@strawberry.type
class UpdateIncidentPayload:
    incident: IncidentType


@strawberry.type
class EscalateIncidentToProblemPayload:
    incident: IncidentType
    problem: RecordReference = strawberry.field(description="The problem the incident went to.")


@strawberry.type
class ArchiveIncidentToKnowledgePayload:
    incident: IncidentType
    knowledge: RecordReference = strawberry.field(description="The knowledge draft started.")


@strawberry.type
class IncidentQuery:
    @strawberry.field(description="One incident; null when there is none the viewer may see.")
    def incident(self, info: Info[Context, Any], id: relay.GlobalID) -> IncidentType | None:
        actor = require(info.context.require_actor(), service.READ)
        statement = visible(select(Incident), actor, service.INCIDENT).where(Incident.id == _id(id))
        return info.context.session.scalar(statement)  # type: ignore[return-value]

    @strawberry.field(description="The incidents the viewer may see, newest first by default.")
    def incidents(
        self,
        info: Info[Context, Any],
        filter: IncidentFilter | None = None,
        order_by: IncidentOrder | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[IncidentType]:
        context = info.context
        actor = require(context.require_actor(), service.READ)
        keys: list[SortKey] = []
        if order_by is not None:
            descending = order_by.direction == SortDirection.DESC
            keys = [SortKey(getattr(Incident, order_by.field.value), descending=descending)]
        elif field_access(actor, "incident").readable("opened_at"):
            keys = [SortKey(Incident.opened_at, descending=True)]
        page = context.paginate(
            filtered(actor, filter),
            keys=keys,
            tiebreak=Incident.id,
            first=first,
            after=after,
            resource="incident",
        )
        return prefetched(info, IncidentType, page)


@strawberry.type
class IncidentMutation:
    @strawberry.mutation(description="Register an incident; its process starts when published.")
    def create_incident(
        self, info: Info[Context, Any], input: CreateIncidentInput
    ) -> CreateIncidentPayload:
        info.context.require_actor()
        values = _values(input)
        if input.template:
            from openitsm.plugins.incident.incident_templates import with_template
            from openitsm.plugins.incident.template_schema import template_id

            chosen = template_id(input.template, "template")
            values = with_template(info.context.session, chosen, values)
        incident = service.create_incident(info.context.session, **values)
        return CreateIncidentPayload(incident=incident)  # type: ignore[arg-type]

    @strawberry.mutation(description="Fails with CONFLICT when `version` is not the latest.")
    def update_incident(
        self, info: Info[Context, Any], id: relay.GlobalID, version: int, input: UpdateIncidentInput
    ) -> UpdateIncidentPayload:
        info.context.require_actor()
        incident = service.update_incident(info.context.session, _id(id), version, _values(input))
        return UpdateIncidentPayload(incident=incident)  # type: ignore[arg-type]

    @strawberry.mutation(description="Give an open incident to a person and/or a group.")
    def assign_incident(
        self,
        info: Info[Context, Any],
        id: relay.GlobalID,
        assignee: relay.GlobalID | None = None,
        group: relay.GlobalID | None = None,
        version: int | None = None,
    ) -> IncidentPayload:
        info.context.require_actor()
        incident = service.assign(
            info.context.session,
            _id(id),
            version,
            assignee_id=decode_id(assignee, UserType, "assignee") if assignee else None,
            group_id=decode_id(group, DepartmentType, "group") if group else None,
        )
        return IncidentPayload(incident=incident)  # type: ignore[arg-type]

    @strawberry.mutation(description="Start work: the response time is recorded.")
    def start_incident(
        self, info: Info[Context, Any], id: relay.GlobalID, version: int | None = None
    ) -> IncidentPayload:
        info.context.require_actor()
        incident = service.start_work(info.context.session, _id(id), version)
        return IncidentPayload(incident=incident)  # type: ignore[arg-type]

    @strawberry.mutation(description="Resolve an open incident; the resolution is required.")
    def resolve_incident(
        self,
        info: Info[Context, Any],
        id: relay.GlobalID,
        resolution: str,
        cost: decimal.Decimal | None = None,
        work_hours: decimal.Decimal | None = None,
        version: int | None = None,
    ) -> IncidentPayload:
        info.context.require_actor()
        incident = service.resolve(
            info.context.session,
            _id(id),
            version,
            resolution=resolution,
            cost=cost,
            work_hours=work_hours,
        )
        return IncidentPayload(incident=incident)  # type: ignore[arg-type]

    @strawberry.mutation(description="Close a resolved incident.")
    def close_incident(
        self, info: Info[Context, Any], id: relay.GlobalID, version: int | None = None
    ) -> IncidentPayload:
        info.context.require_actor()
        incident = service.close(info.context.session, _id(id), version)
        return IncidentPayload(incident=incident)  # type: ignore[arg-type]

    @strawberry.mutation(description="Reopen a resolved or closed incident within the period.")
    def reopen_incident(
        self, info: Info[Context, Any], id: relay.GlobalID, version: int | None = None
    ) -> IncidentPayload:
        info.context.require_actor()
        incident = service.reopen(info.context.session, _id(id), version)
        return IncidentPayload(incident=incident)  # type: ignore[arg-type]

    @strawberry.mutation(description="Cancel an open incident registered by mistake.")
    def cancel_incident(
        self, info: Info[Context, Any], id: relay.GlobalID, version: int | None = None
    ) -> IncidentPayload:
        info.context.require_actor()
        incident = service.cancel(info.context.session, _id(id), version)
        return IncidentPayload(incident=incident)  # type: ignore[arg-type]

    @strawberry.mutation(description="Satisfaction 1–5, once the incident is resolved or closed.")
    def rate_incident(
        self,
        info: Info[Context, Any],
        id: relay.GlobalID,
        satisfaction: int,
        comment: str | None = None,
        version: int | None = None,
    ) -> IncidentPayload:
        info.context.require_actor()
        incident = service.rate(
            info.context.session, _id(id), version, satisfaction=satisfaction, comment=comment
        )
        return IncidentPayload(incident=incident)  # type: ignore[arg-type]

    @strawberry.mutation(description="Put an incident under a parent (null: unlink it).")
    def link_parent_incident(
        self,
        info: Info[Context, Any],
        id: relay.GlobalID,
        parent: relay.GlobalID | None = None,
        version: int | None = None,
    ) -> IncidentPayload:
        info.context.require_actor()
        parent_id = decode_id(parent, IncidentType, "parent") if parent else None
        incident = service.link_parent(info.context.session, _id(id), parent_id, version)
        return IncidentPayload(incident=incident)  # type: ignore[arg-type]

    @strawberry.mutation(
        description="Open a problem from the incident (升级为问题) and link the two; "
        "BAD_USER_INPUT when no enabled module takes problems."
    )
    def escalate_incident_to_problem(
        self, info: Info[Context, Any], id: relay.GlobalID, version: int
    ) -> EscalateIncidentToProblemPayload:
        from openitsm.plugins.incident import offers

        info.context.require_actor()
        session = info.context.session
        ref = offers.escalate_to_problem(session, _id(id), version)
        return EscalateIncidentToProblemPayload(
            incident=service.get_incident(session, _id(id)),  # type: ignore[arg-type]
            problem=RecordReference(kind=ref.kind, record_id=ref.id),
        )

    @strawberry.mutation(
        description="Start a knowledge draft from a resolved or closed incident (归档知识库) "
        "and link the two; BAD_USER_INPUT when no enabled module takes knowledge."
    )
    def archive_incident_to_knowledge(
        self, info: Info[Context, Any], id: relay.GlobalID, version: int
    ) -> ArchiveIncidentToKnowledgePayload:
        from openitsm.plugins.incident import offers

        info.context.require_actor()
        session = info.context.session
        ref = offers.archive_to_knowledge(session, _id(id), version)
        return ArchiveIncidentToKnowledgePayload(
            incident=service.get_incident(session, _id(id)),  # type: ignore[arg-type]
            knowledge=RecordReference(kind=ref.kind, record_id=ref.id),
        )


@strawberry.type
class IncidentSubscription:
    @strawberry.subscription(
        description="The incident each time it changes, as the viewer may see it then; "
        "nothing while they may not see it."
    )
    def incident_changed(
        self, info: Info[Context, Any], id: relay.GlobalID
    ) -> AsyncGenerator[IncidentType, None]:
        return record_changes(  # type: ignore[return-value]
            info, service.INCIDENT.name, _id(id), action=service.READ
        )

    @strawberry.subscription(
        description="Every incident the viewer may see, each time it is created or changes."
    )
    def incidents_changed(self, info: Info[Context, Any]) -> AsyncGenerator[IncidentType, None]:
        return record_changes(  # type: ignore[return-value]
            info, service.INCIDENT.name, action=service.READ
        )
