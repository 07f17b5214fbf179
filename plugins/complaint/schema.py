"""Complaints in GraphQL: thin resolvers that translate ids and call the service.

`complaint(id:)`, `complaints(filter:, orderBy:, first:, after:)`, `createComplaint(input:)`,
`updateComplaint(id:, version:, input:)` and the actions `assignComplaint`,
`startComplaint`, `giveComplaintFeedback`, `closeComplaint`, `reopenComplaint`,
`cancelComplaint`, `rateComplaint` and `archiveComplaintToKnowledge`, each returning a
payload with the complaint.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any, ClassVar

import strawberry
from sqlalchemy import false, or_, select
from strawberry import relay
from strawberry.scalars import JSON
from strawberry.types import Info

from openitsm.kernel import (
    Connection,
    Context,
    ModelNode,
    RecordReference,
    RecordReferenceInput,
    SortDirection,
    SortKey,
    decode_id,
    require,
)
from openitsm.kernel.access.fields import field_access
from openitsm.kernel.access.scope import visible
from openitsm.kernel.customfields.schema import custom_fields_field
from openitsm.kernel.graphql.nodes import Fields, input_values, link, prefetched
from openitsm.kernel.identity.models import User
from openitsm.kernel.links.models import RecordLink
from openitsm.kernel.links.relations import ARCHIVED_TO, CAUSED_BY
from openitsm.kernel.organisation.models import Department, ServiceUnit
from openitsm.kernel.organisation.schema import DepartmentType, ServiceUnitType, UserType
from openitsm.plugins.complaint import service
from openitsm.plugins.complaint.models import Complaint


@strawberry.enum(description="Where a complaint stands.")
class ComplaintStatus(enum.Enum):
    NEW = "new"
    ROUTED = "routed"
    IN_PROGRESS = "in_progress"
    FEEDBACK_GIVEN = "feedback_given"
    CLOSED = "closed"
    CANCELLED = "cancelled"


@strawberry.enum(description="How serious a complaint is.")
class ComplaintSeverity(enum.Enum):
    MINOR = "minor"
    MAJOR = "major"
    SERIOUS = "serious"


async def _linked_record(
    info: Info[Context, Any], relation: str, complaint_id: int
) -> RecordReference | None:
    """The record the complaint is linked to by `relation`, when the viewer may see it. A
    list costs one query for the links and one per kind of linked record, however long."""
    context = info.context

    def load(ids: Any) -> list[Any]:
        found = service.visible_links(context.session, relation, ids, context.actor)
        return [found.get(complaint_id) for complaint_id in ids]

    ref = await context.loader(("complaint-links", relation), load).load(complaint_id)
    return RecordReference(kind=ref.kind, record_id=ref.id) if ref is not None else None


@strawberry.type(name="Complaint", description="A complaint (投诉).")
class ComplaintType(ModelNode):
    __model__ = Complaint
    __fields__: ClassVar[Fields] = {"custom_fields": None}

    number: str = strawberry.field(description="CMP-<year>-<sequence>, per site and year.")
    title: str
    description: str | None = strawberry.field(description="Sanitised rich text (HTML).")
    contact_phone: str | None
    channel: str | None = strawberry.field(
        description="How it reached the desk: a complaint_source item code."
    )
    category: str | None = strawberry.field(
        description="What it is about: a complaint_type item code."
    )
    nature: str | None = strawberry.field(description="A complaint_nature item code.")
    opened_at: dt.datetime
    routed_at: dt.datetime | None
    responded_at: dt.datetime | None
    feedback_at: dt.datetime | None
    closed_at: dt.datetime | None
    feedback: str | None = strawberry.field(
        description="What was done and its result (sanitised rich text)."
    )
    satisfaction: int | None
    satisfaction_comment: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int = strawberry.field(description="Pass it back to updateComplaint.")
    custom_fields: JSON = custom_fields_field()

    @strawberry.field
    def status(self, root: strawberry.Parent[Complaint]) -> ComplaintStatus:
        return ComplaintStatus(root.status)

    @strawberry.field
    def severity(self, root: strawberry.Parent[Complaint]) -> ComplaintSeverity:
        return ComplaintSeverity(root.severity)

    @strawberry.field(
        description="The record that caused the complaint (an incident, …): its caused_by "
        "record link, null when the viewer may not see that record."
    )
    async def caused_by(
        self, root: strawberry.Parent[Complaint], info: Info[Context, Any]
    ) -> RecordReference | None:
        return await _linked_record(info, CAUSED_BY, root.id)

    @strawberry.field(
        description="The knowledge draft the complaint was archived to (its archived_to link)."
    )
    async def archived_to(
        self, root: strawberry.Parent[Complaint], info: Info[Context, Any]
    ) -> RecordReference | None:
        return await _linked_record(info, ARCHIVED_TO, root.id)

    complainant: UserType | None = link(User, "complainant_id")

    assignee: UserType | None = link(User, "assignee_id")

    department: DepartmentType | None = link(
        Department, "department_id", description="The department responsible for handling it."
    )

    service_unit: ServiceUnitType | None = link(ServiceUnit, "service_unit_id")


@strawberry.enum
class ComplaintSortField(enum.Enum):
    OPENED_AT = "opened_at"
    NUMBER = "number"
    TITLE = "title"
    STATUS = "status"
    SEVERITY = "severity"
    UPDATED_AT = "updated_at"


@strawberry.input
class ComplaintOrder:
    field: ComplaintSortField
    direction: SortDirection = SortDirection.DESC


@strawberry.input(description="Every condition given must hold.")
class ComplaintFilter:
    text: str | None = strawberry.field(
        default=None, description="Part of the number, title, description, phone or feedback."
    )
    status: list[ComplaintStatus] | None = None
    severity: list[ComplaintSeverity] | None = None
    complainant: relay.GlobalID | None = None
    assignee: relay.GlobalID | None = None
    department: relay.GlobalID | None = None
    service_unit: relay.GlobalID | None = None
    channel: str | None = None
    category: str | None = None
    nature: str | None = None
    caused_by: RecordReferenceInput | None = strawberry.field(
        default=None, description="Only the complaints this record (one you may see) caused."
    )
    opened_from: dt.datetime | None = None
    opened_until: dt.datetime | None = None
    open_only: bool | None = strawberry.field(
        default=None, description="Only new, routed and in-progress ones."
    )


def filtered(context: Context, actor: Any, filter: ComplaintFilter | None) -> Any:
    """The complaints the actor may see, narrowed by `filter`; filters on hidden fields are
    refused and the text search leaves hidden fields out."""
    statement = visible(select(Complaint), actor, service.COMPLAINT)
    if filter is None:
        return statement
    access = field_access(actor, service.COMPLAINT.name)
    if filter.text and filter.text.strip():
        pattern = f"%{filter.text.strip()}%"
        columns = access.readable_only({n: getattr(Complaint, n) for n in service.SEARCHED})
        statement = statement.where(or_(*(column.ilike(pattern) for column in columns)))
    links = {
        "complainant_id": (filter.complainant, UserType, "complainant"),
        "assignee_id": (filter.assignee, UserType, "assignee"),
        "department_id": (filter.department, DepartmentType, "department"),
        "service_unit_id": (filter.service_unit, ServiceUnitType, "serviceUnit"),
    }
    for column, (value, node_type, name) in links.items():
        if value is not None:
            access.check_read([column])
            key = decode_id(value, node_type, name)  # type: ignore[arg-type]
            statement = statement.where(getattr(Complaint, column) == key)
    if filter.status:
        access.check_read(["status"])
        statement = statement.where(Complaint.status.in_([s.value for s in filter.status]))
    if filter.open_only:
        access.check_read(["status"])
        statement = statement.where(Complaint.status.in_(service.OPEN))
    if filter.severity:
        access.check_read(["severity"])
        statement = statement.where(Complaint.severity.in_([s.value for s in filter.severity]))
    for name in ("channel", "category", "nature"):
        value = getattr(filter, name)
        if value is not None:
            access.check_read([name])
            statement = statement.where(getattr(Complaint, name) == value)
    if filter.caused_by is not None:
        access.check_read(["caused_by"])
        cause = filter.caused_by.to_ref()
        kinds = context.kernel.record_kinds
        if cause.kind not in kinds or not kinds.exists(context.session, cause, actor):
            return statement.where(false())  # as for a record that caused nothing
        statement = statement.where(
            Complaint.id.in_(
                select(RecordLink.source_id).where(
                    RecordLink.source_kind == service.COMPLAINT.name,
                    RecordLink.relation == CAUSED_BY,
                    RecordLink.target_kind == cause.kind,
                    RecordLink.target_id == cause.id,
                )
            )
        )
    if filter.opened_from is not None or filter.opened_until is not None:
        access.check_read(["opened_at"])
        if filter.opened_from is not None:
            statement = statement.where(Complaint.opened_at >= filter.opened_from)
        if filter.opened_until is not None:
            statement = statement.where(Complaint.opened_at < filter.opened_until)
    return statement


@strawberry.input
class CreateComplaintInput:
    title: str
    description: str | None = None
    complainant: relay.GlobalID | None = None
    contact_phone: str | None = None
    channel: str | None = strawberry.field(default=None, description="A complaint_source code.")
    category: str | None = strawberry.field(default=None, description="A complaint_type code.")
    nature: str | None = strawberry.field(default=None, description="A complaint_nature code.")
    severity: ComplaintSeverity | None = None
    caused_by: RecordReferenceInput | None = strawberry.field(
        default=None, description="The record behind it (one you may see): linked as caused_by."
    )
    service_unit: relay.GlobalID | None = None
    department: relay.GlobalID | None = strawberry.field(
        default=None, description="Route it at once (needs complaint.assign)."
    )
    assignee: relay.GlobalID | None = None
    custom_fields: JSON | None = None


@strawberry.input(description="Only the fields given change; null clears one.")
class UpdateComplaintInput:
    title: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    complainant: relay.GlobalID | None = strawberry.UNSET
    contact_phone: str | None = strawberry.UNSET
    channel: str | None = strawberry.UNSET
    category: str | None = strawberry.UNSET
    nature: str | None = strawberry.UNSET
    severity: ComplaintSeverity | None = strawberry.UNSET
    caused_by: RecordReferenceInput | None = strawberry.field(
        default=strawberry.UNSET, description="Replaces the cause link; null removes it."
    )
    service_unit: relay.GlobalID | None = strawberry.UNSET
    custom_fields: JSON | None = strawberry.UNSET


PLAIN = ("title", "description", "contact_phone", "channel", "category", "nature", "custom_fields")
LINKS = (
    ("complainant", "complainant_id", UserType),
    ("service_unit", "service_unit_id", ServiceUnitType),
    ("department", "department_id", DepartmentType),
    ("assignee", "assignee_id", UserType),
)


def _values(input: Any) -> dict[str, Any]:
    """The service's arguments from an input: fields left out (UNSET) are not passed."""
    values = input_values(input, PLAIN, LINKS)
    severity = getattr(input, "severity", strawberry.UNSET)
    if severity is not strawberry.UNSET:
        values["severity"] = severity.value if severity is not None else None
    caused_by = getattr(input, "caused_by", strawberry.UNSET)
    if caused_by is not strawberry.UNSET:
        values["caused_by"] = str(caused_by.to_ref()) if caused_by is not None else None
    return values


def _id(id: relay.GlobalID) -> int:
    return decode_id(id, ComplaintType)


@strawberry.type
class ComplaintPayload:
    complaint: ComplaintType


@strawberry.type
class CreateComplaintPayload:
    complaint: ComplaintType


@strawberry.type
class UpdateComplaintPayload:
    complaint: ComplaintType


@strawberry.type
class ArchiveComplaintPayload:
    complaint: ComplaintType
    knowledge: RecordReference = strawberry.field(description="The knowledge draft made.")


@strawberry.type
class ComplaintQuery:
    @strawberry.field(description="One complaint; null when there is none the viewer may see.")
    def complaint(self, info: Info[Context, Any], id: relay.GlobalID) -> ComplaintType | None:
        actor = require(info.context.require_actor(), service.READ)
        statement = visible(select(Complaint), actor, service.COMPLAINT).where(
            Complaint.id == _id(id)
        )
        return info.context.session.scalar(statement)  # type: ignore[return-value]

    @strawberry.field(description="The complaints the viewer may see, newest first by default.")
    def complaints(
        self,
        info: Info[Context, Any],
        filter: ComplaintFilter | None = None,
        order_by: ComplaintOrder | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[ComplaintType]:
        context = info.context
        actor = require(context.require_actor(), service.READ)
        keys: list[SortKey] = []
        if order_by is not None:
            descending = order_by.direction == SortDirection.DESC
            keys = [SortKey(getattr(Complaint, order_by.field.value), descending=descending)]
        elif field_access(actor, service.COMPLAINT.name).readable("opened_at"):
            keys = [SortKey(Complaint.opened_at, descending=True)]
        return prefetched(
            info,
            ComplaintType,
            context.paginate(
                filtered(context, actor, filter),
                keys=keys,
                tiebreak=Complaint.id,
                first=first,
                after=after,
                resource=service.COMPLAINT.name,
            ),
        )


@strawberry.type
class ComplaintMutation:
    @strawberry.mutation(description="Register a complaint; its process starts when published.")
    def create_complaint(
        self, info: Info[Context, Any], input: CreateComplaintInput
    ) -> CreateComplaintPayload:
        info.context.require_actor()
        complaint = service.create_complaint(info.context.session, **_values(input))
        return CreateComplaintPayload(complaint=complaint)  # type: ignore[arg-type]

    @strawberry.mutation(description="Fails with CONFLICT when `version` is not the latest.")
    def update_complaint(
        self,
        info: Info[Context, Any],
        id: relay.GlobalID,
        version: int,
        input: UpdateComplaintInput,
    ) -> UpdateComplaintPayload:
        info.context.require_actor()
        complaint = service.update_complaint(info.context.session, _id(id), version, _values(input))
        return UpdateComplaintPayload(complaint=complaint)  # type: ignore[arg-type]

    @strawberry.mutation(
        description="Route an open complaint to the responsible department and/or a person."
    )
    def assign_complaint(
        self,
        info: Info[Context, Any],
        id: relay.GlobalID,
        department: relay.GlobalID | None = None,
        assignee: relay.GlobalID | None = None,
        version: int | None = None,
    ) -> ComplaintPayload:
        info.context.require_actor()
        complaint = service.assign(
            info.context.session,
            _id(id),
            version,
            department_id=decode_id(department, DepartmentType, "department")
            if department
            else None,
            assignee_id=decode_id(assignee, UserType, "assignee") if assignee else None,
        )
        return ComplaintPayload(complaint=complaint)  # type: ignore[arg-type]

    @strawberry.mutation(description="Start work on it: the first response time is recorded.")
    def start_complaint(
        self, info: Info[Context, Any], id: relay.GlobalID, version: int | None = None
    ) -> ComplaintPayload:
        info.context.require_actor()
        complaint = service.start_work(info.context.session, _id(id), version)
        return ComplaintPayload(complaint=complaint)  # type: ignore[arg-type]

    @strawberry.mutation(
        description="What was done and the result; the complainant is asked to rate it."
    )
    def give_complaint_feedback(
        self,
        info: Info[Context, Any],
        id: relay.GlobalID,
        feedback: str,
        version: int | None = None,
    ) -> ComplaintPayload:
        info.context.require_actor()
        complaint = service.give_feedback(info.context.session, _id(id), version, feedback=feedback)
        return ComplaintPayload(complaint=complaint)  # type: ignore[arg-type]

    @strawberry.mutation(description="Close a complaint whose feedback is given.")
    def close_complaint(
        self, info: Info[Context, Any], id: relay.GlobalID, version: int | None = None
    ) -> ComplaintPayload:
        info.context.require_actor()
        complaint = service.close(info.context.session, _id(id), version)
        return ComplaintPayload(complaint=complaint)  # type: ignore[arg-type]

    @strawberry.mutation(description="Reopen an answered complaint within the period.")
    def reopen_complaint(
        self, info: Info[Context, Any], id: relay.GlobalID, version: int | None = None
    ) -> ComplaintPayload:
        info.context.require_actor()
        complaint = service.reopen(info.context.session, _id(id), version)
        return ComplaintPayload(complaint=complaint)  # type: ignore[arg-type]

    @strawberry.mutation(description="Cancel an open complaint registered by mistake.")
    def cancel_complaint(
        self, info: Info[Context, Any], id: relay.GlobalID, version: int | None = None
    ) -> ComplaintPayload:
        info.context.require_actor()
        complaint = service.cancel(info.context.session, _id(id), version)
        return ComplaintPayload(complaint=complaint)  # type: ignore[arg-type]

    @strawberry.mutation(description="Satisfaction 1–5, once, after the feedback.")
    def rate_complaint(
        self,
        info: Info[Context, Any],
        id: relay.GlobalID,
        satisfaction: int,
        comment: str | None = None,
        version: int | None = None,
    ) -> ComplaintPayload:
        info.context.require_actor()
        complaint = service.rate(
            info.context.session, _id(id), version, satisfaction=satisfaction, comment=comment
        )
        return ComplaintPayload(complaint=complaint)  # type: ignore[arg-type]

    @strawberry.mutation(
        description="Hand an answered complaint to the knowledge module as a draft article; "
        "BAD_USER_INPUT with reason UNSUPPORTED when no enabled module takes one."
    )
    def archive_complaint_to_knowledge(
        self, info: Info[Context, Any], id: relay.GlobalID, version: int | None = None
    ) -> ArchiveComplaintPayload:
        info.context.require_actor()
        session = info.context.session
        made = service.archive_to_knowledge(session, _id(id), version)
        complaint = service.get_complaint(session, _id(id))
        return ArchiveComplaintPayload(
            complaint=complaint,  # type: ignore[arg-type]
            knowledge=RecordReference(kind=made.kind, record_id=made.id),
        )
