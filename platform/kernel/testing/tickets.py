"""A sample resource with every access feature, for tests and benchmarks of access rules.

Tickets carry an owner, a department and a service unit (so every data scope applies),
twenty fields of several types, a link to another ticket, history, a searchable, filterable
and sortable list, and create and update mutations written the way a module should write
them: scope through `visible`/`get_visible`, writes checked with `check_write`, filters
and sorting with `FieldAccess.check_read`.

Its table lives on its own metadata, never in a migration: `create_tables(engine)` makes it
on a test database and `drop_tables(engine)` removes it.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any, ClassVar

import strawberry
from sqlalchemy import Engine, Integer, String, Text, or_, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from strawberry import relay
from strawberry.scalars import JSON
from strawberry.types import Info

from openitsm.kernel.access.fields import check_write, field_access
from openitsm.kernel.access.scope import ScopeColumns, get_visible, visible
from openitsm.kernel.audit import Audited
from openitsm.kernel.customfields.models import HasCustomFields
from openitsm.kernel.customfields.schema import custom_fields_field
from openitsm.kernel.db import IdMixin, Versioned, check_version, utcnow
from openitsm.kernel.db.session import flush
from openitsm.kernel.errors import BadUserInput
from openitsm.kernel.graphql.connection import Connection, SortKey
from openitsm.kernel.graphql.context import Context
from openitsm.kernel.graphql.contribution import GraphQLContribution
from openitsm.kernel.graphql.nodes import Fields, ModelNode, decode_id, link, prefetched
from openitsm.kernel.hookspecs import hookimpl
from openitsm.kernel.references import RecordKind


class TicketBase(DeclarativeBase):
    """Kept apart from the kernel's metadata, so migrations never see the sample table."""


class Ticket(IdMixin, Versioned, Audited, HasCustomFields, TicketBase):
    """Links are plain ids: the kernel's tables live on another metadata."""

    __tablename__ = "sample_ticket"
    __record_kind__ = "ticket"

    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(30), default="new")
    priority: Mapped[str | None] = mapped_column(String(30))
    urgency: Mapped[str | None] = mapped_column(String(30))
    impact: Mapped[str | None] = mapped_column(String(30))
    category: Mapped[str | None] = mapped_column(String(60))
    channel: Mapped[str | None] = mapped_column(String(30))
    location: Mapped[str | None] = mapped_column(String(200))
    contact_phone: Mapped[str | None] = mapped_column(String(50))
    resolution: Mapped[str | None] = mapped_column(Text)
    cost: Mapped[int | None] = mapped_column(Integer)
    internal_note: Mapped[str | None] = mapped_column(Text)
    opened_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    due_at: Mapped[dt.datetime | None]
    reporter_id: Mapped[int | None] = mapped_column(Integer, index=True)
    assignee_id: Mapped[int | None] = mapped_column(Integer, index=True)
    department_id: Mapped[int | None] = mapped_column(Integer, index=True)
    service_unit_id: Mapped[int | None] = mapped_column(Integer, index=True)
    related_id: Mapped[int | None] = mapped_column(Integer, index=True)


# Columns a caller may set; the links arrive as ids.
WRITABLE = (
    "title",
    "description",
    "status",
    "priority",
    "urgency",
    "impact",
    "category",
    "channel",
    "location",
    "contact_phone",
    "resolution",
    "cost",
    "internal_note",
    "due_at",
    "reporter_id",
    "assignee_id",
    "department_id",
    "service_unit_id",
    "related_id",
)
SEARCHED = ("title", "description", "contact_phone", "internal_note")

TICKET = RecordKind(
    "ticket",
    Ticket,
    labels={"zh-CN": "工单", "en": "Ticket"},
    describe=lambda t: {"title": t.title, "status": t.status},
    url="/tickets/{id}",
    scope=ScopeColumns(
        owner=("reporter_id", "assignee_id"),
        department="department_id",
        service_unit="service_unit_id",
    ),
    shows=("title", "status"),
    searched=SEARCHED,
    search_number="id",
    search_order=("-opened_at",),
)


def create_tables(engine: Engine) -> None:
    TicketBase.metadata.create_all(engine)


def drop_tables(engine: Engine) -> None:
    TicketBase.metadata.drop_all(engine)


# --- service --------------------------------------------------------------------------


def _written(values: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(values) - set(WRITABLE))
    if unknown:
        raise BadUserInput(f"Tickets have no field '{unknown[0]}'.", field=unknown[0])
    return values


def create_ticket(session: Session, **values: Any) -> Ticket:
    """A new ticket; every field given counts as written, so rules apply to creation too."""
    given = {k: v for k, v in _written(values).items() if v is not None}
    check_write(session, "ticket", given)
    if not str(given.get("title") or "").strip():
        raise BadUserInput("A ticket needs a title.", field="title")
    if given.get("related_id") is not None:
        get_visible(session, TICKET, given["related_id"])
    ticket = Ticket(**given)
    session.add(ticket)
    flush(session)
    return ticket


def update_ticket(session: Session, ticket_id: int, version: int, **changes: Any) -> Ticket:
    """Change the given fields; a ticket outside the actor's scope is not found."""
    check_write(session, "ticket", _written(changes))
    ticket = get_visible(session, TICKET, ticket_id)
    check_version(ticket, version, "ticket")
    if changes.get("related_id") is not None:
        get_visible(session, TICKET, changes["related_id"])
    for name, value in changes.items():
        setattr(ticket, name, value)
    flush(session)
    return ticket


# --- GraphQL --------------------------------------------------------------------------


@strawberry.type(name="Ticket")
class TicketType(ModelNode):
    __model__ = Ticket
    __fields__: ClassVar[Fields] = {"related": "related_id", "custom_fields": None}

    custom_fields: JSON = custom_fields_field()
    title: str
    description: str | None
    status: str
    priority: str | None
    urgency: str | None
    impact: str | None
    category: str | None
    channel: str | None
    location: str | None
    contact_phone: str | None
    resolution: str | None
    cost: int | None
    internal_note: str | None
    opened_at: dt.datetime
    due_at: dt.datetime | None
    reporter_id: int | None
    assignee_id: int | None
    department_id: int | None
    service_unit_id: int | None
    version: int

    related: TicketType | None = link(
        Ticket, "related_id", description="The linked ticket, when the reader may see it."
    )


@strawberry.enum
class TicketOrder(enum.Enum):
    OPENED_AT = "opened_at"
    TITLE = "title"
    PRIORITY = "priority"
    COST = "cost"
    DUE_AT = "due_at"


@strawberry.input
class TicketFilter:
    search: str | None = strawberry.field(default=None, description="Part of a text field.")
    status: str | None = None
    priority: str | None = None
    cost_at_least: int | None = None
    internal_note: str | None = None
    assignee_id: int | None = None


@strawberry.input
class TicketInput:
    title: str | None = None
    description: str | None = None
    status: str | None = None
    priority: str | None = None
    category: str | None = None
    contact_phone: str | None = None
    resolution: str | None = None
    cost: int | None = None
    internal_note: str | None = None
    department_id: int | None = None
    service_unit_id: int | None = None
    related: relay.GlobalID | None = None


def _filtered(info: Info[Context, Any], filter: TicketFilter | None) -> Any:
    context = info.context
    statement = visible(select(Ticket), context.require_actor(), TICKET)
    if filter is None:
        return statement
    access = field_access(context.actor, "ticket")
    if filter.search:
        pattern = f"%{filter.search.strip()}%"
        searched = access.readable_only({name: getattr(Ticket, name) for name in SEARCHED})
        statement = statement.where(or_(*(column.ilike(pattern) for column in searched)))
    exact = {
        "status": filter.status,
        "priority": filter.priority,
        "internal_note": filter.internal_note,
        "assignee_id": filter.assignee_id,
    }
    for name, value in exact.items():
        if value is not None:
            access.check_read([name])
            statement = statement.where(getattr(Ticket, name) == value)
    if filter.cost_at_least is not None:
        access.check_read(["cost"])
        statement = statement.where(Ticket.cost >= filter.cost_at_least)
    return statement


def _values(input: TicketInput) -> dict[str, Any]:
    values = {
        name: getattr(input, name)
        for name in WRITABLE
        if hasattr(input, name) and getattr(input, name) is not None
    }
    if input.related is not None:
        values["related_id"] = decode_id(input.related, TicketType, "related")
    return values


@strawberry.type
class TicketQuery:
    @strawberry.field(description="Tickets the viewer may see.")
    def tickets(
        self,
        info: Info[Context, Any],
        filter: TicketFilter | None = None,
        order_by: TicketOrder | None = None,
        descending: bool = False,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[TicketType]:
        statement = _filtered(info, filter)
        if order_by is None:  # newest first by default, or by id when that date is hidden
            opened = field_access(info.context.actor, "ticket").readable("opened_at")
            order_by = TicketOrder.OPENED_AT if opened else None
        keys = [SortKey(getattr(Ticket, order_by.value), descending=descending)] if order_by else []
        return prefetched(
            info,
            TicketType,
            info.context.paginate(
                statement,
                keys=keys,
                tiebreak=Ticket.id,
                first=first,
                after=after,
                resource="ticket",
            ),
        )


@strawberry.type
class TicketPayload:
    ticket: TicketType


@strawberry.type
class TicketMutation:
    @strawberry.mutation
    def create_ticket(self, info: Info[Context, Any], input: TicketInput) -> TicketPayload:
        info.context.require_actor()
        ticket = create_ticket(info.context.session, **_values(input))
        return TicketPayload(ticket=ticket)  # type: ignore[arg-type]

    @strawberry.mutation
    def update_ticket(
        self, info: Info[Context, Any], id: relay.GlobalID, version: int, input: TicketInput
    ) -> TicketPayload:
        info.context.require_actor()
        ticket = update_ticket(
            info.context.session, decode_id(id, TicketType), version, **_values(input)
        )
        return TicketPayload(ticket=ticket)  # type: ignore[arg-type]


class TicketPlugin:
    """Enable with `build_kernel(..., plugins={"tickets": TicketPlugin()})`."""

    @hookimpl
    def register_record_kinds(self) -> list[RecordKind]:
        return [TICKET]

    @hookimpl
    def register_graphql(self) -> GraphQLContribution:
        return GraphQLContribution(query=TicketQuery, mutation=TicketMutation, types=[TicketType])
