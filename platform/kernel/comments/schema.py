"""Comments in GraphQL: listed per record (oldest first), added, edited and removed.

Every field answers as the service does: a record the actor may not see, and an internal
comment without `comment.internal`, are missing (NOT_FOUND), never forbidden.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

import strawberry
from strawberry import relay
from strawberry.types import Info

from openitsm.kernel.comments import service
from openitsm.kernel.comments.models import Comment
from openitsm.kernel.graphql.connection import Connection
from openitsm.kernel.graphql.context import Context
from openitsm.kernel.graphql.nodes import Fields, ModelNode, decode_id
from openitsm.kernel.graphql.types import RecordReference, RecordReferenceInput


@strawberry.type(
    name="Comment", description="A comment on a record; a removed one keeps its place."
)
class CommentType(ModelNode):
    __model__ = Comment
    __fields__: ClassVar[Fields] = {"record": ("target_kind", "target_id")}

    author_id: int | None = strawberry.field(description="The author's user id.")
    body: str = strawberry.field(description="Sanitised HTML; empty once removed.")
    internal: bool = strawberry.field(description="Seen only by roles with comment.internal.")
    created_at: dt.datetime
    edited_at: dt.datetime | None
    removed_at: dt.datetime | None
    version: int = strawberry.field(description="Give it back to edit or remove the comment.")

    @classmethod
    def visible_rows(cls, context: Context, rows: list[Any]) -> list[Any]:
        """A comment is seen by whoever may see its record (and, if internal, internal
        comments), and by no one else."""
        kinds, actor = context.kernel.record_kinds, context.actor
        targets = [row.target for row in rows if row is not None and row.target_kind in kinds]
        seen = kinds.fetch(context.session, targets, actor)
        internal = service.sees_internal(actor)
        return [
            row
            if row is not None and row.target in seen and (internal or not row.internal)
            else None
            for row in rows
        ]

    @strawberry.field(description="The record commented on.")
    def record(self, root: strawberry.Parent[Comment]) -> RecordReference:
        return RecordReference(kind=root.target_kind, record_id=root.target_id)


@strawberry.type
class RemoveCommentPayload:
    comment: CommentType = strawberry.field(description="The tombstone left in its place.")


@strawberry.type
class CommentQuery:
    @strawberry.field(description="A record's comments the viewer may see, oldest first.")
    def comments(
        self,
        info: Info[Context, Any],
        record: RecordReferenceInput,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[CommentType]:
        context = info.context
        actor = service.require_actor(context.actor)
        ref = record.to_ref()
        service.require_record(context.session, context.kernel, ref, actor)
        return context.paginate(
            service.comments_of(ref, actor), keys=[], tiebreak=Comment.id, first=first, after=after
        )


@strawberry.type
class CommentMutation:
    @strawberry.mutation(description="Comment on a record; internal needs comment.internal.")
    def add_comment(
        self,
        info: Info[Context, Any],
        record: RecordReferenceInput,
        body: str,
        internal: bool = False,
    ) -> CommentType:
        context = info.context
        return service.add_comment(  # type: ignore[return-value]
            context.session, context.kernel, record.to_ref(), body, context.actor, internal
        )

    @strawberry.mutation(description="Change the text of one's own comment.")
    def edit_comment(
        self, info: Info[Context, Any], id: relay.GlobalID, version: int, body: str
    ) -> CommentType:
        context = info.context
        return service.edit_comment(  # type: ignore[return-value]
            context.session,
            context.kernel,
            decode_id(id, CommentType),
            version,
            body,
            context.actor,
        )

    @strawberry.mutation(description="Remove one's own comment; a tombstone keeps its place.")
    def remove_comment(
        self, info: Info[Context, Any], id: relay.GlobalID, version: int
    ) -> RemoveCommentPayload:
        context = info.context
        comment = service.remove_comment(
            context.session, context.kernel, decode_id(id, CommentType), version, context.actor
        )
        return RemoveCommentPayload(comment=comment)  # type: ignore[arg-type]
