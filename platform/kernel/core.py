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
from openitsm.kernel.graphql.types import RecordReference, RecordReferenceInput
from openitsm.kernel.hookspecs import hookimpl
from openitsm.kernel.migrations import MigrationBranch

if TYPE_CHECKING:
    pass

MIGRATIONS = Path(__file__).parent / "migrations" / "versions"


@strawberry.type(description="Which plugins this site runs.")
class PluginDescription:
    name: str
    version: str


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
