"""GraphQL types every module shares: record references and their input."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import strawberry
from strawberry.types import Info

from openitsm.kernel.graphql.context import Context
from openitsm.kernel.references import RecordRef, RecordSummary


def describe_loader(context: Context) -> Any:
    def load(refs: Sequence[RecordRef]) -> list[RecordSummary | None]:
        found = context.kernel.record_kinds.describe(context.session, refs, context.actor)
        return [found.get(ref) for ref in refs]

    return context.loader("describe-records", load)


@strawberry.type(description="A link to a record of any module, described by its owner.")
class RecordReference:
    kind: str
    record_id: int

    @strawberry.field(description="False when the record or its module is gone.")
    async def exists(self, info: Info[Context, Any]) -> bool:
        return (
            await describe_loader(info.context).load(RecordRef(self.kind, self.record_id))
            is not None
        )

    @strawberry.field
    async def title(self, info: Info[Context, Any]) -> str | None:
        summary = await describe_loader(info.context).load(RecordRef(self.kind, self.record_id))
        return summary.title if summary else None

    @strawberry.field
    async def status(self, info: Info[Context, Any]) -> str | None:
        summary = await describe_loader(info.context).load(RecordRef(self.kind, self.record_id))
        return summary.status if summary else None

    @strawberry.field
    async def url(self, info: Info[Context, Any]) -> str | None:
        summary = await describe_loader(info.context).load(RecordRef(self.kind, self.record_id))
        return summary.url if summary else None

    @strawberry.field(description="The kind's name in the viewer's language.")
    def kind_label(self, info: Info[Context, Any]) -> str:
        kinds = info.context.kernel.record_kinds
        return (
            kinds.kinds[self.kind].label(info.context.locale) if self.kind in kinds else self.kind
        )


@strawberry.input
class RecordReferenceInput:
    kind: str
    record_id: int

    def to_ref(self) -> RecordRef:
        return RecordRef(self.kind, self.record_id)
