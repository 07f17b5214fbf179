"""Attachments in GraphQL: listed per record, deleted by their uploader or an administrator.

Uploading and downloading are plain HTTP (`POST /attachments`, `downloadUrl`), because
files do not belong in JSON.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

import strawberry
from sqlalchemy import select
from strawberry import relay
from strawberry.types import Info

from openitsm.kernel.attachments import service
from openitsm.kernel.attachments.models import Attachment
from openitsm.kernel.attachments.routes import download_url
from openitsm.kernel.graphql.connection import Connection
from openitsm.kernel.graphql.context import Context
from openitsm.kernel.graphql.nodes import Fields, ModelNode, decode_id
from openitsm.kernel.graphql.types import RecordReference, RecordReferenceInput


@strawberry.type(name="Attachment", description="A file attached to a record.")
class AttachmentType(ModelNode):
    __model__ = Attachment
    __fields__: ClassVar[Fields] = {"record": ("target_kind", "target_id"), "download_url": None}

    filename: str
    content_type: str = strawberry.field(description="Sniffed from the bytes on upload.")
    size: int = strawberry.field(description="In bytes.")
    sha256: str
    created_at: dt.datetime
    uploaded_by: int | None = strawberry.field(description="The uploader's user id.")

    @classmethod
    def visible_rows(cls, context: Context, rows: list[Any]) -> list[Any]:
        """An attachment is seen by whoever may see its record, and by no one else."""
        kinds = context.kernel.record_kinds
        targets = [row.target for row in rows if row is not None and row.target_kind in kinds]
        seen = kinds.fetch(context.session, targets, context.actor)
        return [
            row
            if row is not None
            and (row.target in seen or (row.target_kind not in kinds and context.actor.superuser))
            else None
            for row in rows
        ]

    @strawberry.field(description="The record the file is attached to.")
    def record(self, root: strawberry.Parent[Attachment]) -> RecordReference:
        return RecordReference(kind=root.target_kind, record_id=root.target_id)

    @strawberry.field(description="GET it (signed in) to download the file.")
    def download_url(self, root: strawberry.Parent[Attachment]) -> str:
        return download_url(root.id)


@strawberry.type
class DeleteAttachmentPayload:
    deleted_id: relay.GlobalID


@strawberry.type
class AttachmentQuery:
    @strawberry.field(description="A record's attachments, oldest first.")
    def attachments(
        self,
        info: Info[Context, Any],
        record: RecordReferenceInput,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[AttachmentType]:
        context = info.context
        context.require_actor()
        ref = record.to_ref()
        service.require_record(context.session, context.kernel, ref, context.actor)
        return context.paginate(
            select(Attachment).where(
                Attachment.target_kind == ref.kind, Attachment.target_id == ref.id
            ),
            keys=[],
            tiebreak=Attachment.id,
            first=first,
            after=after,
        )


@strawberry.type
class AttachmentMutation:
    @strawberry.mutation(description="Delete an attachment: its uploader or an administrator.")
    def delete_attachment(
        self, info: Info[Context, Any], id: relay.GlobalID
    ) -> DeleteAttachmentPayload:
        context = info.context
        context.require_actor()
        deleted = service.delete_attachment(
            context.session, context.kernel, decode_id(id, AttachmentType), context.actor
        )
        return DeleteAttachmentPayload(
            deleted_id=relay.GlobalID(type_name=id.type_name, node_id=str(deleted))
        )
