"""Process definitions on GraphQL: list versions, import a diagram, publish or discard a draft."""

from __future__ import annotations

import datetime as dt
from typing import Any

import strawberry
from sqlalchemy import func, select
from strawberry.types import Info

from openitsm.kernel.access import require
from openitsm.kernel.graphql.context import Context
from openitsm.kernel.graphql.nodes import ModelNode
from openitsm.kernel.workflow import service
from openitsm.kernel.workflow.models import ProcessVersion

READ, MANAGE = "process.read", "process.manage"


@strawberry.type(name="ProcessVersion")
class ProcessVersionType(ModelNode):
    __model__ = ProcessVersion

    key: str
    number: int = strawberry.field(description="The process's version number (1, 2, …).")
    name: str
    state: str = strawberry.field(description="draft or published.")
    checksum: str
    source: str = strawberry.field(description="upload, or plugin:<name> for a shipped one.")
    created_at: dt.datetime
    published_at: dt.datetime | None
    version: int = strawberry.field(description="For optimistic locking of a draft.")

    @classmethod
    def visible_rows(cls, context: Context, rows: list[Any]) -> list[Any]:
        """`node(id:)` answers as for a missing id to those who may not see processes."""
        return rows if context.actor.can(READ) else [None] * len(rows)

    @strawberry.field(description="The BPMN 2.0 XML, as the designer loads it.")
    def xml(self, root: strawberry.Parent[ProcessVersion]) -> str:
        return root.xml


@strawberry.type
class ProcessSummary:
    key: str
    name: str
    current: ProcessVersionType | None = strawberry.field(
        description="The newest published version: what new instances run."
    )
    draft: ProcessVersionType | None
    versions: int


@strawberry.type
class ProcessQuery:
    @strawberry.field(description="Every process, with its current version and draft.")
    def processes(self, info: Info[Context, Any]) -> list[ProcessSummary]:
        context = info.context
        require(context.require_actor(), READ)
        rows = context.session.scalars(
            select(ProcessVersion).order_by(ProcessVersion.key, ProcessVersion.number.desc())
        )
        summaries: dict[str, dict[str, Any]] = {}
        for row in rows:
            entry = summaries.setdefault(
                row.key, {"key": row.key, "name": row.name, "current": None, "draft": None}
            )
            entry["versions"] = entry.get("versions", 0) + 1
            if row.state == "draft":
                entry["draft"] = row
            elif entry["current"] is None:
                entry["current"] = row
                entry["name"] = row.name
        return [ProcessSummary(**entry) for entry in summaries.values()]

    @strawberry.field(description="The versions of one process, newest first.")
    def process_versions(self, info: Info[Context, Any], key: str) -> list[ProcessVersionType]:
        context = info.context
        require(context.require_actor(), READ)
        return service.versions(context.session, key)  # type: ignore[return-value]


@strawberry.type
class ProcessMutation:
    @strawberry.mutation(
        description=(
            "Check a BPMN diagram and keep it as the process's draft (a new version, or the "
            "draft replaced when `draftVersion` is its version). Problems come back as "
            "BAD_USER_INPUT with extensions.problems: [{element, reason}]."
        )
    )
    def import_process(
        self, info: Info[Context, Any], xml: str, draft_version: int | None = None
    ) -> ProcessVersionType:
        context = info.context
        actor = context.require_actor()
        require(actor, MANAGE)
        row, _ = service.import_definition(
            context.session, xml, actor_id=actor.user_id, draft_version=draft_version
        )
        return row  # type: ignore[return-value]

    @strawberry.mutation(description="Publish a draft: new instances run it from now on.")
    def publish_process(
        self, info: Info[Context, Any], key: str, number: int, version: int
    ) -> ProcessVersionType:
        context = info.context
        actor = context.require_actor()
        require(actor, MANAGE)
        return service.publish(  # type: ignore[return-value]
            context.session, key, number, version, actor_id=actor.user_id
        )

    @strawberry.mutation(
        description="Throw a draft away (published versions are kept); how many versions remain."
    )
    def discard_process_draft(
        self, info: Info[Context, Any], key: str, number: int, version: int
    ) -> int:
        context = info.context
        require(context.require_actor(), MANAGE)
        service.discard_draft(context.session, key, number, version)
        remaining = context.session.scalar(
            select(func.count()).select_from(ProcessVersion).where(ProcessVersion.key == key)
        )
        return int(remaining or 0)
