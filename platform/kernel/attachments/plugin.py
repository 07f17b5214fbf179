"""The kernel's attachments, registered like any plugin's."""

from __future__ import annotations

from typing import Any

from openitsm.kernel.attachments.models import Attachment
from openitsm.kernel.graphql.contribution import GraphQLContribution
from openitsm.kernel.hookspecs import hookimpl
from openitsm.kernel.references import RecordKind


@hookimpl
def register_models() -> list[type]:
    return [Attachment]


@hookimpl
def register_routes() -> list[Any]:
    from openitsm.kernel.attachments.routes import routes

    return routes


@hookimpl
def register_record_kinds() -> list[RecordKind]:
    return [
        RecordKind(
            "attachment",
            Attachment,
            labels={"zh-CN": "附件", "en": "Attachment"},
            describe=lambda attachment: {"title": attachment.filename},
            url="/attachments/{id}",
            shows=("filename",),
        )
    ]


@hookimpl
def register_graphql() -> GraphQLContribution:
    from openitsm.kernel.attachments.schema import (
        AttachmentMutation,
        AttachmentQuery,
        AttachmentType,
    )

    return GraphQLContribution(
        query=AttachmentQuery, mutation=AttachmentMutation, types=[AttachmentType]
    )


@hookimpl
def register_tasks() -> list[Any]:
    from openitsm.kernel.attachments.service import purge_pending_attachments

    return [purge_pending_attachments]
