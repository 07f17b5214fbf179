"""The kernel's comments, registered like any plugin's; they join every record's timeline
through the same hook a module's process steps use."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from openitsm.kernel.comments.models import Comment
from openitsm.kernel.graphql.contribution import GraphQLContribution
from openitsm.kernel.hookspecs import TimelineEntry, hookimpl

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from openitsm.kernel.actors import Actor
    from openitsm.kernel.app import Kernel
    from openitsm.kernel.references import RecordRef


@hookimpl
def register_models() -> list[type]:
    return [Comment]


@hookimpl
def register_graphql() -> GraphQLContribution:
    from openitsm.kernel.comments.schema import CommentMutation, CommentQuery, CommentType

    return GraphQLContribution(query=CommentQuery, mutation=CommentMutation, types=[CommentType])


@hookimpl
def record_timeline_entries(
    kernel: Kernel,
    session: Session,
    actor: Actor,
    ref: RecordRef,
    before: dt.datetime | None,
    limit: int,
) -> list[TimelineEntry]:
    from openitsm.kernel.comments.service import timeline_entries

    return timeline_entries(session, kernel, actor, ref, before, limit)
