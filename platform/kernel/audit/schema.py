"""History per record and as a site-wide timeline."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import strawberry
from sqlalchemy import Select, and_, or_, select
from strawberry.scalars import JSON
from strawberry.types import Info

from openitsm.kernel.access import require
from openitsm.kernel.access.fields import field_access
from openitsm.kernel.access.scope import scope_filter
from openitsm.kernel.actors import Actor
from openitsm.kernel.audit.models import AuditChange, AuditEvent
from openitsm.kernel.graphql.connection import Connection, SortKey
from openitsm.kernel.graphql.context import Context
from openitsm.kernel.graphql.nodes import ModelNode, children_loader
from openitsm.kernel.graphql.types import RecordReference, RecordReferenceInput
from openitsm.kernel.references import RecordKinds


@strawberry.enum
class AuditAction(enum.Enum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    SIGN_IN = "sign_in"
    SIGN_IN_FAILED = "sign_in_failed"
    LOCKED = "locked"
    SIGN_OUT = "sign_out"
    TOKEN_CREATED = "token_created"
    TOKEN_USED = "token_used"
    TOKEN_REVOKED = "token_revoked"
    LINK = "link"
    UNLINK = "unlink"


@strawberry.type
class FieldChange:
    field: str
    old_value: JSON | None
    new_value: JSON | None


@strawberry.type(name="AuditEvent", description="One step in a record's history.")
class AuditEventType(ModelNode):
    __model__ = AuditEvent

    at: dt.datetime
    actor_id: int | None
    actor_label: str
    on_behalf_of_id: int | None = strawberry.field(
        description="Set when a deputy acted for this user."
    )
    request_id: str | None

    @classmethod
    def visible_rows(cls, context: Context, rows: list[Any]) -> list[Any]:
        """The events the actor could reach through `history` (or, with audit.read, the
        timeline): never those of records outside its scope or of hidden fields alone."""
        actor, kinds = context.actor, context.kernel.record_kinds
        ids = [row.id for row in rows if row is not None]
        if actor.superuser or not ids:
            return rows
        statement = select(AuditEvent.id).where(AuditEvent.id.in_(ids))
        if not actor.can("audit.read"):
            statement = statement.where(AuditEvent.record_kind.in_(sorted(kinds.kinds)))
        allowed = set(context.session.scalars(readable_events(statement, actor, kinds)))
        return [row if row is not None and row.id in allowed else None for row in rows]

    @strawberry.field
    def action(self, root: strawberry.Parent[AuditEvent]) -> AuditAction:
        return AuditAction(root.action)

    @strawberry.field
    def record(self, root: strawberry.Parent[AuditEvent]) -> RecordReference:
        return RecordReference(kind=root.record_kind, record_id=root.record_id)

    @strawberry.field
    async def changes(
        self, root: strawberry.Parent[AuditEvent], info: Info[Context, Any]
    ) -> list[FieldChange]:
        rows = await children_loader(
            info.context, AuditChange, "event_id", order_by=(AuditChange.id,)
        ).load(root.id)
        hidden = info.context.hidden(root.record_kind)
        return [
            FieldChange(
                field=r.field,
                old_value=await _readable_link(info.context, r.field, r.old_value),
                new_value=await _readable_link(info.context, r.field, r.new_value),
            )
            for r in rows
            if r.field not in hidden
        ]


async def _readable_link(context: Context, field: str, value: Any) -> Any:
    """A link's history value names the other record: only to those who may see it."""
    from openitsm.kernel.graphql.types import describe_loader
    from openitsm.kernel.links import service as links

    ref = links.history_ref(value) if field == links.HISTORY_FIELD else None
    if ref is None or await describe_loader(context).load(ref) is not None:
        return value
    return {**value, "record": None}


@strawberry.input
class AuditTimelineFilter:
    record_kind: str | None = None
    actor_id: int | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


def readable_events(
    statement: Select[Any], actor: Actor, kinds: RecordKinds, only: str | None = None
) -> Select[Any]:
    """`statement` without the events the actor may not learn of.

    Events of records outside the actor's data scope go, and so do updates that changed
    only fields hidden from the actor (even the time of such a change says something), the
    events of link rows that make up a hidden field (a user's role grants), and the record
    links that do (`RecordKind.link_fields`), on both linked records.
    `only` names the one kind the statement is already limited to.
    """
    if actor.superuser:
        return statement
    hidden_parts = [
        part
        for kind in kinds.kinds.values()
        for part, field in kind.link_rows.items()
        if field in field_access(actor, kind.name).hidden
    ]
    if hidden_parts:
        statement = statement.where(AuditEvent.record_kind.not_in(sorted(hidden_parts)))
    from openitsm.kernel.links.service import hidden_history

    hidden_links = hidden_history(kinds, actor)
    if hidden_links is not None:  # links that make up a hidden field (a complaint's cause)
        statement = statement.where(~hidden_links)
    for kind in [kinds.kinds[only]] if only in kinds else kinds.kinds.values():
        conditions = []
        if kind.restricted and only is None:
            in_scope = select(kind.model.id).where(scope_filter(actor, kind))
            conditions.append(AuditEvent.record_id.in_(in_scope))
        hidden = field_access(actor, kind.name).hidden
        if hidden:
            shown = select(AuditChange.id).where(
                AuditChange.event_id == AuditEvent.id, AuditChange.field.not_in(sorted(hidden))
            )
            conditions.append(or_(AuditEvent.action != "update", shown.exists()))
        if conditions:
            condition = and_(*conditions)
            statement = statement.where(
                condition
                if only is not None
                else or_(AuditEvent.record_kind != kind.name, condition)
            )
    return statement


def _page(info: Info[Context, Any], statement: Any, **page: Any) -> Connection[AuditEventType]:
    return info.context.paginate(
        statement,
        keys=[SortKey(AuditEvent.id, descending=True)],
        tiebreak=AuditEvent.id,
        **page,
    )


@strawberry.type
class AuditQuery:
    @strawberry.field(description="A record's history, newest first.")
    def history(
        self,
        info: Info[Context, Any],
        record: RecordReferenceInput,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[AuditEventType]:
        context = info.context
        context.require_actor()
        ref = record.to_ref()
        if (
            not context.kernel.record_kinds.exists(context.session, ref, context.actor)
            and not context.actor.superuser
        ):
            from openitsm.kernel.errors import NotFound

            raise NotFound(f"No {ref.kind} with id {ref.id}.")
        statement = select(AuditEvent).where(
            AuditEvent.record_kind == ref.kind, AuditEvent.record_id == ref.id
        )
        statement = readable_events(statement, context.actor, context.kernel.record_kinds, ref.kind)
        return _page(info, statement, first=first, after=after, last=last, before=before)

    @strawberry.field(description="Every recorded change across the site, newest first.")
    def audit_timeline(
        self,
        info: Info[Context, Any],
        filter: AuditTimelineFilter | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[AuditEventType]:
        require(info.context.require_actor(), "audit.read")
        statement = select(AuditEvent)
        if filter is not None:
            if filter.record_kind:
                statement = statement.where(AuditEvent.record_kind == filter.record_kind)
            if filter.actor_id is not None:
                statement = statement.where(AuditEvent.actor_id == filter.actor_id)
            if filter.since:
                statement = statement.where(AuditEvent.at >= filter.since)
            if filter.until:
                statement = statement.where(AuditEvent.at < filter.until)
        statement = readable_events(statement, info.context.actor, info.context.kernel.record_kinds)
        return _page(info, statement, first=first, after=after, last=last, before=before)
