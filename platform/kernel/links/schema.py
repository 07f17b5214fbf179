"""Record links in GraphQL: `recordLinks(record:)`, `linkRelations`, and the mutations
`linkRecords` / `unlinkRecords`.

A record is named by a string: `kind:id` (`incident:42`), a Relay global id, or a number
such as `INC-2026-000001`. Every answer follows the service: a record the viewer may not
see is NOT_FOUND, never FORBIDDEN, and is never listed.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import strawberry
from strawberry.relay import GlobalID, GlobalIDValueError
from strawberry.types import Info

from openitsm.kernel.errors import BadUserInput, _t
from openitsm.kernel.graphql.context import Context
from openitsm.kernel.graphql.nodes import parse_id
from openitsm.kernel.graphql.types import RecordReference, describe_loader
from openitsm.kernel.links import service
from openitsm.kernel.links.relations import OUTGOING, RELATIONS
from openitsm.kernel.references import RecordRef


@strawberry.enum(description="Which end of a link the record asked about is.")
class LinkDirection(enum.Enum):
    OUTGOING = "outgoing"
    INCOMING = "incoming"


@strawberry.type(name="RecordLink", description="A link from one record to another.")
class RecordLinkType:
    relation: str = strawberry.field(description="`related`, `duplicate_of`, `caused_by`, …")
    relation_label: str = strawberry.field(
        description="The relation named from this record's side, in the viewer's language."
    )
    direction: LinkDirection = strawberry.field(
        description="OUTGOING when the record asked about is the link's source."
    )
    record: RecordReference = strawberry.field(description="The record at the other end.")
    created_at: dt.datetime


@strawberry.type(description="A kind of link, named from both ends.")
class LinkRelation:
    name: str
    label: str = strawberry.field(description="Seen from the source, in the viewer's language.")
    inverse_label: str = strawberry.field(description="Seen from the target.")
    symmetric: bool


@strawberry.type
class LinkRecordsPayload:
    link: RecordLinkType = strawberry.field(description="The link, seen from its source.")


@strawberry.type
class UnlinkRecordsPayload:
    source: RecordReference
    target: RecordReference
    relation: str


def record_ref(context: Context, text: str, field: str) -> RecordRef:
    """The record `text` names: a Relay global id of a record type, `kind:id`, or a number."""
    text = (text or "").strip()
    if ":" not in text and text:
        found = _from_global_id(context, text, field)
        if found is not None:
            return found
    return service.resolve_ref(context.session, text, context.actor, field)


def _from_global_id(context: Context, text: str, field: str) -> RecordRef | None:
    try:
        global_id = GlobalID.from_id(text)
    except (GlobalIDValueError, ValueError, UnicodeDecodeError):
        return None
    definition = context.kernel.schema.get_type_by_name(global_id.type_name)
    model = getattr(getattr(definition, "origin", None), "__model__", None)
    kind = context.kernel.record_kinds.by_model.get(model) if model is not None else None
    if kind is None:
        return None
    key = parse_id(global_id.node_id)
    if key is None:
        raise BadUserInput(
            _t("{field} must be the id of a record."), field=field, params={"field": field}
        )
    return RecordRef(kind.name, key)


def _link_type(context: Context, view: service.LinkView) -> RecordLinkType:
    # The record is described already: later fields of it cost no query.
    describe_loader(context).prime(view.record.ref, view.record)
    return RecordLinkType(
        relation=view.relation.name,
        relation_label=view.label(context.locale),
        direction=LinkDirection(view.direction),
        record=RecordReference(kind=view.record.ref.kind, record_id=view.record.ref.id),
        created_at=view.created_at,
    )


@strawberry.type
class LinkQuery:
    @strawberry.field(
        description="A record's links in both directions, to the records the viewer may see."
    )
    def record_links(self, info: Info[Context, Any], record: str) -> list[RecordLinkType]:
        context = info.context
        context.require_actor()
        ref = record_ref(context, record, "record")
        views = service.links_of(context.session, ref, context.actor)
        return [_link_type(context, view) for view in views]

    @strawberry.field(description="The kinds of link records may have.")
    def link_relations(self, info: Info[Context, Any]) -> list[LinkRelation]:
        locale = info.context.locale
        return [
            LinkRelation(
                name=relation.name,
                label=relation.label(locale),
                inverse_label=relation.label(locale, "incoming"),
                symmetric=relation.symmetric,
            )
            for relation in RELATIONS.values()
        ]


@strawberry.type
class LinkMutation:
    @strawberry.mutation(
        description="Link two records the viewer may see (needs record.link); linking an "
        "existing pair again returns the link unchanged."
    )
    def link_records(
        self,
        info: Info[Context, Any],
        source: str,
        target: str,
        relation: str | None = None,
    ) -> LinkRecordsPayload:
        context = info.context
        context.require_actor()
        source_ref = record_ref(context, source, "source")
        target_ref = record_ref(context, target, "target")
        link = service.add_link(context.session, source_ref, target_ref, relation, context.actor)
        summary = context.kernel.record_kinds.describe(
            context.session, [link.target], context.actor
        )[link.target]
        view = service.LinkView(
            link.id,
            RELATIONS[link.relation],
            OUTGOING,
            link.source,
            summary,
            link.created_at,
        )
        return LinkRecordsPayload(link=_link_type(context, view))

    @strawberry.mutation(description="Remove the link between two records (needs record.link).")
    def unlink_records(
        self,
        info: Info[Context, Any],
        source: str,
        target: str,
        relation: str | None = None,
    ) -> UnlinkRecordsPayload:
        context = info.context
        context.require_actor()
        source_ref = record_ref(context, source, "source")
        target_ref = record_ref(context, target, "target")
        link = service.remove_link(context.session, source_ref, target_ref, relation, context.actor)
        return UnlinkRecordsPayload(
            source=RecordReference(kind=link.source_kind, record_id=link.source_id),
            target=RecordReference(kind=link.target_kind, record_id=link.target_id),
            relation=link.relation,
        )
