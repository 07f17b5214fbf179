"""The kernel's own root fields and migration branch, registered like any plugin's."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import TYPE_CHECKING, Any

import strawberry
from strawberry import relay
from strawberry.types import Info

from openitsm.kernel.graphql.context import Context
from openitsm.kernel.graphql.contribution import GraphQLContribution
from openitsm.kernel.graphql.types import RecordReference, RecordReferenceInput, describe_loader
from openitsm.kernel.hookspecs import hookimpl
from openitsm.kernel.migrations import MigrationBranch

if TYPE_CHECKING:
    from openitsm.kernel.search import SearchGroup

MIGRATIONS = Path(__file__).parent / "migrations" / "versions"


@strawberry.type(description="Which plugins this site runs.")
class PluginDescription:
    name: str
    version: str


@strawberry.type(description="The hits of one record kind in a search.")
class SearchResultGroup:
    kind: str
    label: str = strawberry.field(description="The kind's name in the viewer's language.")
    total_count: str = strawberry.field(
        description='How many records match: a number, or "1000+" past the count\'s limit.'
    )
    records: list[RecordReference]


def _group(info: Info[Context, Any], group: SearchGroup) -> SearchResultGroup:
    """A group whose records are already described: priming the per-request loader spares
    the references a second query."""
    loader = describe_loader(info.context)
    records = []
    for summary in group.records:
        loader.prime(summary.ref, summary)
        records.append(RecordReference(kind=summary.ref.kind, record_id=summary.ref.id))
    return SearchResultGroup(
        kind=group.kind.name,
        label=group.kind.label(info.context.locale),
        total_count=group.total_label,
        records=records,
    )


@strawberry.type
class KernelQuery:
    @strawberry.field(description="Any object by its global id; null when absent.")
    async def node(self, info: Info[Context, Any], id: relay.GlobalID) -> relay.Node | None:
        info.context.require_actor()
        node_type = id.resolve_type(info)
        found = node_type.resolve_nodes(info=info, node_ids=[id.node_id], required=False)
        if inspect.isawaitable(found):
            found = await found
        return next(iter(found), None)

    @strawberry.field(description="Describe records of any module by (kind, id) in one call.")
    def records(
        self, info: Info[Context, Any], refs: list[RecordReferenceInput]
    ) -> list[RecordReference]:
        info.context.require_actor()
        return [RecordReference(kind=r.kind, record_id=r.record_id) for r in refs[:200]]

    @strawberry.field(
        description="Search the records of every module the viewer may search, or of `kinds`; "
        "the first `first` hits per kind, under the viewer's data scope and field rules."
    )
    def search(
        self,
        info: Info[Context, Any],
        text: str,
        kinds: list[str] | None = None,
        first: int | None = 10,
    ) -> list[SearchResultGroup]:
        from openitsm.kernel.search import search

        context = info.context
        actor = context.require_actor()
        groups = search(
            context.session,
            context.kernel.record_kinds,
            actor,
            text,
            only=kinds,
            first=10 if first is None else first,
        )
        return [_group(info, group) for group in groups]

    @strawberry.field(description="Enabled plugins and their versions.")
    def plugins(self, info: Info[Context, Any]) -> list[PluginDescription]:
        info.context.require_actor()
        return [
            PluginDescription(name=p.name, version=p.version)
            for p in info.context.kernel.plugins.enabled()
        ]


@hookimpl
def register_migrations() -> MigrationBranch:
    return MigrationBranch("kernel", MIGRATIONS)


@hookimpl
def register_graphql() -> GraphQLContribution:
    return GraphQLContribution(query=KernelQuery)
